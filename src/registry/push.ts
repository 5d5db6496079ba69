/**
 * Push: content store → registry. Every blob a manifest (or each manifest of an index) names is
 * pushed, skipping blobs the repository already has (HEAD) and mounting from another repository
 * when asked, in parallel (bounded); then the manifests, children first, the root last under the tag.
 *
 * - `push` sends a manifest or index present in any content store as it is.
 * - `pushImage` sends a stored image: a gzip manifest is made for it, per layer the remembered
 *   origin blob if the target already has it, else tsbuild's deterministic gzip (both by the layer
 *   compressor, image/layer-compressor.ts); the config goes as-is, so the image ID survives. A
 *   pulled image whose layers are all still at the target is pushed with its original manifest
 *   bytes (same manifest digest, as docker does). What the name now is on the registry is
 *   remembered (image/pull-records.ts), so a later `FROM --pull` of it finds it current.
 */
import { TsbuildError } from '../errors.js';
import { readContent, type ContentProvider } from '../image/content.js';
import { isDigest, sha256 } from '../image/digest.js';
import { LayerCompressor } from '../image/layer-compressor.js';
import { MT, layerCompression, parseManifest, type Descriptor, type Manifest } from '../image/manifest.js';
import { originOf, savePullRecord, type PullRecord } from '../image/pull-records.js';
import { familiarRepository, familiarString, formatReference, type ImageReference } from '../image/reference.js';
import { platformOfConfig, purlOf, recordedPredicates, writeAttestedIndex } from '../image/attestation.js';
import type { StoredImage } from '../image/store.js';
import type { BuildCache, ImageCatalog, LayerCompressions, Leases, ScratchSpace, StoreContent } from '../image/store-roles.js';
import { repositoryOf, type RegistryClient, type RepositoryRef } from './client.js';
import { mapLimit } from '../map-limit.js';
import { blobStatus, type ItemStatusListener } from '../events.js';

export interface PushOptions {
  /** Parallel blob uploads (default 3). */
  concurrency?: number;
  /** Each blob's status (a `step-status` without its step). */
  onProgress?: ItemStatusListener;
  /** A repository on the same registry to mount blobs from. */
  mountFrom?: string;
  chunkSize?: number;
  monolithicMax?: number;
}

export interface PushResult {
  /** Digest of the pushed root manifest or index. */
  digest: string;
  uploaded: number;
  skipped: number;
  mounted: number;
}

export interface PushImageOptions {
  /** The local image (name or ID; default: the reference itself). */
  source?: string;
  concurrency?: number;
  /** Each layer's status by its stored digest, and the reference resolved. */
  onProgress?: ItemStatusListener;
}

export interface PushImageResult extends PushResult {
  /** Size of the pushed manifest. */
  size: number;
  image: StoredImage;
}

/** Pushes the manifest or index `root` (present in `content`) to `ref` (its tag, else its digest). */
export async function push(client: RegistryClient, ref: ImageReference, content: ContentProvider, root: Descriptor<string>, opts: PushOptions = {}): Promise<PushResult> {
  const repo = repositoryOf(ref);
  const result: PushResult = { digest: root.digest, uploaded: 0, skipped: 0, mounted: 0 };
  const rootBytes = await readContent(content, root.digest);
  const parsed = parseManifest(rootBytes, root.mediaType);
  if (parsed.kind === 'index') {
    for (const child of parsed.index.manifests) {
      const bytes = await readContent(content, child.digest);
      const p = parseManifest(bytes, child.mediaType);
      if (p.kind !== 'manifest') throw new TsbuildError('INVALID', `nested index ${child.digest} cannot be pushed`);
      await pushBlobs(client, repo, content, p.manifest, opts, result);
      await client.putManifest(repo, child.digest, bytes, p.mediaType);
    }
  } else {
    await pushBlobs(client, repo, content, parsed.manifest, opts, result);
  }
  await client.putManifest(repo, ref.tag ?? root.digest, rootBytes, parsed.mediaType);
  return result;
}

