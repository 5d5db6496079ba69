/**
 * The library API: the same build the CLI runs.
 *
 *   import { build } from 'tsbuild';
 *   const r = await build({ contextDir: '.', tags: ['app:1'], root: '/var/lib/tsbuild', onEvent: console.log });
 *
 * or with parts of one's own (a store opened once for many builds, another runtime or registry):
 *
 *   const parts = await open('/var/lib/tsbuild');
 *   try { await buildWith(parts, { contextDir: '.' }); } finally { await parts.close(); }
 *
 * The parts are interfaces (`BuildParts`: `{ store, snapshotter, runtime, registry }`; the store
 * as the roles of image/store-roles.ts), so any of them may be the caller's own, e.g. a wrapper
 * that watches the store: `buildWith({ ...parts, store: watched(parts.store) }, options)`.
 */
import { build as buildWith } from './builder/build.js';
import type { BuildOptions, BuildResult } from './builder/options.js';
import { resolveRoot } from './image/root.js';
import { open } from './open.js';

/** Builds with parts opened at `root` (default: as the CLI picks it) and closed afterwards. */
export async function build(options: BuildOptions & { root?: string }): Promise<BuildResult> {
  const { root, ...rest } = options;
  const parts = await open(resolveRoot(root));
  try {
    return await buildWith(parts, rest);
  } finally {
    await parts.close();
  }
}

export { buildWith, open };
export type { OpenParts } from './open.js';
export type { BuildParts, BuildStore, RegistryAccess } from './builder/parts.js';
export type { BuildCache, ImageCatalog, LayerCompressions, Leases, LocalContentStore, ScratchSpace, StoreContent } from './image/store-roles.js';
export type { Snapshotter } from './image/snapshots.js';
export type { Runtime } from './runtime/index.js';
export type { BuildOptions, BuildResult, CacheSpec, NetworkMode, OutputSpec, SecretSpec } from './builder/options.js';
export type { BuildEvent, BuildEventListener } from './builder/events.js';
export { TsbuildError, type ErrorCode, type SourceLocation } from './errors.js';
export { ImageStore } from './image/store.js';
export { resolveRoot } from './image/root.js';
export { parseDockerfile, toInstructions, dumpAst } from './parser/index.js';
