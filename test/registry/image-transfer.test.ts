/** Pull and push of the image store: layers unpacked verified on the way in, bad blobs never stay, gzip'd on the way out. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { TsbuildError } from '../../src/errors.js';
import { ImageStore } from '../../src/image/store.js';
import { parseReference } from '../../src/image/reference.js';
import { RegistryClient, push } from '../../src/registry/index.js';
import { OciLayout } from '../../src/image/oci-layout.js';
import { digestOf } from '../../src/image/digest.js';
import { MT } from '../../src/image/manifest.js';
import { pullImage } from '../../src/registry/pull.js';
import { pushImage } from '../../src/registry/push.js';
import { LayerIngester } from '../../src/image/layer-ingest.js';
import { makeTestImage, putBytes, randomLayerTar } from '../helpers/registry-image.js';
import { startRegistry, type TestRegistry } from '../helpers/registry-server.js';

let reg: TestRegistry;
let tmp: string;
let client: RegistryClient;

before(async () => {
  reg = await startRegistry();
  tmp = mkdtempSync(join(tmpdir(), 'tsbuild-adapter-'));
  client = new RegistryClient();
});
after(async () => {
  client.close();
  await reg.stop();
  rmSync(tmp, { recursive: true, force: true });
});

const blobs = (root: string) => readdirSync(join(root, 'blobs', 'sha256')).sort();
const tmpFiles = (root: string) => readdirSync(join(root, 'tmp'));

test('layer ingester: gzip stored uncompressed with both digests checked; mismatches keep nothing', async () => {
  const root = join(tmp, 'put');
  const store = await ImageStore.open(root);
  const a = new LayerIngester(store);
  const tar = await randomLayerTar(5000);
  const gz = gzipSync(tar);
  const before = blobs(root);
  await assert.rejects(a.write(Readable.from([gz]), { digest: digestOf(Buffer.from('other')) }), /does not match its digest/);
  a.expect({ mediaType: MT.ociLayerGzip, digest: digestOf(gz), size: gz.length }, digestOf(Buffer.from('not the tar')) as `sha256:${string}`);
  await assert.rejects(a.write(Readable.from([gz]), { digest: digestOf(gz), size: gz.length }), (e: unknown) => e instanceof TsbuildError && e.code === 'CORRUPT');
  assert.deepEqual(blobs(root), before);
  assert.deepEqual(tmpFiles(root), []);

  const b = new LayerIngester(store);
  await b.write(Readable.from([gz]), { digest: digestOf(gz), size: gz.length });
  assert.ok(store.hasBlob(digestOf(tar) as `sha256:${string}`));
  assert.deepEqual(store.getCompressed(digestOf(tar) as `sha256:${string}`, 'origin'), { digest: digestOf(gz), size: gz.length });
  // a fresh ingester finds the layer by its compressed digest
  assert.deepEqual(await new LayerIngester(store).info(digestOf(gz)), { digest: digestOf(tar), size: tar.length });
  await assert.rejects(b.write(Readable.from([Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 1, 2, 3])]), { digest: digestOf('z') }), /zstd/);
});

test('uncompressed-layer images and multi-platform indexes pull; pushing back keeps the manifest digest', async () => {
  const oci = await new OciLayout(join(tmp, 'oci')).init();
  const amd = await makeTestImage(oci, [3000, 100], 'amd');
  const arm = await makeTestImage(oci, [200], 'arm');
  const index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MT.ociIndex,
      manifests: [
        { ...amd.manifest, platform: { os: 'linux', architecture: 'amd64' } },
        { ...arm.manifest, platform: { os: 'linux', architecture: 'arm64' } },
      ],
    }),
  );
  const idx = { mediaType: MT.ociIndex, digest: await putBytes(oci, index), size: index.length };
  await push(client, parseReference(`${reg.host}/multi/app:1`), oci.content, idx);

  const root = join(tmp, 'multi');
  const store = await ImageStore.open(root);
  const r = await pullImage(client, parseReference(`${reg.host}/multi/app:1`), store, { platform: { os: 'linux', architecture: 'arm64' } });
  assert.equal(r.digest, idx.digest);
  assert.equal(r.manifestDigest, arm.manifest.digest);
  assert.equal(r.image.id, arm.config.digest);
  assert.deepEqual(r.image.manifest.layers.map((l) => l.digest), arm.layers.map((l) => l.digest));
  await assert.rejects(pullImage(client, parseReference(`${reg.host}/multi/app:1`), store, { platform: { os: 'linux', architecture: 's390x' } }), /no image for platform linux\/s390x \(available: linux\/amd64, linux\/arm64\)/);

  await store.tag(`${reg.host}/multi/app:1`, `${reg.host}/copy/app:1`);
  const p = await pushImage(client, parseReference(`${reg.host}/copy/app:1`), store);
  assert.equal(p.digest, arm.manifest.digest, 'the original manifest is pushed as it was');
});

test('a registry image whose layer does not match its diff ID is refused and leaves nothing', async () => {
  const oci = await new OciLayout(join(tmp, 'bad')).init();
  const tar = await randomLayerTar(4000);
  const gz = gzipSync(tar);
  const layer = { mediaType: MT.ociLayerGzip, digest: await putBytes(oci, gz), size: gz.length };
  const cfg = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [digestOf(Buffer.from('lie'))] } }));
  const config = { mediaType: MT.ociConfig, digest: await putBytes(oci, cfg), size: cfg.length };
  const m = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MT.ociManifest, config, layers: [layer] }));
  const md = { mediaType: MT.ociManifest, digest: await putBytes(oci, m), size: m.length };
  await push(client, parseReference(`${reg.host}/bad/app:1`), oci.content, md);

  const root = join(tmp, 'bad-store');
  const store = await ImageStore.open(root);
  await assert.rejects(pullImage(client, parseReference(`${reg.host}/bad/app:1`), store), (e: unknown) => e instanceof TsbuildError && e.code === 'CORRUPT');
  assert.deepEqual(blobs(root), []);
  assert.deepEqual(await store.listImages(), []);
});

test('zstd layers are decompressed (Node zlib, else the zstd program); a missing decoder is a clear error', async () => {
  const { execFileSync } = await import('node:child_process');
  const oci = await new OciLayout(join(tmp, 'zstd')).init();
  const tar = await randomLayerTar(30_000);
  const zst = execFileSync('zstd', ['-c', '-q'], { input: tar });
  const layer = { mediaType: MT.ociLayerZstd, digest: await putBytes(oci, zst), size: zst.length };
  const cfg = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [digestOf(tar)] } }));
  const config = { mediaType: MT.ociConfig, digest: await putBytes(oci, cfg), size: cfg.length };
  const m = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MT.ociManifest, config, layers: [layer] }));
  await push(client, parseReference(`${reg.host}/zstd/app:1`), oci.content, { mediaType: MT.ociManifest, digest: await putBytes(oci, m), size: m.length });

  const saved = process.env.TSBUILD_ZSTD;
  const native = typeof (await import('node:zlib') as unknown as { createZstdDecompress?: unknown }).createZstdDecompress === 'function';
  const root = join(tmp, 'zstd-store');
  const store = await ImageStore.open(root);
  if (!native) {
    process.env.TSBUILD_ZSTD = '/nonexistent/zstd';
    try {
      await assert.rejects(pullImage(client, parseReference(`${reg.host}/zstd/app:1`), store), /need Node\.js 22\.15\+ or the zstd program/);
    } finally {
      if (saved === undefined) delete process.env.TSBUILD_ZSTD;
      else process.env.TSBUILD_ZSTD = saved;
    }
    assert.deepEqual(blobs(root), []);
  }
  const r = await pullImage(client, parseReference(`${reg.host}/zstd/app:1`), store);
  assert.deepEqual(r.image.config.rootfs.diff_ids, [digestOf(tar)]);
  assert.ok(store.hasBlob(digestOf(tar) as `sha256:${string}`));
  // pushing it on recompresses with gzip (the zstd blob is not kept); the image ID stays
  const p = await pushImage(client, parseReference(`${reg.host}/zstd/copy:1`), store, { source: `${reg.host}/zstd/app:1` });
  const got = await client.getManifest({ registry: reg.host, name: 'zstd/copy' }, '1');
  assert.equal(got.digest, p.digest);
  assert.ok(got.parsed.kind === 'manifest' && got.parsed.manifest.config.digest === config.digest);
  assert.ok(got.parsed.kind === 'manifest' && got.parsed.manifest.layers[0]!.mediaType === MT.ociLayerGzip);
});
