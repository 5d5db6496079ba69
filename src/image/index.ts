/** The image store's public API, for the builder, the runtime, the registry client and the CLI. */
export { ImageStore, parseConfig, normalizeTag } from './store.js';
export type { StoredImage, PutImageInput, GcResult, RemoveResult, CompressedKind } from './store.js';
export type { StoreContent, LocalContentStore, ImageCatalog, BuildCache, Leases, LayerCompressions, ScratchSpace } from './store-roles.js';
export { resolveRoot } from './root.js';
export type { BlobInfo, PutBlobOptions, ByteSource } from './blobs.js';
export { type Digest, isDigest, parseDigest, sha256, chainIds, hexOf } from './digest.js';
export * from './config.js';
export * from './manifest.js';
export { writeLayer, layerTar, type LayerWriteOptions } from './layer-writer.js';
export { extractLayer, type ExtractMode, type ExtractOptions } from './layer-reader.js';
export { snapshotChain, ensureSnapshot } from './snapshots.js';
export type { LayerEntry, LayerEntryType } from './layer-entry.js';
export { saveImages, type ArchiveFormat, type SaveOptions } from './archive-save.js';
export { loadArchive, type LoadResult } from './archive-load.js';
export { importRootfs, type ImportOptions } from './import.js';
export { GzipPool, gzipFile, gzipChunks, DEFAULT_GZIP_LEVEL, type GzipOptions } from './compress.js';
export * from './reference.js';
