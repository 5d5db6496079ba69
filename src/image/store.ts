/**
 * The image store: an OCI image layout on disk plus the indexes tsbuild needs.
 *
 *   ROOT/oci-layout, ROOT/index.json   OCI layout; index.json lists every image (one descriptor
 *                                      per tag, `org.opencontainers.image.ref.name` = full name;
 *                                      an untagged image has one descriptor without a name)
 *   ROOT/blobs/sha256/<hex>            blobs; layers uncompressed (blob digest = diff ID)
 *   ROOT/snapshots/<chain-id hex>/     each layer unpacked once, overlayfs format (snapshots.ts)
 *   ROOT/snapshots-active/<key>/       keyed active snapshots: a container's writable layer (snapshots.ts)
 *   ROOT/cache/<hex>.json              the builder's key/value cache entries, with pinned refs
 *   ROOT/meta/{gzip,origin}/<hex>.json remembered compressed digests of layers (see getCompressed)
 *   ROOT/leases/<pid>-<rand>           digests a live process wrote or uses but has not referenced yet
 *   ROOT/pins/<key>                    digests kept until unpinned, whoever lives (a container's image)
 *   ROOT/tmp/<pid>-...                 temp files and dirs, named by their writer's PID
 *   ROOT/locks/index                   the only lock: held while index.json or the set of blobs
 *                                      is changed (tag, putImage, rmi, prune), for milliseconds
 *
 * Concurrency: blob and snapshot writes need no lock (content-addressed, renamed into place);
 * index.json is replaced atomically, so reads never lock. Garbage collection keeps what the
 * index, the cache entries and live processes' leases reference.
 */
import { chmodSync, closeSync, mkdirSync, openSync, statSync, writeFileSync, readFileSync, renameSync, appendFileSync, existsSync, unlinkSync, rmSync, promises as fsp } from 'node:fs';
import { fsx } from '../native/fsx.js';
import { dirname, join } from 'node:path';
import { TsbuildError } from '../errors.js';
import { removeTree } from './remove-tree.js';
import { type Digest, hexOf, sha256, chainIds, isDigest, randomHex } from './digest.js';
import { scanTarFileHeaders } from './tar-format.js';
import { dropListing, dropOrphanListings } from './layer-listing.js';
import { BlobStore, syncDir, syncDirAsync, type BlobInfo, type BlobSource, type PutBlobOptions } from './blobs.js';
import { withLock, pidAlive } from './lock.js';
import { StoreSnapshotter, type Snapshotter } from './snapshots.js';
import { type ImageConfig, serializeConfig } from './config.js';
import { type Manifest, type Index, type Descriptor, MT, REF_NAME, CONTAINERD_NAME, buildManifest } from './manifest.js';
import { parseReference, formatReference, familiarString, type ImageReference } from './reference.js';
import type { BuildCache, ImageCatalog, LayerCompressions, Leases, ScratchSpace, StoreContent } from './store-roles.js';

/** An image as the store knows it. */
export interface StoredImage {
  /** Docker's image ID: the config digest. */
  id: Digest;
  manifestDigest: Digest;
  manifest: Manifest;
  config: ImageConfig;
  /** Fully qualified names, e.g. `docker.io/library/busybox:latest`. */
  tags: string[];
  /** Sum of the (uncompressed) layer sizes, as `docker images` shows it. */
  size: number;
}

export interface PutImageInput {
  /** A config object (serialized canonically) or its exact bytes (kept as-is: image IDs survive). */
  config: ImageConfig | Buffer;
  /** The uncompressed layer blobs, bottom first; must already be in the store. */
  layers: BlobInfo[];
  /** Names to give the image (moved from any image holding them). */
  tags?: string[];
}

export type CompressedKind = 'gzip' | 'origin';

export interface GcResult {
  bytesFreed: number;
  deletedImages: Digest[];
  deletedBlobs: Digest[];
  deletedSnapshots: Digest[];
}

export interface RemoveResult {
  untagged: string[];
  deleted: Digest[];
}

/** Store dirs whose content is the images themselves (layers, cache entries, the index's refs). */
const CONTENT_DIRS = ['blobs', 'cache', 'meta', 'leases', 'locks', 'pins'];

/**
 * Tightens a store that already existed with looser modes (made by hand, or by an older tsbuild):
 * on every open, one stat of the root; when others can reach it, the root becomes 0700. A root
 * that is not a directory of our own (a shared sticky dir such as /tmp given as --root) is left
 * as it is and the content dirs inside are made 0700 instead.
 */
