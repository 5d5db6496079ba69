/**
 * What a cached rebuild no longer does (CI mostly rebuilds): a RUN step without mounts makes no
 * scratch directory, the process's lease file is opened once, and the context checksum cache is
 * kept per context, so building another context in the same store does not throw the first
 * one's away (bounded by an LRU of contexts).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BuildContext } from '../../src/builder/context.js';
import { ChecksumCache } from '../../src/builder/checksum-cache.js';
import { ImageStore } from '../../src/image/store.js';
import { buildIn, cachedSteps, makeBaseStore, makeContext, type TempStore } from '../helpers/build.js';

let s: TempStore;
const dirs: string[] = [];
before(async () => {
  s = await makeBaseStore();
});
after(() => {
  s?.cleanup();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const ctx = (files: Record<string, string>) => {
  const d = makeContext(files);
  dirs.push(d);
  return d;
};

test('a cached RUN step creates and removes nothing in the store tmp dir', async () => {
  const c = ctx({ 'a.txt': 'a' });
  const df = 'FROM busybox\nRUN echo one > /one\nCOPY a.txt /a\nRUN echo two > /two\n';
  await buildIn(s.root, c, df);
  const tmp = join(s.root, 'tmp');
  utimesSync(tmp, new Date('2020-01-01T00:00:00Z'), new Date('2020-01-01T00:00:00Z'));
  const again = await buildIn(s.root, c, df);
  assert.equal(cachedSteps(again).length, 3);
  assert.equal(statSync(tmp).mtime.toISOString(), '2020-01-01T00:00:00.000Z', 'no entry was made in tmp/');
});

test('the lease file is opened once and stays open until close', async () => {
  const store = await ImageStore.open(s.root);
  const openOnLease = () =>
    readdirSync('/proc/self/fd').filter((fd) => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`).startsWith(join(s.root, 'leases'));
      } catch {
        return false;
      }
    }).length;
  try {
    const a = `sha256:${'a'.repeat(64)}`;
    const b = `sha256:${'b'.repeat(64)}`;
    store.lease([a]);
    store.lease([b]);
    store.lease([a]);
    assert.equal(openOnLease(), 1);
    const [file] = readdirSync(join(s.root, 'leases')).filter((f) => f.startsWith(`${process.pid}-`));
    assert.equal(readFileSync(join(s.root, 'leases', file!), 'utf8'), `${a}\n${b}\n`);
  } finally {
    await store.close();
  }
  assert.equal(openOnLease(), 0);
});

test('checksums are kept per context: building B between two builds of A re-hashes nothing of A', async () => {
  const a = ctx({ 'x/1.txt': 'one', 'x/2.txt': 'two', 'y.txt': 'why' });
  const b = ctx({ 'z.txt': 'zed' });
  const df = 'FROM busybox\nCOPY . /app\n';
  // files changed within the racy window (100 ms) are never cached
  await new Promise((r) => setTimeout(r, 250));
  await buildIn(s.root, a, df);
  await buildIn(s.root, b, df);
  const dir = join(s.root, 'meta', 'context-checksums');
  assert.equal((await ChecksumCache.loadScoped(dir, a)).size, 3, "A's checksums are still there");
  assert.equal((await ChecksumCache.loadScoped(dir, b)).size, 1);
  const reopened = await BuildContext.open(a, { checksumCacheDir: dir });
  await reopened.digest('');
  assert.equal(reopened.counters.filesHashed, 0, 'every file of A came from its cache');
});

test('the per-context caches are bounded: the least recently used context goes first', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsb-cks-'));
  dirs.push(dir);
  const ctxs = [0, 1, 2].map((i) => ctx({ [`f${i}`]: `file ${i}` }));
  const old = Date.now() - 10_000_000;
  for (const [i, c] of ctxs.entries()) {
    const cache = await ChecksumCache.loadScoped(dir, c, { keepScopes: 2 });
    cache.set(`f${i}`, { dev: 1n, ino: BigInt(i), size: 6n, mtimeNs: 1n, ctimeNs: 1n, mode: 0o644n, uid: 0n, gid: 0n }, 'sha256:x', BigInt(Date.now()) * 1_000_000n);
    await cache.save();
    // each context used a little later than the one before
    utimesSync(cache.file!, new Date(old + i * 1000), new Date(old + i * 1000));
  }
  assert.equal(readdirSync(dir).filter((n) => /^[0-9a-f]{32}\.json$/.test(n)).length, 2);
  assert.equal(readdirSync(dir).length, 4, 'each kept with its one shard, the dropped one with its own');
  assert.equal((await ChecksumCache.loadScoped(dir, ctxs[0]!, { keepScopes: 2 })).size, 0, 'the oldest context was dropped');
  assert.equal((await ChecksumCache.loadScoped(dir, ctxs[2]!, { keepScopes: 2 })).size, 1);
});
