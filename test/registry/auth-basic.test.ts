/** Basic auth (htpasswd) against a real registry, and credentials from docker's config.json. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TsbuildError } from '../../src/errors.js';
import { parseReference } from '../../src/image/reference.js';
import {
  RegistryClient,
  pull,
  push,
  dockerConfigCredentials,
  saveCredentials,
  removeCredentials,
  login,
  logout,
  type CredentialProvider,
} from '../../src/registry/index.js';
import { OciLayout } from '../../src/image/oci-layout.js';
import { startRegistry, type TestRegistry } from '../helpers/registry-server.js';
import { makeTestImage } from '../helpers/registry-image.js';

const PASSWORD = 's3cret-Pa55word';
let reg: TestRegistry;
let tmp: string;

before(async () => {
  reg = await startRegistry({ kind: 'basic', users: { alice: PASSWORD } });
  tmp = mkdtempSync(join(tmpdir(), 'tsbuild-regauth-'));
});
after(async () => {
  await reg.stop();
  rmSync(tmp, { recursive: true, force: true });
});

const fixed = (username: string, password: string): CredentialProvider => async () => ({ username, password });

test('basic auth: the right password pushes and pulls; a wrong one or none is refused clearly', async () => {
  const store = await new OciLayout(join(tmp, 'basic')).init();
  const img = await makeTestImage(store, [500]);
  const ref = parseReference(`${reg.host}/private/app:1`);
  const good = new RegistryClient({ credentials: fixed('alice', PASSWORD) });
  try {
    await push(good, ref, store.content, img.manifest);
    const dst = await new OciLayout(join(tmp, 'basic-dst')).init();
    assert.equal((await pull(good, ref, dst.content)).manifest.digest, img.manifest.digest);
    await good.ping(reg.host);
  } finally {
    good.close();
  }

  const bad = new RegistryClient({ credentials: fixed('alice', 'wrong-password') });
  const anon = new RegistryClient();
  try {
    await assert.rejects(bad.getManifest({ registry: reg.host, name: 'private/app' }, '1'), (e: unknown) => {
      assert.ok(e instanceof TsbuildError && e.code === 'REGISTRY');
      assert.match(e.message, /unauthorized: authentication required for 127\.0\.0\.1:\d+\/private\/app/);
      assert.doesNotMatch(e.message, /wrong-password/);
      return true;
    });
    await assert.rejects(bad.ping(reg.host), /authentication to registry 127\.0\.0\.1:\d+ failed: incorrect username or password/);
    await assert.rejects(anon.getManifest({ registry: reg.host, name: 'private/app' }, '1'), /unauthorized/);
    await assert.rejects(anon.ping(reg.host), /registry 127\.0\.0\.1:\d+ requires authentication$/);
  } finally {
    bad.close();
    anon.close();
  }
});

test('login writes base64 auths to config.json (0600); the client reads them back; logout removes them', async () => {
  const dir = join(tmp, 'docker-config');
  await saveCredentials(reg.host, { username: 'alice', password: PASSWORD }, { configDir: dir, env: {} });
  const file = join(dir, 'config.json');
  assert.equal(statSync(file).mode & 0o777, 0o600);
  const cfg = JSON.parse(readFileSync(file, 'utf8'));
  assert.equal(Buffer.from(cfg.auths[reg.host].auth, 'base64').toString(), `alice:${PASSWORD}`);

  const client = new RegistryClient({ credentials: dockerConfigCredentials({ configDir: dir, env: {} }) });
  try {
    await client.ping(reg.host);
  } finally {
    client.close();
  }
  assert.equal(await removeCredentials(reg.host, { configDir: dir, env: {} }), true);
  assert.equal(await dockerConfigCredentials({ configDir: dir, env: {} })(reg.host), undefined);
});

test('DOCKER_CONFIG and URL-shaped auths keys are honoured; Docker Hub uses its v1 key', async () => {
  const dir = join(tmp, 'env-config');
  mkdirSync(dir, { recursive: true });
  const auth = Buffer.from(`bob:pw:with:colons`).toString('base64');
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ auths: { [`https://${reg.host}/v2/`]: { auth }, 'https://index.docker.io/v1/': { auth } } }));
  const creds = dockerConfigCredentials({ env: { DOCKER_CONFIG: dir } });
  assert.deepEqual(await creds(reg.host), { username: 'bob', password: 'pw:with:colons' });
  assert.deepEqual(await creds('registry-1.docker.io'), { username: 'bob', password: 'pw:with:colons' });
  assert.equal(await creds('other.example:5000'), undefined);
});

test('credHelpers and credsStore run docker-credential-NAME get/store', async () => {
  const bin = join(tmp, 'bin');
  mkdirSync(bin, { recursive: true });
  const stored = join(tmp, 'helper-stored.json');
  // A helper that knows one server and records what it is asked to store.
  writeFileSync(
    join(bin, 'docker-credential-tstest'),
    `#!/bin/sh
case "$1" in
  get) read server; if [ "$server" = "${reg.host}" ]; then printf '{"ServerURL":"%s","Username":"alice","Secret":"${PASSWORD}"}' "$server"; else echo "credentials not found in native keychain"; exit 1; fi ;;
  store) cat > "${stored}" ;;
  erase) exit 0 ;;
esac
`,
  );
  chmodSync(join(bin, 'docker-credential-tstest'), 0o755);
  const env = { PATH: `${bin}:${process.env.PATH}` };
  const dir = join(tmp, 'helper-config');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ credHelpers: { [reg.host]: 'tstest' } }));
  const client = new RegistryClient({ credentials: dockerConfigCredentials({ configDir: dir, env }) });
  try {
    await client.ping(reg.host);
  } finally {
    client.close();
  }
  assert.equal(await dockerConfigCredentials({ configDir: dir, env })('unknown.example'), undefined);

  writeFileSync(join(dir, 'config.json'), JSON.stringify({ credsStore: 'tstest' }));
  await saveCredentials(reg.host, { username: 'alice', password: PASSWORD }, { configDir: dir, env });
  assert.deepEqual(JSON.parse(readFileSync(stored, 'utf8')), { ServerURL: reg.host, Username: 'alice', Secret: PASSWORD });
  assert.equal(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')).auths, undefined, 'no secret in config.json');
  assert.deepEqual(await dockerConfigCredentials({ configDir: dir, env })(reg.host), { username: 'alice', password: PASSWORD });
});

test('login checks the password with the registry before saving it; logout forgets it', async () => {
  const dir = join(tmp, 'login-config');
  const opts = { configDir: dir, env: {} };
  await assert.rejects(login(reg.host, { username: 'alice', password: 'nope' }, opts), /incorrect username or password/);
  assert.equal(await dockerConfigCredentials(opts)(reg.host), undefined, 'nothing saved after a failed login');
  await login(reg.host, { username: 'alice', password: PASSWORD }, opts);
  assert.deepEqual(await dockerConfigCredentials(opts)(reg.host), { username: 'alice', password: PASSWORD });
  assert.equal(await logout(reg.host, opts), true);
  assert.equal(await logout(reg.host, opts), false);
});
