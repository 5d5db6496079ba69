/** Pure parts of the registry client: challenges, manifests, platforms, retry rules, schemes. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TsbuildError } from '../../src/errors.js';
import { parseChallenges, formatScope, configKey } from '../../src/registry/auth.js';
import { MT, parseManifest, type Index } from '../../src/image/manifest.js';
import { selectPlatform, parsePlatform, hostPlatform } from '../../src/image/platform.js';
import { Transport, isLoopbackHost, retryAfterMs, isRetryableStatus, hostname } from '../../src/registry/transport.js';
import { checkDigest, digestOf } from '../../src/image/digest.js';
import { mapLimit } from '../../src/map-limit.js';

test('WWW-Authenticate challenges: Bearer with quoted params, Basic, several in one header', () => {
  assert.deepEqual(parseChallenges('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"'), [
    { scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/busybox:pull' } },
  ]);
  assert.deepEqual(parseChallenges('Basic realm="Registry Realm"'), [{ scheme: 'basic', params: { realm: 'Registry Realm' } }]);
  assert.deepEqual(parseChallenges('Basic realm="a, b", Bearer realm=x,error="insufficient_scope",scope="repository:a:pull,push"'), [
    { scheme: 'basic', params: { realm: 'a, b' } },
    { scheme: 'bearer', params: { realm: 'x', error: 'insufficient_scope', scope: 'repository:a:pull,push' } },
  ]);
  assert.deepEqual(parseChallenges('Bearer realm="q\\"uote"'), [{ scheme: 'bearer', params: { realm: 'q"uote' } }]);
  assert.deepEqual(parseChallenges(''), []);
  assert.equal(formatScope({ repository: 'a/b', actions: ['pull', 'push'] }), 'repository:a/b:pull,push');
  assert.equal(configKey('docker.io'), 'https://index.docker.io/v1/');
  assert.equal(configKey('ghcr.io'), 'ghcr.io');
});

test('manifests: OCI/Docker media types, index detection, schema1 and junk refused', () => {
  const m = { schemaVersion: 2, mediaType: MT.dockerManifest, config: { mediaType: MT.dockerConfig, digest: digestOf('c'), size: 1 }, layers: [] };
  assert.equal(parseManifest(Buffer.from(JSON.stringify(m))).kind, 'manifest');
  const { mediaType: _mt, ...noType } = m;
  const p = parseManifest(Buffer.from(JSON.stringify(noType)), `${MT.ociManifest}; charset=utf-8`);
  assert.equal(p.mediaType, MT.ociManifest);
  const idx = parseManifest(Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [] })));
  assert.deepEqual([idx.kind, idx.mediaType], ['index', MT.ociIndex]);
  assert.equal(parseManifest(Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [] })), MT.dockerList).mediaType, MT.dockerList);
  assert.throws(() => parseManifest(Buffer.from('{"schemaVersion":1,"fsLayers":[]}')), /schema 1 manifests are not supported/);
  assert.throws(() => parseManifest(Buffer.from('nope')), (e: unknown) => e instanceof TsbuildError && e.code === 'CORRUPT');
  assert.throws(() => parseManifest(Buffer.from(JSON.stringify({ ...m, layers: [{ digest: 'x', size: 1 }] }))), /layers\[0\] is not a valid descriptor/);
});

test('platform selection: exact, default variants, attestations skipped, absent platform', () => {
  const d = (digest: string, platform?: object) => ({ mediaType: MT.ociManifest, digest: `sha256:${digest.repeat(64)}`, size: 1, ...(platform ? { platform } : {}) });
  const index = {
    schemaVersion: 2,
    manifests: [
      d('1', { os: 'linux', architecture: 'arm', variant: 'v6' }),
      d('2', { os: 'linux', architecture: 'arm', variant: 'v7' }),
      d('3', { os: 'linux', architecture: 'arm64' }),
      d('4', { os: 'unknown', architecture: 'unknown' }),
      d('5', { os: 'linux', architecture: 'amd64' }),
      d('6'),
    ],
  } as Index<string>;
  const pick = (s: string) => selectPlatform(index, parsePlatform(s))?.digest.slice(7, 8);
  assert.equal(pick('linux/amd64'), '5');
  assert.equal(pick('linux/x86_64'), '5');
  assert.equal(pick('linux/arm'), '2');
  assert.equal(pick('linux/arm/v6'), '1');
  assert.equal(pick('linux/arm64/v8'), '3');
  assert.equal(pick('linux/aarch64'), '3');
  assert.equal(pick('linux/s390x'), undefined);
  assert.equal(pick('windows/amd64'), undefined);
  assert.throws(() => parsePlatform('linux'), /expected os\/arch/);
  if (process.arch === 'x64') assert.deepEqual(hostPlatform(), { os: 'linux', architecture: 'amd64' });
});

test('transport rules: loopback hosts speak HTTP, others HTTPS unless insecure; retry classification', () => {
  const t = new Transport({ insecureHosts: ['myreg.local:5000', 'plain.example'] });
  try {
    assert.equal(t.baseUrl('127.0.0.1:5000'), 'http://127.0.0.1:5000');
    assert.equal(t.baseUrl('localhost:5000'), 'http://localhost:5000');
    assert.equal(t.baseUrl('[::1]:5000'), 'http://[::1]:5000');
    assert.equal(t.baseUrl('myreg.local:5000'), 'http://myreg.local:5000');
    assert.equal(t.baseUrl('plain.example:443'), 'http://plain.example:443');
    assert.equal(t.baseUrl('myreg.local:5001'), 'https://myreg.local:5001');
    assert.equal(t.baseUrl('registry-1.docker.io'), 'https://registry-1.docker.io');
    assert.equal(t.baseUrl('127.evil.example'), 'https://127.evil.example');
  } finally {
    t.close();
  }
  assert.equal(isLoopbackHost('127.8.9.10:80'), true);
  assert.equal(isLoopbackHost('10.0.0.1'), false);
  assert.equal(hostname('[::1]:5000'), '::1');
  assert.deepEqual([429, 500, 502, 503, 504, 408, 501, 400, 404].map(isRetryableStatus), [true, true, true, true, true, true, false, false, false]);
  assert.equal(retryAfterMs('3'), 3000);
  assert.equal(retryAfterMs(new Date(10_000).toUTCString(), 4_000), 6000);
  assert.equal(retryAfterMs('soon'), undefined);
});

test('digests are checked before use; mapLimit bounds concurrency and keeps order', async () => {
  checkDigest(digestOf('x'));
  assert.throws(() => checkDigest('sha256:abc'), /malformed digest/);
  assert.throws(() => checkDigest('md5:' + 'a'.repeat(32)), /unsupported/);
  assert.throws(() => checkDigest('sha256:' + 'A'.repeat(64)), /malformed/);
  let inFlight = 0;
  let peak = 0;
  const out = await mapLimit([5, 1, 4, 2, 3], 2, async (v) => {
    peak = Math.max(peak, ++inFlight);
    await new Promise((r) => setTimeout(r, v));
    inFlight--;
    return v * 10;
  });
  assert.deepEqual(out, [50, 10, 40, 20, 30]);
  assert.equal(peak, 2);
});
