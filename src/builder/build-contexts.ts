/**
 * Named build contexts (`--build-context NAME=DIR|docker-image://REF|oci-layout://DIR[:TAG][@DIGEST]`),
 * as buildx and BuildKit's Dockerfile frontend treat them:
 * - a name is matched in its normalized short form (`alpine`, `alpine:latest` and
 *   `docker.io/library/alpine` are one name; `:latest` is dropped), against FROM's image name, a
 *   `COPY --from` / `RUN --mount=from=` word, and a stage name: a named context replaces the stage
 *   or image of that name wherever it is used (the overridden stage is not built unless it is the
 *   target);
 * - `docker-image://REF` is that image (store first, then its registry), config included;
 * - `oci-layout://DIR` is the image the layout's index names (`:TAG`, default the only manifest or
 *   `latest`; `@sha256:...` picks a manifest by digest), imported into the store;
 * - a directory is a build context of its own, its own `.dockerignore` applied, owners reset to
 *   root as for the main context; it becomes one layer keyed by its content digest (a changed file
 *   changes every key that reads it; an unchanged dir is a cache hit and no tar is written).
 * Every context resolves once per build to a stage state (config, layers, cache key) that FROM
 * clones and `--from` reads.
 */
import { rm } from 'node:fs/promises';
import { TsbuildError } from '../errors.js';
import { emptyConfig, type ImageConfig } from '../image/config.js';
import { isDigest, type Digest } from '../image/digest.js';
import { LayerIngester } from '../image/layer-ingest.js';
import { writeLayerWithSnapshot } from '../image/layer-writer.js';
import { parseManifest, REF_NAME, type Descriptor, type Index } from '../image/manifest.js';
import { OciLayout } from '../image/oci-layout.js';
import { hostPlatform, selectPlatform } from '../image/platform.js';
import { familiarString, parseReference } from '../image/reference.js';
import { RootfsView } from '../image/rootfs-view.js';
import type { StoredImage } from '../image/store.js';
import { ArgScope } from './args.js';
import { rootKey } from './cache-key.js';
import { BuildContext } from './context.js';
import type { NamedContextSource } from './options.js';
import type { BuildSession } from './session.js';
import type { StageState } from './stage-state.js';
import { buildCopyLayer, copyInputsDigest, type CopyRequest } from './steps/copy.js';
import { runFsStep } from './steps/fs-step.js';

export type { NamedContextSource } from './options.js';

/** How an image named by a context is fetched (the stage runner's store-then-registry lookup). */
export type ImageResolver = (ref: string) => Promise<StoredImage>;

/** The normalized form of a context name or of a word it may replace; undefined if it is no name. */
export function contextName(word: string): string | undefined {
  try {
    return familiarString(parseReference(word)).replace(/:latest$/, '');
  } catch {
    return undefined;
  }
}

/** The named context a FROM/`--from` word stands for, if one was given. */
export function namedContextFor(contexts: Record<string, NamedContextSource> | undefined, word: string): string | undefined {
  if (!contexts) return undefined;
  const n = contextName(word);
  return n !== undefined && Object.prototype.hasOwnProperty.call(contexts, n) ? n : undefined;
}

const resolved = new WeakMap<BuildSession, Map<string, Promise<StageState>>>();

/** The state of named context `name` (resolved once per build; callers clone it before changing it). */
export function namedContextState(session: BuildSession, name: string, resolveImage: ImageResolver): Promise<StageState> {
  let byName = resolved.get(session);
  if (!byName) resolved.set(session, (byName = new Map()));
  let p = byName.get(name);
  if (!p) {
    const src = session.options.buildContexts?.[name];
    if (!src) throw new Error(`internal: no named context ${name}`);
    p = resolveContext(session, name, src, resolveImage);
    byName.set(name, p);
  }
  return p;
}

async function resolveContext(session: BuildSession, name: string, src: NamedContextSource, resolveImage: ImageResolver): Promise<StageState> {
  if (src.kind === 'local') return localState(session, name, src.dir);
  const label = `[context ${name}] ${src.kind === 'image' ? `docker-image://${src.ref}` : `oci-layout://${src.dir}`}`;
  const id = session.events.start(label);
  let image: StoredImage;
  try {
    image = src.kind === 'image' ? await resolveImage(src.ref) : await importLayout(session, src);
  } catch (e) {
    const message = `build context ${name}: ${(e as Error).message}`;
    session.events.emit({ type: 'step-error', id, message });
    if (e instanceof TsbuildError) throw new TsbuildError(e.code, message);
    throw e;
  }
  session.events.emit({ type: 'step-done', id });
  return imageState(session, image);
}

/** A stage state standing on `image` (its config, layers and root cache key), its blobs leased. */
export function imageState(session: BuildSession, image: StoredImage): StageState {
  const cfg = structuredClone(image.config);
  const state: StageState = {
    config: { ...cfg, config: cfg.config ?? {}, history: cfg.history ?? [] },
    layers: image.manifest.layers.map((l) => ({ digest: l.digest, size: l.size })),
    fsKey: rootKey({ configDigest: image.id, diffIds: image.config.rootfs.diff_ids }),
    args: new ArgScope(),
    cmdSet: false,
    baseImage: { layers: image.manifest.layers.length, id: image.id },
  };
  session.store.lease([image.id, image.manifestDigest, ...state.layers.map((l) => l.digest)]);
  return state;
}

