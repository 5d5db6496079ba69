/** RUN --mount=type=bind from the build context: symlinks stay in the context, ignored files stay out. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { buildFiles, buildFails, makeBaseStore, type TempStore } from '../helpers/build.js';

let s: TempStore;
before(async () => {
  s = await makeBaseStore();
});
after(() => s.cleanup());

test('a bind source that is a symlink to a host path never mounts the host path', async () => {
  const f = await buildFails(s.root, 'FROM busybox\nRUN --mount=type=bind,source=link,target=/m ls /m > /listing\n', { link: { symlink: '/etc' } });
  assert.match(f.error.message, /bind mount source "link" not found in the build context/);
  // a link that stays inside the context is followed there
  const b = await buildFiles(s.root, 'FROM busybox\nRUN --mount=type=bind,source=inner,target=/m cat /m/f > /got\n', {
    'real/f': 'inside\n',
    inner: { symlink: 'real' },
  });
  assert.equal(b.newLayers.flat().find((e) => e.path === 'got')?.content, 'inside\n');
});

test('.dockerignore applies to bind mounts of the context, read-only and rw alike', async () => {
  const files = { '.dockerignore': 'sub/.env\n', 'sub/keep': 'kept\n', 'sub/.env': 'SECRET=1\n' };
  const ro = await buildFiles(s.root, 'FROM busybox\nRUN --mount=type=bind,source=sub,target=/m ls -A /m > /ro; (touch /m/x 2>/dev/null && echo rw || echo ro) >> /ro\n', files);
  assert.equal(ro.newLayers.flat().find((e) => e.path === 'ro')?.content, 'keep\nro\n');
  const rw = await buildFiles(s.root, 'FROM busybox\nRUN --mount=type=bind,source=.,target=/m,rw ls -A /m/sub > /rw; echo changed > /m/sub/keep\n', files);
  assert.equal(rw.newLayers.flat().find((e) => e.path === 'rw')?.content, 'keep\n');
});

test('cache mount source= is a subdir of the cache; a symlink planted there by an earlier run is never followed', async () => {
  const plant = 'FROM busybox\nRUN --mount=type=cache,id=plant,target=/c mkdir -p /c/real && echo in-cache > /c/real/f && ln -sfn / /c/evil\n';
  await buildFiles(s.root, plant, {}, { noCache: true });
  const ok = await buildFiles(s.root, 'FROM busybox\nRUN --mount=type=cache,id=plant,source=real,target=/x cat /x/f > /got\n', {}, { noCache: true });
  assert.equal(ok.newLayers.flat().find((e) => e.path === 'got')?.content, 'in-cache\n');
  const f = await buildFails(s.root, 'FROM busybox\nRUN --mount=type=cache,id=plant,source=evil,target=/x ls /x > /listing\n', {}, { noCache: true });
  assert.match(f.error.message, /cache mount source "evil" is not a directory in the cache/);
  const g = await buildFails(s.root, 'FROM busybox\nRUN --mount=type=cache,id=plant,source=evil/etc,target=/x ls /x\n', {}, { noCache: true });
  assert.match(g.error.message, /not a directory in the cache/);
});

test('cache mount from=STAGE,source=PATH: a new cache starts as a copy of that stage path, then keeps its own content', async () => {
  const df = (cmd: string) => `FROM busybox AS seed\nRUN mkdir -p /seed && echo seeded > /seed/f\nFROM busybox\nRUN --mount=type=cache,id=seeded-c,from=seed,source=/seed,target=/c ${cmd}\n`;
  const b1 = await buildFiles(s.root, df('cat /c/f > /got1 && echo more > /c/g'), {}, { noCache: true });
  assert.equal(b1.newLayers.flat().find((e) => e.path === 'got1')?.content, 'seeded\n');
  const b2 = await buildFiles(s.root, df('cat /c/g > /got2'), {}, { noCache: true });
  assert.equal(b2.newLayers.flat().find((e) => e.path === 'got2')?.content, 'more\n');
});

test('a secret that cannot be an env variable (NUL byte) is refused by id, its value never printed', async () => {
  const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const d = mkdtempSync(join(tmpdir(), 'tsb-nul-'));
  try {
    writeFileSync(join(d, 's'), 'TOPSECRET-abc\0def');
    const f = await buildFails(s.root, 'FROM busybox\nRUN --mount=type=secret,id=s,env=S true\n', {}, { secrets: [{ id: 's', src: join(d, 's') }] });
    assert.match(f.error.message, /secret s holds a NUL byte/);
    assert.doesNotMatch(f.error.message, /TOPSECRET/);
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});
