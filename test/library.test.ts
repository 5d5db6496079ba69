import { test } from 'node:test';
import assert from 'node:assert/strict';
import { build, ImageStore, TsbuildError, type BuildEvent } from '../src/index.js';
import { rmSync } from 'node:fs';
import { makeBaseStore, makeContext } from './helpers/build.js';

test('the library API builds an image and streams typed events', async () => {
  const s = await makeBaseStore();
  const ctx = makeContext({ Dockerfile: 'FROM busybox\nRUN echo hi\n' });
  try {
    const events: BuildEvent[] = [];
    const r = await build({ contextDir: ctx, root: s.root, tags: ['lib:1'], onEvent: (e) => events.push(e) });
    assert.match(r.imageId, /^sha256:[0-9a-f]{64}$/);
    assert.ok(events.some((e) => e.type === 'step-log' && e.data.includes('hi')));
    assert.equal(events.at(-1)?.type, 'build-done');
    const store = await ImageStore.open(s.root);
    assert.equal((await store.getImage('lib:1'))?.id, r.imageId);
    await store.close();
    await assert.rejects(build({ contextDir: ctx, root: s.root, dockerfileText: 'FROM busybox\nFROB x\n' }), (e: unknown) => e instanceof TsbuildError && e.location?.line === 2);
  } finally {
    rmSync(ctx, { recursive: true, force: true });
    s.cleanup();
  }
});
