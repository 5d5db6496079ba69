/**
 * `cp`: files between a container and the host, as `docker cp`:
 * - `CTR:SRC DEST`: SRC is resolved inside the container's root (its writable layer over the image's
 *   layers, through RootfsView: symlinks on the way are followed inside the root, never on the
 *   host; the last one is copied as a link unless -L), running or not. DEST an existing dir: SRC
 *   goes into it under its own name; else SRC becomes DEST (its parent must exist). `SRC/.` copies
 *   a directory's content. DEST `-`: a tar stream on stdout. Owners and modes are kept.
 * - `SRC CTR:DEST`: into a stopped container, its writable layer (written while nothing runs, so
 *   no process of the container can race the path checks); DEST resolved inside the root the same
 *   way; a whiteout in the way is replaced (an opaque dir for a directory). Into a running one,
 *   through its own mount namespace: the sandbox helper (exec mode, `hold=DIR`) enters it and
 *   changes to DEST there (resolved inside the container's root by the kernel), and everything is
 *   written relative to directory fds (/proc/PID/cwd, then /proc/self/fd/N/NAME, each name opened
 *   O_NOFOLLOW), so a symlink the container swaps in never leads out of it.
 * - `- CTR:DEST`: a tar stream on stdin, extracted into DEST, which must be an existing directory
 *   (docker: "extraction point is not a directory"). The tar is first unpacked into a private host
 *   temp dir by the layer extractor (refusing absolute names, `..` and links out, so a bad tar
 *   writes nothing into the container), then copied in exactly as a host `SRC/.` is.
 */
import { spawn } from 'node:child_process';
import { closeSync, constants as fsc, fchmodSync, fchownSync, futimesSync, openSync, readSync, unlinkSync, writeSync } from 'node:fs';
import { chownSync, lchownSync, copyFileSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readlinkSync, rmSync, statSync, symlinkSync, chmodSync, lutimesSync, type Stats } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Writable } from 'node:stream';
import { TsbuildError } from '../errors.js';
import type { LayerEntry } from '../image/layer-entry.js';
import { layerTar } from '../image/layer-writer.js';
import { RootfsView, splitPath, type ViewMount } from '../image/rootfs-view.js';
import { sortMounts } from './volumes.js';
import { fsx } from '../native/fsx.js';
import { extractLayer } from '../image/layer-reader.js';
import type { TarSource } from '../image/tar-format.js';
import { tmpdir } from 'node:os';
import { sandboxHelperPath } from '../runtime/sandbox.js';
import type { Containers, ContainerView } from './containers.js';
import { ETC_FILES, containerDir } from './record.js';

export interface CpOptions {
  followLink?: boolean;
}

/**
 * The container's root as `docker cp` sees it, running or not: its writable layer over the image's
 * layers, with its volumes and binds and the /etc files it was started with mounted over them
 * (tmpfs content lives only inside a running container: not seen, as with Docker).
 */
function viewOf(c: Containers, v: ContainerView): { view: RootfsView<CpMount>; upper: string } {
  const dir = containerDir(c.paths, v.record.Id);
  const { upperDir: upper, lowerDirs: lowers } = c.layer(v.record);
  const mounts: CpMount[] = ETC_FILES.filter((n) => existsSync(join(dir, n))).map((n) => ({ target: `/etc/${n}`, source: join(dir, n), readonly: false }));
  for (const m of sortMounts(v.record.Mounts ?? [])) if (m.Type !== 'tmpfs') mounts.push({ target: m.Destination, source: m.Source, readonly: !m.RW });
  return { view: new RootfsView([upper, ...[...lowers].reverse()], mounts), upper };
}

interface CpMount extends ViewMount {
  readonly: boolean;
}


const notFound = (word: string, p: string) => new TsbuildError('NOT_FOUND', `Could not find the file ${p} in container ${word}`, undefined, 1);

