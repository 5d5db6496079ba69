import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { GzipPool, gzipFile, gzipChunks } from '../../src/image/compress.js';

test('parallel gzip: valid (gzip -t, zlib), deterministic, right digest, empty input too', async () => {
  const w = mkdtempSync(join(tmpdir(), 'tsb-gz-'));
  const pool = new GzipPool(2);
  try {
    const data = Buffer.concat([randomBytes(300_000), Buffer.alloc(700_000, 'abc'), randomBytes(123)]);
    writeFileSync(join(w, 'in'), data);
    writeFileSync(join(w, 'empty'), '');
    const a = await gzipFile(pool, join(w, 'in'), join(w, 'a.gz'), { chunkSize: 64 * 1024 });
    const b = await gzipFile(pool, join(w, 'in'), join(w, 'b.gz'), { chunkSize: 64 * 1024 });
    const gz = readFileSync(join(w, 'a.gz'));
    assert.equal(a.digest, b.digest);
    assert.equal(a.digest, `sha256:${createHash('sha256').update(gz).digest('hex')}`);
    assert.equal(a.size, gz.length);
    assert.ok(gunzipSync(gz).equals(data));
    execFileSync('gzip', ['-t', join(w, 'a.gz')]);
    assert.ok(execFileSync('sh', ['-c', `gzip -dc '${join(w, 'a.gz')}'`], { maxBuffer: 1 << 24 }).equals(data), 'GNU gzip reads every member');
    const streamed: Buffer[] = [];
    for await (const z of gzipChunks(pool, join(w, 'in'), { chunkSize: 64 * 1024 })) streamed.push(z);
    assert.ok(Buffer.concat(streamed).equals(gz), 'the stream is the same bytes');
    const e = await gzipFile(pool, join(w, 'empty'), join(w, 'e.gz'));
    assert.equal(gunzipSync(readFileSync(join(w, 'e.gz'))).length, 0);
    assert.ok(e.size > 0);
  } finally {
    await pool.close();
    rmSync(w, { recursive: true, force: true });
  }
});
