/** resolveBaseImage against a real loopback registry: local first, pull when missing, --pull by digest. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TsbuildError } from '../../src/errors.js';
import { ImageStore } from '../../src/image/store.js';
import { importRootfs } from '../../src/image/import.js';
import { parseReference } from '../../src/image/reference.js';
import { RegistryClient } from '../../src/registry/client.js';
import { pushImage } from '../../src/registry/push.js';
import type { ItemStatus } from '../../src/events.js';
import { resolveBaseImage } from '../../src/builder/base-image.js';
import { busyboxRootfsTar } from '../helpers/fixtures.js';
import { startRegistry, type TestRegistry } from '../helpers/registry-server.js';

let reg: TestRegistry;
let tmp: string;
let client: RegistryClient;

before(async () => {
  reg = await startRegistry();
  tmp = mkdtempSync(join(tmpdir(), 'tsbuild-base-'));
  client = new RegistryClient();
});
after(async () => {
  client.close();
  await reg.stop();
  rmSync(tmp, { recursive: true, force: true });
});

async function publish(src: ImageStore, name: string, message: string): Promise<string> {
  const img = await importRootfs(src, busyboxRootfsTar(), { tag: name, message, created: new Date(0) });
  await pushImage(client, parseReference(name), src);
  return img.id;
}

test('missing locally: pulled; present: used as is; --pull pulls only when the digest changed', async () => {
  const src = await ImageStore.open(join(tmp, 'src'));
  const name = `${reg.host}/base:1`;
  const id1 = await publish(src, name, 'first');

  const dst = await ImageStore.open(join(tmp, 'dst'));
  const pulls: string[] = [];
  const events: ItemStatus[] = [];
  const got = await resolveBaseImage(dst, name, { pull: false, client, onPull: (r) => pulls.push(r), onProgress: (e) => events.push(e) });
  assert.equal(got.id, id1);
  assert.deepEqual(pulls, [`${reg.host}/base:1`]);
  assert.ok(events.some((e) => e.status === 'complete'));

  // present: no registry contact at all (an unreachable registry would fail)
  const dead = new RegistryClient({ maxRetries: 0 });
  try {
    const offline = await ImageStore.open(join(tmp, 'dst'));
    assert.equal((await resolveBaseImage(offline, name, { pull: false, client: dead, onPull: (r) => pulls.push(r) })).id, id1);
  } finally {
    dead.close();
  }
  // --pull, unchanged on the registry: a HEAD only
  assert.equal((await resolveBaseImage(dst, name, { pull: true, client, onPull: (r) => pulls.push(r) })).id, id1);
  assert.equal(pulls.length, 1);

  // the tag moves to a new image (same layer): --pull fetches the new config, not the layer
  const id2 = await publish(src, name, 'second');
  assert.notEqual(id2, id1);
  const ev2: ItemStatus[] = [];
  const newer = await resolveBaseImage(dst, name, { pull: true, client, onPull: (r) => pulls.push(r), onProgress: (e) => ev2.push(e) });
  assert.equal(newer.id, id2);
  assert.equal(pulls.length, 2);
  assert.ok(ev2.some((e) => e.status === 'exists'));
  assert.ok(!ev2.some((e) => e.status === 'downloading'));
  assert.deepEqual((await dst.resolve(name)).id, id2);
});

test('digest references resolve to what was pulled as that digest; unknown names fail clearly', async () => {
  const src = await ImageStore.open(join(tmp, 'src2'));
  const name = `${reg.host}/pinned:1`;
  const id = await publish(src, name, 'pinned');
  const digest = (await client.headManifest({ registry: reg.host, name: 'pinned' }, '1'))!.digest!;
  const dst = await ImageStore.open(join(tmp, 'dst2'));
  const pinned = `${reg.host}/pinned@${digest}`;
  let contacted = 0;
  assert.equal((await resolveBaseImage(dst, pinned, { pull: false, client, onPull: () => contacted++ })).id, id);
  assert.equal((await resolveBaseImage(dst, pinned, { pull: true, client, onPull: () => contacted++ })).id, id);
  assert.equal(contacted, 1);
  // by image ID, never pulled
  assert.equal((await resolveBaseImage(dst, id, { pull: true, client })).id, id);

  await assert.rejects(resolveBaseImage(dst, `${reg.host}/nothing:here`, { pull: false, client }), (e: unknown) => {
    assert.ok(e instanceof TsbuildError && e.code === 'NOT_FOUND', String(e));
    assert.match(e.message, /not found in 127\.0\.0\.1:\d+\/nothing/);
    return true;
  });
});

test('stages resolving the same missing base at once share one pull', async () => {
  const src = await ImageStore.open(join(tmp, 'src3'));
  const name = `${reg.host}/shared:1`;
  const id = await publish(src, name, 'shared');
  const dst = await ImageStore.open(join(tmp, 'dst3'));
  let pulls = 0;
  const [a, b] = await Promise.all([0, 1].map(() => resolveBaseImage(dst, name, { pull: false, client, onPull: () => pulls++ })));
  assert.equal(a!.id, id);
  assert.equal(b!.id, id);
  assert.equal(pulls, 1);
});
