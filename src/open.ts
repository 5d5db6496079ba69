/**
 * `open(root)`: the parts a build (and later a container) works with, made in one place — the
 * image store at `root` and its snapshotter, the sandbox runtime with its run dirs inside the store, and registry
 * clients made on first use (docker config credentials, $TSBUILD_INSECURE_REGISTRIES). The CLI
 * and the library's `build({ root })` use it; a library user may make the parts itself.
 */
import type { BuildParts } from './builder/parts.js';
import { ImageStore } from './image/store.js';
import type { RegistryClient } from './registry/client.js';
import { createRuntime } from './runtime/index.js';

export interface OpenParts extends BuildParts {
  /** The class itself: the CLI also prunes, tags and closes it. */
  store: ImageStore;
  /** Closes the registry client (if one was made) and the store. */
  close(): Promise<void>;
}

export async function open(root: string): Promise<OpenParts> {
  const store = await ImageStore.open(root);
  let client: Promise<RegistryClient> | undefined;
  return {
    store,
    snapshotter: store.snapshots,
    runtime: createRuntime({ tmpDir: store.tmpDir }),
    registry: {
      // loaded only when asked for: the registry client is a tenth of a second of start-up
      client: () => (client ??= import('./registry/defaults.js').then(({ defaultRegistryClient }) => defaultRegistryClient())),
    },
    async close() {
      if (client) (await client.catch(() => undefined))?.close();
      await store.close();
    },
  };
}
