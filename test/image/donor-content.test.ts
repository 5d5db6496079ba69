/**
 * A COPY layer's unchanged files (snapshot-writer.ts's donors): linked from the earlier snapshot,
 * and their bytes for the new tar read from the earlier layer's blob, not from the source again.
 * Whichever way, the new blob is the tar of the files as they are, and its snapshot what
 * unpacking it gives.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, lstatSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ImageStore, writeLayer, type LayerEntry } from '../../src/image/index.js';
import { writeLayerWithSnapshot } from '../../src/image/layer-writer.js';
import { sourceIdentity } from '../../src/image/snapshot-writer.js';

test('unchanged files: bytes from the earlier blob, and the same blob as a fresh write', async () => {
  const w = mkdtempSync(join(tmpdir(), 'tsb-donor-content-'));
  try {
    const src = join(w, 'ctx');
    mkdirSync(src);
    const names = ['a', 'b', 'c'];
    for (const n of names) writeFileSync(join(src, n), `content of ${n} `.repeat(300));
    const layer = (): LayerEntry[] => [
      { path: 'app', type: 'dir', mode: 0o755, uid: 0, gid: 0, size: 0, mtimeMs: 1_600_000_000_000 },
      ...names.map((n): LayerEntry => ({ path: `app/${n}`, type: 'file', mode: 0o644, uid: 0, gid: 0, size: lstatSync(join(src, n)).size, mtimeMs: 1_600_000_000_000, sourcePath: join(src, n) })),
    ];
    const s = await ImageStore.open(join(w, 'store'));
    const opts = { donorRoot: src };
    const first = await writeLayerWithSnapshot(s, layer(), undefined, opts);
    writeFileSync(join(src, 'b'), `CONTENT OF B `.repeat(300)); // b changes; a and c do not
    const second = await writeLayerWithSnapshot(s, layer(), undefined, opts);
    const fresh = await writeLayer(await ImageStore.open(join(w, 'ref')), layer());
    assert.equal(second.digest, fresh.digest, 'the same tar as reading every source');
    assert.equal(readFileSync(join(s.snapshotDir(second.digest), 'app', 'b'), 'utf8'), `CONTENT OF B `.repeat(300));

    // Where a's bytes came from: mark them in the last blob that holds them (never done to a real
    // store: blobs are immutable) and write the layer again under another mtime of the dir.
    const blob = readFileSync(s.blobPath(second.digest));
    const at = blob.indexOf('content of a ');
    const fd = openSync(s.blobPath(second.digest), 'r+');
    writeSync(fd, Buffer.from('MARKED'), 0, 6, at);
    closeSync(fd);
    const again = layer();
    again[0]!.mtimeMs = 1_700_000_000_000;
    const third = await writeLayerWithSnapshot(s, again, undefined, opts);
    const third_ = readFileSync(s.blobPath(third.digest));
    assert.ok(third_.includes('MARKEDt of a '), "a's bytes were read from the earlier layer's blob");
    // a damaged or removed earlier blob only means reading the source
    rmSync(s.blobPath(first.digest));
    rmSync(s.blobPath(second.digest));
    rmSync(s.blobPath(third.digest));
    again[0]!.mtimeMs = 1_650_000_000_000;
    const fourth = await writeLayerWithSnapshot(s, again, undefined, opts);
    assert.equal(fourth.digest, (await writeLayer(await ImageStore.open(join(w, 'ref2')), again)).digest);
    await s.close();
  } finally {
    rmSync(w, { recursive: true, force: true });
  }
});

test('a listed identity (the context walk\'s) is used without a stat: the donor gives the content as listed; a listing that shows the change reads the source', async () => {
  const w = mkdtempSync(join(tmpdir(), 'tsb-donor-listed-'));
  try {
    const src = join(w, 'ctx');
    mkdirSync(src);
    for (const n of ['a', 'b']) writeFileSync(join(src, n), `content of ${n} `.repeat(300));
    const layer = (ids: Record<string, string | undefined>): LayerEntry[] => [
      { path: 'app', type: 'dir', mode: 0o755, uid: 0, gid: 0, size: 0, mtimeMs: 1_600_000_000_000 },
      ...['a', 'b'].map((n): LayerEntry => ({
        path: `app/${n}`, type: 'file', mode: 0o644, uid: 0, gid: 0, size: lstatSync(join(src, n)).size, mtimeMs: 1_600_000_000_000, sourcePath: join(src, n),
        ...(ids[n] !== undefined ? { sourceIdentity: ids[n] } : {}),
      })),
    ];
    const listed = (n: string) => sourceIdentity(join(src, n))!;
    const s = await ImageStore.open(join(w, 'store'));
    const opts = { donorRoot: src };
    const old = { a: listed('a'), b: listed('b') };
    const first = await writeLayerWithSnapshot(s, layer(old), undefined, opts);
    writeFileSync(join(src, 'b'), `CONTENT OF B `.repeat(300)); // same size and header, new content
    assert.notEqual(listed('b'), old.b);
    // listed before the change: b's donor (the first layer's copy) is taken, no stat sees the change
    const second = await writeLayerWithSnapshot(s, layer(old), undefined, opts);
    assert.equal(second.digest, first.digest, 'the content as listed, from the donor');
    // without the donor's blob, its bytes are read back from the link, not from the changed source
    rmSync(s.blobPath(first.digest));
    const again = await writeLayerWithSnapshot(s, layer(old), undefined, opts);
    assert.equal(again.digest, first.digest, 'the linked bytes, not the source');
    // listed after it (or not listed: stat'ed here): b is read from the source
    const fresh = await writeLayer(await ImageStore.open(join(w, 'ref')), layer({}));
    const third = await writeLayerWithSnapshot(s, layer({ a: old.a, b: listed('b') }), undefined, opts);
    assert.equal(third.digest, fresh.digest);
    assert.notEqual(third.digest, first.digest);
    assert.equal(readFileSync(join(s.snapshotDir(third.digest), 'app', 'b'), 'utf8'), `CONTENT OF B `.repeat(300));
    writeFileSync(join(src, 'a'), `CONTENT OF A `.repeat(300));
    const fourth = await writeLayerWithSnapshot(s, layer({}), undefined, { donorRoot: src });
    assert.equal(fourth.digest, (await writeLayer(await ImageStore.open(join(w, 'ref2')), layer({}))).digest, 'unlisted: stat\'ed, the change seen');
    await s.close();
  } finally {
    rmSync(w, { recursive: true, force: true });
  }
});
