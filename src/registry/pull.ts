/**
 * Pull: registry → content store. The reference is resolved (an index picks the platform's
 * manifest), manifests and config are fetched verified, then the layers in parallel (bounded),
 * each verified against its digest before a store accepts it; blobs the store has are skipped.
 *
 * - `pull` copies the content as it is into any content store (an OCI layout: what skopeo does).
 * - `pullImage` pulls into the image store and names the image: manifests and config are stored as
 *   they came; layers go through the layer ingester (image/layer-ingest.ts: unpacked while they
 *   stream in, both digests checked against the manifest and the config's diff IDs); the image is
 *   recorded with the config bytes as-is (the image ID is the registry's config digest), and what
 *   the name resolved to is remembered (image/pull-records.ts). Layers the store already has by
 *   diff ID (pulled, loaded or built) are not downloaded.
 */
import { Readable } from 'node:stream';
import { TsbuildError } from '../errors.js';
import type { ContentIngester, ContentProvider } from '../image/content.js';
import { type Digest, isDigest } from '../image/digest.js';
import { LayerIngester } from '../image/layer-ingest.js';
import { MT, layerCompression, type Descriptor, type Manifest } from '../image/manifest.js';
import { formatPlatform, hostPlatform, selectPlatform, type Platform } from '../image/platform.js';
import { savePullRecord } from '../image/pull-records.js';
import { familiarString, formatReference, type ImageReference } from '../image/reference.js';
import { parseConfig, type StoredImage } from '../image/store.js';
import type { BuildCache, ImageCatalog, LayerCompressions, Leases, StoreContent } from '../image/store-roles.js';
import { repositoryOf, type FetchedManifest, type RegistryClient, type RepositoryRef } from './client.js';
import { mapLimit } from '../map-limit.js';
import { blobStatus, type ItemStatusListener } from '../events.js';

export interface PullOptions {
  /** Platform to pick from an index (default: the host's). */
  platform?: Platform;
  /** Parallel blob downloads (default 3). */
  concurrency?: number;
  /** Each blob's status (a `step-status` without its step), and the reference resolved. */
  onProgress?: ItemStatusListener;
}

