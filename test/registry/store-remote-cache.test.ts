/** The builder's remote cache: export from one store, import into a fresh one, lazy layer download. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TsbuildError } from '../../src/errors.js';
import { ImageStore } from '../../src/image/store.js';
import type { BlobInfo } from '../../src/image/blobs.js';
import { RegistryClient } from '../../src/registry/client.js';
import { BuildRemoteCache } from '../../src/builder/remote-cache.js';
import { parseCacheSpec } from '../../src/cli/build-flags.js';
import { randomLayerTar } from '../helpers/registry-image.js';
import { startRegistry, type TestRegistry } from '../helpers/registry-server.js';

let reg: TestRegistry;
let tmp: string;
let client: RegistryClient;

before(async () => {
  reg = await startRegistry();
  tmp = mkdtempSync(join(tmpdir(), 'tsbuild-rcache-'));
  client = new RegistryClient();
});
after(async () => {
  client.close();
  await reg.stop();
  rmSync(tmp, { recursive: true, force: true });
});

async function layers(store: ImageStore, n: number): Promise<BlobInfo[]> {
  const out: BlobInfo[] = [];
  for (let i = 0; i < n; i++) out.push(await store.putBlob([await randomLayerTar(20_000 + i * 1000, `f${i}`)]));
  return out;
}

const blobCount = (root: string) => readdirSync(join(root, 'blobs', 'sha256')).length;

test('parseCacheSpec: registry, local, bare refs, and clear errors', () => {
  assert.deepEqual(parseCacheSpec('type=registry,ref=r.io/a/cache:1,mode=max', 'to'), { type: 'registry', ref: 'r.io/a/cache:1', mode: 'max', ignoreError: false });
  assert.deepEqual(parseCacheSpec('r.io/a/cache', 'from'), { type: 'registry', ref: 'r.io/a/cache', mode: 'min', ignoreError: false });
  assert.deepEqual(parseCacheSpec('type=local,src=/c', 'from'), { type: 'local', dir: '/c', tag: 'latest', mode: 'min', ignoreError: false });
  assert.deepEqual(parseCacheSpec('type=local,dest=/c,mode=max,ignore-error=true', 'to'), { type: 'local', dir: '/c', tag: 'latest', mode: 'max', ignoreError: true });
  // one k=v grammar (CSV, as buildx reads it): a comma inside a value is quoted
  assert.deepEqual(parseCacheSpec('type=local,"src=/c,d"', 'from'), { type: 'local', dir: '/c,d', tag: 'latest', mode: 'min', ignoreError: false });
  for (const [bad, dir, msg] of [
    ['type=local,src=/c', 'to', /needs dest=DIR/],
    ['type=gha', 'from', /unsupported cache type "gha"/],
    ['type=registry', 'to', /needs ref=REF/],
    ['type=registry,ref=a,mode=all', 'to', /mode must be min or max/],
    ['type=registry,ref=a,color=red', 'to', /unknown attribute "color"/],
    ['r.io/a', 'to', /expected type=registry/],
    ['type=local,src="/c', 'from', /bare " in non-quoted-field/],
  ] as const) {
    assert.throws(() => parseCacheSpec(bad, dir), (e: unknown) => e instanceof TsbuildError && msg.test(e.message));
  }
});

for (const kind of ['registry', 'local'] as const) {
  test(`${kind} cache: export from one store, import into another; hits download only the needed layer`, async () => {
    const a = await ImageStore.open(join(tmp, `${kind}-a`));
    const [l1, l2, l3] = await layers(a, 3);
    const to =
      kind === 'registry'
        ? [parseCacheSpec(`type=registry,ref=${reg.host}/cache/app:build,mode=min`, 'to'), parseCacheSpec(`type=registry,ref=${reg.host}/cache/app:max,mode=max`, 'to')]
        : [parseCacheSpec(`type=local,dest=${join(tmp, 'local-min')}`, 'to'), parseCacheSpec(`type=local,dest=${join(tmp, 'local-max')},mode=max`, 'to')];
    const exporter = await BuildRemoteCache.open(a, { cacheTo: to, client });
    exporter.record('key-1', l1!);
    exporter.record('key-2', l2!);
    exporter.record('key-3', l3!, { final: false });
    await exporter.flush();
    exporter.close();

    const from = (spec: string) => parseCacheSpec(spec, 'from');
    const minSpec = kind === 'registry' ? from(`${reg.host}/cache/app:build`) : from(`type=local,src=${join(tmp, 'local-min')}`);
    const maxSpec = kind === 'registry' ? from(`type=registry,ref=${reg.host}/cache/app:max`) : from(`type=local,src=${join(tmp, 'local-max')}`);

    const bRoot = join(tmp, `${kind}-b`);
    const b = await ImageStore.open(bRoot);
    const before = blobCount(bRoot);
    const imp = await BuildRemoteCache.open(b, { cacheFrom: [minSpec], client });
    assert.equal(await imp.lookup('key-3'), undefined, 'mode=min leaves out steps outside the final stage');
    assert.equal(await imp.lookup('nope'), undefined);
    const hit = await imp.lookup('key-2');
    assert.deepEqual(hit, { layer: { digest: l2!.digest, size: l2!.size } });
    assert.ok(b.hasBlob(l2!.digest));
    assert.ok(!b.hasBlob(l1!.digest), 'only the needed layer is downloaded');
    assert.equal(blobCount(bRoot), before + 1);
    assert.ok(b.getCompressed(l2!.digest, 'origin'), 'the compressed form is remembered');
    // a second lookup uses the local blob
    assert.deepEqual(await imp.lookup('key-2'), hit);
    assert.deepEqual(imp.stats, { hits: 2, misses: 2, downloaded: 1 });

    const imp2 = await BuildRemoteCache.open(b, { cacheFrom: [maxSpec], client });
    assert.deepEqual(await imp2.lookup('key-3'), { layer: { digest: l3!.digest, size: l3!.size } });
    assert.ok(!b.hasBlob(l1!.digest));
    imp.close();
    imp2.close();
  });
}

test('an absent cache source is an empty cache; exporting again reuses the uploaded blobs', async () => {
  const s = await ImageStore.open(join(tmp, 'empty'));
  const warnings: string[] = [];
  const c = await BuildRemoteCache.open(s, {
    cacheFrom: [parseCacheSpec(`${reg.host}/cache/never:1`, 'from'), parseCacheSpec(`type=local,src=${join(tmp, 'no-such-dir')}`, 'from')],
    client,
    onWarning: (w) => warnings.push(w),
  });
  assert.equal(await c.lookup('k'), undefined);
  assert.deepEqual(warnings, []);
  const [l] = await layers(s, 1);
  const to = [parseCacheSpec(`type=registry,ref=${reg.host}/cache/again:1`, 'to')];
  const e1 = await BuildRemoteCache.open(s, { cacheTo: to, client });
  e1.record('k', l!);
  await e1.flush();
  const gz = s.getCompressed(l!.digest, 'gzip');
  assert.ok(gz);
  const e2 = await BuildRemoteCache.open(s, { cacheTo: to, client });
  e2.record('k', l!);
  await e2.flush();
  assert.deepEqual(s.getCompressed(l!.digest, 'gzip'), gz);
});

test('mode=min with finalLayers keeps exactly the steps whose layer is in the result image', async () => {
  const s = await ImageStore.open(join(tmp, 'final'));
  const [l1, l2] = await layers(s, 2);
  const dir = join(tmp, 'final-cache');
  const e = await BuildRemoteCache.open(s, { cacheTo: [parseCacheSpec(`type=local,dest=${dir}`, 'to')] });
  e.record('a', l1!);
  e.record('b', l2!);
  await e.flush({ finalLayers: [l2!.digest] });
  const other = await ImageStore.open(join(tmp, 'final-b'));
  const i = await BuildRemoteCache.open(other, { cacheFrom: [parseCacheSpec(`type=local,src=${dir}`, 'from')] });
  assert.equal(await i.lookup('a'), undefined);
  assert.deepEqual(await i.lookup('b'), { layer: { digest: l2!.digest, size: l2!.size } });
});
