/** RUN --mount=type=cache sharing modes, with two stages running at once on one cache. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { buildFiles, makeBaseStore, type TempStore } from '../helpers/build.js';

let s: TempStore;
before(async () => {
  s = await makeBaseStore();
});
after(() => s.cleanup());

// Two independent stages run in parallel; each holds the cache for ~0.6 s and records whether it
// saw the other one inside at the same time (a marker file in the shared cache).
const stage = (name: string, sharing: string) =>
  `FROM busybox AS ${name}\nRUN --mount=type=cache,id=shared-c,target=/c,sharing=${sharing} ` +
  `if [ -e /c/busy ]; then echo overlap > /${name}; else echo alone > /${name}; fi; ` +
  `touch /c/busy; sleep 0.6; rm -f /c/busy; echo ${name} >> /c/log`;

const dockerfile = (sharing: string) =>
  `${stage('a', sharing)}\n${stage('b', sharing)}\nFROM busybox\nCOPY --from=a /a /a\nCOPY --from=b /b /b\n`;

function seen(b: Awaited<ReturnType<typeof buildFiles>>, f: string): string | undefined {
  return b.newLayers.flat().find((e) => e.path === f)?.content;
}

test('sharing=locked: two steps never hold one cache at once', async () => {
  const b = await buildFiles(s.root, dockerfile('locked'), {}, { noCache: true });
  assert.equal(seen(b, 'a'), 'alone\n');
  assert.equal(seen(b, 'b'), 'alone\n');
});

test('sharing=shared: two steps use one cache at once', async () => {
  const b = await buildFiles(s.root, dockerfile('shared'), {}, { noCache: true });
  assert.ok([seen(b, 'a'), seen(b, 'b')].includes('overlap\n'), `${seen(b, 'a')} ${seen(b, 'b')}`);
});

test('sharing=private: a cache in use gives the other step a fresh one of its own', async () => {
  const b = await buildFiles(s.root, dockerfile('private'), {}, { noCache: true });
  assert.equal(seen(b, 'a'), 'alone\n');
  assert.equal(seen(b, 'b'), 'alone\n');
});
