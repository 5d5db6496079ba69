import { test } from 'node:test';
import assert from 'node:assert/strict';
import { build, buildWith, open, ImageStore, TsbuildError, type BuildEvent } from '../src/index.js';
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

test('buildWith(parts): the builder works with the parts it is given, and asks their registry access only when it must', async () => {
  const s = await makeBaseStore();
  const ctx = makeContext({ 'a.txt': 'a' });
  const parts = await open(s.root);
  let asked = 0;
  const offline = { ...parts, registry: { client: async () => { asked++; throw new TsbuildError('NOT_FOUND', 'offline registry (test)'); } } };
  try {
    // two builds on one opened store; a local base never reaches for a registry
    const a = await buildWith(offline, { contextDir: ctx, dockerfileText: 'FROM busybox\nCOPY a.txt /\n', tags: ['parts:1'] });
    const b = await buildWith(offline, { contextDir: ctx, dockerfileText: 'FROM busybox\nCOPY a.txt /\n' });
    assert.equal(a.imageId, b.imageId);
    assert.equal((await parts.store.getImage('parts:1'))?.id, a.imageId);
    assert.equal(asked, 0);
    // a base that is not in the store: the given access is asked (the builder makes no client of its own)
    await assert.rejects(
      buildWith(offline, { contextDir: ctx, dockerfileText: 'FROM registry.invalid/nothing:1\n' }),
      (e: unknown) => e instanceof Error && /offline registry \(test\)/.test(e.message),
    );
    assert.equal(asked, 1);
  } finally {
    await parts.close();
    rmSync(ctx, { recursive: true, force: true });
    s.cleanup();
  }
});
