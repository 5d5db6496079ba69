/**
 * Volumes as Docker's `local` driver keeps them, without a daemon: `ROOT/volumes/<name>/_data`
 * (what containers see) and `ROOT/volumes/<name>/volume.json` (created time, labels, options).
 * Pinned Docker behaviour:
 * - names `[a-zA-Z0-9][a-zA-Z0-9_.-]+` (Docker's words when not); an anonymous volume gets 64 hex
 *   characters and the label `com.docker.volume.anonymous` (Docker 23+), so `volume prune` without
 *   `-a` removes only those;
 * - `-v NAME:/path` creates the volume on first use; a volume that is empty when a container is
 *   created gets the image's content at that path (owners, modes, times, symlinks), unless
 *   `nocopy`; the image path is resolved inside the image's root (symlinks never reach the host);
 * - a volume any container (running or not) names cannot be removed: `remove NAME: volume is in
 *   use - [ID]`; `rm -v` and `--rm` remove the container's anonymous volumes, named ones stay.
 * - `--volumes-from CTR[:ro|:rw]`: every volume and bind of CTR at the same path (its tmpfs
 *   mounts not), read-only or read-write as CTR has them unless `:ro`/`:rw` says; the container's
 *   own mounts at the same path win; an unknown CTR: `No such container: CTR`; a volume so named
 *   counts as in use by this container too (never removed by its `rm -v`).
 * The mount flags (`-v`, `--mount`, `--tmpfs`, `--volumes-from`) are parsed once here.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, copyFileSync, lchownSync, lstatSync, lutimesSync, mkdirSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { isAbsolute, join, posix, resolve as resolvePath } from 'node:path';
import { TsbuildError } from '../errors.js';
import { withLock } from '../image/lock.js';
import { removeTree } from '../image/remove-tree.js';
import { RootfsView } from '../image/rootfs-view.js';
import { writeJsonAtomic } from './record.js';

/** One mount a container asked for, as parsed from its flags. */
export type MountRequest =
  | { type: 'volume'; /** absent: anonymous */ name?: string; target: string; readonly: boolean; noCopy: boolean }
  | { type: 'bind'; source: string; target: string; readonly: boolean; /** -v makes a missing source dir */ create: boolean }
  | { type: 'tmpfs'; target: string; sizeBytes: number; fromMountFlag: boolean };

/** A mount as the container's record keeps it (Docker's inspect `Mounts` entry, plus what start needs). */
export interface MountRecord {
  Type: 'volume' | 'bind' | 'tmpfs';
  /** The volume's name (volumes only). */
  Name?: string;
  Source: string;
  Destination: string;
  Driver?: 'local';
  Mode: string;
  RW: boolean;
  Propagation: string;
  /** tsbuild's: an anonymous volume (removed by rm -v / --rm). */
  Anonymous?: boolean;
  /** tsbuild's: tmpfs size in bytes (0: default). */
  TmpfsSize?: number;
  /** tsbuild's: a --tmpfs mount (Docker shows those only in HostConfig.Tmpfs). */
  Hidden?: boolean;
}

export interface VolumeInfo {
  CreatedAt: string;
  Driver: 'local';
  Labels: Record<string, string> | null;
  Mountpoint: string;
  Name: string;
  Options: Record<string, string> | null;
  Scope: 'local';
}

export const ANONYMOUS_LABEL = 'com.docker.volume.anonymous';

const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

const bad = (msg: string) => new TsbuildError('INVALID', msg, undefined, 125);

export function validateVolumeName(name: string): string {
  if (!NAME_RE.test(name)) {
    throw new TsbuildError(
      'INVALID',
      `create ${name}: "${name}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`,
      undefined,
      125,
    );
  }
  return name;
}

// ---- flags ----------------------------------------------------------------------------------------

