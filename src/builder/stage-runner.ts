/**
 * Builds one stage: resolves its base (scratch, an earlier stage, or an image in the store), runs
 * the base image's ONBUILD triggers, then each instruction in order. Filesystem steps are numbered
 * in progress output as BuildKit numbers them: `[name 2/5] RUN ...` (FROM is step 1).
 */
import { TsbuildError } from '../errors.js';
import { emptyConfig } from '../image/config.js';
import type { Instruction } from '../parser/instructions.js';
import { parseDockerfile } from '../parser/parse.js';
import { toInstruction } from '../parser/to-instructions.js';
import { DEFAULT_PATH } from '../runtime/index.js';
import { ArgScope, envMap } from './args.js';
import { rootKey } from './cache-key.js';
import { explainerOf } from './explain.js';
import { StageExpander } from './expand.js';
import { at, type BuildPlan, type PlannedStage } from './plan.js';
import type { BuildSession } from './session.js';
import { cloneState, stateSnapshots, type StageState } from './stage-state.js';
import { applyMetadata } from './steps/metadata.js';
import { runStep } from './steps/run.js';
import { workdirStep } from './steps/workdir.js';
import { copyStep } from './steps/copy-instruction.js';
import { imageState, namedContextFor, namedContextState } from './build-contexts.js';
import type { ResolveBaseImageOptions } from './base-image.js';
import type { StoredImage } from '../image/store.js';
import { transferStatuses } from './transfer-status.js';
import { awaitBlobCommits, writeRecordedSteps } from './step-records.js';

/**
 * A base or `--from` image: the store's copy when there is one and no `--pull`, without loading the
 * registry client at all (most builds never need it); otherwise base-image.ts decides and pulls.
 */
async function resolveImage(session: BuildSession, ref: string, opts: ResolveBaseImageOptions): Promise<StoredImage> {
  if (!opts.pull && !ref.includes('@')) {
    const local = await session.store.getImage(ref).catch(() => undefined);
    if (local) return local;
  }
  const { resolveBaseImage } = await import('./base-image.js');
  return resolveBaseImage(session.store, ref, { ...opts, registry: session.registry });
}

const FS_KINDS = new Set<Instruction['kind']>(['run', 'copy', 'add', 'workdir']);

export interface StageRun {
  plan: BuildPlan;
  planned: PlannedStage;
  /** The result of any stage of this build (awaits it). */
  stageResult(index: number): Promise<StageState>;
  /** The prefix in step names: '' for a single-stage build, else the stage name or `stage-N`. */
  label: string;
}

/**
 * What of a build is running: stages, and steps in flight (across stages). A RUN's snapshot is
 * committed deferred (snapshots.ts: it waits for a sync of the store) and used where it is until
 * settled; settling renames it, so it happens only while no step may be reading a snapshot by
 * path: between steps when no other is in flight, and once the last stage has ended.
 */
const activity = new WeakMap<BuildSession, { stages: number; steps: number }>();

function activityOf(session: BuildSession): { stages: number; steps: number } {
  let a = activity.get(session);
  if (!a) activity.set(session, (a = { stages: 0, steps: 0 }));
  return a;
}

export async function runStage(session: BuildSession, run: StageRun): Promise<StageState> {
  const a = activityOf(session);
  a.stages++;
  let failed = false;
  try {
    return await runStageSteps(session, run, a);
  } catch (e) {
    failed = true;
    throw e;
  } finally {
    // the build's last stage (done or failed) waits for the syncs: its snapshots then stay, and
    // the steps it ran are recorded in the cache (a failure here never hides the step's own)
    if (--a.stages === 0) {
      try {
        // (the records need only their blobs: written while the snapshots' sync runs); every layer
        // blob is in the store before the image can refer to it
        const settled = session.snapshotter.settle({ wait: true });
        // (and what was made ahead for a RUN that did not come: the build failed before it)
        const dropped = Promise.all([session.snapshotter.dropWarm?.(), session.runtime.dropWarm?.()]);
        await Promise.all([settled, writeRecordedSteps(session, { all: true }), awaitBlobCommits(session), Promise.all(session.background), dropped]);
      } catch (e) {
        if (!failed) throw e;
      }
    }
  }
}

async function runStageSteps(session: BuildSession, run: StageRun, a: { steps: number }): Promise<StageState> {
  const { planned } = run;
  const x = new StageExpander(session.escapeToken);
  const prefix = run.label ? run.label + ' ' : '';
  let total = 1 + planned.stage.instructions.filter((i) => FS_KINDS.has(i.kind)).length;
  const state = await baseState(session, run, `[${prefix}1/${total}] FROM`);
  const triggers = onbuildTriggers(state, planned);
  const instructions = [...triggers, ...planned.stage.instructions];
  total += triggers.filter((i) => FS_KINDS.has(i.kind)).length;
  let n = 1;
  const stepName = (ins: Instruction) => `[${prefix}${++n}/${total}] ${ins.original}`;
  const resolveFrom = (from: string) => fromDirs(session, run, from);
  for (const ins of instructions) {
    session.options.signal?.throwIfAborted();
    if (ins.kind === 'run' && !triggers.includes(ins)) session.runsAhead--;
    a.steps++;
    try {
      await runInstruction(session, state, ins, x, stepName, resolveFrom);
    } catch (e) {
      // a user error from below (a missing COPY source, a bad --chown user...) points at its line
      if (e instanceof TsbuildError && !e.location) throw new TsbuildError(e.code, e.message, at(ins.location), e.exitCode);
      throw e;
    } finally {
      a.steps--;
    }
    // the snapshots whose sync is done appear in the store (not waited for: it runs meanwhile);
    // cache entries waiting for a while are written
    if (a.steps === 0) {
      await session.snapshotter.settle({ wait: false });
      await writeRecordedSteps(session, { all: false });
    }
  }
  return state;
}