/** The entries below container path SRC (already resolved), named under NAME ('' = the content). */
function collect(view: RootfsView, src: string, name: string, out: LayerEntry[]): void {
  const e = view.lookup(src);
  if (!e) return;
  const st = e.stat;
  const base = { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, size: 0, mtimeMs: st.mtimeMs };
  if (st.isDirectory()) {
    if (name) out.push({ ...base, path: name, type: 'dir' });
    for (const n of view.readdir(src) ?? []) collect(view, `${src === '/' ? '' : src}/${n}`, name ? `${name}/${n}` : n, out);
  } else if (st.isSymbolicLink()) out.push({ ...base, path: name, type: 'symlink', linkname: readlinkSync(e.hostPath, 'utf8') });
  else if (st.isFile()) out.push({ ...base, path: name, type: 'file', size: st.size, sourcePath: e.hostPath });
  // devices, fifos and sockets are not copied out (as docker cp's archive skips sockets)
}

/** `cp CTR:SRC DEST|-` */
export async function copyFromContainer(c: Containers, word: string, src: string, dest: string, o: CpOptions, stdout: Writable = process.stdout): Promise<void> {
  const v = await c.find(word);
  const { view } = viewOf(c, v);
  const contentOnly = /\/\.$/.test(src);
  const abs = src.startsWith('/') ? src : `/${src}`;
  const resolved = view.resolve(contentOnly ? abs.slice(0, -2) || '/' : abs, o.followLink === true || contentOnly || abs.endsWith('/'));
  const top = view.lookup(resolved);
  if (!top) throw notFound(word, src);
  const entries: LayerEntry[] = [];
  const name = splitPath(resolved).at(-1) ?? '';
  if (dest === '-') {
    collect(view, resolved, contentOnly ? '' : name || '.', entries);
    for await (const chunk of layerTar(entries)) if (!stdout.write(chunk)) await new Promise((r) => stdout.once('drain', r));
    return;
  }
  // into an existing dir under its own name, else as DEST
  let target = dest;
  if (existsSync(dest) && statSync(dest).isDirectory() && !contentOnly) target = join(dest, name || '.');
  else if (!existsSync(dirname(dest))) throw new TsbuildError('NOT_FOUND', `destination directory ${dirname(dest)} does not exist`, undefined, 1);
  collect(view, resolved, '', entries);
  if (top.stat.isDirectory()) {
    mkdirSync(target, { recursive: true });
    applyMeta(target, top.stat);
  } else if (top.stat.isFile()) {
    writeEntry(target, { path: '', type: 'file', mode: top.stat.mode & 0o7777, uid: top.stat.uid, gid: top.stat.gid, size: top.stat.size, mtimeMs: top.stat.mtimeMs, sourcePath: top.hostPath });
    return;
  } else if (top.stat.isSymbolicLink()) {
    writeEntry(target, { path: '', type: 'symlink', mode: 0o777, uid: top.stat.uid, gid: top.stat.gid, size: 0, mtimeMs: top.stat.mtimeMs, linkname: readlinkSync(top.hostPath, 'utf8') });
    return;
  }
  for (const e of entries) writeEntry(join(target, e.path), e);
  // directory times last: writing into them changed them
  for (const e of entries.filter((x) => x.type === 'dir').reverse()) lutimesSync(join(target, e.path), e.mtimeMs / 1000, e.mtimeMs / 1000);
}

function applyMeta(p: string, st: Stats | LayerEntry): void {
  chownSync(p, st.uid, st.gid);
  chmodSync(p, st.mode & 0o7777);
}

function writeEntry(p: string, e: LayerEntry): void {
  const old = lstatOrNull(p);
  if (e.type === 'dir') {
    if (old && !old.isDirectory()) rmSync(p, { force: true });
    if (!old || !old.isDirectory()) mkdirSync(p);
    applyMeta(p, e);
    return;
  }
  if (old) rmSync(p, { recursive: true, force: true });
  if (e.type === 'symlink') {
    symlinkSync(e.linkname!, p);
    lchownSync(p, e.uid, e.gid);
    return;
  }
  copyFileSync(e.sourcePath!, p);
  applyMeta(p, e);
  lutimesSync(p, e.mtimeMs / 1000, e.mtimeMs / 1000);
}