/** `-v [SRC:]DST[:OPTS]`: SRC absolute (or ./..) is a bind, else a volume name; no SRC: anonymous. */
export function parseVolumeFlag(spec: string, cwd = process.cwd()): MountRequest {
  const parts = spec.split(':');
  if (parts.length > 3 || parts.some((p) => p === '')) throw bad(`invalid volume specification: '${spec}'`);
  let src: string | undefined;
  let dst: string;
  let opts = '';
  if (parts.length === 1) dst = parts[0]!;
  else if (parts.length === 2 && !parts[1]!.startsWith('/')) {
    // DST:OPTS (an anonymous volume with options) only when the second part is not a path
    [dst, opts] = [parts[0]!, parts[1]!];
  } else [src, dst, opts = ''] = parts as [string, string, string?];
  if (!isAbsolute(dst)) throw bad(`invalid volume specification: '${spec}': invalid mount config for type "volume": invalid mount path: '${dst}' mount path must be absolute`);
  let readonly = false;
  let noCopy = false;
  for (const o of opts ? opts.split(',') : []) {
    if (o === 'ro') readonly = true;
    else if (o === 'rw') readonly = false;
    else if (o === 'nocopy') noCopy = true;
    else if (['z', 'Z', 'shared', 'rshared', 'slave', 'rslave', 'private', 'rprivate', 'delegated', 'cached', 'consistent'].includes(o)) continue;
    else throw bad(`invalid mode: ${o}`);
  }
  const target = posix.normalize(dst);
  if (src === undefined) return { type: 'volume', target, readonly, noCopy };
  if (src.startsWith('/') || src.startsWith('./') || src.startsWith('../') || src === '.' || src === '..') {
    return { type: 'bind', source: resolvePath(cwd, src), target, readonly, create: true };
  }
  return { type: 'volume', name: validateVolumeName(src), target, readonly, noCopy };
}

/** `--mount type=volume|bind|tmpfs,source=,target=,readonly,...` (Docker's keys and words). */
export function parseMountFlag(spec: string, cwd = process.cwd()): MountRequest {
  const kv = new Map<string, string | undefined>();
  for (const field of spec.split(',')) {
    const eq = field.indexOf('=');
    const key = (eq < 0 ? field : field.slice(0, eq)).trim().toLowerCase();
    if (!key) continue;
    kv.set(key, eq < 0 ? undefined : field.slice(eq + 1));
  }
  const type = kv.get('type') ?? 'volume';
  const source = kv.get('source') ?? kv.get('src');
  const target = kv.get('target') ?? kv.get('destination') ?? kv.get('dst');
  const flag = (k: string) => {
    if (!kv.has(k)) return false;
    const v = kv.get(k);
    if (v === undefined || ['true', '1'].includes(v.toLowerCase())) return true;
    if (['false', '0'].includes(v.toLowerCase())) return false;
    throw bad(`invalid value for ${k}: ${v}`);
  };
  const known = new Set(['type', 'source', 'src', 'target', 'destination', 'dst', 'readonly', 'ro', 'volume-nocopy', 'bind-propagation', 'consistency', 'tmpfs-size', 'tmpfs-mode', 'volume-label', 'volume-driver', 'volume-opt', 'bind-nonrecursive']);
  for (const k of kv.keys()) if (!known.has(k)) throw bad(`invalid argument "${spec}" for "--mount" flag: unexpected key '${k}' in '${spec}'`);
  if (!['volume', 'bind', 'tmpfs'].includes(type)) throw bad(`invalid argument "${spec}" for "--mount" flag: invalid type: ${type}`);
  if (!target) throw bad(`invalid argument "${spec}" for "--mount" flag: target is required`);
  if (!isAbsolute(target)) throw bad(`invalid mount config for type "${type}": invalid mount path: '${target}' mount path must be absolute`);
  const readonly = flag('readonly') || flag('ro');
  const dst = posix.normalize(target);
  if (type === 'tmpfs') {
    if (source) throw bad(`invalid mount config for type "tmpfs": field Source must not be specified`);
    return { type: 'tmpfs', target: dst, sizeBytes: kv.has('tmpfs-size') ? parseBytes(kv.get('tmpfs-size') ?? '') : 0, fromMountFlag: true };
  }
  if (type === 'bind') {
    if (!source) throw bad(`invalid mount config for type "bind": field Source must not be empty`);
    const src = resolvePath(cwd, source);
    try {
      statSync(src);
    } catch {
      throw bad(`invalid mount config for type "bind": bind source path does not exist: ${src}`);
    }
    return { type: 'bind', source: src, target: dst, readonly, create: false };
  }
  return { type: 'volume', ...(source ? { name: validateVolumeName(source) } : {}), target: dst, readonly, noCopy: flag('volume-nocopy') };
}

