/** A real registry behind the fault-injecting proxy: retries, resumes, and refusing bad bytes. */
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { TsbuildError } from '../../src/errors.js';
import { parseReference } from '../../src/image/reference.js';
import { RegistryClient, pull, push, type ItemStatus } from '../../src/registry/index.js';
import { OciLayout } from '../../src/image/oci-layout.js';
import type { Digest } from '../../src/image/digest.js';
import { digestOf } from '../../src/image/digest.js';
import { startRegistry, type TestRegistry } from '../helpers/registry-server.js';
import { startFaultProxy, type FaultProxy } from '../helpers/registry-fault-proxy.js';
import { makeTestImage, type TestImage } from '../helpers/registry-image.js';

let reg: TestRegistry;
let proxy: FaultProxy;
let tmp: string;
type LayerEvent = ItemStatus;
let src: OciLayout;
let img: TestImage;
let client: RegistryClient;
let n = 0;
const BLOB = /\/blobs\/sha256:/;
const MANIFEST = /\/manifests\//;

before(async () => {
  reg = await startRegistry();
  proxy = await startFaultProxy(reg.port);
  tmp = mkdtempSync(join(tmpdir(), 'tsbuild-regfault-'));
  src = await new OciLayout(join(tmp, 'src')).init();
  img = await makeTestImage(src, [200_000, 3000]);
  // Seed the registry directly (not through the proxy).
  const direct = new RegistryClient();
  await push(direct, parseReference(`${reg.host}/f/img:1`), src.content, img.manifest);
  direct.close();
  client = new RegistryClient({ baseDelayMs: 5, maxRetries: 3 });
});
beforeEach(() => proxy.clear());
after(async () => {
  client.close();
  await proxy.stop();
  await reg.stop();
  rmSync(tmp, { recursive: true, force: true });
});

const ref = () => parseReference(`${proxy.host}/f/img:1`);
const newStore = () => new OciLayout(join(tmp, `dst${++n}`)).init();
const bigLayer = () => img.layers[0]!;

function assertPulled(store: OciLayout): void {
  for (const d of [img.config, ...img.layers]) {
    assert.deepEqual(readFileSync(store.content.path((d.digest) as Digest)), readFileSync(src.content.path((d.digest) as Digest)));
  }
}

test('500 then success, and 429 with Retry-After, are retried', async () => {
  proxy.add({ method: 'GET', path: MANIFEST, action: { kind: 'status', status: 500 }, times: 2 });
  proxy.add({ method: 'GET', path: BLOB, action: { kind: 'status', status: 429, headers: { 'retry-after': '1' } } });
  const store = await newStore();
  const t0 = Date.now();
  await pull(client, ref(), store.content);
  assert.ok(Date.now() - t0 >= 900, 'waited for Retry-After');
  assertPulled(store);
  assert.deepEqual(proxy.hits.filter((h) => MANIFEST.test(h.path)).map((h) => h.fault), ['status', 'status', undefined]);
  assert.equal(proxy.hits.filter((h) => h.fault === 'status').length, 3);
});

test('a connection dropped mid-blob resumes with a Range request', async () => {
  const big = bigLayer();
  proxy.add({ method: 'GET', path: new RegExp(big.digest), action: { kind: 'drop', afterBytes: 70_000 }, times: 2 });
  const store = await newStore();
  await pull(client, ref(), store.content);
  assertPulled(store);
  const gets = proxy.hits.filter((h) => h.path.includes(big.digest));
  assert.equal(gets.length, 3);
  assert.equal(gets[0]!.range, undefined);
  assert.match(gets[1]!.range ?? '', /^bytes=\d+-$/);
  assert.ok(Number(/\d+/.exec(gets[1]!.range!)![0]) > 0);
});

test('a blob that keeps breaking fails clearly after bounded resumes, leaving nothing stored', async () => {
  const big = bigLayer();
  proxy.add({ method: 'GET', path: new RegExp(big.digest), action: { kind: 'drop', afterBytes: 1000 }, times: 100 });
  const store = await newStore();
  await assert.rejects(pull(client, ref(), store.content), (e: unknown) => {
    assert.ok(e instanceof TsbuildError && e.code === 'REGISTRY');
    assert.match(e.message, /connection to registry 127\.0\.0\.1:\d+ broke while transferring f\/img/);
    return true;
  });
  assert.equal(existsSync(store.content.path((big.digest) as Digest)), false);
  assert.ok(proxy.hits.filter((h) => h.path.includes(big.digest)).length <= 7);
});

