/** HTTPS to a real registry with a self-signed certificate trusted through a certs.d folder. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TsbuildError } from '../../src/errors.js';
import { parseReference } from '../../src/image/reference.js';
import { RegistryClient, pull, push } from '../../src/registry/index.js';
import { OciLayout } from '../../src/image/oci-layout.js';
import { digestOf } from '../../src/image/digest.js';
import { startRegistry, type TestRegistry } from '../helpers/registry-server.js';
import { makeTestImage } from '../helpers/registry-image.js';

const run = promisify(execFile);
let reg: TestRegistry;
let tmp: string;
let certsDir: string;

before(async () => {
  reg = await startRegistry({ kind: 'none' }, { tls: true });
  tmp = mkdtempSync(join(tmpdir(), 'tsbuild-regtls-'));
  certsDir = join(tmp, 'certs.d');
  mkdirSync(join(certsDir, reg.host), { recursive: true });
  copyFileSync(reg.caFile!, join(certsDir, reg.host, 'ca.crt'));
});
after(async () => {
  await reg.stop();
  rmSync(tmp, { recursive: true, force: true });
});

test('a certs.d CA makes a loopback registry speak HTTPS; push and pull work over it', async () => {
  const client = new RegistryClient({ certsDirs: [certsDir] });
  try {
    assert.equal(client.transport.baseUrl(reg.host), `https://${reg.host}`);
    const store = await new OciLayout(join(tmp, 'src')).init();
    const img = await makeTestImage(store, [4000, 100]);
    const ref = parseReference(`${reg.host}/secure/app:1`);
    await push(client, ref, store.content, img.manifest, { monolithicMax: 1000, chunkSize: 2048 });
    const dst = await new OciLayout(join(tmp, 'dst')).init();
    assert.equal((await pull(client, ref, dst.content)).manifest.digest, img.manifest.digest);
    const { stdout } = await run('skopeo', ['inspect', '--raw', '--cert-dir', join(certsDir, reg.host), `docker://${reg.host}/secure/app:1`]);
    assert.equal(digestOf(stdout.replace(/\n$/, '')), img.manifest.digest);
  } finally {
    client.close();
  }
});

test('an untrusted certificate is a clear, unretried error', async () => {
  const client = new RegistryClient({ certsDirs: [], tlsHosts: [reg.host], baseDelayMs: 5000, maxRetries: 1 });
  try {
    const t0 = Date.now();
    await assert.rejects(client.getManifest({ registry: reg.host, name: 'secure/app' }, '1'), (e: unknown) => {
      assert.ok(e instanceof TsbuildError && e.code === 'REGISTRY');
      assert.match(e.message, /TLS certificate of registry 127\.0\.0\.1:\d+ is not trusted \([A-Z_]+\): put its CA in \/etc\/docker\/certs\.d\/127\.0\.0\.1:\d+\/ca\.crt/);
      return true;
    });
    assert.ok(Date.now() - t0 < 2000, 'no backoff retries for a certificate error');
  } finally {
    client.close();
  }
  const plain = new RegistryClient({ certsDirs: [] });
  try {
    assert.equal(plain.transport.baseUrl(reg.host), `http://${reg.host}`);
  } finally {
    plain.close();
  }
});