/** `--tmpfs /path[:size=64m,mode=1777,...]` (mode is always 1777 here). */
export function parseTmpfsFlag(spec: string): MountRequest {
  const colon = spec.indexOf(':');
  const dst = colon < 0 ? spec : spec.slice(0, colon);
  if (!isAbsolute(dst)) throw bad(`invalid mount config for type "tmpfs": invalid mount path: '${dst}' mount path must be absolute`);
  let size = 0;
  for (const o of colon < 0 ? [] : spec.slice(colon + 1).split(',')) {
    if (o.startsWith('size=')) size = parseBytes(o.slice(5));
  }
  return { type: 'tmpfs', target: posix.normalize(dst), sizeBytes: size, fromMountFlag: false };
}

/** One `--volumes-from` word, parsed. */
export interface VolumesFrom {
  /** As given (HostConfig.VolumesFrom). */
  spec: string;
  container: string;
  /** Absent: each mount as the other container has it. */
  mode?: 'ro' | 'rw';
}

/** `--volumes-from CTR[:ro|:rw]` (Docker: `invalid mode: X` for any other suffix). */
export function parseVolumesFromFlag(spec: string): VolumesFrom {
  const colon = spec.lastIndexOf(':');
  if (colon < 0) return { spec, container: spec };
  const mode = spec.slice(colon + 1);
  if (mode !== 'ro' && mode !== 'rw') throw new TsbuildError('INVALID', `invalid mode: ${mode}`, undefined, 125);
  return { spec, container: spec.slice(0, colon), mode };
}

/** The mounts FROM's containers give (volumes and binds; later sources and OWN requests win at
 *  the same path), as this container's records: not anonymous here, modes as asked. */
export function inheritMounts(from: readonly { mounts: readonly MountRecord[]; mode?: 'ro' | 'rw' }[], own: readonly MountRequest[]): MountRecord[] {
  const byTarget = new Map<string, MountRecord>();
  for (const f of from) {
    for (const m of f.mounts) {
      if (m.Type === 'tmpfs') continue;
      const { Anonymous: _anonymous, ...rest } = m;
      byTarget.set(m.Destination, { ...rest, Mode: '', RW: f.mode ? f.mode === 'rw' : m.RW });
    }
  }
  for (const r of own) byTarget.delete(r.target);
  return [...byTarget.values()];
}

/** `64m`, `1g`, `1024` → bytes (go-units RAMInBytes: binary units). */
function parseBytes(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgtp]?)i?b?$/i.exec(text.trim());
  if (!m) throw bad(`invalid size: '${text}'`);
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 }[m[2]!.toLowerCase() as ''];
  return Math.floor(Number(m[1]) * mult);
}

// ---- the volume store -----------------------------------------------------------------------------

export class Volumes {
  readonly dir: string;
  private readonly lockFile: string;

  constructor(root: string) {
    this.dir = join(root, 'volumes');
    this.lockFile = join(root, 'locks', 'volumes');
  }

  dataDir(name: string): string {
    return join(this.dir, name, '_data');
  }

  /** The volume, or undefined. */
  get(name: string): VolumeInfo | undefined {
    if (!NAME_RE.test(name)) return undefined;
    try {
      const meta = JSON.parse(readFileSync(join(this.dir, name, 'volume.json'), 'utf8')) as Omit<VolumeInfo, 'Mountpoint' | 'Name' | 'Driver' | 'Scope'>;
      return { CreatedAt: meta.CreatedAt, Driver: 'local', Labels: meta.Labels ?? null, Mountpoint: this.dataDir(name), Name: name, Options: meta.Options ?? null, Scope: 'local' };
    } catch {
      return undefined;
    }
  }

  /** Every volume, by name. */
  list(): VolumeInfo[] {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch {
      return [];
    }
    return names.sort().flatMap((n) => this.get(n) ?? []);
  }

