/**
 * Snapshots, as containerd's snapshotter has them: committed ones, read-only layer dirs in overlay
 * format, one per chain ID under `snapshots/<chain ID hex>/`, each unpacked once and reused by
 * every image sharing that chain; and active ones, a writable upper dir (with overlayfs's work
 * dir) over committed parents, for one RUN step (prepare), that become the next layer's snapshot
 * (commit) or go (abort). A snapshot appears atomically (made in a temp dir, then renamed), so a
 * present snapshot is a whole one; two processes racing on one snapshot both make it and the
 * loser throws its copy away. An active snapshot lives in the store's temp area under its owner's
 * PID: removed on exit or SIGINT/SIGTERM (exit-cleanup.ts), after a SIGKILL by `prune`.
 * A keyed active snapshot (containerd's Prepare with a key the caller keeps: a container's
 * writable layer, as Docker's RWLayer) outlives its process: it lives under the store's
 * `snapshots-active/<key>/` until `removeActive(key)`; it appears whole (made in the temp area,
 * renamed in) and leaves sight before it is deleted (renamed back to the temp area), so a kill
 * leaves either a whole one or a temp dir `prune` removes. One that nobody owns any more (its
 * holder's record is gone, its creator dead) goes by `sweepActive`.
 * A deferred commit (a RUN's upper dir written through a volatile overlay, not on disk yet) keeps
 * the snapshot where it is, in the temp area, usable by this process under its chain ID, while one
 * syncfs of the store's filesystem runs in the background; `settle` renames it into place once that
 * sync is done — so a snapshot appears only with its bytes on disk, and one sync serves many steps
 * instead of one per RUN. One never settled goes with the temp area (exit cleanup, prune): its
 * layer's blob is in the store and is unpacked again when next needed.
 */
import { mkdirSync, existsSync, readdirSync, readFileSync, renameSync, promises as fsp } from 'node:fs';
import { basename, join } from 'node:path';
import { TsbuildError } from '../errors.js';
import { type Digest, chainIds, isDigest } from './digest.js';
import { extractLayer } from './layer-reader.js';
import { removeTree } from './remove-tree.js';
import { keepOnExit, removeOnExit } from './exit-cleanup.js';
import { pidAlive } from './lock.js';
import type { StoredImage } from './store.js';
import type { Leases, ScratchSpace, StoreContent } from './store-roles.js';

/**
 * The store under the snapshotter: its temp area (a snapshot is made there and renamed in), leases,
 * layer blobs to unpack, and where each committed snapshot lives (store.ts decides the layout).
 */
