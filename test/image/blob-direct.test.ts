/**
 * BlobStore.put with `direct` (direct-writer.ts, what `load` stores a layer with): the bytes go
 * through O_DIRECT in aligned 4 MiB writes and the unaligned tail through the buffered descriptor;
 * every size around those boundaries is stored byte for byte, on a filesystem that takes O_DIRECT
 * (the temp dir here) and on tmpfs; a source that fails half-way leaves no blob and no temp file.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, existsSync } from 'node:fs';
import { promises as fsp } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { BlobStore } from '../../src/image/blobs.js';
import { DirectWriter } from '../../src/image/direct-writer.js';

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}` as `sha256:${string}`;

/** Yields `data` in `size`-byte chunks, all views of ONE buffer overwritten for each chunk. */
async function* oneBuffer(data: Buffer, size: number): AsyncGenerator<Buffer> {
  const buf = Buffer.alloc(size);
  for (let off = 0; off < data.length; off += size) {
    const n = data.copy(buf, 0, off, off + size);
    yield buf.subarray(0, n);
  }
}

function store(dir: string): BlobStore {
  const blobs = new BlobStore(dir);
  mkdirSync(blobs.dir, { recursive: true });
  mkdirSync(blobs.tmpDir, { recursive: true });
  return blobs;
}

const MiB = 1 << 20;
// around the 4 KiB alignment and the 4 MiB writes; 70 MiB passes the 64 MiB fdatasync mark
const SIZES = [0, 1, 4095, 4096, 4097, 4 * MiB - 1, 4 * MiB, 4 * MiB + 1, 9 * MiB + 12_345, 70 * MiB + 3];

for (const [where, base] of [
  ['the temp dir', tmpdir()],
  ['tmpfs', '/dev/shm'],
] as const) {
  test(`put with direct stores every byte, whatever the size and chunking (${where})`, async (t) => {
    if (!existsSync(base)) return t.skip(`${base} is missing`);
    const w = mkdtempSync(join(base, 'tsb-direct-'));
    try {
      const blobs = store(w);
      const big = randomBytes(SIZES[SIZES.length - 1]!);
      for (const n of SIZES) {
        const data = big.subarray(0, n);
        // 64 KiB + 1: chunks never line up with the 4 KiB alignment; 5 MiB: larger than one write
        for (const chunk of [(64 << 10) + 1, 5 * MiB]) {
          const info = await blobs.put(oneBuffer(data, chunk), { transient: true, direct: true, expectedDigest: sha(data) });
          assert.equal(info.size, n);
          assert.ok(readFileSync(blobs.path(info.digest)).equals(data), `${n} bytes in chunks of ${chunk}: the stored bytes are the source's`);
          await blobs.delete(info.digest);
        }
      }
      assert.deepEqual(readdirSync(blobs.tmpDir), [], 'no temp file is left');
    } finally {
      rmSync(w, { recursive: true, force: true });
    }
  });
}

test('DirectWriter writes aligned pieces through O_DIRECT and the tail through the buffered descriptor', async (t) => {
  const w = mkdtempSync(join(tmpdir(), 'tsb-direct-w-'));
  try {
    const path = join(w, 'f');
    const fh = await fsp.open(path, 'wx');
    const dw = await DirectWriter.open(path, fh);
    if (!dw) {
      await fh.close();
      return t.skip('this filesystem refuses O_DIRECT');
    }
    const data = randomBytes(9 * MiB + 777);
    for await (const c of oneBuffer(data, 3 * MiB + 5)) await dw.push(c);
    await dw.end();
    await fh.sync();
    await fh.close();
    assert.ok(readFileSync(path).equals(data));
  } finally {
    rmSync(w, { recursive: true, force: true });
  }
});

test('put with direct: a source failing half-way leaves no blob and no temp file', async () => {
  const w = mkdtempSync(join(tmpdir(), 'tsb-direct-fail-'));
  try {
    const blobs = store(w);
    async function* failing(): AsyncGenerator<Buffer> {
      for (let i = 0; i < 10; i++) yield randomBytes(MiB);
      throw new Error('the archive ended early');
    }
    await assert.rejects(blobs.put(failing(), { transient: true, direct: true }), /ended early/);
    assert.deepEqual(readdirSync(blobs.dir), []);
    assert.deepEqual(readdirSync(blobs.tmpDir), []);
    // and a digest mismatch found at the end is refused the same way
    const data = randomBytes(5 * MiB);
    await assert.rejects(blobs.put(oneBuffer(data, MiB), { transient: true, direct: true, expectedDigest: sha(Buffer.from('other')) }), /digest mismatch/);
    assert.deepEqual(readdirSync(blobs.dir), []);
    assert.deepEqual(readdirSync(blobs.tmpDir), []);
  } finally {
    rmSync(w, { recursive: true, force: true });
  }
});
