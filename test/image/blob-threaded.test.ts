/**
 * BlobStore.put through the native blob writer (native/blob-writer.c, its only way of writing):
 * the stored bytes and their digest are the source's for every chunking (empty, tiny, Uint8Array
 * views at an offset into a bigger buffer, one chunk above the writer's 32 MiB queue bound, an
 * unaligned block before others; on a filesystem without direct I/O, tmpfs, too; file ranges
 * the writer reads itself, GatheredBytes); a verified source's digest is taken as given; and a
 * digest mismatch, a failing source or a bad range leaves no blob and no temp file, while a
 * commitLater blob is invisible until its commit.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, writeFileSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { BlobStore, GatheredBytes } from '../../src/image/blobs.js';
import type { Digest } from '../../src/image/digest.js';

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}` as Digest;

function* chunks(data: Buffer, size: number): Generator<Uint8Array> {
  for (let off = 0; off < data.length; off += size) {
    // a view at an offset into a bigger buffer (the writer must copy from the view, not its start)
    const padded = Buffer.alloc(size + 7);
    const n = data.copy(padded, 3, off, off + size);
    yield new Uint8Array(padded.buffer, padded.byteOffset + 3, n);
  }
}

function store(w: string): BlobStore {
  const s = new BlobStore(w);
  mkdirSync(s.dir, { recursive: true });
  mkdirSync(s.tmpDir, { recursive: true });
  return s;
}

test('put stores the source bytes under their digest, whatever the chunks', async () => {
  const w = mkdtempSync(join(tmpdir(), 'tsb-threaded-'));
  try {
    const s = store(w);
    const cases: Array<[Buffer, number]> = [
      [Buffer.alloc(0), 1],
      [randomBytes(1), 1],
      [randomBytes((3 << 20) + 5), 4096],
      [randomBytes((3 << 20) + 5), (1 << 20) + 1],
      [randomBytes((40 << 20) + 3), 40 << 20], // one chunk above the queue's bound
      // a block of a length that is no whole number of pages, then more: the writer leaves direct
      // I/O for the page cache mid-file (native/blob-writer.c)
      [randomBytes(40 << 20), (33 << 20) + 5],
    ];
    for (const [data, size] of cases) {
      // (no expected digest: the digest put reports is the writer's own hash)
      const info = await s.put(chunks(data, size));
      assert.equal(info.digest, sha(data), `${data.length} bytes in ${size}-byte chunks`);
      assert.equal(info.size, data.length);
      assert.ok(readFileSync(s.path(info.digest)).equals(data), 'the stored bytes');
      await s.delete(info.digest);
    }
    // a verified source is not hashed again: its digest is taken as given
    const data = randomBytes(1000);
    const info = await s.put(chunks(data, 100), { expectedDigest: sha(data), verified: true });
    assert.equal(info.digest, sha(data));
    assert.deepEqual(readdirSync(s.tmpDir), [], 'no temp file left');
  } finally {
    rmSync(w, { recursive: true, force: true });
  }
});

test('put writes the same bytes where the filesystem has no direct I/O (tmpfs)', { skip: !existsSync('/dev/shm') }, async () => {
  const w = mkdtempSync(join('/dev/shm', 'tsb-threaded-'));
  try {
    const s = store(w);
    const data = randomBytes((5 << 20) + 17);
    const info = await s.put(chunks(data, 1 << 20));
    assert.equal(info.digest, sha(data));
    assert.ok(readFileSync(s.path(info.digest)).equals(data));
  } finally {
    rmSync(w, { recursive: true, force: true });
  }
});

test('a digest mismatch or a failing source stores nothing and leaves no temp file; commitLater shows the blob after its commit', async () => {
  const w = mkdtempSync(join(tmpdir(), 'tsb-threaded-'));
  try {
    const s = store(w);
    const data = randomBytes(5 << 20);
    await assert.rejects(s.put(chunks(data, 1 << 20), { expectedDigest: sha(Buffer.from('other')) }), /digest mismatch/);
    async function* failing(): AsyncGenerator<Buffer> {
      yield data.subarray(0, 3 << 20);
      throw new Error('source broke');
    }
    await assert.rejects(s.put(failing()), /source broke/);
    let later: Promise<void> | undefined;
    const info = await s.put(chunks(data, 1 << 20), { commitLater: (p) => (later = p) });
    assert.equal(s.has(info.digest), false, 'not visible before its commit');
    await later;
    assert.equal(s.has(info.digest), true, 'visible after its commit');
    assert.deepEqual(readdirSync(s.tmpDir), [], 'no temp file left');
    assert.deepEqual(readdirSync(s.dir), [info.digest.slice(7)], 'only the good blob');
  } finally {
    rmSync(w, { recursive: true, force: true });
  }
});

test('GatheredBytes: file ranges inserted between bytes are read by the writer, in order, whatever their sizes; a file that ends early or a bad mark fails the blob and leaves nothing', async () => {
  const w = mkdtempSync(join(tmpdir(), 'tsb-threaded-'));
  try {
    const s = store(w);
    const file = randomBytes((3 << 20) + 11);
    const path = join(w, 'earlier-blob');
    writeFileSync(path, file);
    const fd = openSync(path, 'r');
    try {
      const head = randomBytes(700);
      const tail = randomBytes((2 << 20) + 5);
      // marks: at the start, two at one point, a zero-length one, one longer than the writer's
      // 1 MiB blocks, one at the very end; the bytes between them of odd sizes
      const bytes = Buffer.concat([head, tail]);
      const marks: Array<[number, number, number]> = [
        [0, 5, 100],
        [300, 0, 4096],
        [300, (1 << 20) + 3, 0],
        [300, 17, (2 << 20) + 999],
        [700, 4000, 1],
        [bytes.length, file.length - 10, 10],
      ];
      const expected = Buffer.concat([
        file.subarray(5, 105),
        head.subarray(0, 300),
        file.subarray(0, 4096),
        file.subarray(17, 17 + (2 << 20) + 999),
        head.subarray(300, 700),
        file.subarray(4000, 4001),
        tail,
        file.subarray(file.length - 10),
      ]);
      const gathered = (m: Array<[number, number, number]>) => new GatheredBytes(bytes, Float64Array.from(m.flatMap(([at, off, len]) => [at, fd, off, len])));
      async function* source(m: Array<[number, number, number]>): AsyncGenerator<Buffer | GatheredBytes> {
        yield randomPrefix;
        yield gathered(m);
        yield randomSuffix;
      }
      const randomPrefix = randomBytes(5000);
      const randomSuffix = randomBytes(3);
      const all = Buffer.concat([randomPrefix, expected, randomSuffix]);
      const info = await s.put(source(marks));
      assert.equal(info.digest, sha(all));
      assert.equal(info.size, all.length);
      assert.ok(readFileSync(s.path(info.digest)).equals(all), 'the stored bytes');

      // a range past the file's end: the blob fails, nothing is stored
      await assert.rejects(s.put(source([[10, file.length - 5, 10]])), /earlier layer's blob/);
      // marks out of order
      await assert.rejects(s.put(source([[10, 0, 1], [5, 0, 1]])), /out of order or out of range/);
      assert.deepEqual(readdirSync(s.tmpDir), [], 'no temp file left');
      assert.deepEqual(readdirSync(s.dir), [info.digest.slice(7)], 'only the good blob');
    } finally {
      closeSync(fd);
    }
  } finally {
    rmSync(w, { recursive: true, force: true });
  }
});

test('writers side by side share the process-wide block arena (and go past it) without mixing bytes; later writers reuse the blocks', { timeout: 180_000 }, async () => {
  const w = mkdtempSync(join(tmpdir(), 'tsb-threaded-'));
  try {
    const s = store(w);
    // five writers of 24 MiB each at once hold more 1 MiB blocks than the arena's 40 (queued or kept
    // for reuse until they end): some blocks come from the arena, the rest are malloc'd
    async function* slow(data: Buffer): AsyncGenerator<Uint8Array> {
      for (const c of chunks(data, 1 << 20)) {
        yield c;
        await new Promise((r) => setImmediate(r)); // the writers' pushes interleave
      }
    }
    const datas = Array.from({ length: 5 }, () => randomBytes(24 << 20));
    const infos = await Promise.all(datas.map((d) => s.put(slow(d))));
    infos.forEach((info, i) => {
      assert.equal(info.digest, sha(datas[i]!), `writer ${i}'s digest`);
      assert.ok(readFileSync(s.path(info.digest)).equals(datas[i]!), `writer ${i}'s bytes`);
    });
    // then one after another: each starts with blocks an earlier writer filled (arena and spare),
    // whose old bytes must not leak into the new blob
    for (const size of [3 << 20, 1, (2 << 20) + 17]) {
      const data = randomBytes(size);
      const info = await s.put(chunks(data, 65_536));
      assert.equal(info.digest, sha(data));
      assert.ok(readFileSync(s.path(info.digest)).equals(data));
    }
  } finally {
    rmSync(w, { recursive: true, force: true });
  }
});
