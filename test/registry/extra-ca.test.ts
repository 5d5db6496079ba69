/**
 * The registry client trusts the extra-CA file bin/tsbuild keeps away from Node's start
 * (TSBUILD_EXTRA_CA_CERTS, adopted by the CLI), alone and together with a host's certs.d CA — an
 * explicit CA list replaces Node's whole store, so both must be in it. Real registry, real TLS.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseReference } from '../../src/image/reference.js';
import { RegistryClient, push } from '../../src/registry/index.js';
import { OciLayout } from '../../src/image/oci-layout.js';
import { adoptLauncherCaFile } from '../../src/registry/trusted-cas.js';
import { startRegistry, type TestRegistry } from '../helpers/registry-server.js';
import { makeTestImage } from '../helpers/registry-image.js';

let reg: TestRegistry;
let tmp: string;
let manifestDigest: string;

before(async () => {
  reg = await startRegistry({ kind: 'none' }, { tls: true });
  tmp = mkdtempSync(join(tmpdir(), 'tsbuild-extraca-'));
  const certsDir = join(tmp, 'certs.d');
  mkdirSync(join(certsDir, reg.host), { recursive: true });
  copyFileSync(reg.caFile!, join(certsDir, reg.host, 'ca.crt'));
  const client = new RegistryClient({ certsDirs: [certsDir] });
  try {
    const store = await new OciLayout(join(tmp, 'src')).init();
    const img = await makeTestImage(store, [1000]);
    await push(client, parseReference(`${reg.host}/extra/app:1`), store.content, img.manifest);
    manifestDigest = img.manifest.digest;
  } finally {
    client.close();
  }
});
after(async () => {
  await reg?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

test('TSBUILD_EXTRA_CA_CERTS is adopted once: trusted by registry clients, NODE_EXTRA_CA_CERTS restored for children', async () => {
  // another CA in the host's certs.d folder: the explicit list must still hold the extra file's CA
  const otherCa = join(tmp, 'other-certs.d', reg.host);
  mkdirSync(otherCa, { recursive: true });
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(tmp, 'other.key'), '-out', join(otherCa, 'other.crt'), '-days', '2', '-subj', '/CN=other'], { stdio: 'ignore' });

  const untrusted = new RegistryClient({ certsDirs: [], tlsHosts: [reg.host], maxRetries: 0 });
  try {
    await assert.rejects(untrusted.getManifest({ registry: reg.host, name: 'extra/app' }, '1'), /is not trusted/);
  } finally {
    untrusted.close();
  }

  const env: NodeJS.ProcessEnv = { TSBUILD_EXTRA_CA_CERTS: reg.caFile! };
  adoptLauncherCaFile(env);
  assert.deepEqual(env, { NODE_EXTRA_CA_CERTS: reg.caFile });

  for (const certsDirs of [[], [join(tmp, 'other-certs.d')]]) {
    const client = new RegistryClient({ certsDirs, tlsHosts: [reg.host], maxRetries: 0 });
    try {
      const m = await client.getManifest({ registry: reg.host, name: 'extra/app' }, '1');
      assert.equal(m.digest, manifestDigest);
    } finally {
      client.close();
    }
  }
});
