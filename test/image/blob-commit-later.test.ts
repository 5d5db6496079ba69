/**
 * BlobStore.put with `commitLater`: put returns once the bytes are written and hashed; the blob
 * appears (fsync, rename) only when the commit handed over resolves, and never if it fails.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { BlobStore } from '../../src/image/blobs.js';
import type { Digest } from '../../src/image/digest.js';

test('put with commitLater: the digest at once, the blob in the store only when its commit resolves; a failed commit leaves nothing', async () => {
  const root = mkdtempSync(join(tmpdir(), 'tsb-commit-later-'));
  try {
    mkdirSync(join(root, 'blobs', 'sha256'), { recursive: true });
    mkdirSync(join(root, 'tmp'));
    const stored: string[] = [];
    const blobs = new BlobStore(root, (d) => stored.push(d));
    const data = randomBytes(3 << 20);
    const digest = `sha256:${createHash('sha256').update(data).digest('hex')}` as Digest;
    let commit: Promise<void> | undefined;
    let handed: { digest: string; size: number } | undefined;
    const info = await blobs.put([data.subarray(0, 1 << 20), data.subarray(1 << 20)], {
      commitLater: (p, i) => {
        commit = p;
        handed = i;
        assert.equal(blobs.has(digest), false, 'not in the store while its commit is on its way');
      },
    });
    assert.deepEqual(info, { digest, size: data.length });
    assert.deepEqual(handed, info);
    assert.ok(commit instanceof Promise);
    await commit;
    assert.ok(blobs.has(digest));
    assert.deepEqual(stored, [digest], 'leased (onStored) as a plain put does');
    assert.ok(readFileSync(blobs.path(digest)).equals(data));
    assert.deepEqual(readdirSync(join(root, 'tmp')), []);

    // a commit that fails (its last check refuses): no blob, no temp file, the rejection handed over
    const other = randomBytes(1000);
    let failed: Promise<void> | undefined;
    const r = await blobs.put([other], {
      beforeCommit: () => {
        throw new Error('refused');
      },
      commitLater: (p) => (failed = p),
    });
    await assert.rejects(failed!, /refused/);
    assert.equal(blobs.has(r.digest), false);
    assert.deepEqual(readdirSync(join(root, 'tmp')), []);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
