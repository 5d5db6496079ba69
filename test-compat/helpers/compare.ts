/**
 * Comparisons between the tsbuild-built and the Docker-built image of one case. Each returns the
 * differences as readable lines (empty when equal), so a failing test prints a path-by-path or
 * field-by-field diff instead of a wall of JSON.
 */
import type { LayerChanges, SavedImage, TreeEntry } from './image-tree.js';

/** The image config fields compared (`config.config.*`). */
export const CONFIG_FIELDS = [
  'Env',
  'Cmd',
  'Entrypoint',
  'WorkingDir',
  'User',
  'ExposedPorts',
  'Volumes',
  'Labels',
  'StopSignal',
  'Healthcheck',
  'OnBuild',
  'Shell',
  'ArgsEscaped',
] as const;

/**
 * What is never compared in a file tree, and why. Keep each entry justified: everything else must
 * match exactly.
 */
export interface TreeIgnore {
  test: (path: string, entry: TreeEntry | undefined) => boolean;
  reason: string;
}

/**
 * None so far. What is not compared at all: mtimes (TreeEntry has none; the two builds run at
 * different times), and in the layer-by-layer check only, Docker's re-recorded /etc directory entry
 * left by its RUN mount stubs (see isRunStubParent). Docker leaves no /etc/hosts-style stub files
 * in its layers, so the merged trees need no exception.
 */
export const TREE_IGNORES: TreeIgnore[] = [];

const MAX_LINES = 150;

function clip(lines: string[]): string[] {
  if (lines.length <= MAX_LINES) return lines;
  return [...lines.slice(0, MAX_LINES), `... and ${lines.length - MAX_LINES} more`];
}

/** null, missing and undefined are the same thing in an image config. */
function norm(v: unknown): unknown {
  if (v === null || v === undefined) return undefined;
  if (Array.isArray(v)) return v.map(norm);
  if (typeof v === 'object') {
    const o: Record<string, unknown> = {};
    for (const k of Object.keys(v as object).sort()) {
      const x = norm((v as Record<string, unknown>)[k]);
      if (x !== undefined) o[k] = x;
    }
    return o;
  }
  return v;
}

const show = (v: unknown) => (v === undefined ? '(unset)' : JSON.stringify(v));

export function compareConfig(tsb: SavedImage, ref: SavedImage): string[] {
  const out: string[] = [];
  for (const k of ['architecture', 'os', 'variant']) {
    const a = norm(tsb.config[k]);
    const b = norm(ref.config[k]);
    if (JSON.stringify(a) !== JSON.stringify(b)) out.push(`${k}: tsbuild=${show(a)} docker=${show(b)}`);
  }
  const ca = (tsb.config.config ?? {}) as Record<string, unknown>;
  const cb = (ref.config.config ?? {}) as Record<string, unknown>;
  for (const f of CONFIG_FIELDS) {
    const a = norm(ca[f]);
    const b = norm(cb[f]);
    if (JSON.stringify(a) === JSON.stringify(b)) continue;
    if (Array.isArray(a) && Array.isArray(b) && f === 'Env') {
      // list what differs rather than two long arrays
      const before = out.length;
      const sa = new Set(a.map(String));
      const sb = new Set(b.map(String));
      for (const x of a) if (!sb.has(String(x))) out.push(`config.Env: only tsbuild has ${JSON.stringify(x)}`);
      for (const x of b) if (!sa.has(String(x))) out.push(`config.Env: only docker has ${JSON.stringify(x)}`);
      if (out.length === before) out.push(`config.Env order: tsbuild=${show(a)} docker=${show(b)}`);
      continue;
    }
    out.push(`config.${f}: tsbuild=${show(a)} docker=${show(b)}`);
  }
  return out;
}

interface HistoryRow {
  created_by: string;
  empty_layer: boolean;
  comment: string;
}

function historyRows(img: SavedImage): HistoryRow[] {
  return ((img.config.history ?? []) as Array<Record<string, unknown>>).map((h) => ({
    created_by: String(h.created_by ?? ''),
    empty_layer: h.empty_layer === true,
    comment: String(h.comment ?? ''),
  }));
}

