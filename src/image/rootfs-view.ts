/**
 * A read-only view of an image's merged root filesystem, computed from its snapshot directories
 * (overlayfs format: whiteouts are char 0/0 devices, opaque dirs carry trusted.overlay.opaque=y)
 * without mounting anything. The builder and the runtime use it wherever they must look into an image
 * from the host: COPY sources and destinations, /etc/passwd for USER and --chown, parent dir metadata.
 * Symlinks are always resolved inside the root, never on the host (CVE-2024-9676 class).
 * A container's view also has its mounts (volumes, binds, its /etc/hosts, hostname, resolv.conf):
 * a path at or below a mount's target is looked up in the mount's host source, as `docker cp`
 * reads through the container's mounts; symlinks there still resolve inside the container's root.
 */
import { closeSync, constants, lstatSync, openSync, readdirSync, readlinkSync, readFileSync, realpathSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { fsx } from '../native/fsx.js';
import { TsbuildError } from '../errors.js';

export interface ViewEntry {
  /** Host path of the topmost copy of this entry. */
  hostPath: string;
  stat: Stats;
}

const MAX_SYMLINKS = 40; // the kernel's ELOOP limit

/** A host file or directory shown at `target` (an absolute container path) over the layers. */
export interface ViewMount {
  target: string;
  source: string;
}

export class RootfsView<M extends ViewMount = ViewMount> {
  private readonly mounts: { parts: string[]; source: string; mount: M }[];

  /**
   * @param layers snapshot directories, TOPMOST FIRST
   * @param mounts shown over the layers; a later mount at or below an earlier one's target wins
   */
  constructor(
    private readonly layers: readonly string[],
    mounts: readonly M[] = [],
  ) {
    // deepest target first: the mount a path is under is the first that matches
    // (a source is the host's own path: links in it are the host's, followed as mount(2) does)
    this.mounts = mounts.map((m) => ({ parts: splitPath(m.target), source: realpathOr(m.source), mount: m })).reverse().sort((a, b) => b.parts.length - a.parts.length);
  }

  /** The entry at an absolute, already resolved path (no symlink following), or null. */
  lookup(path: string): ViewEntry | null {
    const parts = splitPath(path);
    const m = this.mountOf(parts);
    if (m) {
      // inside a mount: a plain host tree (no whiteouts), walked without following links
      let cur = m.source;
      for (const p of parts.slice(m.parts.length)) {
        const st = lstatOrNull(cur);
        if (!st || !st.isDirectory()) return null;
        cur = join(cur, p);
      }
      const st = lstatOrNull(cur);
      return st ? { hostPath: cur, stat: st } : null;
    }
    if (parts.length === 0) {
      for (const l of this.layers) {
        const st = lstatOrNull(l);
        if (st) return { hostPath: l, stat: st };
      }
      return null;
    }
    for (const layer of this.layers) {
      let cur = layer;
      let hiddenBelow = isOpaque(layer); // opaque root hides lower layers entirely
      for (let i = 0; i < parts.length; i++) {
        cur = join(cur, parts[i]!);
        const st = lstatOrNull(cur);
        if (!st) break;
        if (isWhiteout(st)) return null;
        if (i === parts.length - 1) return { hostPath: cur, stat: st };
        if (!st.isDirectory()) return null; // a file here shadows anything below it
        if (isOpaque(cur)) hiddenBelow = true;
      }
      if (hiddenBelow) return null;
    }
    return null;
  }

  /**
   * Resolves `path` inside the root: symlinks in every component (and the last one when
   * `followLast`) are followed with the root as `/`; `..` never climbs above it. Returns the
   * resolved absolute path (which may not exist).
   */
  resolve(path: string, followLast = true): string {
    let hops = 0;
    const todo = splitPath(path);
    const done: string[] = [];
    while (todo.length > 0) {
      const c = todo.shift()!;
      if (c === '..') {
        done.pop();
        continue;
      }
      const candidate = '/' + [...done, c].join('/');
      const e = this.lookup(candidate);
      const isLast = todo.length === 0;
      if (e && e.stat.isSymbolicLink() && (!isLast || followLast)) {
        if (++hops > MAX_SYMLINKS) throw new TsbuildError('UNSAFE', `too many levels of symbolic links resolving ${path}`);
        const target = readlinkSync(e.hostPath, 'utf8');
        if (target.startsWith('/')) done.length = 0;
        todo.unshift(...splitPath(target));
        continue;
      }
      done.push(c);
    }
    return '/' + done.join('/');
  }

  /**
   * The merged names in the directory at an absolute, already resolved path (no symlink
   * following), sorted in byte order; null when it is not a directory. Whiteouts hide lower
   * names, an opaque directory hides everything below it, and a non-directory in an upper layer
   * shadows directories of the same path below it.
   */
  readdir(path: string): string[] | null {
    const self = this.lookup(path);
    if (!self || !self.stat.isDirectory()) return null;
    const parts = splitPath(path);
    if (this.mountOf(parts)) return safeReaddir(self.hostPath).sort(compareBytes);
    const names = new Set<string>();
    // mount points show in their parent even where no layer made them
    for (const m of this.mounts) if (m.parts.length === parts.length + 1 && parts.every((p, i) => m.parts[i] === p)) names.add(m.parts.at(-1)!);
    for (const layer of this.layers) {
      const state = layerDirState(layer, parts);
      if (state.dir) {
        for (const n of safeReaddir(state.dir)) names.add(n);
      }
      if (state.stop) break;
    }
    // lookup() applies the whiteout and opacity rules to each candidate.
    const base = parts.length === 0 ? '' : '/' + parts.join('/');
    return [...names].filter((n) => this.lookup(`${base}/${n}`) !== null).sort(compareBytes);
  }

  /** The mount whose target is `parts` or holds it, if any: the deepest. */
  mountOf(parts: readonly string[]): { parts: string[]; source: string; mount: M } | undefined {
    return this.mounts.find((m) => m.parts.length <= parts.length && m.parts.every((p, i) => parts[i] === p));
  }

  /** Reads a file through in-root resolution; null when it does not exist or is not a file. */
  readFile(path: string, maxBytes = 16 << 20): Buffer | null {
    const e = this.lookup(this.resolve(path));
    if (!e || !e.stat.isFile()) return null;
    if (e.stat.size > maxBytes) throw new TsbuildError('INVALID', `${path} is too large (${e.stat.size} bytes)`);
    // O_NOFOLLOW: the entry was checked to be a regular file; nothing on the host is ever followed
    const fd = openSync(e.hostPath, constants.O_RDONLY | constants.O_NOFOLLOW);
    try {
      return readFileSync(fd);
    } finally {
      closeSync(fd);
    }
  }
}

/** `/a//b/./c/` → ['a','b','c'] (keeps '..' for the resolver). */
export function splitPath(p: string): string[] {
  return p.split('/').filter((c) => c !== '' && c !== '.');
}

/**
 * What one layer contributes to the merged directory at `parts`: its host dir (if it has one
 * there) and whether lower layers are hidden (opaque dir or ancestor, whiteout, non-directory).
 */
function layerDirState(layer: string, parts: readonly string[]): { dir: string | null; stop: boolean } {
  let cur = layer;
  let opaque = isOpaque(layer);
  for (const p of parts) {
    cur = join(cur, p);
    const st = lstatOrNull(cur);
    if (!st) return { dir: null, stop: opaque };
    if (isWhiteout(st) || !st.isDirectory()) return { dir: null, stop: true };
    if (isOpaque(cur)) opaque = true;
  }
  return { dir: cur, stop: opaque };
}

function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** Byte order of UTF-8 names, as tar writers and Go sort. */
export function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

function realpathOr(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return p;
  }
}

function lstatOrNull(p: string): Stats | null {
  try {
    return lstatSync(p);
  } catch {
    return null;
  }
}

function isWhiteout(st: Stats): boolean {
  return st.isCharacterDevice() && st.rdev === 0;
}

function isOpaque(dir: string): boolean {
  try {
    return fsx().lgetxattr(dir, 'trusted.overlay.opaque')?.toString() === 'y';
  } catch {
    return false;
  }
}
