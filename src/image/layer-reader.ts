/**
 * Extracts a layer tar into a directory, and never writes outside it. Refused with UNSAFE:
 * absolute names, `..` components, an entry (or hard-link target) whose parent is a symlink —
 * whether created earlier in the same tar or already there — and hard links to outside. Nothing
 * is ever followed: files are created with O_EXCL|O_NOFOLLOW after any old entry is removed, and
 * link(2) does not follow. (CVE-2026-28406 class.)
 *
 * Modes:
 *  - 'apply': onto a root filesystem; `.wh.NAME` deletes NAME, `.wh..wh..opq` clears what the
 *    directory held before this layer.
 *  - 'snapshot': into an empty directory in overlayfs format, for use as an overlay lower dir:
 *    `.wh.NAME` becomes a 0/0 character device NAME, `.wh..wh..opq` the xattr
 *    `trusted.overlay.opaque=y` on its directory.
 * Owners are set when running as root; modes (with setuid bits), xattrs, device nodes and mtimes
 * always (directory mtimes last, deepest first, as creating children changes them).
 */
import {
  lstatSync,
  mkdirSync,
  openSync,
  writeSync,
  closeSync,
  fchownSync,
  fchmodSync,
  futimesSync,
  lchownSync,
  chmodSync,
  symlinkSync,
  linkSync,
  lutimesSync,
  readdirSync,
  rmSync,
  constants,
  type Stats,
} from 'node:fs';
import { join } from 'node:path';
import { TsbuildError } from '../errors.js';
import { fsx } from '../native/fsx.js';
import { readTar, type ReadHeader, type TarSource } from './tar-format.js';

export type ExtractMode = 'apply' | 'snapshot';

export interface ExtractOptions {
  mode: ExtractMode;
}

export interface ExtractStats {
  entries: number;
  bytes: number;
}

const WH = '.wh.';
const OPAQUE = '.wh..wh..opq';
const IS_ROOT = process.getuid?.() === 0;

/** Extracts the tar stream `source` into `target` (which must exist). */
export async function extractLayer(source: TarSource, target: string, opts: ExtractOptions): Promise<ExtractStats> {
  const x = new Extractor(target, opts.mode);
  for await (const { header, body } of readTar(source)) {
    await x.entry(header, body);
  }
  x.finish();
  return { entries: x.count, bytes: x.bytes };
}

class Extractor {
  count = 0;
  bytes = 0;
  /** Relative dirs known to be real directories (not symlinks) inside the target. */
  private readonly safeDirs = new Set<string>(['']);
  /** Paths this layer wrote (an opaque marker keeps them). */
  private readonly written = new Set<string>();
  private readonly dirTimes: Array<[string, number]> = [];

  constructor(
    private readonly root: string,
    private readonly mode: ExtractMode,
  ) {}