test('a wrong digest is never accepted: corrupted blob and manifest bodies fail', async () => {
  const big = bigLayer();
  proxy.add({ method: 'GET', path: new RegExp(big.digest), action: { kind: 'corrupt' }, times: 100 });
  const store = await newStore();
  await assert.rejects(pull(client, ref(), store.content), (e: unknown) => {
    assert.ok(e instanceof TsbuildError && e.code === 'CORRUPT');
    assert.match(e.message, new RegExp(`does not match its digest: expected ${big.digest}`));
    return true;
  });
  assert.equal(existsSync(store.content.path((big.digest) as Digest)), false);

  proxy.clear();
  proxy.add({ method: 'GET', path: MANIFEST, action: { kind: 'corrupt' }, times: 100 });
  await assert.rejects(client.getManifest({ registry: proxy.host, name: 'f/img' }, img.manifest.digest), (e: unknown) => {
    assert.ok(e instanceof TsbuildError && e.code === 'CORRUPT');
    return true;
  });
});

test('persistent 500 gives up after the retry bound with a clear error', async () => {
  proxy.add({ method: 'GET', path: MANIFEST, action: { kind: 'status', status: 503, body: '{"errors":[{"code":"UNAVAILABLE","message":"down"}]}' }, times: 100 });
  await assert.rejects(pull(client, ref(), (await newStore()).content), /registry 127\.0\.0\.1:\d+ answered HTTP 503 for manifest 1 in f\/img: UNAVAILABLE: down/);
  assert.equal(proxy.hits.length, 4, 'first try + 3 retries');
});

test('a slow registry still delivers, with progress along the way', async () => {
  const big = bigLayer();
  proxy.add({ method: 'GET', path: new RegExp(big.digest), action: { kind: 'slow', delayMs: 2, chunkBytes: 16 * 1024 } });
  const events: LayerEvent[] = [];
  const store = await newStore();
  await pull(client, ref(), store.content, { onProgress: (e) => events.push(e) });
  assertPulled(store);
  assert.ok(events.filter((e) => e.item === big.digest && e.status === 'downloading').length >= 5);
});

test('uploads survive a 500 on PATCH, a reset connection on PUT, and a reset HEAD', async () => {
  const repo = { registry: proxy.host, name: 'f/up' };
  const data = Buffer.alloc(300_000, 7);
  data.write('unique-upload-payload');
  const digest = digestOf(data);
  proxy.add({ method: 'HEAD', path: BLOB, action: { kind: 'reset' } });
  assert.equal(await client.headBlob(repo, digest), undefined);
  proxy.add({ method: 'PATCH', path: /uploads/, action: { kind: 'status', status: 500 } });
  await client.putBlob(repo, { digest, size: data.length }, () => Readable.from([data.subarray(0, 150_000), data.subarray(150_000)]), {
    monolithicMax: 0,
    chunkSize: 100_000,
  });
  assert.equal(await client.headBlob(repo, digest), data.length);

  // A PATCH whose connection breaks is resumed in the same upload session (GET status, resend).
  const data3 = Buffer.alloc(250_000, 3);
  data3.write('resumed-patch');
  const digest3 = digestOf(data3);
  const postsBefore = proxy.hits.filter((h) => h.method === 'POST').length;
  proxy.add({ method: 'PATCH', path: /uploads/, action: { kind: 'reset' } });
  proxy.add({ method: 'PATCH', path: /uploads/, action: { kind: 'reset' }, after: 1 });
  await client.putBlob(repo, { digest: digest3, size: data3.length }, () => Readable.from([data3]), { monolithicMax: 0, chunkSize: 100_000 });
  assert.equal(await client.headBlob(repo, digest3), data3.length);
  assert.equal(proxy.hits.filter((h) => h.method === 'POST').length, postsBefore + 1, 'same upload session');
  assert.equal(proxy.hits.filter((h) => h.method === 'GET' && /uploads/.test(h.path)).length, 2, 'asked for the upload status after each break');

  const data2 = Buffer.alloc(50_000, 9);
  const digest2 = digestOf(data2);
  proxy.add({ method: 'PUT', path: /uploads/, action: { kind: 'reset' } });
  assert.equal(await client.putBlob(repo, { digest: digest2, size: data2.length }, () => Readable.from([data2])), 'uploaded');
  assert.equal(await client.headBlob(repo, digest2), data2.length);
  assert.equal(proxy.hits.filter((h) => h.method === 'POST').length, 4, 'the reset PUT restarted its upload');
});

