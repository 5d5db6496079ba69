/** The registry build cache format, exported to and imported from a real registry. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseReference } from '../../src/image/reference.js';
import { RegistryClient, push } from '../../src/registry/index.js';
import { OciLayout } from '../../src/image/oci-layout.js';
import type { Digest } from '../../src/image/digest.js';
import { MT, type Descriptor } from '../../src/image/manifest.js';
import { exportCache, importCache, CACHE_ARTIFACT_TYPE, type CacheRecord } from '../../src/registry/cache-export.js';
import { startRegistry, type TestRegistry } from '../helpers/registry-server.js';
import { makeTestImage, putBytes, randomLayerTar } from '../helpers/registry-image.js';

let reg: TestRegistry;
let tmp: string;
let client: RegistryClient;

before(async () => {
  reg = await startRegistry();
  tmp = mkdtempSync(join(tmpdir(), 'tsbuild-regcache-'));
  client = new RegistryClient();
});
after(async () => {
  client.close();
  await reg.stop();
  rmSync(tmp, { recursive: true, force: true });
});

async function layer(store: OciLayout, size: number): Promise<Descriptor<string>> {
  const tar = await randomLayerTar(size);
  return { mediaType: MT.ociLayer, digest: await putBytes(store, tar), size: tar.length };
}

test('export then import maps step keys to layer chains; layers come back verified and lazily', async () => {
  const store = await new OciLayout(join(tmp, 'build')).init();
  const [a, b, c] = [await layer(store, 1000), await layer(store, 2000), await layer(store, 3000)];
  const records: CacheRecord[] = [
    { key: 'sha256:' + '1'.repeat(64), layers: [a], created: '2026-01-01T00:00:00Z' },
    { key: 'sha256:' + '2'.repeat(64), layers: [a, b], state: { env: ['X=1'] } },
    { key: 'sha256:' + '3'.repeat(64), layers: [a, b, c] },
  ];
  const ref = parseReference(`${reg.host}/ci/cache:main`);
  const digest = await exportCache(client, ref, store.content, records);
  const m = await client.getManifest({ registry: reg.host, name: 'ci/cache' }, 'main');
  assert.equal(m.digest, digest);
  assert.equal(JSON.parse(m.bytes.toString()).artifactType, CACHE_ARTIFACT_TYPE);
  assert.equal((m.parsed.kind === 'manifest' && m.parsed.manifest.layers.length), 3, 'blobs deduplicated');

  const cache = await importCache(client, ref);
  assert.equal(cache.size, 3);
  assert.equal(cache.lookup('sha256:' + '9'.repeat(64)), undefined);
  const hit = cache.lookup('sha256:' + '2'.repeat(64))!;
  assert.deepEqual(hit.layers.map((d) => d.digest), [a.digest, b.digest]);
  assert.deepEqual(hit.state, { env: ['X=1'] });
  const other = await new OciLayout(join(tmp, 'other-machine')).init();
  await cache.fetchLayers(hit, other.content);
  assert.deepEqual(readFileSync(other.content.path((b.digest) as Digest)), readFileSync(store.content.path((b.digest) as Digest)));
  assert.equal(other.content.has(c.digest), false, 'only the chain asked for is downloaded');
});

test('merge keeps other machines\u2019 records; a missing ref is an empty cache; an image is not a cache', async () => {
  const store = await new OciLayout(join(tmp, 'merge')).init();
  const ref = parseReference(`${reg.host}/ci/merged:main`);
  assert.equal((await importCache(client, ref)).size, 0);
  const x = await layer(store, 500);
  const y = await layer(store, 600);
  await exportCache(client, ref, store.content, [{ key: 'k1', layers: [x] }]);
  await exportCache(client, ref, store.content, [{ key: 'k2', layers: [y] }], { merge: true });
  const cache = await importCache(client, ref);
  assert.deepEqual(cache.records().map((r) => r.key).sort(), ['k1', 'k2']);
  await exportCache(client, ref, store.content, [{ key: 'k3', layers: [y] }]);
  assert.deepEqual((await importCache(client, ref)).records().map((r) => r.key), ['k3'], 'without merge the ref is replaced');

  const img = await makeTestImage(store, [10]);
  await push(client, parseReference(`${reg.host}/ci/image:1`), store.content, img.manifest);
  await assert.rejects(importCache(client, parseReference(`${reg.host}/ci/image:1`)), /is not a tsbuild build cache/);
});