function makePrivate(root: string): void {
  const st = statSync(root);
  if ((st.mode & 0o077) === 0) return;
  if ((st.mode & 0o1000) === 0 && st.uid === process.getuid?.()) {
    chmodSync(root, st.mode & 0o700);
    return;
  }
  for (const d of CONTENT_DIRS) chmodSync(join(root, d), 0o700);
}

/** Every role of store-roles.ts; only the CLI, open() and the library API name this class. */
export class ImageStore implements StoreContent, ImageCatalog, BuildCache, Leases, LayerCompressions, ScratchSpace {
  readonly root: string;
  readonly blobs: BlobStore;
  private leaseFile: string | undefined;
  /** Kept open in append mode: a build leases once per step, and reopening cost a syscall pair each. */
  private leaseFd: number | undefined;
  private readonly leased = new Set<string>();
  private snapshotter: Snapshotter | undefined;

  private constructor(root: string) {
    this.root = root;
    this.blobs = new BlobStore(root, (d) => this.lease([d]));
  }

  /** Opens (creating if needed) the store at `root`. */
  static async open(root: string): Promise<ImageStore> {
    try {
      // a store tsbuild creates is its owner's alone (images may be private; as /var/lib/docker)
      if (!existsSync(root)) mkdirSync(root, { recursive: true, mode: 0o700 });
      for (const d of ['blobs/sha256', 'tmp', 'leases', 'pins', 'cache', 'snapshots', 'locks', 'meta/gzip', 'meta/origin', 'meta/content-size', 'cache-mounts']) {
        mkdirSync(join(root, d), { recursive: true });
      }
      // Unpacked layers, run dirs and cache mounts hold what builds made: setuid-root binaries,
      // device nodes, secrets in flight. Only the store's owner may reach them (as /var/lib/docker).
      // (only when needed: a chmod is a journaled inode change even to the mode a dir has, and every
      // command opens the store)
      for (const d of ['snapshots', 'tmp', 'cache-mounts']) {
        if ((statSync(join(root, d)).mode & 0o7777) !== 0o700) chmodSync(join(root, d), 0o700);
      }
      makePrivate(root);
    } catch (e) {
      throw new TsbuildError('INVALID', `cannot use ${root} as the image store: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    const s = new ImageStore(root);
    if (!existsSync(join(root, 'oci-layout'))) s.writeAtomic(join(root, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    if (!existsSync(join(root, 'index.json'))) {
      await s.locked(async () => {
        if (!existsSync(join(root, 'index.json'))) s.writeIndex({ schemaVersion: 2, mediaType: MT.ociIndex, manifests: [] });
      });
    }
    return s;
  }

  // ---- blobs ----

  putBlob(source: BlobSource, opts?: PutBlobOptions): Promise<BlobInfo> {
    return this.blobs.put(source, opts);
  }
  hasBlob(d: Digest): boolean {
    return this.blobs.has(d);
  }
  openBlob(d: Digest): NodeJS.ReadableStream & AsyncIterable<Buffer> {
    return this.blobs.open(d);
  }
  blobPath(d: Digest): string {
    return this.blobs.path(d);
  }

  // ---- images ----

  /** Stores config + manifest for existing layer blobs and records the image (and its tags). */
  async putImage(input: PutImageInput): Promise<StoredImage> {
    let raw: Buffer;
    let config: ImageConfig;
    if (Buffer.isBuffer(input.config)) {
      raw = input.config;
      config = parseConfig(raw);
    } else {
      config = { ...input.config, rootfs: { type: 'layers', diff_ids: input.layers.map((l) => l.digest) } };
      raw = serializeConfig(config);
    }
    const diffIds = config.rootfs?.diff_ids ?? [];
    if (diffIds.length !== input.layers.length || diffIds.some((d, i) => d !== input.layers[i]!.digest)) {
      throw new TsbuildError('CORRUPT', 'image config rootfs.diff_ids do not match the layers');
    }
    const tags = (input.tags ?? []).map((t) => normalizeTag(t));
    // The config and the manifest are written (and fsynced) side by side; the manifest is renamed
    // into the store only once the config is there (its beforeCommit), so a stored manifest's
    // config is always stored too, as when they were written one after the other.
    const cfg = { digest: sha256(raw), size: raw.length };
    const manifest = buildManifest(cfg, input.layers);
    const mbytes = Buffer.from(JSON.stringify(manifest));
    const cfgPut = this.blobs.putBuffer(raw);
    const manPut = this.blobs.has(sha256(mbytes))
      ? cfgPut.then(() => this.blobs.putBuffer(mbytes)) // stored already: nothing to write (putBuffer leases it)
      : this.blobs.putBuffer(mbytes, { beforeCommit: async () => void (await cfgPut) });
    const [, man] = await Promise.all([cfgPut, manPut]);
    let names: string[] = [];
    await this.locked(async () => {
      for (const l of input.layers) {
        if (!this.blobs.has(l.digest)) throw new TsbuildError('CONFLICT', `layer ${l.digest} vanished (a concurrent prune?); retry`);
      }
      if (!this.blobs.has(cfg.digest) || !this.blobs.has(man.digest)) {
        throw new TsbuildError('CONFLICT', 'image blobs vanished (a concurrent prune?); retry');
      }
      const idx = this.readIndex();
      const before = JSON.stringify(idx);
      const desc: Descriptor = { mediaType: MT.ociManifest, digest: man.digest, size: man.size };
      if (tags.length === 0) {
        if (!idx.manifests.some((m) => m.digest === man.digest)) idx.manifests.push(desc);
      } else {
        for (const t of tags) setTag(idx, t, desc);
      }
      // a rebuild that names the same image again changes nothing: no write, no fsync
      if (JSON.stringify(idx) !== before) this.writeIndex(idx);
      names = idx.manifests.filter((m) => m.digest === man.digest).map((m) => m.annotations?.[REF_NAME]).filter((n): n is string => !!n);
    });
    // what imageFromManifest would read back, from the bytes just stored (no re-read of the index
    // and both blobs)
    return {
      id: cfg.digest,
      manifestDigest: man.digest,
      manifest: JSON.parse(mbytes.toString('utf8')) as Manifest,
      config: parseConfig(raw),
      tags: names,
      size: input.layers.reduce((a, l) => a + l.size, 0),
    };
  }

  /** All images, newest first. */
  async listImages(): Promise<StoredImage[]> {
    const idx = this.readIndex();
    const seen = new Set<string>();
    const out: StoredImage[] = [];
    for (const m of idx.manifests) {
      if (seen.has(m.digest)) continue;
      seen.add(m.digest);
      out.push(await this.imageFromManifest(m.digest, idx));
    }
    return out.sort((a, b) => (b.config.created ?? '').localeCompare(a.config.created ?? ''));
  }

  /** The image a user means by `nameOrId` (name[:tag], name@digest, full or short ID), or NOT_FOUND. */
  async resolve(nameOrId: string): Promise<StoredImage> {
    const found = await this.find(nameOrId);
    if (!found) throw new TsbuildError('NOT_FOUND', `No such image: ${displayName(nameOrId)}`);
    return found;
  }

  /** Like resolve, but undefined when there is no such image. */
  async getImage(nameOrId: string): Promise<StoredImage | undefined> {
    return this.find(nameOrId);
  }

  private async find(nameOrId: string): Promise<StoredImage | undefined> {
    const idx = this.readIndex();
    const byManifest = async (d: string) => (idx.manifests.some((m) => m.digest === d) ? this.imageFromManifest(d as Digest, idx) : undefined);
    const idMatch = async (prefix: string): Promise<StoredImage | undefined> => {
      const imgs = await this.listImages();
      const hits = imgs.filter((i) => hexOf(i.id).startsWith(prefix) || hexOf(i.manifestDigest) === prefix);
      const ids = new Set(hits.map((h) => h.id));
      if (ids.size > 1) throw new TsbuildError('INVALID', `ambiguous image ID prefix "${prefix}"`);
      return hits[0];
    };
    if (nameOrId.startsWith('sha256:')) {
      const hex = nameOrId.slice(7);
      if (!/^[0-9a-f]{1,64}$/.test(hex)) throw new TsbuildError('INVALID', `invalid image ID "${nameOrId}"`);
      return idMatch(hex);
    }
    let ref: ImageReference | undefined;
    try {
      ref = parseReference(nameOrId);
    } catch (e) {
      if (/^[0-9a-f]{1,64}$/.test(nameOrId)) return idMatch(nameOrId);
      throw e;
    }
    if (ref.digest) return byManifest(ref.digest);
    const full = formatReference(ref);
    const d = idx.manifests.find((m) => m.annotations?.[REF_NAME] === full);
    if (d) return this.imageFromManifest(d.digest, idx);
    // A bare hex string that is not a known name may be a short image ID, as Docker reads it.
    if (/^[0-9a-f]{1,64}$/.test(nameOrId)) return idMatch(nameOrId);
    return undefined;
  }

  /** Gives `target` (any name or ID) the name `ref`, moving it from another image if needed. */
  async tag(target: string, ref: string): Promise<StoredImage> {
    const name = normalizeTag(ref);
    const img = await this.resolve(target);
    await this.locked(async () => {
      const idx = this.readIndex();
      if (!idx.manifests.some((m) => m.digest === img.manifestDigest)) throw new TsbuildError('NOT_FOUND', `No such image: ${target}`);
      setTag(idx, name, { mediaType: MT.ociManifest, digest: img.manifestDigest, size: this.blobs.size(img.manifestDigest) });
      this.writeIndex(idx);
    });
    return this.resolve(name);
  }

  /**
   * `rmi` as Docker does it: a name is untagged, and the image is deleted with its last name;
   * an ID deletes the image, which needs `force` when it has several names. Blobs and snapshots
   * still used by another image, pinned by the build cache or leased by a live process stay.
   */
  async remove(nameOrId: string, opts: { force?: boolean } = {}): Promise<RemoveResult> {
    const img = await this.resolve(nameOrId);
    const result: RemoveResult = { untagged: [], deleted: [] };
    let byName: string | undefined;
    try {
      const ref = parseReference(nameOrId);
      const full = formatReference(ref);
      if (!ref.digest && img.tags.includes(full)) byName = full;
    } catch {
      /* an ID */
    }
    let removedImage = false;
    await this.locked(async () => {
      const idx = this.readIndex();
      const mine = idx.manifests.filter((m) => m.digest === img.manifestDigest);
      const names = mine.map((m) => m.annotations?.[REF_NAME]).filter((n): n is string => !!n);
      if (byName && names.length > 1) {
        idx.manifests = idx.manifests.filter((m) => !(m.digest === img.manifestDigest && m.annotations?.[REF_NAME] === byName));
        result.untagged.push(byName);
      } else {
        if (!byName && names.length > 1 && !opts.force) {
          throw new TsbuildError(
            'CONFLICT',
            `conflict: unable to delete ${hexOf(img.id).slice(0, 12)} (must be forced) - image is referenced in multiple repositories`,
          );
        }
        idx.manifests = idx.manifests.filter((m) => m.digest !== img.manifestDigest);
        result.untagged.push(...names);
        removedImage = true;
      }
      this.writeIndex(idx);
      if (removedImage) {
        const candidates = new Set<Digest>([img.manifestDigest, img.id, ...img.manifest.layers.map((l) => l.digest), ...chainIds(img.config.rootfs.diff_ids)]);
        await this.collectLocked({ candidates, pruneCache: false, dropDangling: false });
        result.deleted.push(img.id);
      }
    });
    result.untagged = result.untagged.map((n) => familiarString(parseReference(n)));
    return result;
  }

  /**
   * Drops dangling (untagged) images, then every blob and snapshot nothing references. With `all`,
   * the build cache's entries are dropped first, so what only they pinned goes too.
   */
  async prune(opts: { all?: boolean } = {}): Promise<GcResult> {
    return this.locked(() => this.collectLocked({ pruneCache: !!opts.all, dropDangling: true }));
  }

  // ---- the builder's cache index ----

  cacheGet<T = unknown>(key: string): T | undefined {
    const file = this.cachePath(key);
    this.cacheFilesRead.add(file);
    try {
      const e = JSON.parse(readFileSync(file, 'utf8')) as { key: string; value: T };
      return e.key === key ? e.value : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * The cache records this process has looked up, hits and misses (their files): a build answered
   * again from cli/build-memo.ts's record must have seen the same ones.
   */
  readonly cacheFilesRead = new Set<string>();

  /**
   * Stores `value` under `key` atomically. `refs` are blob digests and snapshot chain IDs the
   * entry needs: they are kept by `rmi` and `prune` (not `prune -a`) while the entry exists.
   */
  async cachePut(key: string, value: unknown, refs: Digest[] = []): Promise<void> {
    await this.locked(async () => {
      this.checkRefs(refs);
      this.writeAtomic(this.cachePath(key), JSON.stringify({ key, value, refs }));
    });
  }

  /**
   * Several entries under one lock: their files written, one sync of the store's filesystem for
   * all of them (syncFilesystem, shared with the deferred snapshots' own, not an fsync each),
   * renamed into place, one fsync of the directory. A build's records at its end: 8 of them one by
   * one were ~13 ms of lock, fsync, rename and directory fsync each in turn. All refs are checked
   * before anything is written.
   */
  async cachePutAll(entries: ReadonlyArray<{ key: string; value: unknown; refs?: Digest[] }>): Promise<void> {
    if (entries.length === 0) return;
    await this.locked(async () => {
      for (const e of entries) this.checkRefs(e.refs ?? []);
      const files: Array<[string, string]> = [];
      try {
        for (const e of entries) {
          const tmp = this.tempPath('w');
          files.push([tmp, this.cachePath(e.key)]);
          writeFileSync(tmp, JSON.stringify({ key: e.key, value: e.value, refs: e.refs ?? [] }));
        }
        await this.syncFilesystem();
        for (const [tmp, path] of files.splice(0)) renameSync(tmp, path);
      } finally {
        for (const [tmp] of files) rmSync(tmp, { force: true }); // (not renamed: a failure)
      }
      await syncDirAsync(join(this.root, 'cache'));
    });
  }

  /**
   * A syncfs of the store's filesystem that starts after this call (on the thread pool): the one in
   * flight if none is, else one queued after it, shared by every caller until it starts (so N
   * steps ending while a sync runs cost one more sync, not N). The deferred snapshots and the
   * build's cache records wait on it.
   */
  syncFilesystem(): Promise<void> {
    if (this.syncing === undefined) {
      const p = fsx()
        .syncfs(this.root)
        .finally(() => {
          if (this.syncing === p) this.syncing = undefined;
        });
      this.syncing = p;
      return p;
    }
    this.syncQueued ??= this.syncing
      .catch(() => {})
      .then(() => {
        this.syncQueued = undefined;
        return this.syncFilesystem();
      });
    return this.syncQueued;
  }
  /** The syncfs in flight, and the one queued after it (see syncFilesystem). */
  private syncing: Promise<void> | undefined;
  private syncQueued: Promise<void> | undefined;

  /** A cache entry's refs must be in the store (blobs or snapshots). */
  private checkRefs(refs: readonly Digest[]): void {
    for (const r of refs) {
      if (!this.blobs.has(r) && !existsSync(this.snapshotDir(r))) {
        throw new TsbuildError('CONFLICT', `cache entry refers to ${r}, which is not in the store`);
      }
    }
  }

  // ---- snapshots, compressed digests, leases ----

  /** Where the snapshot of the layer with this chain ID lives (whether or not it exists yet). */
  snapshotDir(chainId: Digest): string {
    return join(this.root, 'snapshots', hexOf(chainId));
  }

  /** Where keyed active snapshots live (a container's writable layer; snapshots.ts owns them). */
  get activeSnapshotsDir(): string {
    return join(this.root, 'snapshots-active');
  }

  /** A fresh temp path inside the store (same filesystem as blobs and snapshots, for renames). */
  tempPath(tag = 'x'): string {
    return join(this.root, 'tmp', `${process.pid}-${tag}-${randomHex(6)}`);
  }

  /** The store's temp dir (the runtime's run dirs live there: same filesystem as snapshots). */
  get tmpDir(): string {
    return join(this.root, 'tmp');
  }

  /** A fresh, empty scratch dir inside the store (see tempPath); the caller removes it. */
  async scratchDir(tag = 'x'): Promise<string> {
    return fsp.mkdtemp(join(this.root, 'tmp', `${process.pid}-${tag}-`));
  }

  /** Where the persistent dir of one `RUN --mount=type=cache` (by its key's hex) lives. */
  cacheMountDir(keyHex: string): string {
    return join(this.root, 'cache-mounts', keyHex);
  }

  /** A dir of the store's for a client's own state that GC never reads (e.g. context checksums). */
  stateDir(name: string): string {
    return join(this.root, 'meta', name);
  }

  /** The snapshotter over this store's committed snapshots (image/snapshots.ts). */
  get snapshots(): Snapshotter {
    return (this.snapshotter ??= new StoreSnapshotter(this));
  }

  /**
   * A layer's size as `docker history` shows it: the bytes of its files and symlink targets (not
   * the tar's length). Scanned once and remembered next to the blob.
   */
  async layerContentSize(layer: Digest): Promise<number> {
    const meta = join(this.root, 'meta', 'content-size', `${hexOf(layer)}.json`);
    try {
      return (JSON.parse(readFileSync(meta, 'utf8')) as { size: number }).size;
    } catch {
      // not computed yet
    }
    let size = 0;
    for (const header of scanTarFileHeaders(this.blobPath(layer))) {
      // as Docker's graph drivers count it: file bytes plus each symlink's target length
      if (header.type === 'file') size += header.size;
      else if (header.type === 'symlink') size += Buffer.byteLength(header.linkname ?? '');
    }
    mkdirSync(dirname(meta), { recursive: true });
    this.writeAtomic(meta, JSON.stringify({ size }));
    return size;
  }

  /**
   * A remembered compressed form of an uncompressed layer. 'gzip': tsbuild's own deterministic
   * gzip (compress.ts, default level), which can be regenerated byte for byte; 'origin': the
   * compressed blob the layer came as (load/pull), useful to skip uploads a registry already has.
   */
  getCompressed(layer: Digest, algo: CompressedKind): { digest: Digest; size: number } | undefined {
    try {
      const v = JSON.parse(readFileSync(join(this.root, 'meta', algo, `${hexOf(layer)}.json`), 'utf8')) as { digest: Digest; size: number };
      return isDigest(v.digest) ? v : undefined;
    } catch {
      return undefined;
    }
  }

  setCompressed(layer: Digest, algo: CompressedKind, v: { digest: Digest; size: number }): void {
    this.writeAtomic(join(this.root, 'meta', algo, `${hexOf(layer)}.json`), JSON.stringify(v));
  }

  /** The stored layer a remembered compressed form (either kind) belongs to; a scan of meta/. */
  async layerOfCompressed(compressed: string): Promise<Digest | undefined> {
    for (const kind of ['origin', 'gzip'] as const) {
      for (const f of await fsp.readdir(join(this.root, 'meta', kind)).catch(() => [] as string[])) {
        const layer = `sha256:${f.slice(0, -5)}`;
        if (f.endsWith('.json') && isDigest(layer) && this.getCompressed(layer, kind)?.digest === compressed) return layer;
      }
    }
    return undefined;
  }

  /**
   * Protects digests (blobs or snapshot chain IDs) from garbage collection while this process
   * lives: the builder leases what it uses before it is referenced by an image or cache entry.
   */
  lease(digests: Iterable<string>): void {
    let lines = '';
    for (const d of digests) {
      if (this.leased.has(d)) continue;
      this.leased.add(d);
      lines += `${d}\n`;
    }
    if (!lines) return;
    if (!this.leaseFile) {
      const f = join(this.root, 'leases', `${process.pid}-${randomHex(6)}`);
      this.leaseFd = openSync(f, 'a');
      this.leaseFile = f;
      // A lease ends with its process; removing the file on a normal exit keeps leases/ small
      // (a killed process's file is removed by the next GC, which sees its PID is gone).
      liveLeases.add(f);
      if (liveLeases.size === 1 && !exitHooked) {
        exitHooked = true;
        process.once('exit', () => {
          for (const l of liveLeases) {
            try {
              unlinkSync(l);
            } catch {
              /* already closed */
            }
          }
        });
      }
    }
    appendFileSync(this.leaseFd ?? this.leaseFile, lines);
  }

  /**
   * Keeps DIGESTS (manifests, blobs, snapshot chain IDs) from `rmi`, `prune` and `prune -a` until
   * `unpin(key)`, whatever process lives: what a container uses. A pinned manifest that loses its
   * last name stays in the index as a dangling image (as Docker keeps an image a container uses).
   */
  pin(key: string, digests: Iterable<string>): void {
    if (!/^[A-Za-z0-9_.-]+$/.test(key)) throw new TsbuildError('INVALID', `bad pin name ${JSON.stringify(key)}`);
    this.writeAtomic(join(this.root, 'pins', key), JSON.stringify([...digests]));
  }

  unpin(key: string): void {
    if (!/^[A-Za-z0-9_.-]+$/.test(key)) return;
    try {
      unlinkSync(join(this.root, 'pins', key));
    } catch {
      /* not pinned */
    }
  }

  /** The pins by key. */
  async pins(): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>();
    const dir = join(this.root, 'pins');
    for (const f of await fsp.readdir(dir).catch(() => [] as string[])) {
      try {
        out.set(f, JSON.parse(await fsp.readFile(join(dir, f), 'utf8')) as string[]);
      } catch {
        /* a pin being written (atomic: never torn) or removed */
      }
    }
    return out;
  }

  /**
   * Gives up blobs this process wrote but will not reference (a failed load): they are removed
   * unless an image, a cache entry or another live process still needs them.
   */
  async discard(digests: Digest[]): Promise<void> {
    if (digests.length === 0) return;
    for (const d of digests) this.leased.delete(d);
    if (this.leaseFile) writeFileSync(this.leaseFile, [...this.leased].map((d) => `${d}\n`).join(''));
    await this.locked(() => this.collectLocked({ candidates: new Set(digests), pruneCache: false, dropDangling: false }));
  }

  /** Ends this process's lease (also implied by the process exiting). */
  async close(): Promise<void> {
    if (this.leaseFd !== undefined) closeSync(this.leaseFd);
    this.leaseFd = undefined;
    if (this.leaseFile) {
      liveLeases.delete(this.leaseFile);
      await fsp.unlink(this.leaseFile).catch(() => {});
    }
    this.leaseFile = undefined;
    this.leased.clear();
  }

  // ---- internals ----

  private locked<T>(fn: () => Promise<T> | T): Promise<T> {
    return withLock(join(this.root, 'locks', 'index'), fn);
  }

  readIndex(): Index {
    let txt: string;
    try {
      txt = readFileSync(join(this.root, 'index.json'), 'utf8');
    } catch {
      return { schemaVersion: 2, mediaType: MT.ociIndex, manifests: [] };
    }
    try {
      const idx = JSON.parse(txt) as Index;
      idx.manifests ??= [];
      return idx;
    } catch {
      throw new TsbuildError('CORRUPT', `${join(this.root, 'index.json')} is not valid JSON`);
    }
  }

  private writeIndex(idx: Index): void {
    this.writeAtomic(join(this.root, 'index.json'), JSON.stringify(idx, null, 1));
  }

  private writeAtomic(path: string, data: string): void {
    const tmp = this.tempPath('w');
    writeFileSync(tmp, data, { flush: true } as Parameters<typeof writeFileSync>[2]);
    renameSync(tmp, path);
    syncDir(join(path, '..'));
  }

  private cachePath(key: string): string {
    return join(this.root, 'cache', `${hexOf(sha256(key))}.json`);
  }

  private async imageFromManifest(md: Digest, idx: Index): Promise<StoredImage> {
    const manifest = await this.blobs.readJson<Manifest>(md);
    const config = parseConfig(await this.blobs.read(manifest.config.digest));
    const tags = idx.manifests.filter((m) => m.digest === md).map((m) => m.annotations?.[REF_NAME]).filter((n): n is string => !!n);
    const size = manifest.layers.reduce((a, l) => a + l.size, 0);
    return { id: manifest.config.digest, manifestDigest: md, manifest, config, tags, size };
  }

  /** GC with the index lock held. `candidates` limits what may go (rmi); else everything may. */
  private async collectLocked(opts: { candidates?: Set<Digest>; pruneCache: boolean; dropDangling: boolean }): Promise<GcResult> {
    const res: GcResult = { bytesFreed: 0, deletedImages: [], deletedBlobs: [], deletedSnapshots: [] };
    const idx = this.readIndex();
    const pinned = new Set<string>();
    for (const refs of (await this.pins()).values()) for (const r of refs) pinned.add(r);
    if (opts.dropDangling) {
      const tagged = new Set(idx.manifests.filter((m) => m.annotations?.[REF_NAME] || pinned.has(m.digest)).map((m) => m.digest));
      const dangling = idx.manifests.filter((m) => !tagged.has(m.digest));
      if (dangling.length) {
        for (const m of dangling) {
          try {
            res.deletedImages.push((await this.blobs.readJson<Manifest>(m.digest)).config.digest);
          } catch {
            /* its manifest is already gone */
          }
        }
        idx.manifests = idx.manifests.filter((m) => tagged.has(m.digest));
        this.writeIndex(idx);
      }
    }
    // List what may go BEFORE reading leases: a writer leases a blob before renaming it into
    // place, so anything listed here that a live writer needs is in a lease read below.
    const blobs = opts.candidates ? [...opts.candidates].filter((d) => this.blobs.has(d)) : await this.blobs.list();
    const snaps = opts.candidates
      ? [...opts.candidates].filter((d) => isDigest(d) && existsSync(this.snapshotDir(d)))
      : await this.snapshots.list();
    const keep = new Set<string>(pinned);
    // a keyed active snapshot (a container's writable layer) keeps its parents, as in containerd
    for (const a of await this.snapshots.listActive()) for (const p of a.parent) keep.add(p);
    for (const m of idx.manifests) {
      keep.add(m.digest);
      try {
        const man = await this.blobs.readJson<Manifest>(m.digest);
        keep.add(man.config.digest);
        for (const l of man.layers) keep.add(l.digest);
        const cfg = parseConfig(await this.blobs.read(man.config.digest));
        for (const c of chainIds(cfg.rootfs.diff_ids)) keep.add(c);
      } catch {
        /* a damaged image keeps only what we could read */
      }
    }
    const cacheDir = join(this.root, 'cache');
    for (const f of await fsp.readdir(cacheDir).catch(() => [] as string[])) {
      const p = join(cacheDir, f);
      if (opts.pruneCache) {
        await fsp.unlink(p).catch(() => {});
        continue;
      }
      try {
        for (const r of (JSON.parse(await fsp.readFile(p, 'utf8')) as { refs?: string[] }).refs ?? []) keep.add(r);
      } catch {
        /* torn entries cannot happen (atomic writes); unreadable ones pin nothing */
      }
    }
    const leaseDir = join(this.root, 'leases');
    for (const f of await fsp.readdir(leaseDir).catch(() => [] as string[])) {
      const pid = Number.parseInt(f, 10);
      const p = join(leaseDir, f);
      if (!pidAlive(pid)) {
        await fsp.unlink(p).catch(() => {});
        continue;
      }
      for (const line of (await fsp.readFile(p, 'utf8').catch(() => '')).split('\n')) if (line) keep.add(line);
    }
    for (const d of blobs) {
      if (keep.has(d)) continue;
      res.bytesFreed += await this.blobs.delete(d);
      dropListing(this.root, d);
      res.deletedBlobs.push(d);
    }
    for (const d of snaps) {
      if (keep.has(d) || !existsSync(this.snapshotDir(d))) continue;
      res.bytesFreed += await this.snapshots.remove(d);
      res.deletedSnapshots.push(d);
    }
    if (!opts.candidates) {
      await this.removeDeadTemps();
      await dropOrphanListings(this.root, (d) => this.blobs.has(d));
    }
    return res;
  }

  /** Temp files and dirs whose writer is no longer alive (killed mid-write), run dirs of any
   *  depth included; every writer names its entries `<pid>-...`, so a live build keeps its own. */
  private async removeDeadTemps(): Promise<void> {
    const tmp = join(this.root, 'tmp');
    for (const f of await fsp.readdir(tmp).catch(() => [] as string[])) {
      const pid = Number.parseInt(f, 10);
      if (Number.isFinite(pid) && pidAlive(pid)) continue;
      await removeTree(join(tmp, f)).catch(() => {});
    }
  }
}

/** Lease files of this process, removed on exit (one hook for all stores). */
const liveLeases = new Set<string>();
let exitHooked = false;

/** Parses a config blob; CORRUPT when it is not an image config. */
export function parseConfig(raw: Buffer): ImageConfig {
  let c: ImageConfig;
  try {
    c = JSON.parse(raw.toString('utf8')) as ImageConfig;
  } catch {
    throw new TsbuildError('CORRUPT', 'image config is not valid JSON');
  }
  if (!c || typeof c !== 'object' || !c.rootfs || !Array.isArray(c.rootfs.diff_ids)) {
    throw new TsbuildError('CORRUPT', 'image config has no rootfs.diff_ids');
  }
  for (const d of c.rootfs.diff_ids) if (!isDigest(d)) throw new TsbuildError('CORRUPT', `image config has an invalid diff ID "${d}"`);
  return c;
}

/** A user's `name[:tag]` as the full name stored in the index; digests cannot be tags. */
export function normalizeTag(name: string): string {
  const ref = parseReference(name);
  if (ref.digest) throw new TsbuildError('INVALID', `invalid reference format "${name}": a tag cannot contain a digest`);
  return formatReference(ref);
}

function displayName(s: string): string {
  try {
    return familiarString(parseReference(s));
  } catch {
    return s;
  }
}

/** Points `name` at `desc`; the image that held the name keeps an untagged entry if it has no other. */
function setTag(idx: Index, name: string, desc: Descriptor): void {
  const old = idx.manifests.find((m) => m.annotations?.[REF_NAME] === name);
  idx.manifests = idx.manifests.filter((m) => m.annotations?.[REF_NAME] !== name && !(m.digest === desc.digest && !m.annotations?.[REF_NAME]));
  if (old && old.digest !== desc.digest && !idx.manifests.some((m) => m.digest === old.digest)) {
    idx.manifests.push({ mediaType: old.mediaType, digest: old.digest, size: old.size });
  }
  idx.manifests.push({ ...desc, annotations: { [REF_NAME]: name, [CONTAINERD_NAME]: name } });
}