  /** Creates NAME (or an anonymous volume); an existing volume is returned as it is (Docker's create
   *  is idempotent). */
  async create(name: string | undefined, labels: Record<string, string> = {}, options: Record<string, string> = {}): Promise<VolumeInfo> {
    const n = name === undefined ? randomBytes(32).toString('hex') : validateVolumeName(name);
    const all = name === undefined ? { ...labels, [ANONYMOUS_LABEL]: '' } : labels;
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    mkdirSync(join(this.lockFile, '..'), { recursive: true });
    return withLock(this.lockFile, () => {
      const have = this.get(n);
      if (have) return have;
      const tmp = join(this.dir, `.new-${process.pid}-${n}`);
      rmSync(tmp, { recursive: true, force: true });
      mkdirSync(join(tmp, '_data'), { recursive: true, mode: 0o755 });
      chmodSync(tmp, 0o701);
      const created = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
      writeJsonAtomic(join(tmp, 'volume.json'), { CreatedAt: created, Labels: Object.keys(all).length ? all : null, Options: Object.keys(options).length ? options : null });
      renameSync(tmp, join(this.dir, n));
      return this.get(n)!;
    });
  }

  /** Removes NAME unless USERS (IDs of the containers naming it) is non-empty. */
  async remove(name: string, users: readonly string[]): Promise<void> {
    if (!this.get(name)) throw new TsbuildError('NOT_FOUND', `get ${name}: no such volume`);
    if (users.length) throw new TsbuildError('CONFLICT', `remove ${name}: volume is in use - [${users.join(', ')}]`);
    const trash = join(this.dir, `.rm-${process.pid}-${name}`);
    await withLock(this.lockFile, () => renameSync(join(this.dir, name), trash));
    await removeTree(trash);
  }

  /** Bytes under a volume's data (for prune's total). */
  size(name: string): number {
    let total = 0;
    const walk = (d: string) => {
      let names: string[];
      try {
        names = readdirSync(d);
      } catch {
        return;
      }
      for (const n of names) {
        const p = join(d, n);
        const st = lstatSync(p);
        if (st.isDirectory()) walk(p);
        else if (st.isFile()) total += st.size;
      }
    };
    walk(this.dataDir(name));
    return total;
  }

  /**
   * Docker's copy-up: when the volume's data dir is empty, the image's content at TARGET (resolved
   * inside the image's root) is copied in, owners, modes and times kept. LAYERS: topmost first.
   */
  copyUpIfEmpty(name: string, layers: readonly string[], target: string): void {
    const data = this.dataDir(name);
    if (readdirSync(data).length) return;
    const view = new RootfsView(layers);
    const at = view.resolve(target);
    const top = view.lookup(at);
    if (!top || !top.stat.isDirectory()) return;
    const copy = (path: string, host: string) => {
      for (const n of view.readdir(path) ?? []) {
        const p = path === '/' ? `/${n}` : `${path}/${n}`;
        const e = view.lookup(p);
        if (!e) continue;
        const h = join(host, n);
        const st = e.stat;
        if (st.isDirectory()) {
          mkdirSync(h);
          copy(p, h);
        } else if (st.isFile()) copyFileSync(e.hostPath, h);
        else if (st.isSymbolicLink()) symlinkSync(readlinkSync(e.hostPath), h);
        else continue; // devices, fifos, sockets: not copied
        lchownSync(h, st.uid, st.gid);
        if (!st.isSymbolicLink()) chmodSync(h, st.mode & 0o7777);
        lutimesSync(h, st.atime, st.mtime);
      }
    };
    copy(at, data);
    const st = top.stat;
    lchownSync(data, st.uid, st.gid);
    chmodSync(data, st.mode & 0o7777);
    lutimesSync(data, st.atime, st.mtime);
  }
}

/** Docker sorts mounts by destination depth, so a mount inside another one goes on top of it. */
export function sortMounts<T extends { Destination: string }>(mounts: readonly T[]): T[] {
  const depth = (p: string) => p.split('/').filter(Boolean).length;
  return [...mounts].sort((a, b) => depth(a.Destination) - depth(b.Destination));
}

/** Docker's inspect `Mounts` (tsbuild's own fields and --tmpfs left out). */
export function inspectMounts(mounts: readonly MountRecord[] | undefined): Record<string, unknown>[] {
  return (mounts ?? [])
    .filter((m) => !m.Hidden)
    .map((m) => ({
      Type: m.Type,
      ...(m.Type === 'volume' ? { Name: m.Name } : {}),
      Source: m.Source,
      Destination: m.Destination,
      ...(m.Type === 'volume' ? { Driver: 'local' } : {}),
      Mode: m.Mode,
      RW: m.RW,
      Propagation: m.Propagation,
    }));
}
