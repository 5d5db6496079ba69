/**
 * Unpacked layers for the runtime: each layer is extracted once, in overlayfs format, into
 * `snapshots/<chain ID hex>/` and reused by every image sharing that chain. A snapshot appears
 * atomically (extracted into a temp dir, then renamed), so a present snapshot is a whole one;
 * two processes racing on one snapshot both extract and the loser throws its copy away.
 */
import { mkdirSync, existsSync, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { type Digest, chainIds, isDigest } from './digest.js';
import { extractLayer } from './layer-reader.js';
import { removeTree } from './remove-tree.js';
import type { ImageStore, StoredImage } from './store.js';


/**
 * Committed snapshots, containerd's snapshotter reduced to what tsbuild needs: read-only layer
 * dirs in overlay format, one per chain ID. Whoever holds one never learns where they live; the
 * store's implementation (StoreSnapshotter) is the only code that does.
 */
export interface Snapshotter {
  /** The dirs of an image's layers, bottom first (unpacked when missing; leased for the process). */
  mounts(image: StoredImage): Promise<string[]>;
  /** The dir of the snapshot `chainId`, unpacking the uncompressed layer blob `layer` if missing. */
  ensure(chainId: Digest, layer: Digest): Promise<string>;
  /**
   * Takes `dir` (the layer's content already in snapshot format, e.g. a RUN's overlay upper dir)
   * as the snapshot `chainId`. `dir` is moved, so it must be on the store's filesystem
   * (ImageStore.scratchDir); when the snapshot exists already, `dir` is left to its owner.
   */
  commit(chainId: Digest, dir: string): Promise<void>;
  /**
   * The dirs of committed snapshots, bottom first, without unpacking: for holders that pinned
   * their chain (a container's record) and only need to mount it again.
   */
  paths(chainIds: readonly string[]): string[];
  /** Every committed snapshot's chain ID. */
  list(): Promise<Digest[]>;
  /**
   * Removes the snapshot `chainId` (GC decides which); it leaves sight before it is deleted, so a
   * half-removed snapshot is never taken for a whole one. Returns the bytes freed, 0 if absent.
   */
  remove(chainId: Digest): Promise<number>;
}

export class StoreSnapshotter implements Snapshotter {
  constructor(private readonly store: ImageStore) {}

  mounts(image: StoredImage): Promise<string[]> {
    return snapshotChain(this.store, image);
  }

  ensure(chainId: Digest, layer: Digest): Promise<string> {
    return ensureSnapshot(this.store, chainId, layer);
  }

  async commit(chainId: Digest, dir: string): Promise<void> {
    const target = this.store.snapshotDir(chainId);
    this.store.lease([chainId]);
    if (existsSync(target)) return;
    await fsp.rename(dir, target).catch(() => {}); // a concurrent build won the race: its copy is as good
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
export async function snapshotChain(store: ImageStore, image: StoredImage): Promise<string[]> {
  const diffIds = image.config.rootfs.diff_ids;
  const chain = chainIds(diffIds);
  store.lease(chain);
  const out: string[] = [];
  for (let i = 0; i < chain.length; i++) out.push(await ensureSnapshot(store, chain[i]!, image.manifest.layers[i]!.digest));
  return out;
}

/** The snapshot for `chainId`, unpacking the uncompressed layer blob `layer` if needed. */
export function ensureSnapshot(store: ImageStore, chainId: Digest, layer: Digest): Promise<string> {
  const dir = store.snapshotDir(chainId);
  if (existsSync(dir)) return Promise.resolve(dir);
  let p = inflight.get(dir);
  if (!p) {
    p = unpack(store, dir, layer).finally(() => inflight.delete(dir));
    inflight.set(dir, p);
  }
  return p;
}

async function unpack(store: ImageStore, dir: string, layer: Digest): Promise<string> {
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
