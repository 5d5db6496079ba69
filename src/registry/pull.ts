/**
 * Registry → ContentStore: resolve the reference (an index picks the platform's manifest),
 * fetch manifests and config verified, then the layers in parallel (bounded), each verified
 * against its digest before the store accepts it. Blobs the store already has are skipped.
 */
import { Readable } from 'node:stream';
import { TsbuildError } from '../errors.js';
import { familiarString, type ImageReference } from '../image/reference.js';
import { repositoryOf, type FetchedManifest, type RegistryClient } from './client.js';
import { mapLimit, type ContentStore, type ProgressCallback } from './content.js';
import type { Descriptor, Manifest } from '../image/manifest.js';
import { formatPlatform, hostPlatform, selectPlatform, type Platform } from '../image/platform.js';

export interface PullOptions {
  /** Platform to pick from an index (default: the host's). */
  platform?: Platform;
  /** Parallel blob downloads (default 3). */
  concurrency?: number;
  onProgress?: ProgressCallback;
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

export async function pull(client: RegistryClient, ref: ImageReference, store: ContentStore, opts: PullOptions = {}): Promise<PullResult> {
  const repo = repositoryOf(ref);
  const { root: first, image: fetched, platform } = await resolveManifests(client, ref, opts.platform);
  const root: Descriptor<string> = { mediaType: first.mediaType, digest: first.digest, size: first.bytes.length };
  await storeBytes(store, root.digest, first.bytes);
  let manifestDesc = root;
  if (fetched !== first) {
    manifestDesc = { mediaType: fetched.mediaType, digest: fetched.digest, size: fetched.bytes.length, platform: platform! };
    await storeBytes(store, fetched.digest, fetched.bytes);
  }
  if (fetched.parsed.kind !== 'manifest') throw new TsbuildError('REGISTRY', `${familiarString(ref)} is not an image`);
  const manifest = fetched.parsed.manifest;
  const blobs = [manifest.config, ...manifest.layers];
  await mapLimit(blobs, opts.concurrency ?? 3, async (d) => {
    const progress = opts.onProgress;
    if (await store.hasBlob(d.digest)) {
      progress?.({ layer: d.digest, current: d.size, total: d.size, status: 'exists' });
      return;
    }
    const stream = client.getBlob(repo, d.digest, {
      size: d.size,
      onProgress: (current) => progress?.({ layer: d.digest, current, total: d.size, status: 'transferring' }),
    });
    await store.putBlob(stream, { digest: d.digest, size: d.size, verified: true });
    progress?.({ layer: d.digest, current: d.size, total: d.size, status: 'done' });
  });
  return { root, manifest: manifestDesc, parsed: manifest, config: manifest.config, layers: manifest.layers };
}

/** Manifests were verified when fetched; the store verifies again as for any blob. */
async function storeBytes(store: ContentStore, digest: string, bytes: Buffer): Promise<void> {
  if (await store.hasBlob(digest)) return;
  await store.putBlob(Readable.from([bytes]), { digest, size: bytes.length });
}
