/**
 * The image store as the registry client's ContentStore, and the two flows built on it:
 *
 * - pull: manifests and config are stored as they came (verified); a gzip layer is decompressed
 *   while it streams into the store, its compressed digest hashed on the way and its uncompressed
 *   digest checked against the config's diff ID before anything becomes visible; the pair is
 *   remembered (`setCompressed(diffId, 'origin', ...)`). The image is then recorded under its
 *   name with a manifest pointing at the uncompressed layers (`putImage` with the config bytes
 *   as-is, so the image ID is the registry's config digest). Layers the store already has (by
 *   diff ID: pulled, loaded or built) are not downloaded.
 * - push: a gzip manifest is made for the stored image: per layer the remembered origin blob if
 *   the target registry already has it (no recompression, same digest), else our deterministic
 *   gzip (compress.ts), compressed once into a temp file; the config is pushed as-is, so the
 *   image ID survives. A pulled image whose layers are all still at the target is pushed with
 *   its original manifest bytes (same manifest digest, as docker does).
 *
 * Glue kept here rather than in the store (which I do not own): what a pull resolved is kept in
 * the store's key/value index (`cacheGet`/`cachePut`, keys `tsbuild-registry:*`, pinning the
 * registry's manifest blobs), so `resolveBaseImage(pull: true)` can compare digests and a
 * by-digest reference finds its image.
 */
