import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { buildFiles, buildFails, makeBaseStore, type TempStore } from '../helpers/build.js';

let s: TempStore;
before(async () => {
  s = await makeBaseStore();
});
after(() => s.cleanup());

test('RUN --mount=type=bind,from=stage reads that stage, read-only, and stays out of the layer', async () => {
  const b = await buildFiles(
    s.root,
    [
      'FROM busybox AS src',
      'RUN mkdir -p /out/sub && echo hello > /out/sub/a && ln -s / /out/root && echo x > /single',
      'FROM busybox',
      'RUN --mount=type=bind,from=src,source=/out,target=/mnt cat /mnt/sub/a > /got && ls /mnt/root > /rootlist && (touch /mnt/new 2>/dev/null && echo rw || echo ro) > /mode',
      'RUN --mount=type=bind,from=src,source=/single,target=/one.txt cat /one.txt > /got1',
    ].join('\n'),
  );
  const top = b.newLayers.flat();
  const file = (p: string) => top.find((f) => f.path === p)?.content;
  assert.equal(file('got'), 'hello\n');
  assert.equal(file('got1'), 'x\n');
  assert.equal(file('mode'), 'ro\n');
  assert.equal(top.some((f) => f.path.startsWith('mnt/')), false);
});

test('RUN --mount from= a stage path that is a symlink to / stays inside that stage (CVE-2024-1753)', async () => {
  const b = await buildFiles(
    s.root,
    ['FROM busybox AS evil', 'RUN ln -s / /rootdir', 'FROM busybox', 'RUN --mount=type=bind,from=evil,source=/rootdir,target=/m,rw touch /m/BIND_BREAKOUT && ls /m > /list'].join('\n'),
  );
  assert.equal(existsSync('/BIND_BREAKOUT'), false);
  const list = b.newLayers.flat().find((f) => f.path === 'list')?.content ?? '';
  assert.match(list, /bin/); // the stage's own root, as a copy
});

test('RUN --mount from= an unknown stage or image is a located error', async () => {
  const f = await buildFails(s.root, 'FROM busybox\nRUN --mount=type=bind,from=nosuch,target=/m true\n');
  assert.match(f.error.message, /nosuch/);
  assert.equal((f.error as { location?: { line: number } }).location?.line, 2);
});
