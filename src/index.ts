/**
 * The library API: the same build the CLI runs.
 *
 *   import { build } from 'tsbuild';
 *   const r = await build({ contextDir: '.', tags: ['app:1'], root: '/var/lib/tsbuild', onEvent: console.log });
 */
export { build } from './builder/build.js';
export type { BuildOptions, BuildResult, NetworkMode, OutputSpec, SecretSpec } from './builder/options.js';
export type { BuildEvent, BuildEventListener } from './builder/events.js';
export { TsbuildError, type ErrorCode, type SourceLocation } from './errors.js';
export { ImageStore } from './image/store.js';
export { resolveRoot } from './image/root.js';
export { parseDockerfile, toInstructions, dumpAst } from './parser/index.js';
