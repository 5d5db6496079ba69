/**
 * The image store's roles: what its callers (builder, registry, containers, archives) may ask of
 * it, each a small interface, as containerd hands its services around (content, images, leases)
 * instead of one store object. A part takes the roles it uses; only the CLI, `open(root)` and the
 * library API name the class (store.ts's `ImageStore`, which implements every role), so a caller
 * may hand a part a store of its own: another implementation, or a wrapper that watches or limits.
 */
import type { Readable } from 'node:stream';
import type { BlobInfo, BlobSource, PutBlobOptions } from './blobs.js';
import type { ContentStore } from './content.js';
import type { Digest } from './digest.js';
import type { CompressedKind, PutImageInput, RemoveResult, StoredImage } from './store.js';

/** A content store whose bytes are on this machine (blobs.ts's BlobStore): sizes known without a
 *  wait, small content read or written whole. */
export interface LocalContentStore extends ContentStore {
  open(digest: string): Readable;
  size(digest: Digest): number;
  read(digest: Digest): Promise<Buffer>;
  putBuffer(data: Buffer | string, opts?: PutBlobOptions): Promise<BlobInfo>;
}

/** The store's blobs: uncompressed layers, configs, manifests (blob digest = diff ID for layers). */
export interface StoreContent {
  readonly blobs: LocalContentStore;
  /** Streams a blob in (leased for this process until something references it). */
  putBlob(source: BlobSource, opts?: PutBlobOptions): Promise<BlobInfo>;
  hasBlob(digest: Digest): boolean;
  openBlob(digest: Digest): NodeJS.ReadableStream & AsyncIterable<Buffer>;
  /** The blob as a file, for readers that seek in it or hand it to another process (gzip, tar scans). */
  blobPath(digest: Digest): string;
}

/** Images and their names (the OCI layout's index.json). */
export interface ImageCatalog {
  putImage(input: PutImageInput): Promise<StoredImage>;
  /** Newest first. */
  listImages(): Promise<StoredImage[]>;
  /** The image a user means (name[:tag], name@digest, full or short ID), or NOT_FOUND. */
  resolve(nameOrId: string): Promise<StoredImage>;
  getImage(nameOrId: string): Promise<StoredImage | undefined>;
  tag(target: string, ref: string): Promise<StoredImage>;
  remove(nameOrId: string, opts?: { force?: boolean }): Promise<RemoveResult>;
}

/** The key/value index the builder (and pull records, attestations) keep; `refs` stay while the entry does. */
export interface BuildCache {
  cacheGet<T = unknown>(key: string): T | undefined;
  cachePut(key: string, value: unknown, refs?: Digest[]): Promise<void>;
  /** Several entries at once (one lock, one sync): what cachePut does for each. */
  cachePutAll(entries: ReadonlyArray<{ key: string; value: unknown; refs?: Digest[] }>): Promise<void>;
}

/** What keeps content from garbage collection: leases (this process) and pins (until unpinned). */
export interface Leases {
  lease(digests: Iterable<string>): void;
  pin(key: string, digests: Iterable<string>): void;
  unpin(key: string): void;
  pins(): Promise<Map<string, string[]>>;
  /** Gives up content this process wrote but will not reference. */
  discard(digests: Digest[]): Promise<void>;
}

/** Remembered facts about stored layers: their compressed forms and `docker history` sizes. */
export interface LayerCompressions {
  getCompressed(layer: Digest, algo: CompressedKind): { digest: Digest; size: number } | undefined;
  setCompressed(layer: Digest, algo: CompressedKind, v: { digest: Digest; size: number }): void;
  layerOfCompressed(compressed: string): Promise<Digest | undefined>;
  layerContentSize(layer: Digest): Promise<number>;
}

/** Places on the store's filesystem (renames into the store work from there). */
export interface ScratchSpace {
  /** The store's directory: the areas its clients keep beside it (containers, volumes, networks). */
  readonly root: string;
  /** A fresh temp path (nothing made yet). */
  tempPath(tag?: string): string;
  /** A fresh empty dir; the caller removes it. */
  scratchDir(tag?: string): Promise<string>;
  /** The persistent dir of one `RUN --mount=type=cache`, by its key's hex. */
  cacheMountDir(keyHex: string): string;
  /** A dir for a client's own state that GC never reads. */
  stateDir(name: string): string;
}
