/**
 * The builder's side of `--cache-from` / `--cache-to`:
 *
 *   type=registry,ref=REF[,mode=min|max][,ignore-error=true]   a cache image on a registry
 *   type=local,src=DIR | type=local,dest=DIR[,mode=...][,tag=T] an OCI image layout directory
 *   REF                                                         (cache-from) = type=registry,ref=REF
 *
 * Records map a step's cache key to the step's layer: `layers` holds the layer as a gzip blob
 * (the registry's form), `state.layer` the uncompressed blob the store keeps (digest = diff ID).
 * Import reads only the cache manifest and config; `lookup(key)` downloads the one layer a hit
 * needs, verified twice (compressed digest, then uncompressed digest) before the store keeps it.
 * `record` collects what the build used; `flush` exports it at the end (mode=min: the steps of
 * the final image's stage; mode=max: every step). The format of both kinds is the one of
 * src/registry/cache-export.ts, so a local cache dir can be copied to a registry with skopeo.
 *
 * Trust: whoever can write the cache can make a key point at any layer (as with BuildKit).
 */
import { TsbuildError } from '../errors.js';
import type { CacheSpec } from './options.js';
import type { RegistryAccess } from './parts.js';
import type { LayerCompressions, Leases, ScratchSpace, StoreContent } from '../image/store-roles.js';
import type { BlobInfo } from '../image/blobs.js';
import { isDigest, type Digest } from '../image/digest.js';
import { parseReference, familiarString, type ImageReference } from '../image/reference.js';
import type { RegistryClient } from '../registry/client.js';
import { repositoryOf } from '../registry/client.js';
import { exportCache, importCache, CACHE_ARTIFACT_TYPE, CACHE_CONFIG_MEDIA_TYPE, type CacheRecord, type RemoteCache } from '../registry/cache-export.js';
import { digestOf } from '../image/digest.js';
import { MT, parseManifest, type Descriptor } from '../image/manifest.js';
import { OciLayout } from '../image/oci-layout.js';
import { LayerIngester } from '../image/layer-ingest.js';
import { LayerCompressor } from '../image/layer-compressor.js';

export type { CacheSpec } from './options.js';

export interface RemoteCacheOptions {
  cacheFrom?: CacheSpec[];
  cacheTo?: CacheSpec[];
  /** The registry client to use (the caller's, not closed here) ... */
  client?: RegistryClient;
  /** ... or where to get one when a registry cache is used (the build's parts). */
  registry?: RegistryAccess;
  /** Problems that do not fail the build (an unreadable cache source, an ignore-error export). */
  onWarning?: (message: string) => void;
}

interface Source {
  name: string;
  records: Map<string, CacheRecord>;
  /** Stores the record's layer blob via the layer ingester. */
  fetch(rec: CacheRecord, ingester: LayerIngester): Promise<void>;
}

interface CacheState {
  layer: { digest: string; size: number };
  /** When the layer was first made: its history entry keeps this time, so the image ID matches. */
  layerCreated?: string;
}

/** A remote cache hit: the layer (in the store now) and when it was made. */
export interface RemoteHit {
  layer: BlobInfo;
  created?: string;
}

/** What the cache needs of the store: layers in (LayerIngester) and out (LayerCompressor), leases. */
export type RemoteCacheStore = StoreContent & Leases & LayerCompressions & ScratchSpace;

export class BuildRemoteCache {
  /** Counters, for progress output and tests. */
  readonly stats = { hits: 0, misses: 0, downloaded: 0 };
  private readonly recorded = new Map<string, { layer: BlobInfo; final: boolean; created?: string }>();
  private readonly ingester: LayerIngester;

  private constructor(
    private readonly store: RemoteCacheStore,
    private readonly sources: Source[],
    private readonly opts: RemoteCacheOptions,
    private readonly clientRef: { client?: RegistryClient },
  ) {
    this.ingester = new LayerIngester(store);
  }

  /** Reads the `cacheFrom` sources' records (manifest and config only). */
  static async open(store: RemoteCacheStore, opts: RemoteCacheOptions = {}): Promise<BuildRemoteCache> {
    const clientRef: { client?: RegistryClient } = {};
    if (opts.client) clientRef.client = opts.client;
    const cache = new BuildRemoteCache(store, [], opts, clientRef);
    for (const spec of opts.cacheFrom ?? []) {
      try {
        cache.sources.push(await cache.openSource(spec));
      } catch (e) {
        if (!(e instanceof TsbuildError)) throw e;
        opts.onWarning?.(`cache import from ${describe(spec)} failed: ${e.message}`);
      }
    }
    return cache;
  }

