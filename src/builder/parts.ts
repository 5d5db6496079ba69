/**
 * What `build()` works with, handed in by its caller (the CLI through `open(root)`, a library
 * user, a test): the builder constructs none of them, so it never learns where the store lives,
 * how the sandbox is made, or how registry credentials are found. Each is an interface: a caller
 * may pass its own (a store wrapper, another runtime).
 */
import type { SnapshotSink } from '../image/layer-writer.js';
import type { Snapshotter } from '../image/snapshots.js';
import type { BuildCache, ImageCatalog, LayerCompressions, Leases, ScratchSpace, StoreContent } from '../image/store-roles.js';
import type { RegistryClient } from '../registry/client.js';
import type { Runtime } from '../runtime/index.js';

/** Registry clients on demand: most builds never contact a registry, and loading the client is a
 *  tenth of a second of start-up. The giver owns the client (closes it when its parts close). */
export interface RegistryAccess {
  client(): Promise<RegistryClient>;
}

/**
 * The store roles a build uses (image/store-roles.ts; ImageStore has them all). SnapshotSink is
 * what writing a COPY layer and its snapshot in one pass needs (image/layer-writer.ts).
 */
export interface BuildStore extends StoreContent, ImageCatalog, BuildCache, Leases, LayerCompressions, ScratchSpace, SnapshotSink {}

export interface BuildParts {
  /** Images, blobs, the build cache, leases. */
  store: BuildStore;
  /** The only owner of snapshot dirs (unpacked layers): what RUN steps mount. */
  snapshotter: Snapshotter;
  /** The sandbox RUN steps execute in. */
  runtime: Runtime;
  registry: RegistryAccess;
}
