/**
 * Snapshots, as containerd's snapshotter has them: committed ones, read-only layer dirs in overlay
 * format, one per chain ID under `snapshots/<chain ID hex>/`, each unpacked once and reused by
 * every image sharing that chain; and active ones, a writable upper dir (with overlayfs's work
 * dir) over committed parents, for one RUN step (prepare), that become the next layer's snapshot
 * (commit) or go (abort). A snapshot appears atomically (made in a temp dir, then renamed), so a
 * present snapshot is a whole one; two processes racing on one snapshot both make it and the
 * loser throws its copy away. An active snapshot lives in the store's temp area under its owner's
 * PID: removed on exit or SIGINT/SIGTERM (exit-cleanup.ts), after a SIGKILL by `prune`.
 */
import { mkdirSync, existsSync, promises as fsp } from 'node:fs';
import { basename, join } from 'node:path';
import { TsbuildError } from '../errors.js';
import { type Digest, chainIds, isDigest } from './digest.js';
import { extractLayer } from './layer-reader.js';
import { removeTree } from './remove-tree.js';
import { keepOnExit, removeOnExit } from './exit-cleanup.js';
import type { StoredImage } from './store.js';
import type { Leases, ScratchSpace, StoreContent } from './store-roles.js';

/**
 * The store under the snapshotter: its temp area (a snapshot is made there and renamed in), leases,
 * layer blobs to unpack, and where each committed snapshot lives (store.ts decides the layout).
 */
export interface SnapshotStore extends Pick<ScratchSpace, 'root' | 'tempPath'>, Pick<Leases, 'lease'>, Pick<StoreContent, 'openBlob'> {
  snapshotDir(chainId: Digest): string;
}

/** What the snapshotter hands the runtime for one overlay mount. */
export interface SnapshotMounts {
  /** Read-only layer dirs, bottom first (overlayfs's `lowerdir` wants them top first); never
   *  empty: a snapshot without parents (FROM scratch) has one empty dir. */
  readonly lowerDirs: readonly string[];
  /** The writable layer (overlayfs's `upperdir`): what commit keeps. */
  readonly upperDir: string;
  /** overlayfs's `workdir`, on the upper dir's filesystem. */
  readonly workDir: string;
}

/** A writable snapshot over committed ones, from prepare until commit or abort. */
export interface ActiveSnapshot extends SnapshotMounts {
  /** Its name among this snapshotter's active snapshots. */
  readonly key: string;
}

/**
 * containerd's snapshotter reduced to what tsbuild needs. Whoever holds one never learns where
 * snapshots live and never moves a directory into the store: the store's implementation
 * (StoreSnapshotter) is the only code that makes, commits or removes snapshot dirs.
 */
export interface Snapshotter {
  /** The dirs of an image's layers, bottom first (unpacked when missing; leased for the process). */
  mounts(image: StoredImage): Promise<string[]>;
  /** The dir of the snapshot `chainId`, unpacking the uncompressed layer blob `layer` if missing. */
  ensure(chainId: Digest, layer: Digest): Promise<string>;
  /**
   * A new active snapshot over the committed snapshots `parent` (chain IDs, bottom first, already
   * there: see `ensure`; none for an empty filesystem): an empty upper dir and a work dir, on the
   * store's filesystem. It must end with `commit` or `abort`.
   */
  prepare(parent: readonly Digest[]): Promise<ActiveSnapshot>;
  /**
   * Makes `active`'s upper dir the committed snapshot `chainId` (atomically, by a rename) and
   * ends `active`. When `chainId` is committed already (a concurrent build made the same layer),
   * `active` is only removed. The upper dir must hold the layer's content in overlay format (a
   * RUN's changes, whiteouts and opaque dirs as overlayfs wrote them), and nothing may write to
   * it any more.
   */
  commit(active: ActiveSnapshot, chainId: Digest): Promise<void>;
  /** Removes `active` and everything in it (a step that failed or was interrupted). */
  abort(active: ActiveSnapshot): Promise<void>;
  /**
   * The dirs of committed snapshots, bottom first, without unpacking: for holders that pinned
   * their chain (a container's record) and only need to mount it again.
   */
  paths(chainIds: readonly string[]): string[];
  /** Every committed snapshot's chain ID. */
  list(): Promise<Digest[]>;
  /**
   * Removes the committed snapshot `chainId` (GC decides which); it leaves sight before it is
   * deleted, so a half-removed snapshot is never taken for a whole one. Returns the bytes freed,
   * 0 if absent.
   */
  remove(chainId: Digest): Promise<number>;
}

export class StoreSnapshotter implements Snapshotter {
  /** This process's active snapshots: key -> dir (callers name them by key, never by path). */
  private readonly active = new Map<string, string>();

  constructor(private readonly store: SnapshotStore) {}

  mounts(image: StoredImage): Promise<string[]> {
    return snapshotChain(this.store, image);
  }

  ensure(chainId: Digest, layer: Digest): Promise<string> {
    return ensureSnapshot(this.store, chainId, layer);
  }