/** History shape: count, created_by, empty_layer, comment (the `created` times are ignored). */
export function compareHistory(tsb: SavedImage, ref: SavedImage): string[] {
  const a = historyRows(tsb);
  const b = historyRows(ref);
  const out: string[] = [];
  if (a.length !== b.length) out.push(`history length: tsbuild=${a.length} docker=${b.length}`);
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i];
    const y = b[i];
    if (!x || !y) {
      out.push(`history[${i}]: only ${x ? 'tsbuild' : 'docker'} has ${JSON.stringify(x ?? y)}`);
      continue;
    }
    for (const k of ['created_by', 'empty_layer', 'comment'] as const) {
      if (x[k] !== y[k]) out.push(`history[${i}].${k}: tsbuild=${JSON.stringify(x[k])} docker=${JSON.stringify(y[k])}`);
    }
  }
  return out;
}

/** Layer count, in the manifest and in rootfs.diff_ids, and history's non-empty entries. */
export function compareLayerCount(tsb: SavedImage, ref: SavedImage): string[] {
  const out: string[] = [];
  const count = (i: SavedImage) => ({
    manifest: i.manifest.Layers.length,
    diffIds: (i.config.rootfs?.diff_ids ?? []).length as number,
    history: historyRows(i).filter((h) => !h.empty_layer).length,
  });
  const a = count(tsb);
  const b = count(ref);
  for (const k of ['manifest', 'diffIds', 'history'] as const) {
    if (a[k] !== b[k]) out.push(`layers (${k}): tsbuild=${a[k]} docker=${b[k]}`);
  }
  if (a.manifest !== a.diffIds) out.push(`tsbuild archive is inconsistent: ${a.manifest} layers in manifest.json, ${a.diffIds} diff_ids`);
  return out;
}

const octal = (m: number) => '0' + m.toString(8).padStart(4, '0');

function describe(e: TreeEntry): string {
  const parts = [e.type, octal(e.mode), `${e.uid}:${e.gid}`];
  if (e.type === 'file') parts.push(`${e.size}B`, (e.sha256 ?? '').slice(0, 12));
  if (e.linkname !== undefined) parts.push(`-> ${e.linkname}`);
  if (e.hardlinks) parts.push(`hardlinks=[${e.hardlinks.join(',')}]`);
  if (e.xattrs) parts.push(`xattrs=${JSON.stringify(e.xattrs)}`);
  return parts.join(' ');
}

function entryDiff(a: TreeEntry, b: TreeEntry): string[] {
  const d: string[] = [];
  if (a.type !== b.type) d.push(`type ${a.type} vs ${b.type}`);
  if (a.mode !== b.mode) d.push(`mode ${octal(a.mode)} vs ${octal(b.mode)}`);
  if (a.uid !== b.uid || a.gid !== b.gid) d.push(`owner ${a.uid}:${a.gid} vs ${b.uid}:${b.gid}`);
  if (a.type === 'file' && b.type === 'file') {
    if (a.size !== b.size) d.push(`size ${a.size} vs ${b.size}`);
    if (a.sha256 !== b.sha256) d.push(`content ${(a.sha256 ?? '').slice(0, 12)} vs ${(b.sha256 ?? '').slice(0, 12)}`);
  }
  if (a.linkname !== b.linkname) d.push(`link target ${show(a.linkname)} vs ${show(b.linkname)}`);
  const ha = (a.hardlinks ?? []).join(',');
  const hb = (b.hardlinks ?? []).join(',');
  if (ha !== hb) d.push(`hardlinks [${ha}] vs [${hb}]`);
  if (JSON.stringify(norm(a.xattrs)) !== JSON.stringify(norm(b.xattrs))) d.push(`xattrs ${show(a.xattrs)} vs ${show(b.xattrs)}`);
  return d;
}

const ignored = (p: string, e: TreeEntry | undefined, ignores: TreeIgnore[]) => ignores.some((i) => i.test(p, e));

