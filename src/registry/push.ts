/**
 * ContentStore → registry: push every blob a manifest (or each manifest of an index) names,
 * skipping blobs the repository already has (HEAD) and mounting from another repository when
 * asked, in parallel (bounded); then the manifests, children first, the root last under the tag.
 */
import { TsbuildError } from '../errors.js';
import type { ImageReference } from '../image/reference.js';
import { repositoryOf, type RegistryClient, type RepositoryRef } from './client.js';
import { mapLimit, type ContentStore, type ProgressCallback } from './content.js';
import { parseManifest, type Descriptor, type Manifest } from '../image/manifest.js';

export interface PushOptions {
  /** Parallel blob uploads (default 3). */
  concurrency?: number;
  onProgress?: ProgressCallback;
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

/** Pushes the manifest or index `root` (present in `store`) to `ref` (its tag, else its digest). */
export async function push(client: RegistryClient, ref: ImageReference, store: ContentStore, root: Descriptor<string>, opts: PushOptions = {}): Promise<PushResult> {
  const repo = repositoryOf(ref);
  const result: PushResult = { digest: root.digest, uploaded: 0, skipped: 0, mounted: 0 };
  const rootBytes = await readAll(store, root.digest);
  const parsed = parseManifest(rootBytes, root.mediaType);
  if (parsed.kind === 'index') {
    for (const child of parsed.index.manifests) {
      const bytes = await readAll(store, child.digest);
      const p = parseManifest(bytes, child.mediaType);
      if (p.kind !== 'manifest') throw new TsbuildError('INVALID', `nested index ${child.digest} cannot be pushed`);
      await pushBlobs(client, repo, store, p.manifest, opts, result);
      await client.putManifest(repo, child.digest, bytes, p.mediaType);
    }
  } else {
    await pushBlobs(client, repo, store, parsed.manifest, opts, result);
  }
  await client.putManifest(repo, ref.tag ?? root.digest, rootBytes, parsed.mediaType);
  return result;
}

async function pushBlobs(client: RegistryClient, repo: RepositoryRef, store: ContentStore, m: Manifest<string>, opts: PushOptions, result: PushResult): Promise<void> {
  const seen = new Set<string>();
  const blobs = [...m.layers, m.config].filter((d) => !seen.has(d.digest) && seen.add(d.digest));
  await mapLimit(blobs, opts.concurrency ?? 3, async (d) => {
    const progress = opts.onProgress;
    if ((await client.headBlob(repo, d.digest, { forPush: true })) !== undefined) {
      result.skipped++;
      progress?.({ layer: d.digest, current: d.size, total: d.size, status: 'exists' });
      return;
    }
    const how = await client.putBlob(repo, d, () => store.openBlob(d.digest), {
      ...(opts.mountFrom ? { mountFrom: opts.mountFrom } : {}),
      ...(opts.chunkSize ? { chunkSize: opts.chunkSize } : {}),
      ...(opts.monolithicMax !== undefined ? { monolithicMax: opts.monolithicMax } : {}),
      onProgress: (current) => progress?.({ layer: d.digest, current, total: d.size, status: 'transferring' }),
    });
    if (how === 'mounted') result.mounted++;
    else result.uploaded++;
    progress?.({ layer: d.digest, current: d.size, total: d.size, status: how === 'mounted' ? 'mounted' : 'done' });
  });
}

async function readAll(store: ContentStore, digest: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of await store.openBlob(digest)) parts.push(c as Buffer);
  return Buffer.concat(parts);
}
