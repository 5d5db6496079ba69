/**
 * The registry build cache: `--cache-to type=registry,ref=R[,mode=min|max]` and
 * `--cache-from type=registry,ref=R`, so CI machines share step results through a registry.
 *
 * Design
 * - What is shared: the builder's cache records. A record maps a step's cache key (a digest the
 *   builder computes from the parent key, the instruction, its args/env and the checksums of the
 *   files it reads, base images by digest) to the chain of layers the step's result consists of,
 *   plus the image-config/history state after the step (for steps that only change metadata).
 *   Keys are opaque here; the registry code never interprets them.
 * - Format: one OCI image manifest (the form every registry accepts, unlike indexes holding
 *   non-manifest descriptors) with `artifactType: application/vnd.tsbuild.cache.v1`, its config
 *   a JSON blob `application/vnd.tsbuild.cache.config.v1+json` listing the records, its layers
 *   every layer blob referenced by any record (deduplicated). Records name layers by digest, so
 *   the manifest's layer list is what keeps the blobs alive under registry garbage collection.
 * - mode=min exports the records of the final image's chain; mode=max also every intermediate
 *   step of every stage (the builder decides which records to pass; this module just ships them).
 * - Export = push the layer blobs (HEAD skips what exists; same-registry mounts from the image's
 *   repository when given), the config blob, then the manifest under the ref's tag. Concurrent
 *   exporters: last writer wins the tag; `merge` first reads the existing cache and keeps its
 *   records not superseded (bounded by `maxRecords`, newest first), so a CI fleet converges.
 * - Import = fetch the manifest and config only (small); the builder asks `lookup(key)` on a
 *   local miss, and only for a hit does `fetchLayers` download the chain's blobs, each verified
 *   against its digest, into the content store (lazily: like BuildKit, remote blobs are loaded
 *   only for the steps actually reused).
 * - Trust: anyone who can push to the cache ref can poison it (as with BuildKit's registry
 *   cache); layers are digest-verified but a key → layer mapping cannot be. Document that a
 *   cache ref needs the same access control as the images built from it.
 */
import { Readable } from 'node:stream';
import { TsbuildError } from '../errors.js';
import type { ImageReference } from '../image/reference.js';
import type { ContentIngester, ContentProvider } from '../image/content.js';
import { sha256 } from '../image/digest.js';
import { MT, type Descriptor } from '../image/manifest.js';
import { repositoryOf, type RegistryClient } from './client.js';
import { mapLimit } from '../map-limit.js';
import { blobStatus, type ItemStatusListener } from '../events.js';

export const CACHE_ARTIFACT_TYPE = 'application/vnd.tsbuild.cache.v1';
export const CACHE_CONFIG_MEDIA_TYPE = 'application/vnd.tsbuild.cache.config.v1+json';

export interface CacheRecord {
  /** The builder's cache key of the step. */
  key: string;
  /** The step result's full layer chain, base first. */
  layers: Descriptor<string>[];
  /** Image config / history state after the step, as the builder stores it (opaque here). */
  state?: unknown;
  /** ISO time the record was made; newer wins in merges. */
  created?: string;
}

export interface CacheExportOptions {
  /** Read the existing cache at the ref and keep its records too. */
  merge?: boolean;
  /** Upper bound of records kept when merging (default 2000, newest first). */
  maxRecords?: number;
  /** A repository on the same registry to mount layer blobs from (the pushed image's). */
  mountFrom?: string;
  concurrency?: number;
  onProgress?: ItemStatusListener;
}

interface CacheConfigFile {
  version: 1;
  records: { key: string; layers: string[]; state?: unknown; created?: string }[];
}

export class RemoteCache {
  private readonly byKey: Map<string, CacheRecord>;

  constructor(
    private readonly client: RegistryClient,
    private readonly ref: ImageReference,
    records: CacheRecord[],
  ) {
    this.byKey = new Map(records.map((r) => [r.key, r]));
  }

  get size(): number {
    return this.byKey.size;
  }

  records(): CacheRecord[] {
    return [...this.byKey.values()];
  }

  lookup(key: string): CacheRecord | undefined {
    return this.byKey.get(key);
  }

  /** Downloads (verified) the record's layer blobs that `into` lacks. */
  async fetchLayers(
    record: CacheRecord,
    into: ContentIngester & Pick<ContentProvider, 'info'>,
    opts: { concurrency?: number; onProgress?: ItemStatusListener } = {},
  ): Promise<void> {
    const repo = repositoryOf(this.ref);
    await mapLimit(record.layers, opts.concurrency ?? 3, async (d) => {
      if (await into.info(d.digest)) return;
      const stream = this.client.getBlob(repo, d.digest, {
        size: d.size,
        onProgress: (current) => opts.onProgress?.(blobStatus(d.digest, 'downloading', current, d.size)),
      });
      try {
        await into.write(stream, { digest: d.digest, size: d.size, verified: true });
      } finally {
        stream.destroy();
      }
      opts.onProgress?.(blobStatus(d.digest, 'complete', d.size, d.size));
    });
  }
}

