/**
 * Layer listings (image/layer-listing.ts): recorded when a layer is written, equal to what a scan
 * of the blob's headers gives; a missing, torn, edited or misnamed listing is not trusted (the blob
 * is scanned and the listing rewritten); GC drops a listing with its blob.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ImageStore, writeLayer, type LayerEntry } from '../../src/image/index.js';
import { scanTarFileHeaders } from '../../src/image/tar-format.js';
import { layerListing, listedEntry, listingDir, readListing } from '../../src/image/layer-listing.js';
import { hexOf, type Digest } from '../../src/image/digest.js';

const T = 1_700_000_000_000;
const e = (x: Partial<LayerEntry> & { path: string; type: LayerEntry['type'] }): LayerEntry => ({ mode: 0o644, uid: 0, gid: 0, size: 0, mtimeMs: T, ...x });

async function withStore(fn: (s: ImageStore, src: string) => Promise<void>): Promise<void> {
  const w = mkdtempSync(join(tmpdir(), 'tsb-listing-'));
  try {
    const s = await ImageStore.open(join(w, 'store'));
    try {
      await fn(s, w);
    } finally {
      await s.close();
    }
  } finally {
    rmSync(w, { recursive: true, force: true });
  }
}

async function twoLayers(s: ImageStore, src: string): Promise<[Digest, Digest]> {
  writeFileSync(join(src, 'a'), 'x'.repeat(1000));
  writeFileSync(join(src, 'b'), 'y'.repeat(77));
  const one = await writeLayer(s, [
    e({ path: 'etc', type: 'dir', mode: 0o755 }),
    e({ path: 'etc/a', type: 'file', size: 1000, sourcePath: join(src, 'a') }),
    e({ path: 'etc/ln', type: 'symlink', linkname: 'a' }),
    e({ path: 'etc/hl', type: 'hardlink', linkname: 'etc/a' }),
    e({ path: 'l'.repeat(150), type: 'file', size: 77, sourcePath: join(src, 'b') }),
  ]);
  const two = await writeLayer(s, [e({ path: 'etc', type: 'dir', mode: 0o755 }), e({ path: 'etc/.wh.a', type: 'file' })]);
  return [one.digest, two.digest];
}

const scan = (s: ImageStore, d: Digest) => [...scanTarFileHeaders(s.blobPath(d))].map(listedEntry);

test('listing: recorded at write time, equal to a header scan of the blob (long names, links, dirs)', async () => {
  await withStore(async (s, src) => {
    const [one, two] = await twoLayers(s, src);
    for (const d of [one, two]) {
      const kept = readListing(s.root, d);
      assert.ok(kept, 'recorded when written');
      assert.deepEqual(kept, scan(s, d));
    }
    assert.deepEqual(
      readListing(s.root, one)!.map((x) => [x.name, x.type, x.size, x.linkname]),
      [['etc', 'dir', 0, undefined], ['etc/a', 'file', 1000, undefined], ['etc/hl', 'hardlink', 0, 'etc/a'], ['etc/ln', 'symlink', 0, 'a'], ['l'.repeat(150), 'file', 77, undefined]],
    );
  });
});

test('listing: deleted, truncated, edited, foreign or garbage listings are not trusted; the scan is used and the listing rewritten', async () => {
  await withStore(async (s, src) => {
    const [one, two] = await twoLayers(s, src);
    const file = (d: Digest) => join(listingDir(s.root), hexOf(d));
    const want = scan(s, one);
    const damage: Array<[string, () => void]> = [
      ['deleted', () => rmSync(file(one))],
      ['truncated', () => truncateSync(file(one), readFileSync(file(one)).length - 5)],
      ['empty', () => writeFileSync(file(one), '')],
      // a lie that is still valid JSON: the size of etc/a changed, the checksum line kept
      ['edited', () => writeFileSync(file(one), readFileSync(file(one), 'utf8').replace('1000', '9999'))],
      // another layer's (well-formed) listing under this layer's name
      ['foreign', () => copyFileSync(file(two), file(one))],
      ['garbage', () => writeFileSync(file(one), Buffer.from([0, 1, 2, 0xff, 10, 91, 93]))],
    ];
    for (const [what, hurt] of damage) {
      hurt();
      assert.equal(readListing(s.root, one), undefined, what);
      assert.deepEqual(layerListing(s, one), want, what);
      assert.deepEqual(readListing(s.root, one), want, `${what}: rewritten`);
    }
    // a listing dir that cannot be written (a file in its place) only costs the scan
    rmSync(listingDir(s.root), { recursive: true });
    writeFileSync(listingDir(s.root), 'not a dir');
    assert.deepEqual(layerListing(s, two), scan(s, two));
    rmSync(listingDir(s.root));
  });
});

test('listing: GC drops a listing with its blob, and sweeps listings whose blob is gone', async () => {
  await withStore(async (s, src) => {
    const [one] = await twoLayers(s, src);
    const file = join(listingDir(s.root), hexOf(one));
    assert.ok(existsSync(file));
    const orphan = join(listingDir(s.root), 'ab'.repeat(32));
    copyFileSync(file, orphan);
    // what a store wrote stays leased until that store is closed; a second one then collects it
    await s.close();
    const again = await ImageStore.open(s.root);
    try {
      const r = await again.prune();
      assert.ok(r.deletedBlobs.includes(one), 'the unreferenced layer is collected');
      assert.equal(existsSync(file), false, 'its listing goes with it');
      assert.equal(existsSync(orphan), false, 'a listing without a blob is swept');
    } finally {
      await again.close();
    }
  });
});
