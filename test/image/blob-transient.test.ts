/**
 * BlobStore.put of a source that reuses its buffer once the next chunk is asked for
 * (byte-streams.ts readFileReusing, what `load` reads an archive with) is stored byte for byte;
 * and readFileReusing itself yields a file's bytes in order across its ring of buffers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { BlobStore } from '../../src/image/blobs.js';
import { readFileReusing } from '../../src/image/byte-streams.js';

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** Yields `data` in `size`-byte chunks, all views of ONE buffer overwritten for each chunk. */
async function* oneBuffer(data: Buffer, size: number): AsyncGenerator<Buffer> {
  const buf = Buffer.alloc(size);
  for (let off = 0; off < data.length; off += size) {
    const n = data.copy(buf, 0, off, off + size);
    yield buf.subarray(0, n);
  }
}

test('put stores the bytes of a source that reuses its buffer (small and large chunks)', async () => {
  const w = mkdtempSync(join(tmpdir(), 'tsb-transient-'));
  try {
    const blobs = new BlobStore(w);
    mkdirSync(blobs.dir, { recursive: true });
    mkdirSync(blobs.tmpDir, { recursive: true });
    const data = randomBytes((9 << 20) + 12_345);
    // 64 KiB chunks fill the writer's 1 MiB blocks; 3 MiB ones are above a block
    for (const size of [64 << 10, 1 << 20, 3 << 20]) {
      const info = await blobs.put(oneBuffer(data, size), { expectedDigest: sha(data) as `sha256:${string}` });
      assert.equal(info.size, data.length);
      assert.ok(readFileSync(blobs.path(info.digest)).equals(data), `chunks of ${size}: the stored bytes are the source's`);
      await blobs.delete(info.digest);
    }
  } finally {
    rmSync(w, { recursive: true, force: true });
  }
});

test('readFileReusing yields a file in order, whatever its size against the 1 MiB reads', async () => {
  const w = mkdtempSync(join(tmpdir(), 'tsb-reusing-'));
  try {
    for (const n of [0, 1, (1 << 20) - 1, 1 << 20, (5 << 20) + 7]) {
      const data = randomBytes(n);
      writeFileSync(join(w, 'f'), data);
      const parts: Buffer[] = [];
      for await (const b of readFileReusing(join(w, 'f'))) parts.push(Buffer.from(b));
      assert.ok(Buffer.concat(parts).equals(data), `${n} bytes`);
    }
  } finally {
    rmSync(w, { recursive: true, force: true });
  }
});