/** Reads the cache at `ref`; an absent ref is an empty cache (first build of a fleet). */
export async function importCache(client: RegistryClient, ref: ImageReference): Promise<RemoteCache> {
  const repo = repositoryOf(ref);
  let fetched;
  try {
    fetched = await client.getManifest(repo, ref.digest ?? ref.tag ?? 'latest', [MT.ociManifest]);
  } catch (e) {
    if (e instanceof TsbuildError && e.code === 'NOT_FOUND') return new RemoteCache(client, ref, []);
    throw e;
  }
  if (fetched.parsed.kind !== 'manifest' || fetched.parsed.manifest.config.mediaType !== CACHE_CONFIG_MEDIA_TYPE) {
    throw new TsbuildError('REGISTRY', `${repo.registry}/${repo.name} is not a tsbuild build cache`);
  }
  const m = fetched.parsed.manifest;
  const cfgBytes = await client.getBlobBuffer(repo, m.config.digest, m.config.size, 64 * 1024 * 1024);
  let cfg: CacheConfigFile;
  try {
    cfg = JSON.parse(cfgBytes.toString('utf8')) as CacheConfigFile;
  } catch {
    throw new TsbuildError('CORRUPT', `build cache config in ${repo.registry}/${repo.name} is not valid JSON`);
  }
  if (cfg.version !== 1 || !Array.isArray(cfg.records)) {
    throw new TsbuildError('REGISTRY', `build cache in ${repo.registry}/${repo.name} has an unsupported version`);
  }
  const blobs = new Map(m.layers.map((d) => [d.digest, d]));
  const records: CacheRecord[] = [];
  for (const r of cfg.records) {
    const layers = r.layers.map((d) => blobs.get(d));
    // A record naming a blob the manifest does not hold is unusable (GC may have removed it).
    if (layers.some((d) => d === undefined)) continue;
    const rec: CacheRecord = { key: r.key, layers: layers as Descriptor<string>[] };
    if (r.state !== undefined) rec.state = r.state;
    if (r.created !== undefined) rec.created = r.created;
    records.push(rec);
  }
  return new RemoteCache(client, ref, records);
}

/** Pushes `records` (their layer blobs from `content`) as the cache at `ref`; returns the manifest digest. */
export async function exportCache(
  client: RegistryClient,
  ref: ImageReference,
  content: ContentProvider,
  records: CacheRecord[],
  opts: CacheExportOptions = {},
): Promise<string> {
  const repo = repositoryOf(ref);
  let all = records;
  if (opts.merge) {
    const existing = await importCache(client, ref);
    const mine = new Set(records.map((r) => r.key));
    const kept = existing.records().filter((r) => !mine.has(r.key));
    kept.sort((a, b) => (b.created ?? '').localeCompare(a.created ?? ''));
    all = [...records, ...kept].slice(0, Math.max(records.length, opts.maxRecords ?? 2000));
  }
  const layers = new Map<string, Descriptor<string>>();
  for (const r of all) for (const d of r.layers) if (!layers.has(d.digest)) layers.set(d.digest, { mediaType: d.mediaType, digest: d.digest, size: d.size });
  const layerList = [...layers.values()];
  const fresh = new Set(records.flatMap((r) => r.layers.map((d) => d.digest)));
  // Blobs of merged-in records are already in the repository; only ours may need uploading.
  await mapLimit(
    layerList.filter((d) => fresh.has(d.digest)),
    opts.concurrency ?? 3,
    async (d) => {
      if ((await client.headBlob(repo, d.digest, { forPush: true })) !== undefined) {
        opts.onProgress?.(blobStatus(d.digest, 'exists', d.size, d.size));
        return;
      }
      const how = await client.putBlob(repo, d, () => content.open(d.digest), {
        ...(opts.mountFrom ? { mountFrom: opts.mountFrom } : {}),
        onProgress: (current) => opts.onProgress?.(blobStatus(d.digest, 'pushing', current, d.size)),
      });
      opts.onProgress?.(blobStatus(d.digest, how === 'mounted' ? 'mounted' : 'pushed', d.size, d.size));
    },
  );
  const cfg: CacheConfigFile = {
    version: 1,
    records: all.map((r) => ({
      key: r.key,
      layers: r.layers.map((d) => d.digest),
      ...(r.state !== undefined ? { state: r.state } : {}),
      ...(r.created !== undefined ? { created: r.created } : {}),
    })),
  };
  const cfgBytes = Buffer.from(JSON.stringify(cfg));
  const cfgDesc: Descriptor<string> = { mediaType: CACHE_CONFIG_MEDIA_TYPE, digest: sha256(cfgBytes), size: cfgBytes.length };
  if ((await client.headBlob(repo, cfgDesc.digest, { forPush: true })) === undefined) {
    await client.putBlob(repo, cfgDesc, () => Readable.from([cfgBytes]));
  }
  const manifest = {
    schemaVersion: 2,
    mediaType: MT.ociManifest,
    artifactType: CACHE_ARTIFACT_TYPE,
    config: cfgDesc,
    layers: layerList,
  };
  return client.putManifest(repo, ref.tag ?? 'latest', Buffer.from(JSON.stringify(manifest)), MT.ociManifest);
}