function lstatOrNull(p: string): Stats | null {
  try {
    return lstatSync(p);
  } catch {
    return null;
  }
}

const isWhiteout = (st: Stats | null) => !!st && st.isCharacterDevice() && st.rdev === 0;

/** `cp SRC CTR:DEST` (a stopped container). */
export async function copyToContainer(c: Containers, word: string, src: string, dest: string): Promise<void> {
  const v = await c.find(word);
  const srcSt = lstatOrNull(src);
  if (!srcSt) throw new TsbuildError('NOT_FOUND', `lstat ${src}: no such file or directory`, undefined, 1);
  if (v.state.Running) return copyIntoRunning(v, word, src, dest);
  const { view, upper } = viewOf(c, v);
  const abs = dest.startsWith('/') ? dest : `/${dest}`;
  const resolved = view.resolve(abs, true);
  const at = view.lookup(resolved);
  const contentOnly = /\/\.$/.test(src);
  // into an existing dir under SRC's name, else as DEST (its parent must be a dir)
  let dirPath: string;
  let name: string;
  if (at && at.stat.isDirectory()) {
    dirPath = resolved;
    name = contentOnly ? '' : basename(src.replace(/\/+$/, ''));
  } else {
    if (abs.endsWith('/')) throw new TsbuildError('NOT_FOUND', `Could not find the file ${dest} in container ${word}`, undefined, 1);
    const parts = splitPath(resolved);
    name = parts.pop() ?? '';
    dirPath = '/' + parts.join('/');
    const parent = view.lookup(dirPath);
    if (!parent || !parent.stat.isDirectory()) throw new TsbuildError('NOT_FOUND', `Could not find the file ${dirname(abs)} in container ${word}`, undefined, 1);
  }
  // into a volume, a bind or a mounted /etc file: its host source, as Docker writes through the
  // mounts it sets up for cp (read-only ones refused in dockerd's words)
  const destPath = name === '' ? dirPath : `${dirPath === '/' ? '' : dirPath}/${name}`;
  const mounted = view.mountOf(splitPath(destPath));
  if (mounted) {
    if (mounted.mount.readonly) throw new TsbuildError('INVALID', 'mounted volume is marked read-only', undefined, 1);
    const hostDir = view.lookup(dirPath)?.hostPath;
    if (name !== '' && mounted.parts.length === splitPath(destPath).length && !statSync(mounted.source).isDirectory()) {
      // a file mounted at DEST (/etc/hosts, a file bind) cannot be replaced: dockerd's extraction
      // unlinks it first and fails so (measured on Docker 20.10), and so does this
      throw new TsbuildError('CONFLICT', `Error processing tar file(exit status 1): unlinkat ${destPath}: device or resource busy`, undefined, 1);
    }
    if (hostDir === undefined) throw new TsbuildError('NOT_FOUND', `Could not find the file ${dirname(abs)} in container ${word}`, undefined, 1);
    return copyInto(hostDir);
  }
  // the directory chain in the writable layer, with the image's owners and modes (a copy-up)
  let up = upper;
  let cpath = '';
  for (const part of splitPath(dirPath)) {
    cpath += `/${part}`;
    up = join(up, part);
    const st = lstatOrNull(up);
    if (st && st.isDirectory()) continue;
    if (st) throw new TsbuildError('CONFLICT', `${cpath} in the container's layer is not a directory`, undefined, 1);
    const lower = view.lookup(cpath)!;
    mkdirSync(up);
    applyMeta(up, lower.stat);
    lutimesSync(up, lower.stat.atimeMs / 1000, lower.stat.mtimeMs / 1000);
  }
  // a directory replacing a deleted one must not show the old content again
  return copyInto(up, (old, at) => isWhiteout(old) || (!old && view.lookup(at) === null && lowerHasPath(v, c, at)));

  /** SRC (its content for `SRC/.`) into host dir DIR, which is container dir `dirPath`. */
  function copyInto(dir: string, opaque?: (old: Stats | null, at: string) => boolean): void {
    const base = dirPath === '/' ? '' : dirPath;
    if (name === '') for (const n of readdirSync(src)) copyTree(join(src, n), join(dir, n), `${base}/${n}`, opaque);
    else copyTree(src, join(dir, name), `${base}/${name}`, opaque);
  }
}

