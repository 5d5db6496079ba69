import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, closeSync, openSync, mkdirSync, mkdtempSync, rmSync, readdirSync, writeFileSync, existsSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { execFileSync, spawnSync } from 'node:child_process';
import { Readable } from 'node:stream';
import { LayerIngester } from '../../src/image/layer-ingest.js';
import { ImageStore, resolveRoot, emptyConfig, type Digest } from '../../src/image/index.js';
import { acquire } from '../../src/image/lock.js';
import { TsbuildError } from '../../src/errors.js';

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'tsb-store-'));
}
const sha = (b: Buffer | string): Digest => `sha256:${createHash('sha256').update(b).digest('hex')}`;

test('root resolution: flag, then TSBUILD_ROOT, then per-user default', () => {
  assert.equal(resolveRoot('/x/y', {}), '/x/y');
  assert.equal(resolveRoot(undefined, { TSBUILD_ROOT: '/r' }), '/r');
  if (process.getuid?.() === 0) assert.equal(resolveRoot(undefined, {}), '/var/lib/tsbuild');
});

test('store: OCI layout, blobs verified while streaming, a mismatch is never stored', async () => {
  const root = tmp();
  try {
    const s = await ImageStore.open(root);
    assert.deepEqual(JSON.parse(readFileSync(join(root, 'oci-layout'), 'utf8')), { imageLayoutVersion: '1.0.0' });
    assert.equal(JSON.parse(readFileSync(join(root, 'index.json'), 'utf8')).schemaVersion, 2);
    const data = Buffer.from('hello blob');
    const info = await s.putBlob([data.subarray(0, 3), data.subarray(3)]);
    assert.equal(info.digest, sha(data));
    assert.equal(info.size, data.length);
    assert.deepEqual(readFileSync(s.blobPath(info.digest)), data);
    await assert.rejects(
      s.putBlob([Buffer.from('other')], { expectedDigest: sha('something else') }),
      (e: unknown) => e instanceof TsbuildError && e.code === 'CORRUPT',
    );
    assert.equal(s.hasBlob(sha('other')), false);
    assert.deepEqual(readdirSync(join(root, 'tmp')).filter((f) => !f.includes('-w-')), []);
    assert.deepEqual(readdirSync(join(root, 'blobs', 'sha256')), [info.digest.slice(7)]);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('store: images, tags as Docker normalizes them, resolve by name, ID and short ID', async () => {
  const root = tmp();
  try {
    const s = await ImageStore.open(root);
    const layer = await s.putBlob([Buffer.alloc(1024)]);
    const img = await s.putImage({ config: emptyConfig('2024-01-01T00:00:00Z'), layers: [layer], tags: ['busybox'] });
    assert.deepEqual(img.tags, ['docker.io/library/busybox:latest']);
    assert.deepEqual(img.config.rootfs.diff_ids, [layer.digest]);
    assert.equal(img.id, img.manifest.config.digest);
    for (const name of ['busybox', 'busybox:latest', 'docker.io/library/busybox', img.id, img.id.slice(7, 19), `busybox@${img.manifestDigest}`]) {
      assert.equal((await s.resolve(name)).id, img.id, name);
    }
    await assert.rejects(s.resolve('nope'), /No such image: nope:latest/);
    await assert.rejects(s.resolve('UPPER'), (e: unknown) => e instanceof TsbuildError && e.code === 'INVALID');
    await s.tag('busybox', 'example.com:5000/a/b:v1');
    assert.deepEqual((await s.resolve(img.id)).tags.sort(), ['docker.io/library/busybox:latest', 'example.com:5000/a/b:v1']);
    // rmi by ID with two names needs force; by name it only untags
    await assert.rejects(s.remove(img.id), /must be forced/);
    assert.deepEqual(await s.remove('busybox'), { untagged: ['busybox:latest'], deleted: [] });
    assert.ok(s.hasBlob(layer.digest));
    await s.close(); // this process leased what it wrote; without the lease, rmi deletes the layer
    const r = await s.remove('example.com:5000/a/b:v1');
    assert.deepEqual(r, { untagged: ['example.com:5000/a/b:v1'], deleted: [img.id] });
    assert.equal(s.hasBlob(layer.digest), false);
    assert.deepEqual(await s.listImages(), []);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('store: a blob still used by another image survives rmi; retagging leaves a dangling image that prune drops', async () => {
  const root = tmp();
  try {
    const s = await ImageStore.open(root);
    const shared = await s.putBlob([Buffer.from('shared layer')]);
    const own = await s.putBlob([Buffer.from('own layer')]);
    const a = await s.putImage({ config: emptyConfig('2024-01-01T00:00:00Z'), layers: [shared], tags: ['a'] });
    const b = await s.putImage({ config: emptyConfig('2024-01-02T00:00:00Z'), layers: [shared, own], tags: ['b'] });
    await s.close(); // drop this process's lease so GC sees only references
    await s.remove('b');
    assert.ok(s.hasBlob(shared.digest));
    assert.equal(s.hasBlob(own.digest), false);
    // moving tag "a" to a new image leaves the old one dangling, listed as <none>
    const c = await s.putImage({ config: emptyConfig('2024-01-03T00:00:00Z'), layers: [], tags: ['a'] });
    const list = await s.listImages();
    assert.deepEqual(list.map((i) => [i.id, i.tags]), [[c.id, ['docker.io/library/a:latest']], [a.id, []]]);
    void b;
    await s.close();
    const res = await s.prune();
    assert.deepEqual(res.deletedImages, [a.id]);
    assert.ok(res.bytesFreed >= 'shared layer'.length);
    assert.equal(s.hasBlob(shared.digest), false);
    assert.deepEqual((await s.listImages()).map((i) => i.id), [c.id]);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('store: cache entries pin blobs against prune but not prune -a; leases pin in-flight blobs', async () => {
  const root = tmp();
  try {
    const s = await ImageStore.open(root);
    const pinned = await s.putBlob([Buffer.from('cached layer')]);
    const loose = await s.putBlob([Buffer.from('loose')]);
    assert.equal((await s.prune()).deletedBlobs.length, 0, 'leased by this live process');
    await s.close();
    await s.cachePut('step-key', { layer: pinned.digest }, [pinned.digest]);
    assert.deepEqual(s.cacheGet('step-key'), { layer: pinned.digest });
    assert.equal(s.cacheGet('other'), undefined);
    const r1 = await s.prune();
    assert.deepEqual(r1.deletedBlobs, [loose.digest]);
    assert.ok(s.hasBlob(pinned.digest));
    const r2 = await s.prune({ all: true });
    assert.deepEqual(r2.deletedBlobs, [pinned.digest]);
    assert.equal(s.cacheGet('step-key'), undefined);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('store: cachePutAll writes several entries at once; one missing ref writes none of them and leaves no temp file', async () => {
  const root = tmp();
  try {
    const s = await ImageStore.open(root);
    const a = await s.putBlob([Buffer.from('layer a')]);
    const b = await s.putBlob([Buffer.from('layer b')]);
    await s.cachePutAll([
      { key: 'k1', value: { layer: a.digest }, refs: [a.digest] },
      { key: 'k2', value: { layer: b.digest }, refs: [b.digest] },
      { key: 'k3', value: 'no refs' },
    ]);
    assert.deepEqual([s.cacheGet('k1'), s.cacheGet('k2'), s.cacheGet('k3')], [{ layer: a.digest }, { layer: b.digest }, 'no refs']);
    await assert.rejects(
      s.cachePutAll([
        { key: 'k4', value: 4, refs: [a.digest] },
        { key: 'k5', value: 5, refs: [sha('not stored')] },
      ]),
      (e: unknown) => e instanceof TsbuildError && e.code === 'CONFLICT' && /not in the store/.test(e.message),
    );
    assert.equal(s.cacheGet('k4'), undefined, 'none written');
    assert.deepEqual(readdirSync(join(root, 'tmp')).filter((n) => n.includes('-w-')), []);
    await s.cachePutAll([]);
    await s.close();
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('lock: a lock left by a dead process is broken; a live holder is waited for', async () => {
  const root = tmp();
  try {
    const p = join(root, 'lock');
    writeFileSync(p, '999999999\n'); // no such PID
    const release = await acquire(p, { timeoutMs: 2000 });
    assert.equal(readFileSync(p, 'utf8').trim(), String(process.pid));
    await assert.rejects(acquire(p, { timeoutMs: 100 }), /timed out/);
    release();
    assert.equal(existsSync(p), false);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('store: a gzip layer is stored uncompressed (through the layer ingester) only when its compressed digest checks out', async () => {
  const root = tmp();
  try {
    const { gzipSync } = await import('node:zlib');
    const s = await ImageStore.open(root);
    const plain = Buffer.alloc(100_000, 'layer ');
    const gz = gzipSync(plain);
    const ingest = () => new LayerIngester(s);
    const info = await ingest().write(Readable.from([gz.subarray(0, 1000), gz.subarray(1000)]), { digest: sha(gz), size: gz.length });
    assert.equal(info.digest, sha(plain));
    assert.deepEqual(s.getCompressed(info.digest, 'origin'), { digest: sha(gz), size: gz.length });
    const other = gzipSync(Buffer.from('other'));
    await assert.rejects(ingest().write(Readable.from([other]), { digest: sha(gz) }), /does not match its digest/);
    assert.equal(s.hasBlob(sha(Buffer.from('other'))), false);
    await assert.rejects(ingest().write(Readable.from([gz.subarray(0, 50)]), { digest: sha(gz) }), (e: unknown) => e instanceof TsbuildError && e.code === 'CORRUPT');
    assert.deepEqual(readdirSync(join(root, 'tmp')).filter((f) => !f.includes('-w-')), []);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('a store that already exists with 0755 is made private on open; a shared sticky root keeps its mode, its content dirs do not', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsb-perm-'));
  try {
    const root = join(dir, 'store');
    mkdirSync(root, { mode: 0o755 });
    chmodSync(root, 0o755);
    await (await ImageStore.open(root)).close();
    assert.equal(statSync(root).mode & 0o7777, 0o700, 'blobs/, cache/ and index.json stay reachable by every user');
    // opened again after someone loosened it: tightened again
    chmodSync(root, 0o751);
    await (await ImageStore.open(root)).close();
    assert.equal(statSync(root).mode & 0o7777, 0o700);
    const shared = join(dir, 'shared');
    mkdirSync(shared);
    chmodSync(shared, 0o1777);
    await (await ImageStore.open(shared)).close();
    assert.equal(statSync(shared).mode & 0o7777, 0o1777, 'a sticky shared dir is not ours to close');
    for (const d of ['blobs', 'cache', 'meta', 'snapshots', 'tmp', 'cache-mounts']) assert.equal(statSync(join(shared, d)).mode & 0o777, 0o700, d);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('prune removes the run dirs of dead processes, however deep their tree, and keeps those of live ones', async () => {
  const root = mkdtempSync(join(tmpdir(), 'tsb-prune-tmp-'));
  try {
    const s = await ImageStore.open(root);
    // a PID that was alive a moment ago and is not any more
    const dead = spawnSync('true').pid!;
    const stale = join(root, 'tmp', `${dead}-tsbuild-run-abc`);
    const live = join(root, 'tmp', `${process.pid}-tsbuild-run-def`);
    for (const d of [stale, live]) {
      mkdirSync(d);
      // 200 levels of 30-char names: beyond PATH_MAX from the store's root (made level by level
      // through directory fds, as a process inside a RUN does with cd)
      let fd = openSync(d, 'r');
      for (let i = 0; i < 200; i++) {
        mkdirSync(`/proc/self/fd/${fd}/${'x'.repeat(30)}`);
        const next = openSync(`/proc/self/fd/${fd}/${'x'.repeat(30)}`, 'r');
        closeSync(fd);
        fd = next;
      }
      writeFileSync(`/proc/self/fd/${fd}/f`, 'x');
      closeSync(fd);
    }
    await s.prune();
    assert.equal(existsSync(stale), false, 'a dead build\'s deep run dir survived prune');
    assert.equal(existsSync(live), true, 'a live build\'s run dir was removed');
    await s.close();
  } finally {
    execFileSync('rm', ['-rf', root]); // Node's rm cannot remove trees this deep
  }
});

test('store dirs holding build output (snapshots, run dirs, cache mounts) are private to the owner', async () => {
  const root = mkdtempSync(join(tmpdir(), 'tsb-perm-'));
  try {
    const s = await ImageStore.open(root);
    for (const d of ['snapshots', 'tmp', 'cache-mounts']) assert.equal(statSync(join(root, d)).mode & 0o777, 0o700, d);
    // opened again after someone opened one up: private again (a store that is right is left as it is)
    chmodSync(join(root, 'tmp'), 0o755);
    const again = await ImageStore.open(root);
    assert.equal(statSync(join(root, 'tmp')).mode & 0o777, 0o700);
    await again.close();
    const fresh = join(root, 'new-store');
    const s2 = await ImageStore.open(fresh);
    assert.equal(statSync(fresh).mode & 0o777, 0o700, 'a store tsbuild creates is private');
    await s2.close();
    await s.close();
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
