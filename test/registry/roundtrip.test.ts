/** Push/pull against a real docker-registry (no auth) and skopeo as the independent client. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync, gunzipSync } from 'node:zlib';
import { TsbuildError } from '../../src/errors.js';
import { parseReference } from '../../src/image/reference.js';
import { RegistryClient, pull, push, type ItemStatus } from '../../src/registry/index.js';
import { OciLayout } from '../../src/image/oci-layout.js';
import type { Digest } from '../../src/image/digest.js';
import { digestOf } from '../../src/image/digest.js';
import { MT } from '../../src/image/manifest.js';
import { startRegistry, freePort, type TestRegistry } from '../helpers/registry-server.js';
import { makeTestImage, putBytes } from '../helpers/registry-image.js';
import { busyboxRootfsTar } from '../helpers/fixtures.js';

const run = promisify(execFile);
type LayerEvent = ItemStatus;
let reg: TestRegistry;
let tmp: string;
let client: RegistryClient;

before(async () => {
  reg = await startRegistry();
  tmp = mkdtempSync(join(tmpdir(), 'tsbuild-regtest-'));
  client = new RegistryClient();
});
after(async () => {
  client.close();
  await reg.stop();
  rmSync(tmp, { recursive: true, force: true });
});

async function newStore(name: string): Promise<OciLayout> {
  return new OciLayout(join(tmp, name)).init();
}

function blobFile(store: OciLayout, digest: string): Buffer {
  return readFileSync(store.content.path((digest) as Digest));
}

test('push then pull gives byte-identical manifest, config and layers', async () => {
  const src = await newStore('rt-src');
  const img = await makeTestImage(src, [1000, 70_000, 5]);
  const ref = parseReference(`${reg.host}/tests/roundtrip:v1`);
  const events: LayerEvent[] = [];
  const pushed = await push(client, ref, src.content, img.manifest, { onProgress: (e) => events.push(e) });
  assert.equal(pushed.digest, img.manifest.digest);
  assert.equal(pushed.uploaded, 4);
  assert.ok(events.some((e) => e.status === 'pushed' && e.item === img.layers[1]!.digest && e.current === img.layers[1]!.size));

  const dst = await newStore('rt-dst');
  const progress: LayerEvent[] = [];
  const got = await pull(client, ref, dst.content, { onProgress: (e) => progress.push(e) });
  assert.equal(got.manifest.digest, img.manifest.digest);
  assert.deepEqual(blobFile(dst, got.manifest.digest), img.manifestBytes);
  for (const d of [img.config, ...img.layers]) assert.deepEqual(blobFile(dst, d.digest), blobFile(src, d.digest));
  // progress for the big layer grows to its total
  const big = progress.filter((e) => e.item === img.layers[1]!.digest);
  assert.ok(big.length >= 2);
  assert.equal(big.at(-1)!.current, img.layers[1]!.size);

  // a second pull into the same store transfers nothing
  const again: LayerEvent[] = [];
  await pull(client, ref, dst.content, { onProgress: (e) => again.push(e) });
  assert.ok(again.every((e) => e.status === 'exists'));
});

test('pushing again skips blobs the registry has (HEAD) and tags by digest too', async () => {
  const src = await newStore('skip-src');
  const img = await makeTestImage(src, [300, 400]);
  const ref = parseReference(`${reg.host}/tests/skip:one`);
  await push(client, ref, src.content, img.manifest);
  const second = await push(client, parseReference(`${reg.host}/tests/skip:two`), src.content, img.manifest);
  assert.deepEqual([second.uploaded, second.skipped], [0, 3]);
  const m = await client.getManifest({ registry: reg.host, name: 'tests/skip' }, 'two');
  assert.equal(m.digest, img.manifest.digest);
  const byDigest = await client.getManifest({ registry: reg.host, name: 'tests/skip' }, img.manifest.digest);
  assert.deepEqual(byDigest.bytes, img.manifestBytes);
  assert.deepEqual((await client.listTags({ registry: reg.host, name: 'tests/skip' }, 1)).sort(), ['one', 'two'], 'two pages of one tag');
});

test('chunked upload of a blob larger than the chunk size, then a verified download', async () => {
  const repo = { registry: reg.host, name: 'tests/chunked' };
  const data = Buffer.alloc(3 * 1024 * 1024 + 123);
  for (let i = 0; i < data.length; i += 4096) data.writeUInt32LE((i * 2654435761) >>> 0, i);
  const digest = digestOf(data);
  let last = 0;
  let calls = 0;
  const how = await client.putBlob(repo, { digest, size: data.length }, () => Readable.from(chunks(data, 64 * 1024)), {
    monolithicMax: 0,
    chunkSize: 1024 * 1024,
    onProgress: (n) => {
      last = n;
      calls++;
    },
  });
  assert.equal(how, 'uploaded');
  assert.equal(last, data.length);
  assert.equal(calls, 4, 'one progress call per PATCHed chunk');
  assert.equal(await client.headBlob(repo, digest), data.length);
  const back = await client.getBlobBuffer(repo, digest, data.length, 8 * 1024 * 1024);
  assert.ok(back.equals(data));
});

test('cross-repository mount reuses a blob without uploading it', async () => {
  const store = await newStore('mount');
  const d = await putBytes(store, Buffer.from('mount me please'));
  const from = { registry: reg.host, name: 'tests/mount-from' };
  await client.putBlob(from, { digest: d, size: 15 }, () => store.content.open(d));
  const to = { registry: reg.host, name: 'tests/mount-to' };
  const how = await client.putBlob(to, { digest: d, size: 15 }, () => Promise.reject(new Error('must not read')), { mountFrom: 'tests/mount-from' });
  assert.equal(how, 'mounted');
  assert.equal(await client.headBlob(to, d), 15);
  // A blob the source repository lacks cannot be mounted: the session opened instead uploads it.
  const e = await putBytes(store, Buffer.from('not in the source repo'));
  assert.equal(await client.putBlob(to, { digest: e, size: 22 }, () => store.content.open(e), { mountFrom: 'tests/mount-from' }), 'uploaded');
  assert.equal(await client.headBlob(to, e), 22);
});

test('unknown manifest, unknown blob and a refused connection are clear errors', async () => {
  const repo = { registry: reg.host, name: 'tests/nothing' };
  await assert.rejects(client.getManifest(repo, 'nope'), (e: unknown) => {
    assert.ok(e instanceof TsbuildError);
    assert.match(e.message, /manifest nope not found in 127\.0\.0\.1:\d+\/tests\/nothing/);
    return true;
  });
  const missing = digestOf('missing');
  await assert.rejects(client.getBlobBuffer(repo, missing), /blob sha256:[0-9a-f]+ not found in 127\.0\.0\.1:\d+\/tests\/nothing/);
  assert.equal(await client.headBlob(repo, missing), undefined);

  const port = await freePort();
  const quick = new RegistryClient({ maxRetries: 1, baseDelayMs: 10 });
  try {
    await assert.rejects(quick.getManifest({ registry: `127.0.0.1:${port}`, name: 'x/y' }, 'latest'), (e: unknown) => {
      assert.ok(e instanceof TsbuildError && e.code === 'REGISTRY');
      assert.match(e.message, new RegExp(`cannot reach registry 127\\.0\\.0\\.1:${port}: connection refused`));
      return true;
    });
  } finally {
    quick.close();
  }
});

test('an index selects the host platform, or a given one', async () => {
  const store = await newStore('index');
  const amd = await makeTestImage(store, [100], 'amd');
  const arm = await makeTestImage(store, [200], 'arm');
  const indexBytes = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MT.ociIndex,
      manifests: [
        { ...arm.manifest, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
        { ...amd.manifest, platform: { os: 'linux', architecture: 'amd64' } },
      ],
    }),
  );
  const index = { mediaType: MT.ociIndex, digest: await putBytes(store, indexBytes), size: indexBytes.length };
  const ref = parseReference(`${reg.host}/tests/multi:latest`);
  await push(client, ref, store.content, index);
  const dst = await newStore('index-dst');
  const got = await pull(client, ref, dst.content, { platform: { os: 'linux', architecture: 'amd64' } });
  assert.equal(got.root.digest, index.digest);
  assert.equal(got.manifest.digest, amd.manifest.digest);
  const gotArm = await pull(client, ref, dst.content, { platform: { os: 'linux', architecture: 'arm64' } });
  assert.equal(gotArm.manifest.digest, arm.manifest.digest);
  await assert.rejects(pull(client, ref, dst.content, { platform: { os: 'linux', architecture: 's390x' } }), /no image for platform linux\/s390x \(available: linux\/arm64\/v8, linux\/amd64\)/);
});

test('skopeo reads what tsbuild pushed, and tsbuild pulls what skopeo pushed', async () => {
  const src = await newStore('sk-src');
  const img = await makeTestImage(src, [2000, 3000]);
  await push(client, parseReference(`${reg.host}/tests/skopeo:ours`), src.content, img.manifest);
  const { stdout } = await run('skopeo', ['inspect', '--tls-verify=false', '--raw', `docker://${reg.host}/tests/skopeo:ours`]);
  assert.equal(digestOf(stdout.replace(/\n$/, '')), img.manifest.digest);
  const out = join(tmp, 'sk-out');
  await run('skopeo', ['copy', '--quiet', '--preserve-digests', '--dest-oci-accept-uncompressed-layers', '--src-tls-verify=false', `docker://${reg.host}/tests/skopeo:ours`, `oci:${out}:copied`]);
  const copied = new OciLayout(out);
  assert.equal((await copied.resolve('copied'))!.digest, img.manifest.digest);
  for (const d of img.layers) assert.deepEqual(blobFile(copied, d.digest), blobFile(src, d.digest));

  // the other direction: skopeo pushes an OCI layout we wrote
  const theirs = await newStore('sk-theirs');
  const img2 = await makeTestImage(theirs, [1234], 'v2');
  await run('skopeo', ['copy', '--quiet', '--preserve-digests', '--dest-tls-verify=false', `oci:${theirs.dir}:v2`, `docker://${reg.host}/tests/skopeo:theirs`]);
  const dst = await newStore('sk-dst');
  const got = await pull(client, parseReference(`${reg.host}/tests/skopeo:theirs`), dst.content);
  assert.equal(got.manifest.digest, img2.manifest.digest);
  assert.deepEqual(blobFile(dst, img2.layers[0]!.digest), blobFile(theirs, img2.layers[0]!.digest));

  // and as Docker schema 2 (skopeo converts, gzipping the layer): we pull a Docker manifest
  await run('skopeo', ['copy', '--quiet', '--format', 'v2s2', '--dest-tls-verify=false', `oci:${theirs.dir}:v2`, `docker://${reg.host}/tests/skopeo:docker`]);
  const dst2 = await newStore('sk-dst2');
  const got2 = await pull(client, parseReference(`${reg.host}/tests/skopeo:docker`), dst2.content);
  assert.equal(got2.manifest.mediaType, MT.dockerManifest);
  assert.equal(got2.config.mediaType, MT.dockerConfig);
  assert.equal(got2.layers.length, 1);
  const layer = blobFile(dst2, got2.layers[0]!.digest);
  const tar = got2.layers[0]!.mediaType === MT.dockerLayerGzip ? gunzipSync(layer) : layer;
  assert.deepEqual(tar, blobFile(theirs, img2.layers[0]!.digest));
});

test('a busybox rootfs image (gzip layer) pushed by tsbuild is a valid image to skopeo', async () => {
  const store = await newStore('busybox');
  const tar = readFileSync(busyboxRootfsTar());
  const gz = gzipSync(tar);
  const layer = { mediaType: MT.ociLayerGzip, digest: await putBytes(store, gz), size: gz.length };
  const config = Buffer.from(
    JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Cmd: ['/bin/sh'] }, rootfs: { type: 'layers', diff_ids: [digestOf(tar)] } }),
  );
  const configDesc = { mediaType: MT.ociConfig, digest: await putBytes(store, config), size: config.length };
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MT.ociManifest, config: configDesc, layers: [layer] }));
  const desc = { mediaType: MT.ociManifest, digest: await putBytes(store, manifest), size: manifest.length };
  await push(client, parseReference(`${reg.host}/library/busybox:test`), store.content, desc);
  const { stdout } = await run('skopeo', ['inspect', '--tls-verify=false', `docker://${reg.host}/library/busybox:test`]);
  const info = JSON.parse(stdout);
  assert.equal(info.Digest, desc.digest);
  assert.equal(info.Architecture, 'amd64');
  assert.deepEqual(info.Layers, [layer.digest]);
  const dst = await newStore('busybox-dst');
  await pull(client, parseReference(`${reg.host}/library/busybox:test`), dst.content);
  assert.ok(gunzipSync(readFileSync(dst.content.path((layer.digest) as Digest))).equals(tar));
});

function* chunks(b: Buffer, size: number): Generator<Buffer> {
  for (let i = 0; i < b.length; i += size) yield b.subarray(i, i + size);
}