  async entry(h: ReadHeader, body: AsyncIterable<Buffer>): Promise<void> {
    const rel = cleanName(h.name);
    if (rel === '') return; // the root itself ('./'): its metadata belongs to the target's owner
    this.count++;
    const slash = rel.lastIndexOf('/');
    const parent = slash < 0 ? '' : rel.slice(0, slash);
    const base = rel.slice(slash + 1);
    this.ensureParent(parent, rel);
    if (base === OPAQUE) return this.opaque(parent);
    if (base.startsWith(WH)) {
      if (base.startsWith(`${WH}${WH}`)) return; // other aufs metadata (.wh..wh.plnk etc.)
      return this.whiteout(parent, base.slice(WH.length));
    }
    const abs = join(this.root, rel);
    this.written.add(rel);
    const old = lstatOrNull(abs);
    if (old && !(old.isDirectory() && h.type === 'dir')) this.remove(rel);
    switch (h.type) {
      case 'dir': {
        if (!old || !old.isDirectory()) mkdirSync(abs, { mode: 0o700 });
        this.safeDirs.add(rel);
        this.owner(abs, h);
        chmodSync(abs, h.mode);
        this.xattrs(abs, h);
        this.dirTimes.push([abs, h.mtime]);
        return;
      }
      case 'file': {
        const fd = openSync(abs, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
        try {
          for await (const chunk of body) {
            let off = 0;
            while (off < chunk.length) off += writeSync(fd, chunk, off, chunk.length - off);
            this.bytes += chunk.length;
          }
          if (IS_ROOT) fchownSync(fd, h.uid, h.gid);
          fchmodSync(fd, h.mode);
          this.xattrs(abs, h);
          futimesSync(fd, h.mtime, h.mtime);
        } finally {
          closeSync(fd);
        }
        return;
      }
      case 'symlink':
        symlinkSync(h.linkname ?? '', abs);
        this.owner(abs, h);
        this.xattrs(abs, h);
        lutimesSync(abs, h.mtime, h.mtime);
        return;
      case 'hardlink': {
        const target = cleanName(h.linkname ?? '', 'hard link target');
        const tslash = target.lastIndexOf('/');
        this.checkParent(tslash < 0 ? '' : target.slice(0, tslash), h.linkname ?? '');
        const tabs = join(this.root, target);
        const st = lstatOrNull(tabs);
        if (!st) throw new TsbuildError('CORRUPT', `layer: hard link ${rel} points to missing ${target}`);
        if (st.isDirectory()) throw new TsbuildError('UNSAFE', `layer: hard link ${rel} points to a directory`);
        linkSync(tabs, abs);
        return;
      }
      case 'char':
      case 'block':
      case 'fifo': {
        const type = h.type === 'char' ? constants.S_IFCHR : h.type === 'block' ? constants.S_IFBLK : constants.S_IFIFO;
        fsx().mknod(abs, type | (h.mode & 0o777), h.devmajor ?? 0, h.devminor ?? 0);
        this.owner(abs, h);
        chmodSync(abs, h.mode);
        this.xattrs(abs, h);
        lutimesSync(abs, h.mtime, h.mtime);
        return;
      }
      default:
        throw new TsbuildError('CORRUPT', `layer: unsupported tar entry type '${h.typeflag}' for ${rel}`);
    }
  }

  finish(): void {
    // Deepest first, so setting a child's time does not disturb its parent's.
    this.dirTimes.sort((a, b) => b[0].length - a[0].length);
    for (const [p, t] of this.dirTimes) lutimesSync(p, t, t);
  }

  /** Every component of `parent` must be a real directory inside the root; missing ones are made. */
  private ensureParent(parent: string, forName: string): void {
    if (this.safeDirs.has(parent)) return;
    let cur = '';
    for (const c of parent.split('/')) {
      cur = cur ? `${cur}/${c}` : c;
      if (this.safeDirs.has(cur)) continue;
      const abs = join(this.root, cur);
      const st = lstatOrNull(abs);
      if (!st) {
        mkdirSync(abs, { mode: 0o755 });
      } else if (st.isSymbolicLink()) {
        throw new TsbuildError('UNSAFE', `layer: refusing ${forName}: its parent ${cur} is a symlink`);
      } else if (!st.isDirectory()) {
        throw new TsbuildError('CORRUPT', `layer: ${forName}: parent ${cur} is not a directory`);
      }
      this.safeDirs.add(cur);
    }
  }

  /** Like ensureParent, but never creates (for hard-link targets). */
  private checkParent(parent: string, forName: string): void {
    let cur = '';
    for (const c of parent ? parent.split('/') : []) {
      cur = cur ? `${cur}/${c}` : c;
      if (this.safeDirs.has(cur)) continue;
      const st = lstatOrNull(join(this.root, cur));
      if (!st || !st.isDirectory()) throw new TsbuildError('UNSAFE', `layer: hard link target ${forName} is not inside the layer root`);
    }
  }

  private remove(rel: string): void {
    rmSync(join(this.root, rel), { recursive: true, force: true });
    // Forget verified dirs at or below it: something else may be created there now.
    for (const d of this.safeDirs) if (d === rel || d.startsWith(`${rel}/`)) this.safeDirs.delete(d);
  }

  private whiteout(parent: string, name: string): void {
    if (!name || name === '.' || name === '..' || name.includes('/')) throw new TsbuildError('UNSAFE', `layer: bad whiteout ${parent}/${WH}${name}`);
    const rel = parent ? `${parent}/${name}` : name;
    if (this.mode === 'apply') {
      this.remove(rel);
      return;
    }
    if (lstatOrNull(join(this.root, rel))) this.remove(rel);
    fsx().mknod(join(this.root, rel), constants.S_IFCHR, 0, 0);
  }

  private opaque(dir: string): void {
    const abs = join(this.root, dir);
    if (this.mode === 'snapshot') {
      if (dir !== '' && !lstatOrNull(abs)) mkdirSync(abs, { mode: 0o755 });
      fsx().lsetxattr(abs, 'trusted.overlay.opaque', Buffer.from('y'));
      return;
    }
    this.purge(dir);
  }

  /** Removes what `dir` held before this layer, keeping what this layer wrote. */
  private purge(dir: string): void {
    const abs = join(this.root, dir);
    for (const name of readdirSync(abs)) {
      const rel = dir ? `${dir}/${name}` : name;
      if (!this.written.has(rel)) this.remove(rel);
      else if (lstatSync(join(abs, name)).isDirectory()) this.purge(rel);
    }
  }

  private owner(abs: string, h: ReadHeader): void {
    if (IS_ROOT) lchownSync(abs, h.uid, h.gid);
  }

  private xattrs(abs: string, h: ReadHeader): void {
    for (const [k, v] of Object.entries(h.xattrs ?? {})) {
      // Overlay's own attributes in a layer would steer the kernel's overlay (redirects, opacity).
      if (k.startsWith('trusted.overlay.')) continue;
      try {
        fsx().lsetxattr(abs, k, v);
      } catch (e) {
        // user.* on a symlink, or trusted.* without privilege: the kernel refuses; a layer
        // from elsewhere should still unpack.
        if (!/EPERM|ENOTSUP|EOPNOTSUPP|Operation not supported|not permitted/.test((e as Error).message)) throw e;
      }
    }
  }
}

/** A tar name as a clean relative path ('' for the root); UNSAFE for absolute names and `..`. */
export function cleanName(name: string, what = 'entry'): string {
  if (name.startsWith('/')) throw new TsbuildError('UNSAFE', `layer: refusing absolute ${what} name "${name}"`);
  if (name.includes('\0')) throw new TsbuildError('UNSAFE', `layer: NUL in ${what} name`);
  const parts: string[] = [];
  for (const c of name.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') throw new TsbuildError('UNSAFE', `layer: refusing ${what} name with "..": "${name}"`);
    parts.push(c);
  }
  return parts.join('/');
}

function lstatOrNull(p: string): Stats | null {
  try {
    return lstatSync(p);
  } catch {
    return null;
  }
}