/**
 * FROM (a host path) copied to TO, replacing what was there: owners, modes and times kept, links
 * copied as links, devices and sockets left out. TO is container path AT; `opaque` (writing into
 * an overlay upper dir) says whether a dir made there must hide the lower layers' content.
 */
function copyTree(from: string, to: string, at: string, opaque?: (old: Stats | null, at: string) => boolean): void {
  const st = lstatSync(from);
  const old = lstatOrNull(to);
  if (st.isDirectory()) {
    if (old && !old.isDirectory()) rmSync(to, { force: true });
    if (!old || !old.isDirectory()) mkdirSync(to);
    if (opaque?.(old, at)) fsx().lsetxattr(to, 'trusted.overlay.opaque', Buffer.from('y'));
    applyMeta(to, st);
    for (const n of readdirSync(from)) copyTree(join(from, n), join(to, n), `${at}/${n}`, opaque);
    lutimesSync(to, st.atimeMs / 1000, st.mtimeMs / 1000);
    return;
  }
  if (old) rmSync(to, { recursive: true, force: true });
  if (st.isSymbolicLink()) {
    symlinkSync(readlinkSync(from), to);
    lchownSync(to, st.uid, st.gid);
  } else if (st.isFile()) {
    copyFileSync(from, to);
    applyMeta(to, st);
    lutimesSync(to, st.atimeMs / 1000, st.mtimeMs / 1000);
  }
}

function lowerHasPath(v: ContainerView, c: Containers, p: string): boolean {
  return v.record.Layers.some((l) => lstatOrNull(join(c.store.snapshots.paths([l])[0]!, p)) !== null);
}

/** Enters the running container's mount namespace at DIR; resolves with the holder's PID and a release. */
function holdDir(v: ContainerView, dir: string): Promise<{ pid: number; release: () => void } | undefined> {
  return new Promise((resolve, reject) => {
    const child = spawn(sandboxHelperPath(), ['exec'], { stdio: ['pipe', 'ignore', 'ignore', 'pipe', 'pipe'], env: {} });
    const spec = child.stdio[3] as Writable;
    spec.on('error', () => {});
    spec.end([`pid=${v.state.Pid}`, `hold=${dir}`].map((r) => r + '\0').join(''));
    let text = '';
    (child.stdio[4] as NodeJS.ReadableStream).setEncoding('utf8').on('data', (d: string) => {
      text += d;
      if (text.includes('ready\n')) resolve({ pid: child.pid!, release: () => child.stdin!.end() });
    });
    child.on('error', reject);
    child.on('close', () => {
      if (!text.includes('ready\n')) resolve(undefined); // no such dir (or not one)
    });
  });
}

async function copyIntoRunning(v: ContainerView, word: string, src: string, dest: string): Promise<void> {
  const abs = dest.startsWith('/') ? dest : `/${dest}`;
  const contentOnly = /\/\.$/.test(src);
  let held = await holdDir(v, abs);
  let name = contentOnly ? '' : basename(src.replace(/\/+$/, ''));
  if (!held) {
    if (abs.endsWith('/')) throw new TsbuildError('NOT_FOUND', `Could not find the file ${dest} in container ${word}`, undefined, 1);
    held = await holdDir(v, dirname(abs));
    if (!held) throw new TsbuildError('NOT_FOUND', `Could not find the file ${dirname(abs)} in container ${word}`, undefined, 1);
    name = basename(abs);
  }
  try {
    const dirFd = openSync(`/proc/${held.pid}/cwd`, fsc.O_RDONLY | fsc.O_DIRECTORY);
    try {
      if (name === '') for (const n of readdirSync(src)) copyAt(dirFd, n, join(src, n));
      else copyAt(dirFd, name, src);
    } finally {
      closeSync(dirFd);
    }
  } finally {
    held.release();
  }
}