  /** Whether there is anything to look up or export. */
  get active(): boolean {
    return this.sources.length > 0 || (this.opts.cacheTo?.length ?? 0) > 0;
  }

  /**
   * The uncompressed layer recorded for `key` by a cache source, in the store (downloaded if
   * needed, verified); undefined on a miss. A source that fails to deliver counts as a miss.
   */
  async lookup(key: string): Promise<RemoteHit | undefined> {
    for (const src of this.sources) {
      const rec = src.records.get(key);
      const state = rec?.state as CacheState | undefined;
      const layer = state?.layer;
      const created = typeof state?.layerCreated === 'string' ? { created: state.layerCreated } : {};
      if (!rec || !layer || !isDigest(layer.digest) || rec.layers.length === 0) continue;
      const diff = layer.digest as Digest;
      if (this.store.hasBlob(diff)) {
        this.store.lease([diff]);
        this.stats.hits++;
        return { layer: { digest: diff, size: this.store.blobs.size(diff) }, ...created };
      }
      const blob = rec.layers[rec.layers.length - 1]!;
      this.ingester.expect(blob, diff);
      try {
        await src.fetch({ ...rec, layers: [blob] }, this.ingester);
      } catch (e) {
        if (!(e instanceof TsbuildError)) throw e;
        this.opts.onWarning?.(`cache layer ${blob.digest} from ${src.name} unusable: ${e.message}`);
        continue;
      }
      if (!this.store.hasBlob(diff)) continue;
      this.stats.hits++;
      this.stats.downloaded++;
      return { layer: { digest: diff, size: this.store.blobs.size(diff) }, ...created };
    }
    this.stats.misses++;
    return undefined;
  }

  /** Notes a step's result for export; `final: false` for steps outside the final image's stage (mode=max only). */
  record(key: string, layer: BlobInfo, opts: { final?: boolean; created?: string } = {}): void {
    this.recorded.set(key, {
      layer: { digest: layer.digest, size: layer.size },
      final: opts.final !== false,
      ...(opts.created !== undefined ? { created: opts.created } : {}),
    });
  }

  /**
   * Exports the recorded steps to every `cacheTo` target. `finalLayers` (the result image's
   * layer digests) decides what mode=min keeps: the steps whose layer is in the image; without
   * it, the steps not recorded with `final: false`.
   */
  async flush(opts: { finalLayers?: Iterable<string> } = {}): Promise<void> {
    const finalSet = opts.finalLayers ? new Set(opts.finalLayers) : undefined;
    for (const spec of this.opts.cacheTo ?? []) {
      try {
        if (spec.type === 'registry') await this.exportRegistry(spec, finalSet);
        else await this.exportLocal(spec, finalSet);
      } catch (e) {
        if (!spec.ignoreError) throw e;
        this.opts.onWarning?.(`cache export to ${describe(spec)} failed: ${(e as Error).message}`);
      }
    }
  }

  /** Forgets the client (its giver closes it: the build's parts, or a test). */
  close(): void {
    this.clientRef.client = undefined;
  }

  private async client(): Promise<RegistryClient> {
    if (!this.clientRef.client) {
      if (!this.opts.registry) throw new TsbuildError('INVALID', 'a registry cache needs a registry client');
      this.clientRef.client = await this.opts.registry.client();
    }
    return this.clientRef.client;
  }


