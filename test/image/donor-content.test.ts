/**
 * A COPY layer's unchanged files (snapshot-writer.ts's donors): linked from the earlier snapshot,
 * and their bytes for the new tar read from the earlier layer's blob, not from the source again.
 * Whichever way, the new blob is the tar of the files as they are, and its snapshot what
 * unpacking it gives.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, lstatSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
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
    const first = await writeLayerWithSnapshot(s, s.snapshots, layer(), undefined, opts);
    writeFileSync(join(src, 'b'), `CONTENT OF B `.repeat(300)); // b changes; a and c do not
    const second = await writeLayerWithSnapshot(s, s.snapshots, layer(), undefined, opts);
    const fresh = await writeLayer(await ImageStore.open(join(w, 'ref')), layer());
    assert.equal(second.digest, fresh.digest, 'the same tar as reading every source');
    assert.equal(readFileSync(join(s.snapshotDir(second.digest), 'app', 'b'), 'utf8'), `CONTENT OF B `.repeat(300));

    // Where a's bytes came from: mark them in the blob its donor record names (never done to a real
    // store: blobs are immutable) and write the layer again under another mtime of the dir. a was
    // linked in the second layer, so its record still names the first one (the same inode).
    const blob = readFileSync(s.blobPath(first.digest));
    const at = blob.indexOf('content of a ');
    const fd = openSync(s.blobPath(first.digest), 'r+');
    writeSync(fd, Buffer.from('MARKED'), 0, 6, at);
    closeSync(fd);
    const again = layer();
    again[0]!.mtimeMs = 1_700_000_000_000;
    const third = await writeLayerWithSnapshot(s, s.snapshots, again, undefined, opts);
    const third_ = readFileSync(s.blobPath(third.digest));
    assert.ok(third_.includes('MARKEDt of a '), "a's bytes were read from the earlier layer's blob");
    // a damaged or removed earlier blob only means reading the source
    rmSync(s.blobPath(first.digest));
    rmSync(s.blobPath(second.digest));
    rmSync(s.blobPath(third.digest));
    again[0]!.mtimeMs = 1_650_000_000_000;
    const fourth = await writeLayerWithSnapshot(s, s.snapshots, again, undefined, opts);
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
    const first = await writeLayerWithSnapshot(s, s.snapshots, layer(old), undefined, opts);
    writeFileSync(join(src, 'b'), `CONTENT OF B `.repeat(300)); // same size and header, new content
    assert.notEqual(listed('b'), old.b);
    // listed before the change: b's donor (the first layer's copy) is taken, no stat sees the change
    const second = await writeLayerWithSnapshot(s, s.snapshots, layer(old), undefined, opts);
    assert.equal(second.digest, first.digest, 'the content as listed, from the donor');
    // without the donor's blob, its bytes are read back from the link, not from the changed source
    rmSync(s.blobPath(first.digest));
    const again = await writeLayerWithSnapshot(s, s.snapshots, layer(old), undefined, opts);
    assert.equal(again.digest, first.digest, 'the linked bytes, not the source');
    // listed after it (or not listed: stat'ed here): b is read from the source
    const fresh = await writeLayer(await ImageStore.open(join(w, 'ref')), layer({}));
    const third = await writeLayerWithSnapshot(s, s.snapshots, layer({ a: old.a, b: listed('b') }), undefined, opts);
    assert.equal(third.digest, fresh.digest);
    assert.notEqual(third.digest, first.digest);
    assert.equal(readFileSync(join(s.snapshotDir(third.digest), 'app', 'b'), 'utf8'), `CONTENT OF B `.repeat(300));
    writeFileSync(join(src, 'a'), `CONTENT OF A `.repeat(300));
    const fourth = await writeLayerWithSnapshot(s, s.snapshots, layer({}), undefined, { donorRoot: src });
    assert.equal(fourth.digest, (await writeLayer(await ImageStore.open(join(w, 'ref2')), layer({}))).digest, 'unlisted: stat\'ed, the change seen');
    await s.close();
  } finally {
    rmSync(w, { recursive: true, force: true });
  }
});

test('donor index file: a log of version 3 groups (no hex or root repeated per file); versions 3 and 2 still read, malformed records skipped', async () => {
  const w = mkdtempSync(join(tmpdir(), 'tsb-donor-index-'));
  try {
    const src = join(w, 'ctx');
    mkdirSync(src);
    const names = Array.from({ length: 50 }, (_, i) => `f${i}`);
    for (const n of names) writeFileSync(join(src, n), `content of ${n} `.repeat(50));
    const layer = (mtimeMs: number): LayerEntry[] => [
      { path: 'app', type: 'dir', mode: 0o755, uid: 0, gid: 0, size: 0, mtimeMs },
      ...names.map((n): LayerEntry => ({ path: `app/${n}`, type: 'file', mode: 0o644, uid: 0, gid: 0, size: lstatSync(join(src, n)).size, mtimeMs: 1_600_000_000_000, sourcePath: join(src, n) })),
    ];
    const s = await ImageStore.open(join(w, 'store'));
    const opts = { donorRoot: src };
    const first = await writeLayerWithSnapshot(s, s.snapshots, layer(1_600_000_000_000), undefined, opts);
    const dir = join(s.root, 'meta', 'copy-donors');
    const file = join(dir, readdirSync(dir)[0]!);
    const lines = readFileSync(file, 'utf8').split('\n');
    assert.equal(lines[0], 'tsbuild-donors 4');
    assert.equal(lines.length, 3, 'the head, one group, the last newline');
    const v3 = { v: 3, groups: [JSON.parse(lines[1]!) as [string, string, Array<string | number>]] };
    assert.deepEqual(v3.groups.map((g) => [g[0], g[1], g[2].length]), [[first.digest.slice(7), first.digest.slice(7), 50 * 5]]);
    assert.equal(v3.groups[0]![2][0], 'f0', 'sources below the root, without it');
    const linkCount = (d: `sha256:${string}`, n: string) => lstatSync(join(s.snapshotDir(d), 'app', n)).nlink;
    // read back: every file of the next layer is linked from the first snapshot
    const second = await writeLayerWithSnapshot(s, s.snapshots, layer(1_700_000_000_000), undefined, opts);
    assert.ok(names.every((n) => linkCount(second.digest, n) >= 2));
    // a version 2 file (one record per source, absolute) is still read
    const v2: Record<string, unknown[]> = {};
    for (const g of v3.groups) for (let i = 0; i < g[2].length; i += 5) v2[join(src, String(g[2][i]))] = [g[2][i + 1], g[0], g[2][i + 2], g[2][i + 3], g[1], g[2][i + 4]];
    writeFileSync(file, JSON.stringify({ v: 2, files: v2 }));
    const third = await writeLayerWithSnapshot(s, s.snapshots, layer(1_650_000_000_000), undefined, opts);
    assert.ok(names.every((n) => linkCount(third.digest, n) >= 3));
    // so is a version 3 file (one JSON document); malformed records (wrong types, a short tail) are
    // skipped: those files are written, the rest linked
    const bad = JSON.parse(JSON.stringify(v3)) as typeof v3;
    const flat = bad.groups[0]![2];
    flat[1] = 42; // f0's identity
    flat.push('extra', 'tail');
    writeFileSync(file, JSON.stringify(bad));
    const fourth = await writeLayerWithSnapshot(s, s.snapshots, layer(1_620_000_000_000), undefined, opts);
    assert.equal(linkCount(fourth.digest, 'f0'), 1, 'f0 written');
    assert.ok(names.slice(1).every((n) => linkCount(fourth.digest, n) >= 2));
    assert.equal(fourth.digest, (await writeLayer(await ImageStore.open(join(w, 'ref')), layer(1_620_000_000_000))).digest);
    await s.close();
  } finally {
    rmSync(w, { recursive: true, force: true });
  }
});