/** Path-by-path diff of two merged trees: `+` only tsbuild, `-` only docker, `~` both but differ. */
export function compareTrees(tsb: Map<string, TreeEntry>, ref: Map<string, TreeEntry>, ignores: TreeIgnore[] = TREE_IGNORES): string[] {
  const out: string[] = [];
  const paths = [...new Set([...tsb.keys(), ...ref.keys()])].sort();
  for (const p of paths) {
    const a = tsb.get(p);
    const b = ref.get(p);
    if (ignored(p, a ?? b, ignores)) continue;
    if (a && !b) out.push(`+ ${p}  (only tsbuild: ${describe(a)})`);
    else if (!a && b) out.push(`- ${p}  (only docker: ${describe(b)})`);
    else if (a && b) {
      const d = entryDiff(a, b);
      if (d.length) out.push(`~ ${p}  tsbuild vs docker: ${d.join('; ')}`);
    }
  }
  return clip(out);
}

/**
 * Layer by layer: what each layer writes and deletes (whiteouts expanded against the tree below, so
 * an opaque directory and one whiteout per child count the same), then the merged tree after it.
 */
export function compareLayers(tsb: SavedImage, ref: SavedImage, ignores: TreeIgnore[] = TREE_IGNORES): string[] {
  const out: string[] = [];
  const n = Math.min(tsb.layers.length, ref.layers.length);
  for (let i = 0; i < n; i++) {
    const a: LayerChanges = tsb.layers[i]!;
    const b: LayerChanges = ref.layers[i]!;
    const lines: string[] = [];
    const below = i > 0 ? ref.snapshots[i - 1]! : new Map<string, TreeEntry>();
    for (const p of [...new Set([...a.written.keys(), ...b.written.keys()])].sort()) {
      if (ignored(p, a.written.get(p) ?? b.written.get(p), ignores)) continue;
      if (!a.written.has(p) && isRunStubParent(p, b.written.get(p)!, below, b)) continue;
      if (a.written.has(p) && !b.written.has(p)) lines.push(`  writes ${p} only in tsbuild`);
      if (!a.written.has(p) && b.written.has(p)) lines.push(`  writes ${p} only in docker`);
    }
    for (const p of [...new Set([...a.deleted, ...b.deleted])].sort()) {
      if (ignored(p, undefined, ignores)) continue;
      if (a.deleted.has(p) && !b.deleted.has(p)) lines.push(`  deletes ${p} only in tsbuild`);
      if (!a.deleted.has(p) && b.deleted.has(p)) lines.push(`  deletes ${p} only in docker`);
    }
    const t = compareTrees(tsb.snapshots[i]!, ref.snapshots[i]!, ignores);
    if (t.length) lines.push(`  merged tree after it differs:`, ...t.map((l) => '    ' + l));
    if (lines.length) out.push(`layer ${i} (${historyFor(ref, i)}):`, ...lines);
  }
  return clip(out);
}

/**
 * Docker's RUN bind-mounts /etc/hosts, /etc/resolv.conf (and /etc/hostname) over stub files that
 * runc creates in the rootfs and BuildKit removes afterwards. The stubs leave no file behind but
 * bump /etc's mtime, so Docker's layer re-records an unchanged /etc directory entry. Ignored when
 * that is all it is: /etc (a mount-stub parent) written with the same metadata as below and
 * nothing under it written by that layer.
 */
const RUN_STUB_PARENTS = new Set(['/etc']);
function isRunStubParent(p: string, e: TreeEntry, below: Map<string, TreeEntry>, layer: SavedImage['layers'][number]): boolean {
  if (!RUN_STUB_PARENTS.has(p) || e.type !== 'directory') return false;
  const old = below.get(p);
  if (!old || entryDiff(old, e).length) return false;
  for (const k of layer.written.keys()) if (k.startsWith(p + '/')) return false;
  for (const k of layer.deleted) if (k.startsWith(p + '/')) return false;
  return true;
}

/** The created_by of the history entry that made layer i (Docker's, for the label). */
function historyFor(img: SavedImage, layer: number): string {
  const rows = historyRows(img).filter((h) => !h.empty_layer);
  const by = rows[layer]?.created_by || rows[layer]?.comment || '?';
  return by.length > 70 ? by.slice(0, 67) + '...' : by;
}
