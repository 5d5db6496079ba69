/**
 * A stage's base image (`FROM name`): the store's image when it has one; otherwise pulled from its
 * registry (Docker Hub names go to registry-1.docker.io). With `pull` (`--pull`), the registry is
 * asked for the tag's current digest (a HEAD, no download) and the image is pulled only if that
 * digest differs from what the local name was pulled as. Digest references are immutable: a
 * local copy is always used as is. Image IDs (`sha256:...`) are never pulled.
 */
import { TsbuildError } from '../errors.js';
import type { StoredImage } from '../image/store.js';
import type { BuildCache, ImageCatalog } from '../image/store-roles.js';
import { formatReference, parseReference, type ImageReference } from '../image/reference.js';
import type { RegistryClient } from '../registry/client.js';
import type { RegistryAccess } from './parts.js';
import { repositoryOf } from '../registry/client.js';
import { formatPlatform, parsePlatform, type Platform } from '../image/platform.js';
import { pullRecord } from '../image/pull-records.js';
import { pullImage, type PullStore } from '../registry/pull.js';
import type { ItemStatusListener } from '../events.js';

export interface ResolveBaseImageOptions {
  /** Check the registry for a newer image even when the store has one (`--pull`). */
  pull: boolean;
  /** `os/arch[/variant]` to pick from a multi-platform image (default: the host's). */
  platform?: string | Platform;
  /** Per-layer pull progress. */
  onProgress?: ItemStatusListener;
  /** Called once when the registry is contacted (e.g. to start a progress step). */
  onPull?: (ref: string) => void;
  /** The client to use (the caller's: not closed here) ... */
  client?: RegistryClient;
  /** ... or where to get one when the registry must be asked (the build's parts). */
  registry?: RegistryAccess;
}

/** Resolutions in flight per store, so stages of one build sharing a base pull it once. */
const inflightByStore = new WeakMap<PullStore, Map<string, Promise<StoredImage>>>();

export function resolveBaseImage(store: PullStore, ref: string, opts: ResolveBaseImageOptions): Promise<StoredImage> {
  const platform = typeof opts.platform === 'string' ? opts.platform : opts.platform ? [opts.platform.os, opts.platform.architecture, opts.platform.variant].join('/') : '';
  const key = [ref, opts.pull, platform].join('\0');
  let inflight = inflightByStore.get(store);
  if (!inflight) inflightByStore.set(store, (inflight = new Map()));
  let p = inflight.get(key);
  if (!p) {
    p = resolve(store, ref, opts).finally(() => inflight!.delete(key));
    inflight.set(key, p);
  }
  return p;
}

async function resolve(store: PullStore, ref: string, opts: ResolveBaseImageOptions): Promise<StoredImage> {
  let parsed: ImageReference;
  try {
    if (/^sha256:[0-9a-f]{1,64}$/.test(ref)) throw new Error('an ID');
    parsed = parseReference(ref);
  } catch (e) {
    // An image ID (or something that is only a local name): the store alone can answer.
    const local = await store.getImage(ref);
    if (local) return local;
    if (e instanceof TsbuildError) throw e;
    throw new TsbuildError('NOT_FOUND', `No such image: ${ref}`);
  }
  const local = await findLocal(store, ref, parsed);
  if (local && (!opts.pull || parsed.digest)) return local;

  const platform = typeof opts.platform === 'string' ? parsePlatform(opts.platform) : opts.platform;
  if (!opts.client && !opts.registry) throw new TsbuildError('INVALID', `${ref}: not in the store, and no registry to pull it from`);
  const client = opts.client ?? (await opts.registry!.client());
  {
    if (local) {
      const head = await client.headManifest(repositoryOf(parsed), parsed.tag ?? 'latest');
      if (!head) throw new TsbuildError('NOT_FOUND', `${ref}: not found in its registry (it exists only locally; build without --pull)`);
      const rec = pullRecord(store, { ref: parsed });
      const samePlatform = !platform || !rec?.platform || rec.platform === formatPlatform(platform);
      if (head.digest && rec && rec.root === head.digest && rec.image === local.manifestDigest && samePlatform) return local;
    }
    opts.onPull?.(formatReference(parsed));
    const r = await pullImage(client, parsed, store, {
      ...(platform ? { platform } : {}),
      ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
    });
    return r.image;
  }
}

/** The local image a reference names: by name, or for a digest by what was pulled as it. */
async function findLocal(store: ImageCatalog & BuildCache, input: string, ref: ImageReference): Promise<StoredImage | undefined> {
  if (ref.digest) {
    const rec = pullRecord(store, { digest: ref.digest });
    if (rec) {
      const img = await store.getImage(rec.image);
      if (img) return img;
    }
    return store.getImage(formatReference({ domain: ref.domain, path: ref.path, digest: ref.digest }));
  }
  // by the user's text: the store also reads a bare hex string as a short image ID
  return store.getImage(input);
}
