/**
 * Squash: several layers merged into one that, applied on the same base, gives the same root
 * filesystem (the union rules of Docker's layer applier, as wasted-space.ts reads them):
 * - `dir/.wh.NAME` deletes NAME and its subtree. In the merged layer a path the layers created
 *   and then deleted simply vanishes; a whiteout stays only for a path the base has.
 * - `dir/.wh..wh..opq` hides the base's (and earlier layers') contents of dir: earlier entries
 *   under dir go, and the marker stays (for the base).
 * - an entry replaces an earlier entry of its path; a non-directory also hides the subtree under
 *   it; a directory re-created after its deletion becomes opaque (so the base's contents stay hidden).
 * - a hard link whose target was replaced by a later layer becomes a copy of the target as its own
 *   layer had it.
 * Only headers are read (bodies seeked past); content comes from each layer's unpacked snapshot.
 */
import { join } from 'node:path';
import type { LayerEntry } from './layer-entry.js';
import { cleanName } from './layer-reader.js';
import { scanTarFileHeaders, type ReadHeader } from './tar-format.js';

export interface SquashLayer {
  /** The uncompressed layer tar. */
  blobPath: string;
  /** Its unpacked snapshot directory (content of its regular files). */
  root: string;
}

const WH = '.wh.';
const OPAQUE = '.wh..wh..opq';

interface Winner {
  entry: LayerEntry;
  layer: number;
}

/** The entries of one layer equivalent to `layers` (bottom first) applied on a base for which
 *  `inBase(path)` tells whether a path exists (paths relative, no leading `/`). */
export function squashEntries(layers: readonly SquashLayer[], inBase: (path: string) => boolean): LayerEntry[] {
  const live = new Map<string, Winner>();
  const whiteouts = new Set<string>();
  const opaque = new Set<string>();
  const under = (p: string, dir: string) => dir === '' || p.startsWith(dir + '/');
  const dropBelow = (dir: string) => {
    for (const k of [...live.keys()]) if (under(k, dir)) live.delete(k);
    for (const k of [...whiteouts]) if (under(k, dir)) whiteouts.delete(k);
    for (const k of [...opaque]) if (under(k, dir)) opaque.delete(k);
  };
  const owns: Map<string, ReadHeader>[] = [];
  layers.forEach((layer, li) => {
    // a layer's own files by path (hard links in it point at them)
    const own = new Map<string, ReadHeader>();
    for (const h of scanTarFileHeaders(layer.blobPath)) {
      const path = cleanName(h.name);
      if (path === '') continue;
      const slash = path.lastIndexOf('/');
      const dir = slash < 0 ? '' : path.slice(0, slash);
      const base = path.slice(slash + 1);
      if (base === OPAQUE) {
        dropBelow(dir);
        opaque.add(dir);
        continue;
      }
      if (base.startsWith(WH)) {
        const gone = (dir === '' ? '' : dir + '/') + base.slice(WH.length);
        live.delete(gone);
        opaque.delete(gone);
        dropBelow(gone);
        if (inBase(gone)) whiteouts.add(gone);
        continue;
      }
      own.set(path, h);
      const prev = live.get(path);
      if (h.type !== 'dir') dropBelow(path);
      else if (whiteouts.has(path) || (prev && prev.entry.type !== 'dir')) opaque.add(path); // re-created: the base's old contents stay hidden
      whiteouts.delete(path);
      live.set(path, { entry: toEntry(h, path, layer.root), layer: li });
    }
    owns.push(own);
  });
  // a hard link keeps its target only while the target is still its own layer's file
  for (const [path, w] of live) {
    if (w.entry.type !== 'hardlink') continue;
    const target = w.entry.linkname ?? '';
    if (live.get(target)?.layer === w.layer) continue;
    const th = owns[w.layer]!.get(target);
    const root = layers[w.layer]!.root;
    if (th && th.type === 'file') live.set(path, { entry: { ...toEntry(th, path, root), sourcePath: join(root, target) }, layer: w.layer });
  }
  const out: LayerEntry[] = [...live.values()].map((w) => w.entry);
  for (const p of whiteouts) out.push(marker(p.includes('/') ? p.slice(0, p.lastIndexOf('/')) + '/' + WH + p.slice(p.lastIndexOf('/') + 1) : WH + p));
  for (const d of opaque) out.push(marker(d === '' ? OPAQUE : `${d}/${OPAQUE}`));
  return out;
}

function marker(path: string): LayerEntry {
  return { path, type: 'file', mode: 0o644, uid: 0, gid: 0, size: 0, mtimeMs: 0 };
}

function toEntry(h: ReadHeader, path: string, root: string): LayerEntry {
  const e: LayerEntry = { path, type: h.type === 'other' ? 'file' : h.type, mode: h.mode & 0o7777, uid: h.uid, gid: h.gid, size: h.type === 'file' ? h.size : 0, mtimeMs: h.mtime * 1000 };
  if (h.linkname !== undefined && h.linkname !== '') e.linkname = h.type === 'hardlink' ? cleanName(h.linkname) : h.linkname;
  if (h.devmajor !== undefined) e.devmajor = h.devmajor;
  if (h.devminor !== undefined) e.devminor = h.devminor;
  if (h.xattrs && Object.keys(h.xattrs).length) e.xattrs = h.xattrs;
  if (h.type === 'file' && h.size > 0) e.sourcePath = join(root, path);
  return e;
}
