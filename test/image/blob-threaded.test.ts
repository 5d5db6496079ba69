/**
 * BlobStore.put on the native writer's thread (native/blob-writer.c) against put's own path:
 * the same digest and bytes for every chunking (empty, tiny, Uint8Array views at an offset, one
 * chunk above the 32 MiB queue bound), bytes skipped from hashing when the source is verified,
 * and a digest mismatch or a failing source leaves no blob and no temp file on either path.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { BlobStore } from '../../src/image/blobs.js';
import { openThreadedBlob } from '../../src/native/blob-writer.js';
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

function stores(w: string): Array<[string, BlobStore]> {
  return (['threaded', 'plain'] as const).map((kind) => {
    const s = new BlobStore(join(w, kind), undefined, { threaded: kind === 'threaded' });
    mkdirSync(s.dir, { recursive: true });
    mkdirSync(s.tmpDir, { recursive: true });
    return [kind, s];
  });
}

test('the threaded writer exists here (npm install built it), else this file tests one path twice', () => {
  const w = mkdtempSync(join(tmpdir(), 'tsb-threaded-'));
  try {
    const bw = openThreadedBlob(join(w, 'f'));
    assert.ok(bw, 'fsx.node has the blob writer');
    bw.close();
  } finally {
    rmSync(w, { recursive: true, force: true });
  }
});

test('threaded and plain put store the same bytes under the same digest, whatever the chunks', async () => {
  const w = mkdtempSync(join(tmpdir(), 'tsb-threaded-'));
  try {
    const cases: Array<[Buffer, number]> = [
      [Buffer.alloc(0), 1],
      [randomBytes(1), 1],
      [randomBytes((3 << 20) + 5), 4096],
      [randomBytes((3 << 20) + 5), (1 << 20) + 1],
      [randomBytes((40 << 20) + 3), 40 << 20], // one chunk above the queue's bound
    ];
    for (const [kind, s] of stores(w)) {
      for (const [data, size] of cases) {
        const info = await s.put(chunks(data, size), { expectedDigest: sha(data) });
        assert.equal(info.digest, sha(data), `${kind}: ${data.length} bytes in ${size}-byte chunks`);
        assert.equal(info.size, data.length);
        assert.ok(readFileSync(s.path(info.digest)).equals(data), `${kind}: the stored bytes`);
        await s.delete(info.digest);
      }
      // a verified source is not hashed again: its digest is taken as given
      const data = randomBytes(1000);
      const info = await s.put(chunks(data, 100), { expectedDigest: sha(data), verified: true });
      assert.equal(info.digest, sha(data));
      assert.deepEqual(readdirSync(s.tmpDir), [], `${kind}: no temp file left`);
    }
  } finally {
    rmSync(w, { recursive: true, force: true });
  }
});

test('a digest mismatch or a failing source stores nothing and leaves no temp file (both paths)', async () => {
  const w = mkdtempSync(join(tmpdir(), 'tsb-threaded-'));
  try {
    for (const [kind, s] of stores(w)) {
      const data = randomBytes(5 << 20);
      await assert.rejects(s.put(chunks(data, 1 << 20), { expectedDigest: sha(Buffer.from('other')) }), /digest mismatch/);
      async function* failing(): AsyncGenerator<Buffer> {
        yield data.subarray(0, 3 << 20);
        throw new Error('source broke');
      }
      await assert.rejects(s.put(failing()), /source broke/);
      let later: Promise<void> | undefined;
      const info = await s.put(chunks(data, 1 << 20), { commitLater: (p) => (later = p) });
      assert.equal(s.has(info.digest), false, `${kind}: not visible before its commit`);
      await later;
      assert.equal(s.has(info.digest), true, `${kind}: visible after its commit`);
      assert.deepEqual(readdirSync(s.tmpDir), [], `${kind}: no temp file left`);
      assert.deepEqual(readdirSync(s.dir), [info.digest.slice(7)], `${kind}: only the good blob`);
    }
  } finally {
    rmSync(w, { recursive: true, force: true });
  }
});
