/**
 * Turns an overlay upper directory into the entries of a layer. Only the upper dir is walked, so
 * the cost follows the size of the change, not of the image:
 *   - a char device 0/0 is overlayfs's whiteout: the file was deleted  -> `dir/.wh.NAME`
 *   - a dir with trusted.overlay.opaque=y replaced a lower dir          -> `dir/` + `dir/.wh..wh..opq`
 *   - everything else is new or changed content, with owner, mode (incl. setuid/setgid/sticky),
 *     xattrs (security.capability, user.*, ...; never overlayfs's own), symlinks, hardlinks kept
 *     as hardlinks, device nodes and fifos.
 * A directory that was merely copied up (its metadata equals the lower one and nothing below it
 * changed, e.g. a mount stub's parent) is left out, so `RUN true` yields an empty layer.
 *
 * Paths longer than MAX_PATH_BYTES are refused with a clear error naming the path. BuildKit stores
 * them (PAX names in the tar), but every later host-side use of such a layer (this walk, the layer
 * writer, unpacking into a snapshot, COPY --from, export) would name it by a host path beyond
 * PATH_MAX; a tree that deep is refused where it is made, and the run dir is removed after it.
 */
import { lstatSync, readdirSync, readlinkSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { TsbuildError } from '../errors.js';
import { deviceNumbers, entryTypeOf, type LayerEntry } from '../image/layer-entry.js';
import { fsx } from '../native/fsx.js';

export interface DiffOptions {
  /** The lower dirs of the run, LOWEST FIRST: lets unchanged copied-up directories be dropped.
   *  Without them every directory present in the upper dir is reported. */
  lowerDirs?: readonly string[];
}

/** The longest path (in bytes, with its leading `/`) a layer made here may hold: PATH_MAX (4096)
 *  less room for the store's own directories in front of it on the host. */
export const MAX_PATH_BYTES = 3840;
const HOST_PATH_MAX = 4095;

export const WHITEOUT_PREFIX = '.wh.';
export const OPAQUE_MARKER = '.wh..wh..opq';

/** The layer entries for UPPER, parents before children, names sorted (deterministic). */
export async function diffUpperDir(upperDir: string, opts: DiffOptions = {}): Promise<LayerEntry[]> {
  const out: LayerEntry[] = [];
  const links = new Map<string, string>(); // "dev:ino" -> first layer path seen
  walkDir(upperDir, '', out, links, opts.lowerDirs ?? []);
  return out;
}

// ---- walking --------------------------------------------------------------------------------

/* Appends the entries below host dir ABS (layer path REL, '' for the root) to OUT. */
function walkDir(abs: string, rel: string, out: LayerEntry[], links: Map<string, string>, lowers: readonly string[]): void {
  // Synchronous calls: a promise per lstat cost this thread more than the calls themselves (an
  // upper dir of 20,800 entries: 440-620 ms, 300-380 ms so), and queued behind the thread pool's
  // fsyncs of the blobs still being committed, a step's small diff waited for them (2 ms, at times 16).
  const names = readdirSync(abs).sort();
  const stats = names.map((n) => lstatSync(join(abs, n)));
  for (let i = 0; i < names.length; i++) {
    const name = names[i]!;
    const st = stats[i]!;
    const path = rel ? `${rel}/${name}` : name;
    const host = join(abs, name);
    checkLength(path, host);
    if (name.startsWith(WHITEOUT_PREFIX)) {
      throw new TsbuildError('INVALID', `/${path}: file names starting with ${WHITEOUT_PREFIX} cannot be stored in a layer`);
    }
    if (st.isCharacterDevice() && st.rdev === 0) {
      out.push(marker(rel ? `${rel}/${WHITEOUT_PREFIX}${name}` : `${WHITEOUT_PREFIX}${name}`, st));
      continue;
    }
    if (st.isDirectory()) {
      const opaque = isOpaque(host);
      const self = entryFor(path, host, st);
      const mark = out.length;
      out.push(self);
      if (opaque) out.push(marker(`${path}/${OPAQUE_MARKER}`, st));
      walkDir(host, path, out, links, lowers);
      // nothing below changed and the dir itself is only a copy-up: not part of the change
      if (!opaque && out.length === mark + 1 && unchangedCopyUp(path, st, self, lowers)) out.pop();
      continue;
    }
    if (st.isSocket()) continue; // cannot be stored in a tar; sockets die with the run anyway
    const e = entryFor(path, host, st);
    if (e.type === 'file' && st.nlink > 1) {
      const key = `${st.dev}:${st.ino}`;
      const first = links.get(key);
      if (first !== undefined) {
        out.push({ ...e, type: 'hardlink', size: 0, linkname: first, sourcePath: undefined });
        continue;
      }
      links.set(key, path);
    }
    out.push(e);
  }
}

/* Refuses a path no later step could name on the host (checked before anything touches it). */
function checkLength(path: string, host: string): void {
  const bytes = Buffer.byteLength(path) + 1;
  if (bytes <= MAX_PATH_BYTES && Buffer.byteLength(host) <= HOST_PATH_MAX) return;
  const shown = path.length > 120 ? `${path.slice(0, 60)}...${path.slice(-40)}` : path;
  throw new TsbuildError(
    'INVALID',
    `the step made a path of ${bytes} bytes (/${shown}); tsbuild stores paths of up to ${MAX_PATH_BYTES} bytes (PATH_MAX on the host, less the store's own directories)`,
  );
}

function entryFor(path: string, host: string, st: Stats): LayerEntry {
  const e: LayerEntry = {
    path,
    type: typeOf(st, path),
    mode: st.mode & 0o7777,
    uid: st.uid,
    gid: st.gid,
    size: st.isFile() ? st.size : 0,
    mtimeMs: Math.floor(st.mtimeMs),
  };
  if (e.type === 'file') e.sourcePath = host;
  if (e.type === 'symlink') e.linkname = readlinkSync(host);
  if (e.type === 'char' || e.type === 'block') {
    Object.assign(e, deviceNumbers(st.rdev));
  }
  const xattrs = keptXattrs(host);
  if (xattrs) e.xattrs = xattrs;
  return e;
}

function marker(path: string, st: Stats): LayerEntry {
  return { path, type: 'file', mode: 0, uid: 0, gid: 0, size: 0, mtimeMs: Math.floor(st.mtimeMs) };
}

function typeOf(st: Stats, path: string): LayerEntry['type'] {
  const t = entryTypeOf(st);
  if (t === 'socket') throw new TsbuildError('INVALID', `/${path}: unsupported file type`);
  return t;
}

// ---- xattrs ---------------------------------------------------------------------------------

/* overlayfs's bookkeeping (trusted.overlay.*) and host-specific labels never go into a layer;
 * security.capability does (file capabilities are part of the image). */
function keepXattr(name: string): boolean {
  if (name.startsWith('trusted.overlay.') || name.startsWith('user.overlay.')) return false;
  if (name.startsWith('security.')) return name === 'security.capability';
  if (name.startsWith('system.')) return false;
  return true;
}

function keptXattrs(host: string): Record<string, Buffer> | undefined {
  const names = fsx().llistxattr(host).filter(keepXattr).sort();
  if (names.length === 0) return undefined;
  const out: Record<string, Buffer> = {};
  for (const n of names) {
    const v = fsx().lgetxattr(host, n);
    if (v) out[n] = v;
  }
  return out;
}

function isOpaque(host: string): boolean {
  const v = fsx().lgetxattr(host, 'trusted.overlay.opaque');
  return v !== null && v.toString('latin1') === 'y';
}

// ---- copied-up directories ------------------------------------------------------------------

/* True when the topmost lower holding PATH has it as a directory with the same owner, mode,
 * mtime and kept xattrs: the upper copy carries no change of its own. */
function unchangedCopyUp(path: string, st: Stats, self: LayerEntry, lowers: readonly string[]): boolean {
  if (lowers.length === 0) return false;
  for (let i = lowers.length - 1; i >= 0; i--) {
    let ls: Stats;
    try {
      ls = lstatSync(join(lowers[i]!, path));
    } catch {
      continue;
    }
    if (!ls.isDirectory()) return false;
    if (ls.uid !== st.uid || ls.gid !== st.gid || (ls.mode & 0o7777) !== (st.mode & 0o7777)) return false;
    if (Math.floor(ls.mtimeMs) !== Math.floor(st.mtimeMs)) return false;
    const lx = keptXattrs(join(lowers[i]!, path)) ?? {};
    const ux = self.xattrs ?? {};
    const keys = Object.keys(ux);
    if (keys.length !== Object.keys(lx).length) return false;
    return keys.every((k) => lx[k] !== undefined && Buffer.compare(lx[k]!, ux[k]!) === 0);
  }
  return false;
}
