/**
 * `build(parts, options)`: Dockerfile in, image in the store (and any exports) out, events along the way.
 * parse → plan (stages, meta ARGs, target pruning) → stages run concurrently as far as their
 * dependencies allow → the target's config and layers become an image → tags and outputs.
 */
import { createWriteStream } from 'node:fs';
import { TsbuildError } from '../errors.js';
import { humanSize } from '../image/display.js';
import { normalizeTag } from '../image/store.js';
import { layerListing } from '../image/layer-listing.js';
import { computeWaste, mayWasteEnough, wasteHint } from '../image/wasted-space.js';
import type { ImageConfig } from '../image/config.js';
import { parseDockerfile } from '../parser/parse.js';
import { toInstructions } from '../parser/to-instructions.js';
import { BuildContext } from './context.js';
import { namedContextFor } from './build-contexts.js';
import { collectChecks } from './checks/build-checks.js';
import { readDockerfile } from './dockerfile-source.js';
import { EventEmitterHub, checkWarningEvent } from './events.js';
import type { BuildOptions, BuildResult } from './options.js';
import type { BuildParts } from './parts.js';
import { checkNetworkEntitlements } from './network-policy.js';
import { planBuild } from './plan.js';
import type { BuildSession } from './session.js';
import { buildMisses, saveExplanations } from './explain.js';
import { runStage } from './stage-runner.js';
import { isGitUrl, isHttpUrl } from './steps/add-url.js';
import { transferStatuses } from './transfer-status.js';
import { warmRuns } from './steps/run-limits.js';
import { contextPrefetch } from './copy-prefetch.js';
import { fillHistoryTimes, rfc3339, type StageState } from './stage-state.js';

export type { BuildOptions, BuildResult } from './options.js';
export type { BuildEvent } from './events.js';
export type { BuildParts, BuildStore, RegistryAccess } from './parts.js';

