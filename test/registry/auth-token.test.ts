/** Bearer-token auth against a real registry behind the test token server. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TsbuildError } from '../../src/errors.js';
import { parseReference } from '../../src/image/reference.js';
import { RegistryClient, pull, push, type CredentialProvider } from '../../src/registry/index.js';
import { OciLayout } from '../../src/image/oci-layout.js';
import { startRegistry, type TestRegistry } from '../helpers/registry-server.js';
import { makeTestImage, type TestImage } from '../helpers/registry-image.js';

let reg: TestRegistry;
let tmp: string;
let store: OciLayout;
let img: TestImage;

before(async () => {
  reg = await startRegistry({
    kind: 'token',
    users: { alice: 'alice-pw', reader: 'reader-pw' },
    // alice may do anything; reader only pulls; anonymous users pull public/* only.
    policy: (user, repo, asked) =>
      user === 'alice' ? asked : user === 'reader' || repo.startsWith('public/') ? asked.filter((a) => a === 'pull') : [],
  });
  tmp = mkdtempSync(join(tmpdir(), 'tsbuild-regtoken-'));
  store = await new OciLayout(join(tmp, 'src')).init();
  img = await makeTestImage(store, [700, 800, 900]);
});
after(async () => {
  await reg.stop();
  rmSync(tmp, { recursive: true, force: true });
});

const fixed = (username: string, password: string): CredentialProvider => async () => ({ username, password });

test('one token with pull,push scope serves a whole parallel push and a later pull', async () => {
  const client = new RegistryClient({ credentials: fixed('alice', 'alice-pw') });
  try {
    const before = reg.token!.requests.length;
    await push(client, parseReference(`${reg.host}/team/app:1`), store.content, img.manifest, { concurrency: 4 });
    const dst = await new OciLayout(join(tmp, 'dst1')).init();
    await pull(client, parseReference(`${reg.host}/team/app:1`), dst.content);
    const reqs = reg.token!.requests.slice(before);
    assert.equal(reqs.length, 1, `token requests: ${JSON.stringify(reqs)}`);
    assert.deepEqual(reqs[0]!.scopes, ['repository:team/app:pull,push']);
    assert.equal(reqs[0]!.user, 'alice');
    assert.equal(client.auth.tokenRequests, 1);

    // A different repository needs its own scope, hence one more token.
    await pull(client, parseReference(`${reg.host}/team/app:1`), dst.content);
    await client.getManifest({ registry: reg.host, name: 'team/other' }, 'x').catch(() => {});
    assert.equal(reg.token!.requests.length - before, 2);
    assert.deepEqual(reg.token!.requests.at(-1)!.scopes, ['repository:team/other:pull']);
  } finally {
    client.close();
  }
});

test('a pull-only user can pull but a push is denied for insufficient scope', async () => {
  const admin = new RegistryClient({ credentials: fixed('alice', 'alice-pw') });
  const reader = new RegistryClient({ credentials: fixed('reader', 'reader-pw') });
  try {
    await push(admin, parseReference(`${reg.host}/team/ro:1`), store.content, img.manifest);
    const dst = await new OciLayout(join(tmp, 'dst2')).init();
    assert.equal((await pull(reader, parseReference(`${reg.host}/team/ro:1`), dst.content)).manifest.digest, img.manifest.digest);
    const other = await new OciLayout(join(tmp, 'other')).init();
    const img2 = await makeTestImage(other, [10]);
    await assert.rejects(push(reader, parseReference(`${reg.host}/team/ro:2`), other.content, img2.manifest), (e: unknown) => {
      assert.ok(e instanceof TsbuildError && e.code === 'REGISTRY');
      assert.match(e.message, /access to 127\.0\.0\.1:\d+\/team\/ro denied: insufficient scope/);
      return true;
    });
  } finally {
    admin.close();
    reader.close();
  }
});

test('a wrong password fails at the token server without leaking it; anonymous pulls public repos only', async () => {
  const admin = new RegistryClient({ credentials: fixed('alice', 'alice-pw') });
  const bad = new RegistryClient({ credentials: fixed('alice', 'not-the-password') });
  const anon = new RegistryClient();
  try {
    await push(admin, parseReference(`${reg.host}/public/tool:1`), store.content, img.manifest);
    await assert.rejects(bad.getManifest({ registry: reg.host, name: 'team/app' }, '1'), (e: unknown) => {
      assert.ok(e instanceof TsbuildError);
      assert.match(e.message, /authentication to registry 127\.0\.0\.1:\d+ failed: incorrect username or password/);
      assert.doesNotMatch(e.message, /not-the-password/);
      return true;
    });
    await assert.rejects(bad.ping(reg.host), /incorrect username or password/);
    await admin.ping(reg.host);
    const dst = await new OciLayout(join(tmp, 'dst3')).init();
    assert.equal((await pull(anon, parseReference(`${reg.host}/public/tool:1`), dst.content)).manifest.digest, img.manifest.digest);
    await assert.rejects(anon.getManifest({ registry: reg.host, name: 'team/app' }, '1'), /127\.0\.0\.1:\d+\/team\/app/);
  } finally {
    admin.close();
    bad.close();
    anon.close();
  }
});
