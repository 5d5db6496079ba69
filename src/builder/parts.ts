/**
 * What `build()` works with, handed in by its caller (the CLI through `open(root)`, a library
 * user, a test): the builder constructs none of them, so it never learns where the store lives,
 * how the sandbox is made, or how registry credentials are found.
 */
import type { ImageStore } from '../image/store.js';
import type { RegistryClient } from '../registry/client.js';
import type { Runtime } from '../runtime/index.js';

/** Registry clients on demand: most builds never contact a registry, and loading the client is a
 *  tenth of a second of start-up. The giver owns the client (closes it when its parts close). */
export interface RegistryAccess {
  client(): Promise<RegistryClient>;
}

export interface BuildParts {
  /** Images, blobs, leases; its `snapshots` is the snapshotter that alone owns snapshot dirs. */
  store: ImageStore;
  /** The sandbox RUN steps execute in. */
  runtime: Runtime;
  registry: RegistryAccess;
}