async function pushBlobs(client: RegistryClient, repo: RepositoryRef, content: ContentProvider, m: Manifest<string>, opts: PushOptions, result: PushResult): Promise<void> {
  const seen = new Set<string>();
  const blobs = [...m.layers, m.config].filter((d) => !seen.has(d.digest) && seen.add(d.digest));
  await mapLimit(blobs, opts.concurrency ?? 3, async (d) => {
    const progress = opts.onProgress;
    if ((await client.headBlob(repo, d.digest, { forPush: true })) !== undefined) {
      result.skipped++;
      progress?.(blobStatus(d.digest, 'exists', d.size, d.size));
      return;
    }
    const how = await client.putBlob(repo, d, () => content.open(d.digest), {
      ...(opts.mountFrom ? { mountFrom: opts.mountFrom } : {}),
      ...(opts.chunkSize ? { chunkSize: opts.chunkSize } : {}),
      ...(opts.monolithicMax !== undefined ? { monolithicMax: opts.monolithicMax } : {}),
      onProgress: (current) => progress?.(blobStatus(d.digest, 'pushing', current, d.size)),
    });
    if (how === 'mounted') result.mounted++;
    else result.uploaded++;
    progress?.(blobStatus(d.digest, how === 'mounted' ? 'mounted' : 'pushed', d.size, d.size));
  });
}

/** What pushImage needs of the image store. */
export type PushStore = StoreContent & ImageCatalog & BuildCache & Leases & LayerCompressions & ScratchSpace;

/** Pushes a stored image to `ref` (its tag; `latest` when none). */
export async function pushImage(client: RegistryClient, ref: ImageReference, store: PushStore, opts: PushImageOptions = {}): Promise<PushImageResult> {
  if (ref.digest) throw new TsbuildError('INVALID', `cannot push a digest reference (${familiarString(ref)})`);
  const target: ImageReference = { domain: ref.domain, path: ref.path, tag: ref.tag ?? 'latest' };
  const image = await store.resolve(opts.source ?? formatReference(target));
  store.lease([image.manifestDigest, image.id, ...image.manifest.layers.map((l) => l.digest)]);
  const repo = repositoryOf(target);
  const targetHas = async (digest: string): Promise<boolean> => (await client.headBlob(repo, digest, { forPush: true })) !== undefined;
  const origin = originOf(store, image.manifestDigest);
  let mountFrom: string | undefined;
  if (origin) {
    const slash = origin.source.indexOf('/');
    if (origin.source.slice(0, slash) === repo.registry && origin.source.slice(slash + 1) !== repo.name) mountFrom = origin.source.slice(slash + 1);
  }
  const compressor = new LayerCompressor(store, async (d) => (await targetHas(d)) || (mountFrom !== undefined && (await client.mountBlob(repo, d, mountFrom))));
  const layerDigests = image.manifest.layers.map((l) => l.digest);
  opts.onProgress?.({ type: 'step-status', item: `resolve ${familiarString(target)}`, done: true });
  let written: `sha256:${string}` | undefined;
  try {
    for (const l of layerDigests) opts.onProgress?.(blobStatus(l, 'waiting'));
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
      root = { mediaType: MT.ociManifest, digest: sha256(bytes), size: bytes.length };
      // Kept in the store: the pull record below names it (a later `--pull` finds it current).
      if (!store.hasBlob(sha256(bytes))) written = (await store.blobs.putBuffer(bytes)).digest;
    }
    // Progress by the uncompressed layer's short ID is what users see for the same layer locally.
    const byCompressed = new Map(descs.map((d, i) => [d.digest, layerDigests[i]!]));
    const onProgress: ItemStatusListener = (s) => {
      if (s.item === image.id) return;
      opts.onProgress?.({ ...s, item: byCompressed.get(s.item) ?? s.item });
    };
    // an image with recorded attestations (build --provenance) goes as BuildKit's index: the image
    // manifest plus an attestation manifest whose statements name the manifest pushed here
    const predicates = await recordedPredicates(store, image.manifestDigest);
    let top: Descriptor<string> = root;
    if (predicates.length) {
      const platform = platformOfConfig(image.config);
      top = (await writeAttestedIndex(store, { ...root, platform }, [purlOf(familiarRepository(target), target.tag, platform)], predicates)).index;
    }
    const res = await push(client, target, compressor, top, { concurrency: opts.concurrency ?? 3, onProgress, ...(mountFrom ? { mountFrom } : {}) });
    const rec = { root: top.digest, manifest: root.digest, mediaType: root.mediaType, size: root.size, image: image.manifestDigest, source: `${repo.registry}/${repo.name}` };
    await savePullRecord(store, target, rec, false);
    return { ...res, size: root.size, image };
  } catch (e) {
    if (written) await store.discard([written]).catch(() => {});
    throw e;
  } finally {
    await compressor.cleanup();
  }
}

/** The layers of the manifest a pulled image came as, if every blob it names is at the target already. */
async function reuseOriginManifest(
  store: PushStore,
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
