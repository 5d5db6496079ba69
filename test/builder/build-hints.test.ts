import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { buildIn, makeBaseStore, makeContext, type TempStore } from '../helpers/build.js';

let s: TempStore;
let ctx: string;
before(async () => {
  s = await makeBaseStore();
  ctx = makeContext({});
});
after(() => {
  s.cleanup();
  rmSync(ctx, { recursive: true, force: true });
});

// 12 MB written by one step and deleted by the next: the image wastes them
const DF = ['FROM busybox', 'RUN head -c 12000000 /dev/zero > /big', 'RUN rm /big && echo done > /done'].join('\n');

test('the wasted-space hint is worked out when warnings are shown, and not when nobody shows them (-q)', async () => {
  const shown = await buildIn(s.root, ctx, DF, { noCache: true });
  assert.ok(shown.warnings.some((w) => w.includes('history --wasted')), 'the hint is a warning of a build that shows them');
  const quiet = await buildIn(s.root, ctx, DF, { noCache: true, warningsShown: false });
  assert.equal(quiet.warnings.some((w) => w.includes('history --wasted')), false);
  // the same image otherwise (the layers' digests differ only by their files' times)
  assert.equal(quiet.image.manifest.layers.length, shown.image.manifest.layers.length);
  assert.deepEqual(quiet.history.map((h) => h.created_by), shown.history.map((h) => h.created_by));
});
