/** FROM --platform: only the host platform is built, and anything else is said, not ignored. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { buildFiles, buildFails, makeBaseStore, type TempStore } from '../helpers/build.js';

let s: TempStore;
before(async () => {
  s = await makeBaseStore();
});
after(() => s.cleanup());

test('FROM --platform: the host platform (also via $BUILDPLATFORM) builds; another one is a located error', async () => {
  const b = await buildFiles(s.root, 'FROM --platform=$BUILDPLATFORM busybox AS a\nRUN echo ok > /ok\n');
  assert.equal(b.newLayers.flat().find((e) => e.path === 'ok')?.content, 'ok\n');
  const f = await buildFails(s.root, 'FROM busybox\nFROM --platform=linux/s390x busybox\n');
  assert.match(f.error.message, /FROM --platform=linux\/s390x: tsbuild builds only for the host platform/);
  assert.equal((f.error as { location?: { line: number } }).location?.line, 2);
});
