/**
 * The `RUN --mount=type=cache` directories a build used, noted by run-mounts.ts as each RUN step
 * prepares its mounts (cached steps too), for `--cache-to ...,mounts=true`
 * (cache-mounts-export.ts). Kept apart from the exporter so a RUN step loads nothing of it.
 */
import type { BuildSession } from './session.js';

/** A cache mount a build used. */
export interface CacheMountUse {
  id: string;
  /** The store's name for its directory (64 hex digits: the id and uid/gid/mode base, hashed). */
  key: string;
  sharing: 'shared' | 'private' | 'locked';
}

const used = new WeakMap<BuildSession, Map<string, CacheMountUse>>();

export function noteCacheMount(session: BuildSession, use: CacheMountUse): void {
  let m = used.get(session);
  if (!m) used.set(session, (m = new Map()));
  if (!m.has(use.key)) m.set(use.key, use);
}

/** In the order the build first used them. */
export function usedCacheMounts(session: BuildSession): CacheMountUse[] {
  return [...(used.get(session)?.values() ?? [])];
}