  private async openSource(spec: CacheSpec): Promise<Source> {
    if (spec.type === 'registry') {
      const client = await this.client();
      const rc: RemoteCache = await importCache(client, parseReference(spec.ref));
      return {
        name: spec.ref,
        records: new Map(rc.records().map((r) => [r.key, r])),
        fetch: (rec, ingester) => rc.fetchLayers(rec, ingester),
      };
    }
    const layout = new OciLayout(spec.dir);
    let records: CacheRecord[] = [];
    try {
      records = await readLocalCache(layout, spec.tag);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    return {
      name: spec.dir,
      records: new Map(records.map((r) => [r.key, r])),
      fetch: async (rec, ingester) => {
        for (const d of rec.layers) {
          if (await ingester.info(d.digest)) continue;
          await ingester.write(layout.content.open(d.digest), { digest: d.digest, size: d.size });
        }
      },
    };
  }

  private selected(spec: CacheSpec, finalSet: Set<string> | undefined): Array<[string, BlobInfo, string | undefined]> {
    const keep = (v: { layer: BlobInfo; final: boolean }) => spec.mode === 'max' || (finalSet ? finalSet.has(v.layer.digest) : v.final);
    return [...this.recorded].filter(([, v]) => keep(v)).map(([k, v]) => [k, v.layer, v.created]);
  }

  private async records(spec: CacheSpec, compressor: LayerCompressor, finalSet: Set<string> | undefined): Promise<CacheRecord[]> {
    const created = new Date().toISOString();
    const out: CacheRecord[] = [];
    for (const [key, layer, layerCreated] of this.selected(spec, finalSet)) {
      if (!this.store.hasBlob(layer.digest)) continue;
      const blob = await compressor.descriptor(layer);
      const state: CacheState = { layer: { digest: layer.digest, size: layer.size }, ...(layerCreated !== undefined ? { layerCreated } : {}) };
      out.push({ key, layers: [blob], state, created });
    }
    return out;
  }

  private async exportRegistry(spec: Extract<CacheSpec, { type: 'registry' }>, finalSet: Set<string> | undefined): Promise<void> {
    const client = await this.client();
    const ref: ImageReference = parseReference(spec.ref);
    const repo = repositoryOf(ref);
    const compressor = new LayerCompressor(this.store, async (d) => (await client.headBlob(repo, d, { forPush: true })) !== undefined);
    try {
      const records = await this.records(spec, compressor, finalSet);
      await exportCache(client, ref, compressor, records);
    } finally {
      await compressor.cleanup();
    }
  }

  private async exportLocal(spec: Extract<CacheSpec, { type: 'local' }>, finalSet: Set<string> | undefined): Promise<void> {
    const layout = await new OciLayout(spec.dir).init();
    const compressor = new LayerCompressor(this.store, async (d) => layout.content.has(d));
    try {
      const records = await this.records(spec, compressor, finalSet);
      const layers = new Map<string, Descriptor<string>>();
      for (const r of records) for (const d of r.layers) layers.set(d.digest, d);
      for (const d of layers.values()) {
        if (!layout.content.has(d.digest)) await layout.content.write(compressor.open(d.digest), { digest: d.digest, size: d.size });
      }
      const cfg = Buffer.from(
        JSON.stringify({
          version: 1,
          records: records.map((r) => ({ key: r.key, layers: r.layers.map((d) => d.digest), state: r.state, created: r.created })),
        }),
      );
      const cfgDesc: Descriptor<string> = { mediaType: CACHE_CONFIG_MEDIA_TYPE, digest: digestOf(cfg), size: cfg.length };
      await layout.content.write([cfg], { digest: cfgDesc.digest, size: cfg.length });
      const manifest = Buffer.from(
        JSON.stringify({ schemaVersion: 2, mediaType: MT.ociManifest, artifactType: CACHE_ARTIFACT_TYPE, config: cfgDesc, layers: [...layers.values()] }),
      );
      const mDesc: Descriptor<string> = { mediaType: MT.ociManifest, digest: digestOf(manifest), size: manifest.length };
      await layout.content.write([manifest], { digest: mDesc.digest, size: manifest.length });
      await layout.setRef(spec.tag, mDesc);
    } finally {
      await compressor.cleanup();
    }
  }
}

/** The records of a local cache dir (the format of cache-export.ts). */
async function readLocalCache(layout: OciLayout, tag: string): Promise<CacheRecord[]> {
  const desc = await layout.resolve(tag);
  if (!desc) return [];
  const read = (d: string): Promise<Buffer> => layout.readBlob(d);
  const p = parseManifest(await read(desc.digest), desc.mediaType);
  if (p.kind !== 'manifest' || p.manifest.config.mediaType !== CACHE_CONFIG_MEDIA_TYPE) throw new TsbuildError('INVALID', `${layout.dir} is not a tsbuild build cache`);
  let cfg: { version?: number; records?: Array<{ key: string; layers: string[]; state?: unknown; created?: string }> };
  try {
    cfg = JSON.parse((await read(p.manifest.config.digest)).toString('utf8'));
  } catch (e) {
    if (e instanceof TsbuildError) throw e;
    throw new TsbuildError('CORRUPT', `build cache config in ${layout.dir} is not valid JSON`);
  }
  if (cfg.version !== 1 || !Array.isArray(cfg.records)) throw new TsbuildError('INVALID', `build cache in ${layout.dir} has an unsupported version`);
  const blobs = new Map(p.manifest.layers.map((d) => [d.digest, d]));
  const out: CacheRecord[] = [];
  for (const r of cfg.records) {
    const layers = r.layers.map((d) => blobs.get(d));
    if (layers.some((d) => d === undefined)) continue;
    out.push({ key: r.key, layers: layers as Descriptor<string>[], ...(r.state !== undefined ? { state: r.state } : {}), ...(r.created ? { created: r.created } : {}) });
  }
  return out;
}

function describe(spec: CacheSpec): string {
  return spec.type === 'registry' ? familiarString(parseReference(spec.ref)) : spec.dir;
}
