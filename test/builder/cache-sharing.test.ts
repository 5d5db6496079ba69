/** RUN --mount=type=cache sharing modes, with two stages running at once on one cache. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { buildFiles, makeBaseStore, type TempStore } from '../helpers/build.js';

let s: TempStore;
before(async () => {
  s = await makeBaseStore();
});
after(() => s.cleanup());

// Two independent stages run in parallel on one cache. Each leaves a marker in it and waits up to
// `waitTenths` tenths of a second for the other's marker: seeing it means both held the cache at once.
const stage = (name: string, other: string, sharing: string, waitTenths: number) =>
  `FROM busybox AS ${name}\nRUN --mount=type=cache,id=shared-c,target=/c,sharing=${sharing} ` +
  `touch /c/${name}; i=0; while [ $i -lt ${waitTenths} ] && [ ! -e /c/${other} ]; do sleep 0.1; i=$((i+1)); done; ` +
  `if [ -e /c/${other} ]; then echo overlap; else echo alone; fi > /${name}; sleep 0.2; rm -f /c/${name}`;

const dockerfile = (sharing: string, waitTenths: number) =>
  `${stage('a', 'b', sharing, waitTenths)}\n${stage('b', 'a', sharing, waitTenths)}\nFROM busybox\nCOPY --from=a /a /a\nCOPY --from=b /b /b\n`;

function seen(b: Awaited<ReturnType<typeof buildFiles>>, f: string): string | undefined {
  return b.newLayers.flat().find((e) => e.path === f)?.content;
}

test('sharing=locked: two steps never hold one cache at once', async () => {
  const b = await buildFiles(s.root, dockerfile('locked', 15), {}, { noCache: true });
  assert.equal(seen(b, 'a'), 'alone\n');
  assert.equal(seen(b, 'b'), 'alone\n');
});

test('sharing=shared: two steps use one cache at once', async () => {
  const b = await buildFiles(s.root, dockerfile('shared', 300), {}, { noCache: true });
  assert.equal(seen(b, 'a'), 'overlap\n');
  assert.equal(seen(b, 'b'), 'overlap\n');
});

test('sharing=private: a cache in use gives the other step a fresh one of its own', async () => {
  const b = await buildFiles(s.root, dockerfile('private', 15), {}, { noCache: true });
  assert.equal(seen(b, 'a'), 'alone\n');
  assert.equal(seen(b, 'b'), 'alone\n');
});

test('one id, different uid/gid/mode: separate caches (BuildKit bases each on its own directory); the same triple shares', async () => {
  const id = `perm-${process.pid}`;
  const c = (opts: string) => `RUN --mount=type=cache,id=${id},target=/c${opts}`;
  const b = await buildFiles(
    s.root,
    `FROM busybox
${c('')} echo plain > /c/plain
${c(',uid=1000')} stat -c '%u:%g:%a' /c > /s1; ls /c > /l1; echo u1000 > /c/u1000
${c(',uid=1000,mode=0700')} stat -c '%u:%g:%a' /c > /s2; ls /c > /l2
${c(',gid=0')} ls /c > /l3; echo g0 > /c/g0
${c(',uid=0,mode=0755')} ls /c > /l4
${c('')} ls /c > /l5
${c(',uid=1000')} ls /c > /l6
`,
    {},
    { noCache: true },
  );
  // what Docker gives for the same Dockerfile
  assert.deepEqual(
    ['s1', 'l1', 's2', 'l2', 'l3', 'l4', 'l5', 'l6'].map((f) => seen(b, f)),
    ['1000:0:755\n', '', '1000:0:700\n', '', '', 'g0\n', 'plain\n', 'u1000\n'],
  );
});
