/**
 * Loads Chevrotain from its single-file bundle. The package's exported entry point is an ESM tree of
 * several hundred small modules (its own sources plus lodash-es) that costs 350-700 ms to load on a
 * cold start; the bundle it ships beside them is the same code in one file and loads in ~15 ms,
 * which keeps `tsbuild parse` fast. Types still come from the package itself.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';

type Chevrotain = typeof import('chevrotain');

async function load(): Promise<Chevrotain> {
  try {
    // `require.resolve` honours the package's "require" export: <pkg>/lib/src/api.js
    const entry = createRequire(import.meta.url).resolve('chevrotain');
    const bundle = join(dirname(entry), '..', 'chevrotain.min.mjs');
    return (await import(pathToFileURL(bundle).href)) as Chevrotain;
  } catch {
    return await import('chevrotain');
  }
}

export const chevrotain: Chevrotain = await load();
