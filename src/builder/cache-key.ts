/**
 * Content-addressed cache keys for filesystem steps. Pure.
 *
 * Like BuildKit (and unlike Docker's classic builder), the key chain runs through filesystem steps
 * only: a step's key is the digest of its parent filesystem key and everything that can change what
 * the step writes (the expanded command, the env/ARGs it sees, user, workdir, shell, mounts, the
 * digests of the files it reads). Metadata-only instructions (LABEL, EXPOSE, CMD, HEALTHCHECK,
 * ONBUILD...) never reach a key: the image config is always recomputed from the Dockerfile, and the
 * cache only ever supplies layers, so a changed HEALTHCHECK can never be served a stale config
 * (the CVE-2024-24557 class).
 */
import { sha256 } from '../image/digest.js';

/** Bumped when the meaning of keys changes, so old entries can never match. */
const KEY_VERSION = 'tsbuild-cache-v1';

/** sha256 of the canonical JSON of a value (object keys sorted, undefined dropped). */
export function digestOf(value: unknown): string {
  return sha256(canonicalJson(value));
}

/**
 * digestOf({ v: KEY_VERSION, root: 'scratch' }), written out: explain.ts takes it when it is
 * loaded, and hashing it then would load the native addon for every command, `build --help`
 * included (test/native/sha256.test.ts checks it against the digest).
 */
export const SCRATCH_ROOT_KEY = 'sha256:af58cffb1f16a030d79ad28e2dd6bd25855ff31d2c3f8685b43e47f2f01dac86';

/** The key of a root: an image (by config digest and layer diff IDs), or scratch. */
export function rootKey(base: { configDigest: string; diffIds: string[] } | 'scratch'): string {
  return base === 'scratch' ? SCRATCH_ROOT_KEY : digestOf({ v: KEY_VERSION, root: base });
}

/** The key of a step on top of `parent`. `step` holds everything that determines its output. */
export function stepKey(parent: string, step: Record<string, unknown>): string {
  return digestOf({ v: KEY_VERSION, parent, step });
}

export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortDeep(value));
}

function sortDeep(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortDeep);
  if (v && typeof v === 'object' && !(v instanceof Uint8Array)) {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) {
      const x = (v as Record<string, unknown>)[k];
      if (x !== undefined) out[k] = sortDeep(x);
    }
    return out;
  }
  return v;
}
