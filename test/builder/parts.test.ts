// The seam of issue 10: build() works with parts its caller assembled (`{ store, snapshotter,
// runtime, registry }` as interfaces), not with the classes `open(root)` makes. Here the store
// and the snapshotter are objects of the test's own that pass each call on to a real store and
// count it: the build has no other way in.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { build } from '../../src/builder/build.js';
import type { BuildStore } from '../../src/builder/parts.js';
import type { Snapshotter } from '../../src/image/snapshots.js';
import { ImageStore } from '../../src/image/store.js';
import { TsbuildError } from '../../src/errors.js';
import { createRuntime } from '../../src/runtime/index.js';
import { makeBaseStore, makeContext } from '../helpers/build.js';

/** Every member of BuildStore (the compiler checks the list is complete and has nothing else). */
const STORE_MEMBERS: Record<keyof BuildStore, true> = {
  blobs: true, putBlob: true, hasBlob: true, openBlob: true, blobPath: true,
  putImage: true, listImages: true, resolve: true, getImage: true, tag: true, remove: true,
  cacheGet: true, cachePut: true, cachePutAll: true,
  lease: true, pin: true, unpin: true, pins: true, discard: true,
  getCompressed: true, setCompressed: true, layerOfCompressed: true, layerContentSize: true,
  root: true, tempPath: true, scratchDir: true, cacheMountDir: true, stateDir: true,
};

/** A plain object with `names` of `target`: methods counted in `calls` and called on `target`,
 *  other members read through. Nothing else of `target` (its class, its other members) shows. */
function delegating<T extends object>(target: T, names: readonly string[], calls: Map<string, number>, values: Record<string, unknown> = {}): T {
  const out: Record<string, unknown> = {};
  for (const name of names) {
    const v = (target as Record<string, unknown>)[name];
    if (name in values) out[name] = values[name];
    else if (typeof v === 'function') {
      out[name] = (...args: unknown[]) => {
        calls.set(name, (calls.get(name) ?? 0) + 1);
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    } else Object.defineProperty(out, name, { get: () => (target as Record<string, unknown>)[name], enumerable: true });
  }
  return out as T;
}

test('build() with parts the caller assembled: a delegating store and snapshotter over a real store make the image', async () => {
  const s = await makeBaseStore();
  const ctx = makeContext({ 'a.txt': 'from the context\n' });
  const real = await ImageStore.open(s.root);
  const storeCalls = new Map<string, number>();
  const snapCalls = new Map<string, number>();
  const realSnapshots = real.snapshots;
  const snapshotter = delegating<Snapshotter>(
    realSnapshots,
    Object.getOwnPropertyNames(Object.getPrototypeOf(realSnapshots)).filter((n) => n !== 'constructor'),
    snapCalls,
  );
  const store = delegating<BuildStore>(real, Object.keys(STORE_MEMBERS), storeCalls);
  assert.equal(store instanceof ImageStore, false);
  let asked = 0;
  const parts = {
    store,
    snapshotter,
    runtime: createRuntime({ tmpDir: real.tmpDir }),
    registry: { client: async () => { asked++; throw new TsbuildError('NOT_FOUND', 'no registry in this test'); } },
  };
  const dockerfileText = 'FROM busybox\nCOPY a.txt /a.txt\nRUN cat /a.txt /a.txt > /b.txt\n';
  try {
    const first = await build(parts, { contextDir: ctx, dockerfileText, tags: ['seam:1'] });
    // the image is in the real store, made through the wrapper: its layers, config and name
    const img = await real.resolve('seam:1');
    assert.equal(img.id, first.imageId);
    assert.equal(img.manifest.layers.length, 3);
    assert.equal(storeCalls.get('putImage'), 1);
    assert.ok((storeCalls.get('putBlob') ?? 0) >= 2, `putBlob calls: ${storeCalls.get('putBlob')}`);
    assert.ok((storeCalls.get('cachePut') ?? 0) + (storeCalls.get('cachePutAll') ?? 0) >= 1);
    // RUN mounted its layers, and COPY and RUN each made their snapshot (an active one, then
    // committed) through the snapshotter it was given: the store wrapper has no way to make one
    assert.ok((snapCalls.get('ensure') ?? 0) + (snapCalls.get('mounts') ?? 0) >= 1, JSON.stringify([...snapCalls]));
    assert.equal(snapCalls.get('prepare'), 2, JSON.stringify([...snapCalls]));
    // (committed at once, or deferred until a sync of the store covers it: snapshots.ts)
    assert.equal((snapCalls.get('commit') ?? 0) + (snapCalls.get('commitDeferred') ?? 0), 2, JSON.stringify([...snapCalls]));
    assert.equal(asked, 0);

    // the same build again: every step from the cache the wrapper answers; same image
    const puts = storeCalls.get('putBlob') ?? 0;
    const second = await build(parts, { contextDir: ctx, dockerfileText, tags: ['seam:1'] });
    assert.equal(second.imageId, first.imageId);
    assert.equal(second.misses.length, 0);
    assert.equal(storeCalls.get('putBlob') ?? 0, puts);
    assert.ok((storeCalls.get('cacheGet') ?? 0) >= 2);
  } finally {
    await real.close();
    rmSync(ctx, { recursive: true, force: true });
    s.cleanup();
  }
});