  async prepare(parent: readonly Digest[]): Promise<ActiveSnapshot> {
    const lowerDirs = this.paths(parent);
    const gone = lowerDirs.findIndex((d) => !existsSync(d));
    if (gone >= 0) throw new TsbuildError('NOT_FOUND', `snapshot ${parent[gone]} is not in the store`);
    this.store.lease(parent);
    // a temp name carries our PID: prune removes it once we are gone (killed mid-step)
    const dir = this.store.tempPath('active');
    await fsp.mkdir(dir, { mode: 0o700 });
    removeOnExit(dir);
    const key = basename(dir);
    this.active.set(key, dir);
    // FROM scratch has no layer yet, but overlayfs needs a lower dir
    const empty = lowerDirs.length ? [] : [join(dir, 'empty')];
    const a: ActiveSnapshot = { key, lowerDirs: [...lowerDirs, ...empty], upperDir: join(dir, 'upper'), workDir: join(dir, 'work') };
    try {
      // overlayfs shows the upper dir's mode on the rootfs' `/`: 0755, as an image's root
      await Promise.all([a.upperDir, a.workDir, ...empty].map((d) => fsp.mkdir(d, { mode: 0o755 })));
    } catch (e) {
      await this.abort(a);
      throw e;
    }
    return a;
  }

  async commit(active: ActiveSnapshot, chainId: Digest): Promise<void> {
    const dir = this.dirOf(active);
    const target = this.store.snapshotDir(chainId);
    // leased before it appears, so a concurrent GC never takes it for unreferenced
    this.store.lease([chainId]);
    try {
      if (!existsSync(target)) await fsp.rename(join(dir, 'upper'), target);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      // ENOTEMPTY/EEXIST: a concurrent build won the race, its copy is as good. ENOENT: the exit
      // cleanup took the dir (SIGINT mid-commit); the layer's blob is in the store either way and
      // its snapshot is unpacked from it when next needed.
      if (!(((code === 'ENOTEMPTY' || code === 'EEXIST') && existsSync(target)) || code === 'ENOENT')) throw e;
    } finally {
      await this.abort(active);
    }
  }

  async abort(active: ActiveSnapshot): Promise<void> {
    const dir = this.active.get(active.key);
    if (dir === undefined) return; // ended already
    await removeTree(dir); // whatever the depth of the tree the step made
    this.active.delete(active.key);
    keepOnExit(dir);
  }

  private dirOf(active: ActiveSnapshot): string {
    const dir = this.active.get(active.key);
    if (dir === undefined) throw new TsbuildError('NOT_FOUND', `no active snapshot ${active.key}`);
    return dir;
  }

  paths(ids: readonly string[]): string[] {
    return ids.map((c) => this.store.snapshotDir(c as Digest));
  }

  async list(): Promise<Digest[]> {
    const names = await fsp.readdir(join(this.store.root, 'snapshots')).catch(() => [] as string[]);
    return names.map((h) => `sha256:${h}`).filter((d): d is Digest => isDigest(d));
  }

  async remove(chainId: Digest): Promise<number> {
    const dir = this.store.snapshotDir(chainId);
    const trash = this.store.tempPath('trash');
    try {
      await fsp.rename(dir, trash);
    } catch {
      return 0; // absent, or taken by a concurrent remove
    }
    const bytes = await duBytes(trash);
    await removeTree(trash);
    return bytes;
  }
}

async function duBytes(p: string): Promise<number> {
  const st = await fsp.lstat(p).catch(() => undefined);
  if (!st) return 0;
  if (!st.isDirectory()) return st.isFile() ? st.size : 0;
  let total = 0;
  for (const e of await fsp.readdir(p)) total += await duBytes(join(p, e));
  return total;
}

const inflight = new Map<string, Promise<string>>();

/**
 * The snapshot dirs of an image's layers, bottom layer first (overlayfs wants `lowerdir` top
 * first: reverse it). The chain IDs are leased for the life of the process.
 */
export async function snapshotChain(store: SnapshotStore, image: StoredImage): Promise<string[]> {
  const diffIds = image.config.rootfs.diff_ids;
  const chain = chainIds(diffIds);
  store.lease(chain);
  const out: string[] = [];
  for (let i = 0; i < chain.length; i++) out.push(await ensureSnapshot(store, chain[i]!, image.manifest.layers[i]!.digest));
  return out;
}

/** The snapshot for `chainId`, unpacking the uncompressed layer blob `layer` if needed. */
export function ensureSnapshot(store: SnapshotStore, chainId: Digest, layer: Digest): Promise<string> {
  const dir = store.snapshotDir(chainId);
  if (existsSync(dir)) return Promise.resolve(dir);
  let p = inflight.get(dir);
  if (!p) {
    p = unpack(store, dir, layer).finally(() => inflight.delete(dir));
    inflight.set(dir, p);
  }
  return p;
}

async function unpack(store: SnapshotStore, dir: string, layer: Digest): Promise<string> {
  const tmp = store.tempPath('snap');
  mkdirSync(tmp, { mode: 0o755 });
  try {
    await extractLayer(store.openBlob(layer), tmp, { mode: 'snapshot' });
    await fsp.rename(tmp, dir);
  } catch (e) {
    await fsp.rm(tmp, { recursive: true, force: true });
    const code = (e as NodeJS.ErrnoException).code;
    if ((code === 'ENOTEMPTY' || code === 'EEXIST') && existsSync(dir)) return dir;
    throw e;
  }
  return dir;
}