export interface SnapshotStore extends Pick<ScratchSpace, 'root' | 'tempPath'>, Pick<Leases, 'lease'>, Pick<StoreContent, 'openBlob'> {
  snapshotDir(chainId: Digest): string;
  /** Everything written to the store's filesystem so far on disk (a syncfs that starts after the
   *  call; callers meanwhile share one). */
  syncFilesystem(): Promise<void>;
  /** Where keyed (persistent) active snapshots live, one dir per key; made when first needed. */
  readonly activeSnapshotsDir: string;
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
   * With `key`: a keyed active snapshot, which outlives this process (a container's writable
   * layer): named by `key` (letters, digits, `_.-`), found again by `active(key)`, ended only by
   * `removeActive(key)` (not by commit or abort, nor by this process's exit). CONFLICT when `key`
   * is taken. Its parents stay in the store while it exists (GC keeps them).
   */
  prepare(parent: readonly Digest[], opts: { key: string }): Promise<ActiveSnapshot>;
  /** The keyed active snapshot `key`'s mounts; undefined when there is none. */
  active(key: string): ActiveSnapshot | undefined;
  /** Removes the keyed active snapshot `key` (it leaves sight first); whether there was one. */
  removeActive(key: string): Promise<boolean>;
  /** Every keyed active snapshot: its key and parents (chain IDs, bottom first). */
  listActive(): Promise<{ key: string; parent: string[] }[]>;
  /**
   * Removes the keyed active snapshots nobody owns: those whose creator has ended and for which
   * `owned(key)` is false. `owned` is asked again after the creator is seen gone (a create that
   * finished meanwhile made its owner's record), so it must answer from the disk as it is then.
   * The keys removed.
   */
  sweepActive(owned: (key: string) => boolean): Promise<string[]>;
  /**
   * Makes `active`'s upper dir the committed snapshot `chainId` (atomically, by a rename) and
   * ends `active`. When `chainId` is committed already (a concurrent build made the same layer),
   * `active` is only removed. The upper dir must hold the layer's content in overlay format (a
   * RUN's changes, whiteouts and opaque dirs as overlayfs wrote them), and nothing may write to
   * it any more.
   */
  commit(active: ActiveSnapshot, chainId: Digest): Promise<void>;
  /**
   * As `commit`, for an upper dir whose writes are not on disk yet (a volatile overlay's): the
   * store's filesystem is synced in the background and, until `settle` renames it into place,
   * `paths` and `ensure` name the upper dir where it is (in this process only). `after`: what
   * must be done too before it appears (its layer's blob commit); its failure drops the snapshot.
   */
  commitDeferred(active: ActiveSnapshot, chainId: Digest, after?: Promise<unknown>): void;
  /**
   * Renames the deferred commits whose sync is done into place (all of them, waiting for their
   * sync, with `wait`); one whose sync failed is dropped. The caller makes sure no path `paths` or
   * `ensure` gave for one of them is still in use (a step reading it by path).
   */
  settle(opts: { wait: boolean }): Promise<void>;
  /** Removes `active` and everything in it (a step that failed or was interrupted). */
  abort(active: ActiveSnapshot): Promise<void>;
  /**
   * A hint that a `prepare` over parents (not keyed) comes soon: its directories may be made now.
   * A mkdir on the store's filesystem waits behind a journal commit: made right after a big
   * layer's fsync began, they cost the next RUN ~30 ms. Never throws; `dropWarm` ends what no
   * `prepare` took.
   */
  warm?(): void;
  dropWarm?(): Promise<void>;
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
  private readonly transient = new Map<string, string>();
  /** Deferred commits: chain ID -> the active snapshot holding it and the sync it waits for. */
  private readonly deferred = new Map<string, Deferred>();
  /** What settle left running: the removal of settled snapshots' active dirs (their work dirs). */
  private readonly removing = new Set<Promise<void>>();
  /** An active snapshot's dir made ahead (warm): upper and work, for a prepare over parents. */
  private spare: string | undefined;

  constructor(private readonly store: SnapshotStore) {}

  mounts(image: StoredImage): Promise<string[]> {
    return snapshotChain(this.store, image);
  }

  ensure(chainId: Digest, layer: Digest): Promise<string> {
    const d = this.deferred.get(chainId);
    return d ? Promise.resolve(d.active.upperDir) : ensureSnapshot(this.store, chainId, layer);
  }

  async prepare(parent: readonly Digest[], opts?: { key: string }): Promise<ActiveSnapshot> {
    const lowerDirs = this.paths(parent);
    const gone = lowerDirs.findIndex((d) => !existsSync(d));
    if (gone >= 0) throw new TsbuildError('NOT_FOUND', `snapshot ${parent[gone]} is not in the store`);
    this.store.lease(parent);
    if (opts) return this.prepareKeyed(parent, opts.key);
    const spare = parent.length > 0 ? this.spare : undefined;
    if (spare !== undefined) this.spare = undefined;
    const dir = spare ?? this.newActiveDir();
    const a = this.mountsIn(basename(dir), dir, parent);
    this.transient.set(a.key, dir);
    if (spare === undefined) {
      try {
        makeActiveDirs(dir, parent.length === 0);
      } catch (e) {
        await this.abort(a);
        throw e;
      }
    }
    return a;
  }

  warm(): void {
    if (this.spare !== undefined) return;
    let dir: string | undefined;
    try {
      dir = this.newActiveDir();
      makeActiveDirs(dir, false);
      this.spare = dir;
    } catch {
      // prepare makes its own
      if (dir !== undefined) void removeTree(dir).then(() => keepOnExit(dir!), () => {});
    }
  }

  async dropWarm(): Promise<void> {
    const dir = this.spare;
    this.spare = undefined;
    if (dir === undefined) return;
    await removeTree(dir).catch(() => {});
    keepOnExit(dir);
  }

  /** A new, empty dir for an active snapshot: a temp name with our PID (prune removes it once we
   *  are gone, killed mid-step), removed at our exit. Synchronous, as makeActiveDirs: through the
   *  thread pool these queued behind the fsyncs of blobs still being committed. */
  private newActiveDir(): string {
    const dir = this.store.tempPath('active');
    mkdirSync(dir, { mode: 0o700 });
    removeOnExit(dir);
    return dir;
  }

  async commit(active: ActiveSnapshot, chainId: Digest): Promise<void> {
    try {
      this.renameIntoPlace(active, chainId);
    } finally {
      await this.abort(active);
    }
  }

  /**
   * Renames `active`'s upper dir to the snapshot `chainId`, on this thread (a rename queued on the
   * thread pool waited there behind the steps' fsyncs: 2-13 ms per step), so the snapshot is where
   * `paths` says the moment the call returns. Throws only what is not a lost race.
   */
  private renameIntoPlace(active: ActiveSnapshot, chainId: Digest): void {
    const dir = this.dirOf(active);
    const target = this.store.snapshotDir(chainId);
    // leased before it appears, so a concurrent GC never takes it for unreferenced
    this.store.lease([chainId]);
    try {
      // (a deferred commit of the same layer is as good: it appears when settled)
      if (!existsSync(target) && (this.deferred.get(chainId)?.active ?? active) === active) renameSync(join(dir, 'upper'), target);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      // ENOTEMPTY/EEXIST: a concurrent build won the race, its copy is as good. ENOENT: the exit
      // cleanup took the dir (SIGINT mid-commit); the layer's blob is in the store either way and
      // its snapshot is unpacked from it when next needed.
      if (!(((code === 'ENOTEMPTY' || code === 'EEXIST') && existsSync(target)) || code === 'ENOENT')) throw e;
    }
  }

  commitDeferred(active: ActiveSnapshot, chainId: Digest, after?: Promise<unknown>): void {
    this.dirOf(active); // (throws for one that ended)
    this.store.lease([chainId]);
    if (this.deferred.has(chainId) || existsSync(this.store.snapshotDir(chainId))) {
      // the same layer made twice (another stage, another process): the first copy is kept
      void this.abort(active).catch(() => {});
      return;
    }
    const sync = this.store.syncFilesystem();
    const d: Deferred = { active, synced: false, failed: false, sync: after ? Promise.all([sync, after]).then(() => {}) : sync };
    d.sync.then(
      () => (d.synced = true),
      () => (d.failed = true),
    );
    this.deferred.set(chainId, d);
  }

  async settle(opts: { wait: boolean }): Promise<void> {
    // each is a rename on this thread (renameIntoPlace), so the snapshot is where `paths` says the
    // moment its deferred entry goes; what is left of its active dir (the work dir: a dozen round
    // trips through the thread pool) is removed in the background, waited for by `wait`
    for (const [chainId, d] of [...this.deferred]) {
      if (!opts.wait && !d.synced && !d.failed) continue;
      await d.sync.catch(() => {});
      if (!this.deferred.has(chainId)) continue; // (settled meanwhile by a concurrent call)
      this.deferred.delete(chainId);
      // a failed sync (an I/O error of the disk) or rename: the snapshot is dropped, never half
      // trusted; its layer's blob is in the store and is unpacked again when next needed
      if (!d.failed) {
        try {
          this.renameIntoPlace(d.active, chainId as Digest);
        } catch {
          // (an I/O error: the snapshot is left out, as for a failed sync)
        }
      }
      const removal = this.abort(d.active).catch(() => {}); // (left to exit cleanup and prune)
      this.removing.add(removal);
      void removal.then(() => this.removing.delete(removal));
    }
    if (opts.wait) await Promise.all(this.removing);
  }

  async abort(active: ActiveSnapshot): Promise<void> {
    const dir = this.transient.get(active.key);
    if (dir === undefined) return; // ended already
    await removeTree(dir); // whatever the depth of the tree the step made
    this.transient.delete(active.key);
    keepOnExit(dir);
  }

  private async prepareKeyed(parent: readonly Digest[], key: string): Promise<ActiveSnapshot> {
    const dir = this.keyedDir(key);
    if (existsSync(dir)) throw new TsbuildError('CONFLICT', `active snapshot ${key} already exists`);
    // made whole in the temp area (our PID in its name: prune takes it if we are killed here)
    const tmp = this.store.tempPath('keyed');
    await fsp.mkdir(tmp, { mode: 0o700 });
    removeOnExit(tmp);
    try {
      makeActiveDirs(tmp, parent.length === 0);
      // the creator's PID: while it lives, its caller may not have recorded the key yet (sweepActive)
      const info: KeyedInfo = { parent: [...parent], creator: process.pid };
      await fsp.writeFile(join(tmp, INFO), JSON.stringify(info), { mode: 0o600 });
      await fsp.mkdir(this.store.activeSnapshotsDir, { recursive: true, mode: 0o700 });
      await fsp.rename(tmp, dir);
    } catch (e) {
      await removeTree(tmp).catch(() => {});
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOTEMPTY' || code === 'EEXIST') throw new TsbuildError('CONFLICT', `active snapshot ${key} already exists`);
      throw e;
    } finally {
      keepOnExit(tmp);
    }
    return this.mountsIn(key, dir, parent);
  }

  active(key: string): ActiveSnapshot | undefined {
    const dir = this.keyedDir(key);
    const info = readInfo(dir);
    return info && this.mountsIn(key, dir, info.parent);
  }

  async removeActive(key: string): Promise<boolean> {
    const trash = await this.outOfSight(this.keyedDir(key));
    if (trash === undefined) return false;
    await removeTree(trash);
    return true;
  }

  async listActive(): Promise<{ key: string; parent: string[] }[]> {
    const out: { key: string; parent: string[] }[] = [];
    for (const key of this.activeKeys()) {
      const info = readInfo(join(this.store.activeSnapshotsDir, key));
      if (info) out.push({ key, parent: info.parent });
    }
    return out;
  }

  async sweepActive(owned: (key: string) => boolean): Promise<string[]> {
    const out: string[] = [];
    for (const key of this.activeKeys()) {
      if (owned(key)) continue;
      // a live creator may still be about to record the key: its caller's to finish or undo
      const info = readInfo(join(this.store.activeSnapshotsDir, key));
      if (info && pidAlive(info.creator)) continue;
      if (owned(key)) continue;
      if (await this.removeActive(key)) out.push(key);
    }
    return out;
  }

  /** Read synchronously: every `ps` sweeps, and a pool round trip costs more than the listing. */
  private activeKeys(): string[] {
    try {
      return readdirSync(this.store.activeSnapshotsDir).filter((n) => KEY.test(n));
    } catch {
      return []; // none made yet
    }
  }

  private keyedDir(key: string): string {
    if (!KEY.test(key)) throw new TsbuildError('INVALID', `bad snapshot key ${JSON.stringify(key)}`);
    return join(this.store.activeSnapshotsDir, key);
  }

  /** The mounts of the active snapshot in `dir` (made by makeActiveDirs) over `parent`. */
  private mountsIn(key: string, dir: string, parent: readonly string[]): ActiveSnapshot {
    const lowerDirs = parent.length ? this.paths(parent) : [join(dir, 'empty')];
    return { key, lowerDirs, upperDir: join(dir, 'upper'), workDir: join(dir, 'work') };
  }

  private dirOf(active: ActiveSnapshot): string {
    const dir = this.transient.get(active.key);
    if (dir === undefined) throw new TsbuildError('NOT_FOUND', `no active snapshot ${active.key}`);
    return dir;
  }

  paths(ids: readonly string[]): string[] {
    return ids.map((c) => this.deferred.get(c)?.active.upperDir ?? this.store.snapshotDir(c as Digest));
  }

  async list(): Promise<Digest[]> {
    const names = await fsp.readdir(join(this.store.root, 'snapshots')).catch(() => [] as string[]);
    return names.map((h) => `sha256:${h}`).filter((d): d is Digest => isDigest(d));
  }

  async remove(chainId: Digest): Promise<number> {
    const trash = await this.outOfSight(this.store.snapshotDir(chainId));
    if (trash === undefined) return 0;
    const bytes = await duBytes(trash);
    await removeTree(trash);
    return bytes;
  }

  /** Moves `dir` into the temp area (gone from sight in one step, deleted after); undefined when it
   *  is absent or a concurrent remove took it. */
  private async outOfSight(dir: string): Promise<string | undefined> {
    const trash = this.store.tempPath('trash');
    try {
      await fsp.rename(dir, trash);
      return trash;
    } catch {
      return undefined;
    }
  }
}

/**
 * An active snapshot's dirs in `dir`: the upper (0755: overlayfs shows its mode on the rootfs' `/`,
 * as an image's root), the work dir, and with `empty` (an empty filesystem: FROM scratch, no parent)
 * the one empty lower dir overlayfs needs.
 */
function makeActiveDirs(dir: string, empty: boolean): void {
  mkdirSync(join(dir, 'upper'), { mode: 0o755 });
  mkdirSync(join(dir, 'work'), { mode: 0o700 });
  if (empty) mkdirSync(join(dir, 'empty'), { mode: 0o755 });
}

/** A deferred commit (see commitDeferred). */
interface Deferred {
  active: ActiveSnapshot;
  sync: Promise<void>;
  synced: boolean;
  failed: boolean;
}

/** What a keyed active snapshot's dir says of it. */
interface KeyedInfo {
  parent: string[];
  creator: number;
}
const INFO = 'snapshot.json';
const KEY = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

function readInfo(dir: string): KeyedInfo | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, INFO), 'utf8')) as KeyedInfo;
  } catch {
    return undefined; // none (written before the dir appears: never torn)
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