/** Copies host path FROM to NAME in the directory open as DIRFD, never following a link there. */
function copyAt(dirFd: number, name: string, from: string): void {
  const st = lstatSync(from);
  const at = `/proc/self/fd/${dirFd}/${name}`;
  const old = lstatOrNull(at);
  if (st.isDirectory()) {
    if (old && !old.isDirectory()) unlinkSync(at);
    if (!old || !old.isDirectory()) mkdirSync(at, { mode: 0o700 });
    const fd = openSync(at, fsc.O_RDONLY | fsc.O_DIRECTORY | fsc.O_NOFOLLOW);
    try {
      for (const n of readdirSync(from)) copyAt(fd, n, join(from, n));
      fchownSync(fd, st.uid, st.gid);
      fchmodSync(fd, st.mode & 0o7777);
      futimesSync(fd, st.atimeMs / 1000, st.mtimeMs / 1000);
    } finally {
      closeSync(fd);
    }
    return;
  }
  if (old?.isDirectory()) throw new TsbuildError('CONFLICT', `cannot overwrite directory ${name} with non-directory ${from}`, undefined, 1);
  if (old) unlinkSync(at);
  if (st.isSymbolicLink()) {
    symlinkSync(readlinkSync(from), at);
    lchownSync(at, st.uid, st.gid);
    return;
  }
  if (!st.isFile()) return;
  const fd = openSync(at, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, 0o600);
  try {
    const inFd = openSync(from, fsc.O_RDONLY);
    try {
      const buf = Buffer.allocUnsafe(1 << 20);
      for (let n; (n = readSync(inFd, buf, 0, buf.length, null)) > 0; ) writeSync(fd, buf, 0, n);
    } finally {
      closeSync(inFd);
    }
    fchownSync(fd, st.uid, st.gid);
    fchmodSync(fd, st.mode & 0o7777);
    futimesSync(fd, st.atimeMs / 1000, st.mtimeMs / 1000);
  } finally {
    closeSync(fd);
  }
}

/** `cp - CTR:DEST`: the tar stream SOURCE extracted into the existing directory DEST. */
export async function copyTarToContainer(c: Containers, word: string, source: TarSource, dest: string): Promise<void> {
  const v = await c.find(word);
  const abs = dest.startsWith('/') ? dest : `/${dest}`;
  const notDir = () => new TsbuildError('CONFLICT', 'extraction point is not a directory', undefined, 1);
  const missing = () => new TsbuildError('NOT_FOUND', `Could not find the file ${dest} in container ${word}`, undefined, 1);
  if (v.state.Running) {
    const held = await holdDir(v, abs);
    if (held) held.release();
    else {
      const parent = await holdDir(v, dirname(abs));
      if (!parent) throw missing();
      // only to pick the message: the entry is looked at, never followed or written
      const exists = lstatOrNull(`/proc/${parent.pid}/cwd/${basename(abs)}`) !== null;
      parent.release();
      throw exists ? notDir() : missing();
    }
  } else {
    const { view } = viewOf(c, v);
    const at = view.lookup(view.resolve(abs, true));
    if (!at) throw missing();
    if (!at.stat.isDirectory()) throw notDir();
  }
  const tmp = mkdtempSync(join(tmpdir(), 'tsbuild-cp-in-'));
  try {
    await extractLayer(source, tmp, { mode: 'apply' });
    await copyToContainer(c, word, `${tmp}/.`, abs);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