/** A directory context: one layer of its files (as `COPY . /` from it would make), cached by content. */
async function localState(session: BuildSession, name: string, dir: string): Promise<StageState> {
  const config: ImageConfig = emptyConfig();
  const state: StageState = {
    config: { ...config, config: { ...config.config, WorkingDir: '/' }, history: [] },
    layers: [],
    fsKey: rootKey('scratch'),
    args: new ArgScope(),
    cmdSet: false,
  };
  let context: BuildContext;
  try {
    context = await BuildContext.open(dir, { checksumCacheDir: session.store.stateDir('context-checksums') });
  } catch (e) {
    if (e instanceof TsbuildError) throw new TsbuildError(e.code, `build context ${name}: ${e.message}`);
    throw e;
  }
  const req: CopyRequest = { isAdd: false, sources: ['.'], dest: '/', workdir: '/', from: { kind: 'context', context }, nowMs: 0 };
  const inputs = await copyInputsDigest(req);
  await runFsStep(session, state, {
    name: `[context ${name}] load local directory`,
    history: `context ${name}`,
    key: { kind: 'named-context', inputs },
    produce: async () => {
      const scratch = await session.store.scratchDir('context');
      try {
        const entries = await buildCopyLayer(req, new RootfsView([]), scratch);
        return await writeLayerWithSnapshot(session.store, session.snapshotter, entries, undefined, {
          ...(session.sourceDateEpoch !== undefined ? { sourceDateEpoch: session.sourceDateEpoch } : {}),
          donorRoot: context.root,
        });
      } finally {
        await rm(scratch, { recursive: true, force: true });
      }
    },
  });
  await context.saveCache();
  // the directory's layer is what the build stands on (a squash keeps it apart)
  state.baseImage = { layers: 1 };
  return state;
}

/** The image an OCI layout's index names, copied into the store (layers verified against the config). */
async function importLayout(session: BuildSession, src: Extract<NamedContextSource, { kind: 'oci-layout' }>): Promise<StoredImage> {
  const { store } = session;
  const layout = new OciLayout(src.dir);
  let index: Index<string>;
  try {
    index = await layout.readIndex();
  } catch {
    throw new TsbuildError('NOT_FOUND', `${src.dir} is not an OCI image layout (no readable index.json)`);
  }
  const read = (d: Descriptor<string>): Promise<Buffer> => layout.readBlob(d.digest);
  let desc: Descriptor<string> | undefined;
  if (src.digest !== undefined) desc = index.manifests.find((m) => m.digest === src.digest) ?? { mediaType: '', digest: src.digest, size: 0 };
  else if (src.tag !== undefined) desc = index.manifests.find((m) => m.annotations?.[REF_NAME] === src.tag);
  else desc = index.manifests.length === 1 ? index.manifests[0] : index.manifests.find((m) => m.annotations?.[REF_NAME] === 'latest');
  if (!desc) throw new TsbuildError('NOT_FOUND', `${src.dir}: no image named ${src.tag ?? 'latest'} in its index.json`);
  // a nested index (a multi-platform image): the host's manifest
  for (let depth = 0; depth < 4; depth++) {
    const bytes = await read(desc);
    const parsed = parseManifest(bytes, desc.mediaType || undefined);
    if (parsed.kind === 'manifest') {
      const m = parsed.manifest;
      const cfgBytes = await read(m.config);
      const cfg = JSON.parse(cfgBytes.toString('utf8')) as ImageConfig;
      const diffIds = cfg.rootfs?.diff_ids ?? [];
      if (diffIds.length !== m.layers.length) throw new TsbuildError('CORRUPT', `${src.dir}: the config names ${diffIds.length} layers, the manifest ${m.layers.length}`);
      const ingester = new LayerIngester(store);
      const layers = [];
      for (let i = 0; i < m.layers.length; i++) {
        const l = m.layers[i]!;
        const diff = diffIds[i]!;
        if (!isDigest(diff)) throw new TsbuildError('CORRUPT', `${src.dir}: bad diff ID ${diff}`);
        if (store.hasBlob(diff as Digest)) {
          store.lease([diff]);
          layers.push({ digest: diff as Digest, size: store.blobs.size(diff as Digest) });
          continue;
        }
        if (!layout.content.has(l.digest)) throw new TsbuildError('NOT_FOUND', `${src.dir}: layer ${l.digest} is missing`);
        ingester.expect(l, diff as Digest);
        layers.push(await ingester.write(layout.content.open(l.digest), { digest: l.digest, size: l.size }));
      }
      return store.putImage({ config: cfgBytes, layers });
    }
    const next = selectPlatform(parsed.index, hostPlatform());
    if (!next) throw new TsbuildError('NOT_FOUND', `${src.dir}: no manifest for the host platform`);
    desc = next;
  }
  throw new TsbuildError('INVALID', `${src.dir}: ${desc.digest} is not an image manifest`);
}