test('bytes damaged on the way up are caught by the registry and the upload starts over', async () => {
  const repo = { registry: proxy.host, name: 'f/damaged' };
  const data = Buffer.alloc(120_000, 5);
  data.write('damaged-in-transit');
  const digest = digestOf(data);
  proxy.add({ method: 'PATCH', path: /uploads/, action: { kind: 'corruptRequest' } });
  await client.putBlob(repo, { digest, size: data.length }, () => Readable.from([data]), { monolithicMax: 0, chunkSize: 50_000 });
  assert.equal(proxy.hits.filter((h) => h.method === 'POST').length, 2, 'a second upload session');
  const back = await client.getBlobBuffer(repo, digest, data.length);
  assert.ok(back.equals(data));

  // Damaged every time: a clear error, not a loop.
  proxy.clear();
  proxy.add({ method: 'PUT', path: /uploads/, action: { kind: 'corruptRequest' }, times: 100 });
  const other = Buffer.from('always damaged');
  await assert.rejects(
    client.putBlob(repo, { digest: digestOf(other), size: other.length }, () => Readable.from([other])),
    /answered HTTP 400 for uploading blob sha256:[0-9a-f]+ in f\/damaged: DIGEST_INVALID/,
  );
  assert.equal(proxy.hits.filter((h) => h.method === 'POST').length, 3, 'bounded whole-upload attempts');
});

test('a stalled download times out and resumes where it stopped', async () => {
  const big = bigLayer();
  proxy.add({ method: 'GET', path: new RegExp(big.digest), action: { kind: 'slow', delayMs: 1500, chunkBytes: 64 * 1024 } });
  const impatient = new RegistryClient({ timeoutMs: 300, baseDelayMs: 5 });
  try {
    const back = await impatient.getBlobBuffer({ registry: proxy.host, name: 'f/img' }, big.digest, big.size);
    assert.ok(back.equals(readFileSync(src.content.path((big.digest) as Digest))));
  } finally {
    impatient.close();
  }
  const gets = proxy.hits.filter((h) => h.path.includes(big.digest));
  assert.equal(gets.length, 2);
  assert.match(gets[1]!.range ?? '', /^bytes=[1-9]\d*-$/);
});

test('a streamed upload (one PATCH) restarts its session after a reset or a 500', async () => {
  const repo = { registry: proxy.host, name: 'f/streamed' };
  const data = Buffer.alloc(400_000, 1);
  data.write('streamed-upload');
  const digest = digestOf(data);
  proxy.add({ method: 'PATCH', path: /uploads/, action: { kind: 'reset' } });
  proxy.add({ method: 'PATCH', path: /uploads/, action: { kind: 'status', status: 500 } });
  let last = 0;
  await client.putBlob(repo, { digest, size: data.length }, () => Readable.from(chunks(data, 32 * 1024)), { monolithicMax: 0, onProgress: (n) => (last = n) });
  assert.equal(last, data.length);
  assert.deepEqual(proxy.hits.filter((h) => h.method !== 'HEAD').map((h) => `${h.method} ${h.fault ?? ''}`), [
    'POST ', 'PATCH reset', 'POST ', 'PATCH status', 'POST ', 'PATCH ', 'PUT ',
  ]);
  assert.ok((await client.getBlobBuffer(repo, digest, data.length)).equals(data));
});

function* chunks(b: Buffer, size: number): Generator<Buffer> {
  for (let i = 0; i < b.length; i += size) yield b.subarray(i, i + size);
}