async function runInstruction(
  session: BuildSession,
  state: StageState,
  ins: Instruction,
  x: StageExpander,
  stepName: (ins: Instruction) => string,
  resolveFrom: (from: string) => Promise<string[]>,
): Promise<void> {
  if (applyMetadata(session, state, ins, x)) return;
  switch (ins.kind) {
    case 'run':
      return runStep(session, state, ins, x, stepName(ins), resolveFrom);
    case 'workdir':
      return workdirStep(session, state, ins, x, stepName(ins));
    case 'copy':
    case 'add':
      return copyStep(session, state, ins, x, stepName(ins), resolveFrom);
    default:
      throw new TsbuildError('INVALID', `${ins.kind.toUpperCase()} is not allowed here`, at(ins.location));
  }
}

async function baseState(session: BuildSession, run: StageRun, label: string): Promise<StageState> {
  const { planned } = run;
  const base = planned.base;
  let state: StageState;
  if (base.kind === 'stage') {
    state = cloneState(await run.stageResult(base.index));
  } else if (base.kind === 'context') {
    state = cloneState(await namedContextState(session, base.name, (ref) => resolveImage(session, ref, { pull: !!session.options.pull })));
  } else if (base.kind === 'scratch') {
    const config = emptyConfig();
    // BuildKit's empty image has WorkingDir "/" (its config shows it)
    config.config = { ...config.config, WorkingDir: '/' };
    state = {
      config: { ...config, config: config.config ?? {}, history: [] },
      layers: [],
      fsKey: rootKey('scratch'),
      args: new ArgScope(),
      cmdSet: false,
      baseImage: { layers: 0 },
    };
  } else {
    const id = session.events.start(`${label} ${base.ref}`);
    let image;
    try {
      image = await resolveImage(session, base.ref, {
        pull: !!session.options.pull,
        ...(session.options.platform ? { platform: session.options.platform } : {}),
        onProgress: transferStatuses(session.events, id),
      });
    } catch (e) {
      const message = `failed to resolve source metadata for ${base.ref}: ${(e as Error).message}`;
      session.events.emit({ type: 'step-error', id, message });
      if (e instanceof TsbuildError) throw new TsbuildError(e.code, message, at(planned.stage.from.location));
      throw e;
    }
    session.events.emit({ type: 'step-done', id });
    state = imageState(session, image);
    explainerOf(session).noteBase(state.fsKey, base.ref, image.id);
  }
  // BuildKit gives every stage a PATH when its base has none
  const env = envMap(state.config.config.Env);
  if (!env.has('PATH')) state.config.config.Env = [`PATH=${DEFAULT_PATH}`, ...(state.config.config.Env ?? [])];
  // the new image is made now, for this platform
  delete state.config.created;
  return state;
}

/** The base's ONBUILD triggers, parsed as instructions of this stage; they are cleared after. */
function onbuildTriggers(state: StageState, planned: PlannedStage): Instruction[] {
  const triggers = state.config.config.OnBuild ?? [];
  state.config.config.OnBuild = null;
  if (triggers.length === 0) return [];
  const file = `${planned.stage.from.location.file} (ONBUILD of ${planned.stage.baseName})`;
  const parsed = parseDockerfile(triggers.join('\n') + '\n', { file });
  return parsed.nodes.map((node) => {
    const ins = toInstruction(node);
    if (ins.kind === 'from' || ins.kind === 'onbuild' || ins.kind === 'maintainer') {
      throw new TsbuildError('INVALID', `${ins.kind.toUpperCase()} is not allowed as an ONBUILD trigger`, at(ins.location));
    }
    return ins;
  });
}

/** The snapshot dirs of `COPY --from` / bind `from=` sources: a stage by name or index, else an image. */
async function fromDirs(session: BuildSession, run: StageRun, from: string): Promise<string[]> {
  const context = namedContextFor(session.options.buildContexts, from);
  if (context !== undefined) return stateSnapshots(session, await namedContextState(session, context, (ref) => resolveImage(session, ref, { pull: false })));
  const stages = run.plan.stages;
  const byName = stages.find((p) => p.stage.name === from.toLowerCase());
  const byIndex = /^[0-9]+$/.test(from) ? stages.find((p) => p.stage.index === Number(from)) : undefined;
  const dep = byName ?? byIndex;
  if (dep && dep.stage.index < run.planned.stage.index) return stateSnapshots(session, await run.stageResult(dep.stage.index));
  let image;
  try {
    image = await resolveImage(session, from, { pull: false });
  } catch (e) {
    if (e instanceof TsbuildError) throw new TsbuildError(e.code, `--from=${from}: not a stage of this Dockerfile, and as an image: ${e.message}`);
    throw e;
  }
  return session.snapshotter.mounts(image);
}