/** Builds with the caller's parts; the caller opened them and closes them (see src/open.ts). */
export async function build(parts: BuildParts, options: BuildOptions): Promise<BuildResult> {
  const { contextDir, path: dockerfilePath, displayName, text } = await readDockerfile(options);
  const parsed = parseDockerfile(text, { file: displayName });
  const instructions = toInstructions(parsed);
  const buildArgs = options.buildArgs ?? {};
  const plan = planBuild(instructions, {
    buildArgs,
    ...(options.target !== undefined ? { target: options.target } : {}),
    escapeToken: parsed.escapeToken,
    ...(options.buildContexts ? { namedContext: (word: string) => namedContextFor(options.buildContexts, word) } : {}),
  });
  // BuildKit refuses host networking without the entitlement before anything runs
  checkNetworkEntitlements(options.network ?? 'default', options.allow, plan.stages.flatMap((p) => p.stage.instructions));
  // names are checked before any step runs, as `tag` and `import` do (not after the whole build)
  const tags = options.tags ?? [];
  for (const t of tags) normalizeTag(t);
  if (options.push && tags.length === 0) throw new TsbuildError('USAGE', '--push needs at least one -t NAME:TAG to push to');

  const events = new EventEmitterHub(options.onEvent);
  const startedOn = new Date();
  // build checks (BuildKit's linter) before any step: `# check=error=true` fails here
  const checks = await collectChecks(parts.store, {
    parsed, instructions, buildArgs, stages: new Set(plan.stages.map((p) => p.stage.index)), contextDir,
    ...(options.dockerfileText === undefined ? { dockerfilePath } : {}),
  });
  for (const w of checks.warnings) events.emit(checkWarningEvent(w));
  if (checks.error) throw checks.error;
  const epochText = buildArgs.SOURCE_DATE_EPOCH ?? process.env.SOURCE_DATE_EPOCH;
  const sourceDateEpoch = epochText !== undefined && epochText !== '' ? parseEpoch(epochText) : undefined;
  const created = rfc3339(sourceDateEpoch !== undefined ? sourceDateEpoch * 1000 : Date.now());
  const { store } = parts;
  let context: Promise<BuildContext> | undefined;
  const session: BuildSession = {
    store,
    snapshotter: parts.snapshotter,
    runtime: parts.runtime,
    registry: parts.registry,
    events,
    options: { ...options, buildArgs },
    escapeToken: parsed.escapeToken,
    context: () =>
      (context ??= BuildContext.open(contextDir, {
        ...(options.dockerfileText === undefined ? { dockerfile: dockerfilePath } : {}),
        checksumCacheDir: store.stateDir('context-checksums'),
      })),
    created,
    sourceDateEpoch,
    globalArgs: plan.globalArgs,
    unusedBuildArgs: new Set(Object.keys(buildArgs).filter((k) => !plan.declaredArgs.has(k) && !isPredefinedArg(k))),
    layersMade: 0,
    runsAhead: plan.stages.reduce((n, p) => n + p.stage.instructions.filter((i) => i.kind === 'run').length, 0),
    background: new Set(),
  };
  const prefetch = contextPrefetch(session, plan);
  if (prefetch) session.prefetch = prefetch;
  events.emit({ type: 'build-start' });
  // every step will run: the first RUN's sandbox is made ready while the context and plan are read
  if (options.noCache) warmRuns(session);
  try {
    if (options.cacheFrom?.length || options.cacheTo?.length) {
      // loaded only when asked for: the registry client is a tenth of a second of start-up
      const { BuildRemoteCache } = await import('./remote-cache.js');
      session.remoteCache = await BuildRemoteCache.open(store, {
        registry: parts.registry,
        cacheFrom: options.cacheFrom ?? [],
        cacheTo: options.cacheTo ?? [],
        onWarning: (message) => events.emit({ type: 'warning', message }),
      });
      if (options.cacheFrom?.some((s) => s.mounts)) {
        const { importMountsForBuild } = await import('./cache-mounts-export.js');
        await importMountsForBuild({ store, events, client: () => parts.registry.client() }, options.cacheFrom);
      }
    }
    const results = new Map<number, Promise<StageState>>();
    const multi = plan.stages.length > 1 || instructions.stages.length > 1;
    const abort = new AbortController();
    const stageResult = (i: number) => {
      const r = results.get(i);
      if (!r) throw new Error(`internal: stage ${i} was not planned`);
      return r;
    };
    for (const planned of plan.stages) {
      const label = multi ? planned.stage.name ?? `stage-${planned.stage.index}` : '';
      const p = runStage(session, { plan, planned, stageResult, label });
      p.catch(() => abort.abort());
      results.set(planned.stage.index, p);
    }
    const all = await Promise.allSettled([...results.values()]);
    const failed = all.find((r) => r.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
    const final = await stageResult(plan.target);
    if (session.unusedBuildArgs.size > 0) {
      events.emit({ type: 'warning', message: `One or more build-args [${[...session.unusedBuildArgs].join(' ')}] were not consumed` });
    }

    const config: ImageConfig = { ...final.config, created: fillHistoryTimes(final.config.history) ?? created };
    if (options.labels && Object.keys(options.labels).length) {
      config.config = { ...final.config.config, Labels: { ...(final.config.config.Labels ?? {}), ...options.labels } };
    }
    // --squash changes only what is exported: the steps' own layers stay in the cache
    const squashed = options.squash ? await (await import('./squash.js')).squashImage(session, final, config) : undefined;
    const image = await store.putImage({ config: squashed?.config ?? config, layers: squashed?.layers ?? final.layers, tags });
    if (options.provenance) {
      // recorded beside the image before any push, which then sends it as an attestation manifest
      const { recordProvenance } = await import('./provenance.js');
      await recordProvenance(store, image, {
        mode: options.provenance.mode, dockerfileName: displayName, dockerfileText: text, buildArgs, plan, startedOn, finishedOn: new Date(),
        ...(options.target !== undefined ? { target: options.target } : {}),
        ...(context ? { contextDigest: await (await context).digest('.') } : {}),
      });
    }
    await session.remoteCache?.flush({ finalLayers: final.layers.map((l) => l.digest) });
    if (options.cacheTo?.some((s) => s.mounts)) {
      const [{ exportMountsForBuild }, { usedCacheMounts }] = await Promise.all([import('./cache-mounts-export.js'), import('./cache-mount-uses.js')]);
      await exportMountsForBuild({ store, events, client: () => parts.registry.client() }, options.cacheTo, usedCacheMounts(session));
    }
    if (options.push) {
      const [{ pushImage }, { parseReference }] = await Promise.all([import('../registry/push.js'), import('../image/reference.js')]);
      const client = await parts.registry.client();
      for (const t of tags) {
        const id = events.start(`pushing ${t}`);
        const pushed = await pushImage(client, parseReference(t), store, { onProgress: transferStatuses(events, id) });
        events.emit({ type: 'step-status', id, item: `pushing manifest for ${t}@${pushed.digest}`, done: true });
        events.emit({ type: 'step-done', id });
      }
    }
    if (context) await (await context).saveCache();
    for (const out of options.outputs ?? []) {
      if (out.type === 'image') continue;
      if (out.type === 'docker' || out.type === 'oci') {
        const { saveImages } = await import('../image/archive-save.js');
        const stream = createWriteStream(out.dest);
        await saveImages(store, image.tags.length ? image.tags : [image.id], stream, { format: out.type });
        await new Promise<void>((res, rej) => stream.end((e?: Error | null) => (e ? rej(e) : res())));
      } else {
        const { exportRootfs } = await import('./export-rootfs.js');
        await exportRootfs(store, final.layers, out as { type: "tar" | "local"; dest: string });
      }
    }
    // each layer's listing, remembered when it was written (layer-listing.ts; an old layer's is never
    // re-scanned): it names the waste while the Dockerfile is still in the user's mind; only a hint,
    // so an unreadable layer never fails the build
    // a fully cached rebuild made no layer: its hint (if any) was shown when they were made; a
    // quiet build shows no warning, so it has no hint to work out; nor has an image too small to
    // waste enough for one (mayWasteEnough: from the layers' sizes, no listing read)
    let hint: string | undefined;
    const shipped = squashed?.layers ?? final.layers;
    if (session.layersMade > 0 && options.warningsShown !== false && mayWasteEnough(shipped.map((l) => l.size))) try {
      const waste = computeWaste(shipped.map((l) => layerListing(store, l.digest)));
      hint = wasteHint(waste, tags[0] ?? image.id.replace(/^sha256:/, '').slice(0, 12), humanSize);
    } catch {
      hint = undefined;
    }
    if (hint) events.emit({ type: 'warning', message: hint });
    await saveExplanations(session, true);
    events.emit({ type: 'build-done', imageId: image.id, tags: image.tags });
    return { imageId: image.id, manifestDigest: image.manifestDigest, tags: image.tags, misses: buildMisses(session), remoteSources: readsRemoteSources(instructions) };
  } catch (e) {
    await saveExplanations(session, false);
    throw e;
  } finally {
    session.remoteCache?.close();
    // (a failed build may leave the digests of COPY steps it never reached being worked out)
    if (context) void context.then((c) => c.close(), () => {});
  }
}

/** An ADD of a URL or git repository (or of a source named by a variable): a rerun may differ. */
function readsRemoteSources(instructions: ReturnType<typeof toInstructions>): boolean {
  return instructions.stages.some((st) => st.instructions.some((i) => i.kind === 'add' && i.sources.some((src) => src.includes('$') || isHttpUrl(src) || isGitUrl(src))));
}

function parseEpoch(v: string): number {
  if (!/^[0-9]+$/.test(v)) throw new TsbuildError('INVALID', `invalid SOURCE_DATE_EPOCH ${JSON.stringify(v)}: expected seconds since the epoch`);
  return Number(v);
}

const PREDEFINED = new Set([
  'HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'https_proxy', 'FTP_PROXY', 'ftp_proxy', 'NO_PROXY', 'no_proxy', 'ALL_PROXY', 'all_proxy',
  'SOURCE_DATE_EPOCH', 'BUILDKIT_INLINE_CACHE', 'BUILDKIT_SYNTAX', 'BUILDKIT_DOCKERFILE_CHECK',
]);

function isPredefinedArg(k: string): boolean {
  return PREDEFINED.has(k);
}
