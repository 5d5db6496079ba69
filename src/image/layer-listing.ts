/**
 * A layer's listing — each entry's name, type, size and link name, in tar order — remembered per
 * layer digest in the store (meta/layer-listing/<hex>), so what asks about an image's layers (the
 * build's wasted-space hint, `history --wasted`) never re-reads an old layer's tar headers: a
 * rebuild that made one new layer reads one small file per old layer instead of seeking through
 * thousands of headers. No Docker behaviour is pinned here: it is a cache of what the blob says.
 *
 * Written when the layer is written (layer-writer.ts hands over the headers it made), or on first
 * use by scanning the blob's headers. A listing is only a cache: its file carries a sha256 of the
 * layer digest and the body, so a torn, truncated, edited or misnamed file fails the check and the
 * blob is scanned again (and the listing rewritten). It is written to a temp file and renamed
 * without fsync, since a crash can leave at worst a file that fails the check. GC drops a layer's
 * listing with its blob (and any whose blob is gone).
 */
import { mkdirSync, promises as fsp, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hexOf, isDigest, sha256, type Digest } from './digest.js';
import { scanTarFileHeaders, type TarEntryType, type TarHeader } from './tar-format.js';

/** What a listing keeps of each header (names without a dir's trailing slash). */
export type ListedEntry = Pick<TarHeader, 'name' | 'type' | 'size' | 'linkname'>;

/** Where listings are written: the store's root and its temp files (ImageStore has both). */
export interface ListingSink {
  readonly root: string;
  tempPath(tag?: string): string;
}

/** What reading a listing needs: the blob to scan when there is no good one. */
export interface ListingSource extends ListingSink {
  blobPath(digest: Digest): string;
}

const VERSION = 'tsbuild-layer-listing-1';
const TYPES = new Set<TarEntryType>(['file', 'dir', 'symlink', 'hardlink', 'char', 'block', 'fifo', 'other']);

/** The directory of all listings (GC lists it). */
export function listingDir(root: string): string {
  return join(root, 'meta', 'layer-listing');
}

function listingPath(root: string, layer: Digest): string {
  return join(listingDir(root), hexOf(layer));
}

/** One listed entry of a header as written or read. */
export function listedEntry(h: Pick<TarHeader, 'name' | 'type' | 'size' | 'linkname'>): ListedEntry {
  const name = h.type === 'dir' && h.name.endsWith('/') ? h.name.replace(/\/+$/, '') : h.name;
  const e: ListedEntry = { name, type: h.type, size: h.type === 'file' ? h.size : 0 };
  if (h.linkname !== undefined && h.linkname !== '') e.linkname = h.linkname;
  return e;
}

/** Remembers a layer's listing; best effort (a listing that cannot be written is scanned later). */
export function recordListing(store: ListingSink, layer: Digest, entries: readonly ListedEntry[]): void {
  const body = JSON.stringify(entries.map((e) => (e.linkname !== undefined ? [e.name, e.type, e.size, e.linkname] : [e.name, e.type, e.size])));
  let tmp: string | undefined;
  try {
    mkdirSync(listingDir(store.root), { recursive: true });
    tmp = store.tempPath('listing');
    writeFileSync(tmp, `${VERSION} ${checksum(layer, body)}\n${body}`);
    renameSync(tmp, listingPath(store.root, layer));
  } catch {
    if (tmp !== undefined) rmSync(tmp, { force: true });
  }
}

/** The layer's listing: the remembered one if it checks out, else its blob's headers (remembered
 *  for next time). A missing or damaged blob raises as scanning it does. */
export function layerListing(store: ListingSource, layer: Digest): ListedEntry[] {
  const kept = readListing(store.root, layer);
  if (kept) return kept;
  const entries: ListedEntry[] = [];
  for (const h of scanTarFileHeaders(store.blobPath(layer))) entries.push(listedEntry(h));
  recordListing(store, layer, entries);
  return entries;
}

/** The remembered listing, or undefined when there is none or it fails its check. */
export function readListing(root: string, layer: Digest): ListedEntry[] | undefined {
  let text: string;
  try {
    text = readFileSync(listingPath(root, layer), 'utf8');
  } catch {
    return undefined;
  }
  const nl = text.indexOf('\n');
  const head = nl < 0 ? '' : text.slice(0, nl);
  const body = text.slice(nl + 1);
  if (head !== `${VERSION} ${checksum(layer, body)}`) return undefined;
  let rows: unknown;
  try {
    rows = JSON.parse(body);
  } catch {
    return undefined;
  }
  if (!Array.isArray(rows)) return undefined;
  const out: ListedEntry[] = [];
  for (const r of rows as unknown[]) {
    if (!Array.isArray(r) || typeof r[0] !== 'string' || !TYPES.has(r[1] as TarEntryType) || !Number.isSafeInteger(r[2]) || (r[3] !== undefined && typeof r[3] !== 'string')) {
      return undefined;
    }
    const e: ListedEntry = { name: r[0], type: r[1] as TarEntryType, size: r[2] as number };
    if (r[3] !== undefined) e.linkname = r[3] as string;
    out.push(e);
  }
  return out;
}

/** Drops a layer's listing (its blob was removed). */
export function dropListing(root: string, layer: Digest): void {
  rmSync(listingPath(root, layer), { force: true });
}

function checksum(layer: Digest, body: string): string {
  return hexOf(sha256(`${layer}\n${body}`));
}

/** Drops the listings whose blob is gone (a GC sweep; a listing is right for any blob of its digest,
 *  so one left over costs only space). */
export async function dropOrphanListings(root: string, hasBlob: (d: Digest) => boolean): Promise<void> {
  for (const f of await fsp.readdir(listingDir(root)).catch(() => [] as string[])) {
    const d = `sha256:${f}`;
    if (!isDigest(d) || !hasBlob(d)) await fsp.rm(join(listingDir(root), f), { force: true }).catch(() => {});
  }
}