export interface PullResult {
  /** What the reference resolved to on the registry (an index or a manifest). */
  root: Descriptor<string>;
  /** The image manifest that was pulled (equal to root unless root is an index). */
  manifest: Descriptor<string>;
  parsed: Manifest<string>;
  config: Descriptor<string>;
  layers: Descriptor<string>[];
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

/** What a reference names on a registry: the manifest (or index) it points at and, for an index,
 *  the image manifest chosen for the platform. Both verified against their digests. */
export interface ResolvedManifests {
  root: FetchedManifest;
  image: FetchedManifest;
  /** The index entry's platform, when `root` was an index. */
  platform?: Platform;
}

/** Fetches `ref`'s manifest and, if it is an index, the entry for `platform` (default: the host's). */
export async function resolveManifests(client: RegistryClient, ref: ImageReference, platform?: Platform): Promise<ResolvedManifests> {
  const repo = repositoryOf(ref);
  const root = await client.getManifest(repo, ref.digest ?? ref.tag ?? 'latest');
  if (root.parsed.kind !== 'index') {
    if (root.parsed.kind !== 'manifest') throw new TsbuildError('REGISTRY', `${familiarString(ref)} is not an image`);
    return { root, image: root };
  }
  const want = platform ?? hostPlatform();
  const entry = selectPlatform(root.parsed.index, want);
  if (!entry) {
    const have = root.parsed.index.manifests.filter((d) => d.platform).map((d) => formatPlatform(d.platform!));
    throw new TsbuildError('NOT_FOUND', `${familiarString(ref)} has no image for platform ${formatPlatform(want)} (available: ${have.join(', ') || 'none'})`);
  }
  const image = await client.getManifest(repo, entry.digest);
  if (image.parsed.kind !== 'manifest') throw new TsbuildError('REGISTRY', `${familiarString(ref)}: nested index for ${formatPlatform(want)} is not supported`);
  return { root, image, platform: entry.platform! };
}

/** Copies `ref`'s manifests, config and layers as they are into `content`. */
export async function pull(client: RegistryClient, ref: ImageReference, content: ContentProvider & ContentIngester, opts: PullOptions = {}): Promise<PullResult> {
  const repo = repositoryOf(ref);
  const { root: first, image: fetched, platform } = await resolveManifests(client, ref, opts.platform);
  const root: Descriptor<string> = { mediaType: first.mediaType, digest: first.digest, size: first.bytes.length };
  await storeBytes(content, root.digest, first.bytes);
  let manifestDesc = root;
  if (fetched !== first) {
    manifestDesc = { mediaType: fetched.mediaType, digest: fetched.digest, size: fetched.bytes.length, platform: platform! };
    await storeBytes(content, fetched.digest, fetched.bytes);
  }
  if (fetched.parsed.kind !== 'manifest') throw new TsbuildError('REGISTRY', `${familiarString(ref)} is not an image`);
  const manifest = fetched.parsed.manifest;
  await mapLimit([manifest.config, ...manifest.layers], opts.concurrency ?? 3, async (d) => {
    const progress = opts.onProgress;
    if (await content.info(d.digest)) {
      progress?.(blobStatus(d.digest, 'exists', d.size, d.size));
      return;
    }
    const stream = client.getBlob(repo, d.digest, {
      size: d.size,
      onProgress: (current) => progress?.(blobStatus(d.digest, 'downloading', current, d.size)),
    });
    try {
      await content.write(stream, { digest: d.digest, size: d.size, verified: true });
    } finally {
      stream.destroy();
    }
    progress?.(blobStatus(d.digest, 'complete', d.size, d.size));
  });
  return { root, manifest: manifestDesc, parsed: manifest, config: manifest.config, layers: manifest.layers };
}

/** Manifests were verified when fetched; the store verifies again as for any content. */
async function storeBytes(content: ContentProvider & ContentIngester, digest: string, bytes: Buffer): Promise<void> {
  if (await content.info(digest)) return;
  await content.write(Readable.from([bytes]), { digest, size: bytes.length });
}

/** What pullImage needs of the image store. */
export type PullStore = StoreContent & ImageCatalog & BuildCache & Leases & LayerCompressions;

/** Pulls `ref` into the image store and names it (by tag; a by-digest pull leaves it untagged). */
export async function pullImage(client: RegistryClient, ref: ImageReference, store: PullStore, opts: PullOptions = {}): Promise<PullImageResult> {
  const repo = repositoryOf(ref);
  const ingester = new LayerIngester(store);
  const tagName = ref.digest ? undefined : formatReference({ domain: ref.domain, path: ref.path, tag: ref.tag ?? 'latest' });
  const before = tagName ? (await store.getImage(tagName))?.manifestDigest : undefined;
  try {
    const { root: first, image: fetched } = await resolveManifests(client, ref, opts.platform);
    const picked = fetched !== first ? formatPlatform(opts.platform ?? hostPlatform()) : undefined;
    await storeManifest(ingester, first.digest, first.bytes);
    if (fetched !== first) await storeManifest(ingester, fetched.digest, fetched.bytes);
    if (fetched.parsed.kind !== 'manifest') throw new TsbuildError('REGISTRY', `${familiarString(ref)} is not an image`);
    const manifest = fetched.parsed.manifest;
    const cfgType = manifest.config.mediaType;
    if (cfgType !== MT.ociConfig && cfgType !== MT.dockerConfig) {
      throw new TsbuildError('REGISTRY', `${familiarString(ref)} is not a container image (config type ${cfgType})`);
    }
    const raw = await fetchConfig(client, repo, ingester, manifest);
    const diffIds = parseConfig(raw).rootfs.diff_ids as Digest[];
    if (diffIds.length !== manifest.layers.length) {
      throw new TsbuildError('CORRUPT', `${familiarString(ref)}: the config lists ${diffIds.length} layers, the manifest ${manifest.layers.length}`);
    }
    opts.onProgress?.({ type: 'step-status', item: `resolve ${familiarString(ref)}`, done: true });
    // what will be fetched is known now ("Pulling fs layer"); what the store has says so in turn
    for (const [i, l] of manifest.layers.entries()) if (!store.hasBlob(diffIds[i]!)) opts.onProgress?.(blobStatus(l.digest, 'waiting'));
    let downloaded = 0;
    const layers = await mapLimit(manifest.layers, opts.concurrency ?? 3, async (d, i) => {
      const diffId = diffIds[i]!;
      const progress = opts.onProgress;
      if (store.hasBlob(diffId)) {
        store.lease([diffId]);
        progress?.(blobStatus(d.digest, 'exists'));
        return { digest: diffId, size: store.blobs.size(diffId) };
      }
      if (layerCompression(d.mediaType) === undefined) throw new TsbuildError('REGISTRY', `${familiarString(ref)}: unsupported layer media type ${d.mediaType}`);
      ingester.expect(d, diffId);
      progress?.(blobStatus(d.digest, 'downloading', 0, d.size));
      const stream = client.getBlob(repo, d.digest, {
        size: d.size,
        onProgress: (current) => progress?.(blobStatus(d.digest, 'downloading', current, d.size)),
      });
      const info = await ingester.write(stream, { digest: d.digest, size: d.size, verified: true });
      downloaded++;
      progress?.(blobStatus(d.digest, 'complete', d.size, d.size));
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
    await ingester.discardWritten().catch(() => {});
    throw e;
  }
}

async function storeManifest(ingester: LayerIngester, digest: string, bytes: Buffer): Promise<void> {
  if (!isDigest(digest) || ingester.store.hasBlob(digest)) return;
  const info = await ingester.store.blobs.putBuffer(bytes, { expectedDigest: digest });
  ingester.written.push(info.digest);
}

async function fetchConfig(client: RegistryClient, repo: RepositoryRef, ingester: LayerIngester, m: Manifest<string>): Promise<Buffer> {
  const d = m.config.digest;
  if (!isDigest(d)) throw new TsbuildError('REGISTRY', `unsupported config digest ${d} (only sha256 is stored)`);
  const store = ingester.store;
  if (store.hasBlob(d)) {
    store.lease([d]);
    return store.blobs.read(d);
  }
  const raw = await client.getBlobBuffer(repo, d, m.config.size, 16 * 1024 * 1024);
  const info = await store.blobs.putBuffer(raw, { expectedDigest: d, expectedSize: m.config.size });
  ingester.written.push(info.digest);
  return raw;
}