import { createReadStream, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { TsbuildError } from '../errors.js';
import type { ImageStore, StoredImage } from '../image/store.js';
import { parseConfig } from '../image/store.js';
import type { BlobInfo } from '../image/blobs.js';
import { type Digest, isDigest, newHash, digestOfHash, digestOf } from '../image/digest.js';
import { peek, isGzip, isZstd, gunzip, tapHash } from '../image/byte-streams.js';
import { GzipPool, gzipFile } from '../image/compress.js';
import { MT, layerCompression, parseManifest, type Descriptor, type Manifest } from '../image/manifest.js';
import { formatPlatform, hostPlatform, type Platform } from '../image/platform.js';
import { formatReference, familiarString, type ImageReference } from '../image/reference.js';
import { repositoryOf, type RegistryClient, type RepositoryRef } from './client.js';
import { mapLimit, type ContentStore, type ExpectedBlob, type ProgressCallback } from './content.js';
import { resolveManifests } from './pull.js';
import { push, type PushResult } from './push.js';
import { unzstd } from './zstd.js';

/** What a layer blob of the registry is, when known before it arrives. */
interface LayerHint {
  mediaType: string;
  /** The uncompressed digest (diff ID) the content must have. */
  diffId: Digest;
}

/**
 * ContentStore over ImageStore. Blobs the store has are served as they are; `addVirtual` serves
 * blobs that exist only for one transfer (a push's manifest, freshly gzip'd layers). `putBlob`
 * stores configs/manifests as-is and layers uncompressed: by the hint given with `expectLayer`,
 * else by sniffing (gzip magic).
 */
export class ImageStoreContent implements ContentStore {
  /** Blobs this adapter wrote (for `discardWritten` after a failure). */
  readonly written: Digest[] = [];
  /** compressed digest → the uncompressed layer it was stored as (this process's transfers). */
  private readonly layers = new Map<string, BlobInfo>();
  private readonly hints = new Map<string, LayerHint>();
  private readonly virtual = new Map<string, { size: number; open: () => Readable }>();
  private reverse: Map<string, Digest> | undefined;

  constructor(readonly store: ImageStore) {}

  /** Declares that `compressed` is a layer whose uncompressed digest must be `diffId`. */
  expectLayer(compressed: Descriptor<string>, diffId: Digest): void {
    this.hints.set(compressed.digest, { mediaType: compressed.mediaType, diffId });
  }

  addVirtual(digest: string, size: number, open: () => Readable): void {
    this.virtual.set(digest, { size, open });
  }

  /** The uncompressed layer a compressed blob digest stands for, if the store has it. */
  async uncompressedOf(digest: string): Promise<BlobInfo | undefined> {
    const mine = this.layers.get(digest);
    if (mine && this.store.hasBlob(mine.digest)) return mine;
    const hint = this.hints.get(digest);
    if (hint && this.store.hasBlob(hint.diffId)) return { digest: hint.diffId, size: this.store.blobs.size(hint.diffId) };
    if (isDigest(digest) && this.store.hasBlob(digest)) return { digest, size: this.store.blobs.size(digest) };
    const d = (await this.reverseIndex()).get(digest);
    if (d && this.store.hasBlob(d)) return { digest: d, size: this.store.blobs.size(d) };
    return undefined;
  }

  async hasBlob(digest: string): Promise<boolean> {
    if (this.virtual.has(digest)) return true;
    if (isDigest(digest) && this.store.hasBlob(digest)) return true;
    return (await this.uncompressedOf(digest)) !== undefined;
  }

  async openBlob(digest: string): Promise<Readable> {
    const v = this.virtual.get(digest);
    if (v) return v.open();
    if (isDigest(digest) && this.store.hasBlob(digest)) return this.store.blobs.open(digest);
    throw new TsbuildError('NOT_FOUND', `blob ${digest} is not in the image store in that form`);
  }

  async putBlob(stream: Readable, expected: ExpectedBlob): Promise<void> {
    await this.putLayerOrBlob(stream, expected);
  }

  /**
   * Stores a blob; returns what was stored (for a compressed layer: the uncompressed blob).
   * Nothing is kept unless every digest (and size) checks out.
   */
  async putLayerOrBlob(stream: Readable | AsyncIterable<Buffer>, expected: ExpectedBlob): Promise<BlobInfo> {
    try {
      return await this.store1(stream, expected);
    } catch (e) {
      // Whatever was not read is dropped (a download's connection is released).
      (stream as Readable).destroy?.();
      throw e;
    }
  }

  private async store1(stream: Readable | AsyncIterable<Buffer>, expected: ExpectedBlob): Promise<BlobInfo> {
    if (!isDigest(expected.digest)) {
      throw new TsbuildError('REGISTRY', `unsupported digest ${expected.digest} (only sha256 is stored)`);
    }
    const compressedDigest = expected.digest;
    const hint = this.hints.get(compressedDigest);
    let comp = hint ? layerCompression(hint.mediaType) : undefined;
    if (hint && comp === undefined) throw new TsbuildError('REGISTRY', `unsupported layer media type ${hint.mediaType}`);
    const p = await peek(stream as AsyncIterable<Buffer>);
    if (comp === undefined) comp = isGzip(p.head) ? 'gzip' : isZstd(p.head) ? 'zstd' : 'none';
    let info: BlobInfo;
    if (comp === 'gzip' || comp === 'zstd') {
      const h = newHash();
      let rawSize = 0;
      const counted = async function* (src: AsyncIterable<Buffer>) {
        for await (const b of src) {
          rawSize += b.length;
          yield b;
        }
      };
      const raw = tapHash(counted(p.all), h);
      info = await this.store.putBlob(comp === 'gzip' ? gunzip(raw) : unzstd(raw), {
        ...(hint ? { expectedDigest: hint.diffId } : {}),
        beforeCommit: () => {
          const got = digestOfHash(h);
          if (got !== compressedDigest) throw new TsbuildError('CORRUPT', `layer does not match its digest: expected ${compressedDigest}, got ${got}`);
          if (expected.size !== undefined && rawSize !== expected.size) {
            throw new TsbuildError('CORRUPT', `layer ${compressedDigest} has ${rawSize} bytes, expected ${expected.size}`);
          }
        },
      });
      // Only gzip origins are remembered: a push names remembered blobs as gzip layers.
      if (comp === 'gzip') this.store.setCompressed(info.digest, 'origin', { digest: compressedDigest, size: rawSize });
      this.layers.set(compressedDigest, info);
    } else {
      if (hint && hint.diffId !== compressedDigest) {
        throw new TsbuildError('CORRUPT', `uncompressed layer ${compressedDigest} does not match its diff ID ${hint.diffId}`);
      }
      info = await this.store.putBlob(p.all, { expectedDigest: compressedDigest, ...(expected.size !== undefined ? { expectedSize: expected.size } : {}) });
    }
    this.written.push(info.digest);
    return info;
  }

  /** Removes blobs this adapter wrote that nothing references (after a failed transfer). */
  async discardWritten(): Promise<void> {
    await this.store.discard(this.written.splice(0));
  }

  /** compressed digest → uncompressed, from the store's remembered compressed forms. */
  private async reverseIndex(): Promise<Map<string, Digest>> {
    if (this.reverse) return this.reverse;
    const m = new Map<string, Digest>();
    for (const kind of ['gzip', 'origin']) {
      const dir = join(this.store.root, 'meta', kind);
      for (const f of await fsp.readdir(dir).catch(() => [] as string[])) {
        if (!f.endsWith('.json')) continue;
        const layer = `sha256:${f.slice(0, -5)}`;
        if (!isDigest(layer)) continue;
        const v = this.store.getCompressed(layer, kind as 'gzip' | 'origin');
        if (v) m.set(v.digest, layer);
      }
    }
    this.reverse = m;
    return m;
  }
}

// ---------------------------------------------------------------------------------------------
// What a pull resolved, kept in the store's key/value index.

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
export function pullRecord(store: ImageStore, key: { ref?: ImageReference; digest?: string }): PullRecord | undefined {
  if (key.digest) return store.cacheGet<PullRecord>(`${KV}digest:${key.digest}`);
  if (key.ref) return store.cacheGet<PullRecord>(`${KV}ref:${formatReference({ domain: key.ref.domain, path: key.ref.path, tag: key.ref.tag ?? 'latest' })}`);
  return undefined;
}

/** The registry manifest a local image came from (pull), if remembered. */
export function originOf(store: ImageStore, localManifest: string): PullRecord | undefined {
  return store.cacheGet<PullRecord>(`${KV}origin:${localManifest}`);
}

async function savePullRecord(store: ImageStore, ref: ImageReference | undefined, rec: PullRecord, origin = true): Promise<void> {
  const pins = [...new Set([rec.root, rec.manifest])].filter((d): d is Digest => isDigest(d) && store.hasBlob(d));
  if (ref && !ref.digest) await store.cachePut(`${KV}ref:${formatReference({ domain: ref.domain, path: ref.path, tag: ref.tag ?? 'latest' })}`, rec, pins);
  for (const d of new Set([rec.root, rec.manifest])) await store.cachePut(`${KV}digest:${d}`, rec, pins);
  if (origin) await store.cachePut(`${KV}origin:${rec.image}`, rec, pins);
}

// ---------------------------------------------------------------------------------------------
// Progress

/** Per-layer progress of a pull or push, keyed by the registry's (compressed) layer digest. */
export type LayerProgress =
  | { type: 'resolved'; ref: string; layers: string[] }
  | { type: 'layer'; layer: string; status: 'waiting' | 'exists' | 'downloading' | 'complete' | 'preparing' | 'pushing' | 'pushed' | 'mounted'; current?: number; total?: number };

export type LayerProgressCallback = (e: LayerProgress) => void;

// ---------------------------------------------------------------------------------------------
// Pull

export interface PullImageOptions {
  platform?: Platform;
  concurrency?: number;
  onProgress?: LayerProgressCallback;
}

export interface PullImageResult {
  image: StoredImage;
  /** What the reference resolved to on the registry (what `Digest:` shows). */
  digest: string;
  /** The registry's image manifest digest (differs from `digest` for an index). */
  manifestDigest: string;
  /** Layers downloaded (0: everything was there). */
  downloaded: number;
  /** The name already pointed at this image before the pull. */
  upToDate: boolean;
}

/** Pulls `ref` into the store and names it (by tag; a by-digest pull leaves it untagged). */
export async function pullImage(client: RegistryClient, ref: ImageReference, store: ImageStore, opts: PullImageOptions = {}): Promise<PullImageResult> {
  const repo = repositoryOf(ref);
  const adapter = new ImageStoreContent(store);
  const tagName = ref.digest ? undefined : formatReference({ domain: ref.domain, path: ref.path, tag: ref.tag ?? 'latest' });
  const before = tagName ? (await store.getImage(tagName))?.manifestDigest : undefined;
  try {
    const { root: first, image: fetched } = await resolveManifests(client, ref, opts.platform);
    const picked = fetched !== first ? formatPlatform(opts.platform ?? hostPlatform()) : undefined;
    await storeManifest(adapter, first.digest, first.bytes);
    if (fetched !== first) await storeManifest(adapter, fetched.digest, fetched.bytes);
    if (fetched.parsed.kind !== 'manifest') throw new TsbuildError('REGISTRY', `${familiarString(ref)} is not an image`);
    const manifest = fetched.parsed.manifest;
    const cfgType = manifest.config.mediaType;
    if (cfgType !== MT.ociConfig && cfgType !== MT.dockerConfig) {
      throw new TsbuildError('REGISTRY', `${familiarString(ref)} is not a container image (config type ${cfgType})`);
    }
    const raw = await fetchConfig(client, repo, adapter, manifest);
    const diffIds = parseConfig(raw).rootfs.diff_ids as Digest[];
    if (diffIds.length !== manifest.layers.length) {
      throw new TsbuildError('CORRUPT', `${familiarString(ref)}: the config lists ${diffIds.length} layers, the manifest ${manifest.layers.length}`);
    }
    opts.onProgress?.({ type: 'resolved', ref: familiarString(ref), layers: manifest.layers.filter((_, i) => !store.hasBlob(diffIds[i]!)).map((l) => l.digest) });
    let downloaded = 0;
    const layers = await mapLimit(manifest.layers, opts.concurrency ?? 3, async (d, i) => {
      const diffId = diffIds[i]!;
      const progress = opts.onProgress;
      if (store.hasBlob(diffId)) {
        store.lease([diffId]);
        progress?.({ type: 'layer', layer: d.digest, status: 'exists' });
        return { digest: diffId, size: store.blobs.size(diffId) };
      }
      if (layerCompression(d.mediaType) === undefined) throw new TsbuildError('REGISTRY', `${familiarString(ref)}: unsupported layer media type ${d.mediaType}`);
      adapter.expectLayer(d, diffId);
      progress?.({ type: 'layer', layer: d.digest, status: 'downloading', current: 0, total: d.size });
      const stream = client.getBlob(repo, d.digest, {
        size: d.size,
        onProgress: (current) => progress?.({ type: 'layer', layer: d.digest, status: 'downloading', current, total: d.size }),
      });
      const info = await adapter.putLayerOrBlob(stream, { digest: d.digest, size: d.size, verified: true });
      downloaded++;
      progress?.({ type: 'layer', layer: d.digest, status: 'complete', current: d.size, total: d.size });
      return info;
    });
    const image = await store.putImage({ config: raw, layers, tags: tagName ? [tagName] : [] });
    await savePullRecord(store, ref, {
      root: first.digest,
      manifest: fetched.digest,
      mediaType: fetched.mediaType,
      size: fetched.bytes.length,
      image: image.manifestDigest,
      source: `${repo.registry}/${repo.name}`,
      ...(picked ? { platform: picked } : {}),
    });
    return { image, digest: first.digest, manifestDigest: fetched.digest, downloaded, upToDate: before === image.manifestDigest };
  } catch (e) {
    await adapter.discardWritten().catch(() => {});
    throw e;
  }
}

async function storeManifest(adapter: ImageStoreContent, digest: string, bytes: Buffer): Promise<void> {
  if (!isDigest(digest) || adapter.store.hasBlob(digest)) return;
  const info = await adapter.store.blobs.putBuffer(bytes, { expectedDigest: digest });
  adapter.written.push(info.digest);
}

async function fetchConfig(client: RegistryClient, repo: RepositoryRef, adapter: ImageStoreContent, m: Manifest<string>): Promise<Buffer> {
  const d = m.config.digest;
  if (!isDigest(d)) throw new TsbuildError('REGISTRY', `unsupported config digest ${d} (only sha256 is stored)`);
  if (adapter.store.hasBlob(d)) {
    adapter.store.lease([d]);
    return adapter.store.blobs.read(d);
  }
  const raw = await client.getBlobBuffer(repo, d, m.config.size, 16 * 1024 * 1024);
  const info = await adapter.store.blobs.putBuffer(raw, { expectedDigest: d, expectedSize: m.config.size });
  adapter.written.push(info.digest);
  return raw;
}

// ---------------------------------------------------------------------------------------------
// Compressed forms for push and cache export

/**
 * Makes registry descriptors (gzip) for uncompressed layers: the remembered origin or gzip
 * blob when `targetHas` says the target already holds it, else our deterministic gzip,
 * compressed into a temp file served by the adapter until `cleanup()`.
 */
export class LayerCompressor {
  private pool: GzipPool | undefined;
  private readonly temps: string[] = [];
  private readonly memo = new Map<string, Promise<Descriptor<string>>>();
  private readonly known = new Map<string, Promise<boolean>>();

  constructor(
    private readonly adapter: ImageStoreContent,
    private readonly targetHas: (digest: string) => Promise<boolean>,
  ) {}

  /** Whether the target has a blob (asked once per digest). */
  readonly has = (digest: string): Promise<boolean> => {
    let v = this.known.get(digest);
    if (!v) this.known.set(digest, (v = this.targetHas(digest)));
    return v;
  };

  descriptor(layer: BlobInfo): Promise<Descriptor<string>> {
    let p = this.memo.get(layer.digest);
    if (!p) this.memo.set(layer.digest, (p = this.make(layer)));
    return p;
  }

  private async make(layer: BlobInfo): Promise<Descriptor<string>> {
    const store = this.adapter.store;
    const d = layer.digest as Digest;
    for (const kind of ['origin', 'gzip'] as const) {
      const c = store.getCompressed(d, kind);
      if (c && (await this.has(c.digest))) return { mediaType: MT.ociLayerGzip, digest: c.digest, size: c.size };
    }
    if (!store.hasBlob(d)) throw new TsbuildError('NOT_FOUND', `layer ${d} is not in the image store`);
    this.pool ??= new GzipPool(2);
    const tmp = store.tempPath('gz');
    this.temps.push(tmp);
    const gz = await gzipFile(this.pool, store.blobPath(d), tmp);
    store.setCompressed(d, 'gzip', gz);
    this.adapter.addVirtual(gz.digest, gz.size, () => createReadStream(tmp, { highWaterMark: 1 << 20 }));
    return { mediaType: MT.ociLayerGzip, digest: gz.digest, size: gz.size };
  }

  async cleanup(): Promise<void> {
    await this.pool?.close();
    this.pool = undefined;
    await Promise.all(this.temps.splice(0).map((t) => fsp.rm(t, { force: true })));
  }
}

// ---------------------------------------------------------------------------------------------
// Push

export interface PushImageOptions {
  /** The local image (name or ID; default: the reference itself). */
  source?: string;
  concurrency?: number;
  onProgress?: LayerProgressCallback;
}

export interface PushImageResult extends PushResult {
  /** Size of the pushed manifest. */
  size: number;
  image: StoredImage;
}

/** Pushes a stored image to `ref` (its tag; `latest` when none). */
export async function pushImage(client: RegistryClient, ref: ImageReference, store: ImageStore, opts: PushImageOptions = {}): Promise<PushImageResult> {
  if (ref.digest) throw new TsbuildError('INVALID', `cannot push a digest reference (${familiarString(ref)})`);
  const target: ImageReference = { domain: ref.domain, path: ref.path, tag: ref.tag ?? 'latest' };
  const image = await store.resolve(opts.source ?? formatReference(target));
  store.lease([image.manifestDigest, image.id, ...image.manifest.layers.map((l) => l.digest)]);
  const repo = repositoryOf(target);
  const adapter = new ImageStoreContent(store);
  const targetHas = async (digest: string): Promise<boolean> => (await client.headBlob(repo, digest, { forPush: true })) !== undefined;
  const origin = originOf(store, image.manifestDigest);
  let mountFrom: string | undefined;
  if (origin) {
    const slash = origin.source.indexOf('/');
    if (origin.source.slice(0, slash) === repo.registry && origin.source.slice(slash + 1) !== repo.name) mountFrom = origin.source.slice(slash + 1);
  }
  const compressor = new LayerCompressor(adapter, async (d) => (await targetHas(d)) || (mountFrom !== undefined && (await client.mountBlob(repo, d, mountFrom))));
  const layerDigests = image.manifest.layers.map((l) => l.digest);
  opts.onProgress?.({ type: 'resolved', ref: familiarString(target), layers: layerDigests });
  try {
    for (const l of layerDigests) opts.onProgress?.({ type: 'layer', layer: l, status: 'preparing' });
    let descs = await reuseOriginManifest(store, image, origin, compressor.has);
    let root: Descriptor<string>;
    if (descs) {
      root = { mediaType: origin!.mediaType, digest: origin!.manifest, size: origin!.size };
    } else {
      descs = [];
      for (const l of image.manifest.layers) descs.push(await compressor.descriptor({ digest: l.digest, size: l.size }));
      const manifest = {
        schemaVersion: 2,
        mediaType: MT.ociManifest,
        config: { mediaType: MT.ociConfig, digest: image.id, size: image.manifest.config.size },
        layers: descs,
      };
      const bytes = Buffer.from(JSON.stringify(manifest));
      root = { mediaType: MT.ociManifest, digest: digestOf(bytes), size: bytes.length };
      adapter.addVirtual(root.digest, bytes.length, () => Readable.from([bytes]));
    }
    // Progress by the uncompressed layer's short ID is what users see for the same layer locally.
    const byCompressed = new Map(descs.map((d, i) => [d.digest, layerDigests[i]!]));
    const onProgress: ProgressCallback = (e) => {
      if (e.layer === image.id) return;
      const layer = byCompressed.get(e.layer) ?? e.layer;
      const status = e.status === 'exists' ? 'exists' : e.status === 'mounted' ? 'mounted' : e.status === 'done' ? 'pushed' : 'pushing';
      opts.onProgress?.({ type: 'layer', layer, status, current: e.current, total: e.total });
    };
    const res = await push(client, target, adapter, root, { concurrency: opts.concurrency ?? 3, onProgress, ...(mountFrom ? { mountFrom } : {}) });
    // Remember what the name now is on the registry (a later `--pull` of it finds it current).
    if (isDigest(root.digest) && !store.hasBlob(root.digest)) {
      const parts: Buffer[] = [];
      for await (const c of await adapter.openBlob(root.digest)) parts.push(c as Buffer);
      await store.blobs.putBuffer(Buffer.concat(parts), { expectedDigest: root.digest });
    }
    const rec = { root: root.digest, manifest: root.digest, mediaType: root.mediaType, size: root.size, image: image.manifestDigest, source: `${repo.registry}/${repo.name}` };
    await savePullRecord(store, target, rec, false);
    return { ...res, size: root.size, image };
  } finally {
    await compressor.cleanup();
  }
}

/** The layers of the manifest a pulled image came as, if every blob it names is at the target already. */
async function reuseOriginManifest(
  store: ImageStore,
  image: StoredImage,
  origin: PullRecord | undefined,
  targetHas: (digest: string) => Promise<boolean>,
): Promise<Descriptor<string>[] | undefined> {
  if (!origin || !isDigest(origin.manifest) || !store.hasBlob(origin.manifest)) return undefined;
  let m: Manifest<string>;
  try {
    const p = parseManifest(await store.blobs.read(origin.manifest), origin.mediaType);
    if (p.kind !== 'manifest') return undefined;
    m = p.manifest;
  } catch {
    return undefined;
  }
  if (m.config.digest !== image.id || m.layers.length !== image.manifest.layers.length) return undefined;
  for (const [i, l] of m.layers.entries()) {
    const diff = image.manifest.layers[i]!.digest;
    const known = layerCompression(l.mediaType) === 'none' ? l.digest === diff : store.getCompressed(diff, 'origin')?.digest === l.digest;
    if (!known || !(await targetHas(l.digest))) return undefined;
  }
  return m.layers;
}

/** For messages: `sha256:abc...` → `abc...` (12). */
export function shortId(d: string): string {
  return (d.includes(':') ? d.slice(d.indexOf(':') + 1) : d).slice(0, 12);
}

