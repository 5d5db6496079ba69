/**
 * Wasted space in an image: bytes a layer ships that a later layer hides, so they are pulled and
 * stored but never seen in the container. Pins the union rules Docker's overlay applier uses for
 * layer tars: `.wh.NAME` deletes NAME (and everything under it) from lower layers,
 * `.wh..wh..opq` in a dir hides all of that dir's lower contents, an entry hides a lower entry of
 * the same path, and a non-directory hides a lower directory's whole tree. Bytes are counted as
 * `docker history` counts a layer's size: a file's content, a symlink's target length.
 *
 * Pure: it reads headers handed to it (image/tar-format.ts scans them without reading bodies).
 * Known simplification: a file whose bytes stay reachable through a hardlink in the same layer is
 * still counted as wasted when its own name is deleted.
 */
import type { TarHeader } from './tar-format.js';

export type WasteReason = 'deleted' | 'overwritten';

export interface WastedPath {
  /** Absolute path in the image, e.g. `/big`. */
  path: string;
  bytes: number;
  reason: WasteReason;
  /** Index (0 = base) of the layer whose whiteout or entry hides it. */
  byLayer: number;
}

export interface LayerWaste {
  /** Index of the layer that ships the bytes (0 = base). */
  layer: number;
  bytes: number;
  /** Biggest first. */
  paths: WastedPath[];
}

export interface WasteReport {
  /** Content bytes of all layers (the image's size as `docker images` shows it). */
  totalBytes: number;
  wastedBytes: number;
  /** wastedBytes / totalBytes, 0 for an empty image. */
  share: number;
  /** Only layers that waste something, biggest first. */
  layers: LayerWaste[];
}

/** What a header needs to say for the computation. */
export type LayerEntry = Pick<TarHeader, 'name' | 'type' | 'size' | 'linkname'>;

const WH = '.wh.';
const OPAQUE = '.wh..wh..opq';

interface Live {
  layer: number;
  bytes: number;
  dir: boolean;
}

/** Content bytes of one entry, as layerContentSize counts them. */
export function entryBytes(e: LayerEntry): number {
  if (e.type === 'file') return e.size;
  if (e.type === 'symlink') return Buffer.byteLength(e.linkname ?? '');
  return 0;
}

function clean(name: string): string {
  // listings (layer-listing.ts) are already clean: skip the three rewrites for them
  const c0 = name.charCodeAt(0);
  if (c0 !== 0x2f && c0 !== 0x2e && !name.endsWith('/') && !name.includes('//')) return name;
  return name.replace(/^(\.\/|\/)+/, '').replace(/\/+$/, '').replace(/\/{2,}/g, '/');
}

function parentOf(p: string): string {
  const i = p.lastIndexOf('/');
  return i < 0 ? '' : p.slice(0, i);
}

/** Computes the report from each layer's headers, base layer first. */
export function computeWaste(layers: Iterable<Iterable<LayerEntry>>): WasteReport {
  const live = new Map<string, Live>();
  // direct children of each dir path ('' = root), whether or not the dir has its own entry
  const children = new Map<string, Set<string>>();
  const wasted: Array<WastedPath & { layer: number }> = [];
  let totalBytes = 0;

  const link = (p: string) => {
    for (let c = p; c !== ''; ) {
      const parent = parentOf(c);
      let set = children.get(parent);
      if (!set) children.set(parent, (set = new Set()));
      if (set.has(c)) break;
      set.add(c);
      c = parent;
    }
  };
  /** Hides path p's lower entries (layer < j); with `self` false only what is under p. */
  const hide = (p: string, j: number, reason: WasteReason, self: boolean) => {
    if (self) {
      const e = live.get(p);
      if (e && e.layer < j) {
        if (e.bytes > 0) wasted.push({ layer: e.layer, path: `/${p}`, bytes: e.bytes, reason, byLayer: j });
        live.delete(p);
      }
    }
    const kids = children.get(p);
    if (!kids) return;
    for (const k of [...kids]) {
      hide(k, j, reason, true);
      if (!live.has(k) && !children.get(k)?.size) kids.delete(k);
    }
  };

  let j = 0;
  for (const entries of layers) {
    const adds: Array<[string, LayerEntry]> = [];
    // whiteouts first: they only ever hide lower layers, whatever their order in the tar
    for (const e of entries) {
      totalBytes += entryBytes(e);
      const p = clean(e.name);
      if (p === '') continue;
      const dir = parentOf(p);
      const base = p.slice(dir.length ? dir.length + 1 : 0);
      if (base === OPAQUE) hide(dir, j, 'deleted', false);
      else if (base.startsWith(WH)) hide(dir ? `${dir}/${base.slice(WH.length)}` : base.slice(WH.length), j, 'deleted', true);
      else adds.push([p, e]);
    }
    for (const [p, e] of adds) {
      const isDir = e.type === 'dir';
      // a lower non-dir where this entry needs a dir (an ancestor) is replaced
      for (let a = parentOf(p); a !== ''; a = parentOf(a)) {
        const up = live.get(a);
        if (up && !up.dir) hide(a, j, 'overwritten', true);
      }
      const old = live.get(p);
      if (old) {
        if (!old.dir && old.bytes > 0) wasted.push({ layer: old.layer, path: `/${p}`, bytes: old.bytes, reason: 'overwritten', byLayer: j });
        if (old.dir && !isDir) hide(p, j, 'overwritten', false);
      }
      live.set(p, { layer: j, bytes: entryBytes(e), dir: isDir });
      link(p);
    }
    j++;
  }

  const byLayer = new Map<number, LayerWaste>();
  for (const { layer, ...w } of wasted) {
    let l = byLayer.get(layer);
    if (!l) byLayer.set(layer, (l = { layer, bytes: 0, paths: [] }));
    l.bytes += w.bytes;
    l.paths.push(w);
  }
  const out = [...byLayer.values()].sort((a, b) => b.bytes - a.bytes || a.layer - b.layer);
  for (const l of out) l.paths.sort((a, b) => b.bytes - a.bytes || a.path.localeCompare(b.path));
  const wastedBytes = out.reduce((n, l) => n + l.bytes, 0);
  return { totalBytes, wastedBytes, share: totalBytes ? wastedBytes / totalBytes : 0, layers: out };
}

/** A build hints at waste from this many bytes and this share of the image on (both). */
export const HINT_MIN_BYTES = 10_000_000;
export const HINT_MIN_SHARE = 0.1;

/**
 * Whether an image whose layer blobs have these sizes (base first) can waste enough for the hint,
 * known without reading any listing: only bytes of a layer that a later one hides are wasted (never
 * the top layer's), and a layer's content bytes never exceed its tar's size.
 */
export function mayWasteEnough(layerSizes: readonly number[]): boolean {
  let below = 0;
  for (let i = 0; i < layerSizes.length - 1; i++) below += layerSizes[i]!;
  return below >= HINT_MIN_BYTES;
}

/** The one-line hint a build prints for a wasteful image, or undefined below the thresholds. */
export function wasteHint(r: WasteReport, image: string, human: (n: number) => string): string | undefined {
  if (r.wastedBytes < HINT_MIN_BYTES || r.share < HINT_MIN_SHARE) return undefined;
  return `${human(r.wastedBytes)} (${(r.share * 100).toFixed(1)}% of the image) ship in layers but are deleted or overwritten by later ones; see tsbuild history --wasted ${image}`;
}
