/** `tsbuild push/pull/login/logout` end to end against a real registry, in child processes. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';
import { busyboxRootfsTar } from '../helpers/fixtures.js';
import { startRegistry, type TestRegistry } from '../helpers/registry-server.js';
import { ImageStore } from '../../src/image/store.js';
import { RegistryClient } from '../../src/registry/client.js';

const PASSWORD = 'Pa55-w0rd-secret';
let reg: TestRegistry;
let authReg: TestRegistry;
let tmp: string;

before(async () => {
  [reg, authReg] = await Promise.all([startRegistry(), startRegistry({ kind: 'basic', users: { bob: PASSWORD } })]);
  tmp = mkdtempSync(join(tmpdir(), 'tsbuild-cli-reg-'));
});
after(async () => {
  await Promise.all([reg.stop(), authReg.stop()]);
  rmSync(tmp, { recursive: true, force: true });
});

const env = (name: string) => ({ DOCKER_CONFIG: join(tmp, `docker-${name}`), TSBUILD_INSECURE_REGISTRIES: '' });

async function ok(args: string[], opts: Parameters<typeof runCli>[1] = {}) {
  const r = await runCli(args, opts);
  assert.equal(r.code, 0, `tsbuild ${args.join(' ')} failed: ${r.stderr}`);
  return r;
}

test('push an imported image, pull it into a fresh store: same image ID; pushing it on keeps the manifest', async () => {
  const a = join(tmp, 'store-a');
  const b = join(tmp, 'store-b');
  const name = `${reg.host}/tests/busybox:1`;
  await ok(['import', busyboxRootfsTar(), name, '--root', a]);
  const pushed = await ok(['push', name, '--root', a], { env: env('a') });
  assert.match(pushed.stdout, new RegExp(`The push refers to repository \\[${reg.host}/tests/busybox\\]`));
  assert.match(pushed.stdout, /[0-9a-f]{12}: Pushed/);
  const pushedDigest = /1: digest: (sha256:[0-9a-f]{64}) size: \d+/.exec(pushed.stdout)?.[1];
  assert.ok(pushedDigest, pushed.stdout);

  const pulled = await ok(['pull', name, '--root', b], { env: env('b') });
  assert.match(pulled.stdout, /1: Pulling from tests\/busybox\n/);
  assert.match(pulled.stdout, /[0-9a-f]{12}: Pulling fs layer\n/);
  assert.match(pulled.stdout, /[0-9a-f]{12}: Pull complete\n/);
  assert.match(pulled.stdout, new RegExp(`Digest: ${pushedDigest}\\n`));
  assert.match(pulled.stdout, new RegExp(`Status: Downloaded newer image for ${reg.host}/tests/busybox:1\\n`));

  const sa = await ImageStore.open(a);
  const sb = await ImageStore.open(b);
  const ia = await sa.resolve(name);
  const ib = await sb.resolve(name);
  assert.equal(ib.id, ia.id, 'same image ID');
  assert.deepEqual(ib.config.rootfs.diff_ids, ia.config.rootfs.diff_ids);
  // the layer is stored uncompressed and its registry blob remembered
  assert.ok(sb.hasBlob(ib.manifest.layers[0]!.digest));
  assert.ok(sb.getCompressed(ib.manifest.layers[0]!.digest, 'origin'));

  const again = await ok(['pull', name, '--root', b], { env: env('b') });
  assert.match(again.stdout, /Status: Image is up to date for/);
  assert.doesNotMatch(again.stdout, /Pulling fs layer/);

  // The pulled image pushed elsewhere on the registry: layer reused, same manifest digest.
  await ok(['tag', name, `${reg.host}/other/copy:2`, '--root', b]);
  const second = await ok(['push', `${reg.host}/other/copy:2`, '--root', b], { env: env('b') });
  assert.match(second.stdout, new RegExp(`2: digest: ${pushedDigest} `));
  assert.doesNotMatch(second.stdout, /: Pushed\n/, second.stdout);

  // pull by digest into a third store, quietly
  const c = join(tmp, 'store-c');
  const q = await ok(['pull', '-q', `${reg.host}/tests/busybox@${pushedDigest}`, '--root', c], { env: env('c') });
  assert.equal(q.stdout, '');
  const all = await (await ImageStore.open(c)).listImages();
  assert.deepEqual(all.map((i) => i.id), [ia.id]);
});

test('pull and push errors are one clear line with a non-zero exit', async () => {
  const root = join(tmp, 'store-err');
  const missing = await runCli(['pull', `${reg.host}/tests/nothing:1`, '--root', root], { env: env('e') });
  assert.notEqual(missing.code, 0);
  assert.match(missing.stderr, /^tsbuild: manifest 1 not found in 127\.0\.0\.1:\d+\/tests\/nothing/);
  assert.equal(missing.stderr.trim().split('\n').length, 1);
  const noImage = await runCli(['push', `${reg.host}/tests/nothing:1`, '--root', root], { env: env('e') });
  assert.notEqual(noImage.code, 0);
  assert.match(noImage.stderr, /No such image/);
});

test('login with basic auth, then push works; a wrong password fails clearly and is never printed', async () => {
  const root = join(tmp, 'store-auth');
  const name = `${authReg.host}/private/app:1`;
  await ok(['import', busyboxRootfsTar(), name, '--root', root]);
  const e = env('auth');

  const anon = await runCli(['push', name, '--root', root], { env: e });
  assert.notEqual(anon.code, 0);
  assert.match(anon.stderr, /unauthorized|requires authentication/);

  const bad = await runCli(['login', '-u', 'bob', '--password-stdin', authReg.host], { env: e, input: 'not-the-password\n' });
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /incorrect username or password/);
  assert.doesNotMatch(bad.stderr + bad.stdout, /not-the-password/);

  const good = await ok(['login', '-u', 'bob', '--password-stdin', `http://${authReg.host}/`], { env: e, input: `${PASSWORD}\n` });
  assert.match(good.stdout, /Login Succeeded/);
  const cfg = readFileSync(join(e.DOCKER_CONFIG, 'config.json'), 'utf8');
  assert.ok(JSON.parse(cfg).auths[authReg.host].auth);

  const pushed = await ok(['push', name, '--root', root], { env: e });
  assert.doesNotMatch(pushed.stdout + pushed.stderr, new RegExp(PASSWORD));
  const creds = async () => ({ username: 'bob', password: PASSWORD });
  const c = new RegistryClient({ credentials: creds });
  try {
    assert.ok((await c.headManifest({ registry: authReg.host, name: 'private/app' }, '1'))?.digest);
  } finally {
    c.close();
  }

  const out = await ok(['logout', authReg.host], { env: e });
  assert.match(out.stdout, new RegExp(`Removing login credentials for ${authReg.host}`));
  const again = await ok(['logout', authReg.host], { env: e });
  assert.match(again.stdout, /Not logged in/);
});

test('pull --progress=rawjson prints one JSON object per event and message', async () => {
  const root = join(tmp, 'rawjson');
  const name = `${reg.host}/tests/rawjson:1`;
  const src = join(tmp, 'rawjson-src');
  await ok(['import', busyboxRootfsTar(), name, '--root', src]);
  await ok(['push', '-q', name, '--root', src], { env: env('rawjson') });
  const r = await ok(['pull', '--progress=rawjson', '--root', root, name], { env: env('rawjson') });
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string; status?: string; done?: boolean; message?: string });
  assert.ok(lines.some((l) => l.type === 'step-status' && l.status === 'complete' && l.done));
  assert.ok(lines.some((l) => l.type === 'message' && /^Status: /.test(l.message ?? '')));
});
