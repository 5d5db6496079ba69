/**
 * What a pull resolved, kept in the store's key/value index (keys `tsbuild-registry:*`, pinning the
 * registry's manifest blobs): the registry digest a name was pulled as, so `FROM --pull` compares
 * digests with a HEAD instead of downloading, a by-digest reference finds its image, and a push
 * of an unchanged pulled image can reuse its original manifest (same digest, as docker does).
 */
import type { BuildCache, StoreContent } from './store-roles.js';
import { isDigest, type Digest } from './digest.js';
import { formatReference, type ImageReference } from './reference.js';

export interface PullRecord {
  /** What the reference resolved to on the registry (index or manifest digest). */
  root: string;
  /** The image manifest's digest on the registry. */
  manifest: string;
  mediaType: string;
  size: number;
  /** The local image's manifest digest. */
  image: string;
  /** Where it came from: `registry/name`. */
  source: string;
  /** The platform picked from an index (`os/arch[/variant]`), when the root was an index. */
  platform?: string;
}

const KV = 'tsbuild-registry:';

/** The pull record of a name (`host/name:tag`) or of a registry digest. */
export function pullRecord(store: BuildCache, key: { ref?: ImageReference; digest?: string }): PullRecord | undefined {
  if (key.digest) return store.cacheGet<PullRecord>(`${KV}digest:${key.digest}`);
  if (key.ref) return store.cacheGet<PullRecord>(`${KV}ref:${tagKey(key.ref)}`);
  return undefined;
}

/** The registry manifest a local image came from (pull), if remembered. */
export function originOf(store: BuildCache, localManifest: string): PullRecord | undefined {
  return store.cacheGet<PullRecord>(`${KV}origin:${localManifest}`);
}

/**
 * Remembers `rec` under the name (unless `ref` is by digest), under its registry digests and,
 * with `origin`, as where the local image came from (a push records the name but is no origin).
 */
export async function savePullRecord(store: BuildCache & StoreContent, ref: ImageReference | undefined, rec: PullRecord, origin = true): Promise<void> {
  const pins = [...new Set([rec.root, rec.manifest])].filter((d): d is Digest => isDigest(d) && store.hasBlob(d));
  if (ref && !ref.digest) await store.cachePut(`${KV}ref:${tagKey(ref)}`, rec, pins);
  for (const d of new Set([rec.root, rec.manifest])) await store.cachePut(`${KV}digest:${d}`, rec, pins);
  if (origin) await store.cachePut(`${KV}origin:${rec.image}`, rec, pins);
}

function tagKey(ref: ImageReference): string {
  return formatReference({ domain: ref.domain, path: ref.path, tag: ref.tag ?? 'latest' });
}
