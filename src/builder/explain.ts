/**
 * Explained cache misses: for each filesystem step that runs instead of coming from the cache, the
 * first input that differs from the last build of the same step position. Positions are scoped by
 * Dockerfile path, target and tags, and identified inside a build as the progress names number
 * them (`[stage 3/7]`). The inputs of the last build per position are kept as one record in the
 * store's cache index (so `prune -a` drops them with the cache; a handful of KB per step: field
 * digests, ARG/ENV values as history shows them, and at most MAX_PATHS file digests per COPY —
 * all taken from what the cache key was computed from, nothing is read again).
 *
 * Order of the checks (the chain first, as the key is): --no-cache, nothing recorded, the parent
 * (an earlier step or the base image), the instruction's text, ARG/ENV values, the files read,
 * the other key inputs; with all of them equal the cache entry itself is gone.
 */
import { resolve, join } from 'node:path';
import type { Digest } from '../image/digest.js';
import { envMap } from './args.js';
import { canonicalJson, digestOf, rootKey } from './cache-key.js';
import { changedPaths, type SourceFiles, type SourceFilesCollector } from './explain-files.js';
import type { MissReason, StepMiss } from './explain-reason.js';
import { secretRedactor } from './secret-redaction.js';
import type { Redactor } from './log-lines.js';
import type { BuildSession } from './session.js';
import type { StageState } from './stage-state.js';

export type { MissReason, StepMiss } from './explain-reason.js';

/** What a filesystem step hands over for explaining (fs-step.ts). */
export interface ExplainedStep {
  id: number;
  name: string;
  /** The step's cache key and its parent's (the filesystem below it). */
  key: string;
  parent: string;
  /** The key's inputs (FsStep.key). */
  inputs: Record<string, unknown>;
  state: StageState;
  /** The files a COPY/ADD read, when it read any. */
  files?: SourceFilesCollector;
}

const RECORD_PREFIX = 'tsbuild-explain-v1:';
/** Most step positions one record keeps. */
const MAX_STEPS = 512;
/** Instruction text and values are kept up to this many characters (compared by digest). */
const MAX_TEXT = 400;
const MAX_VALUE = 200;
const MAX_VARS = 128;

interface ValueRecord {
  /** Digest of the whole value. */
  d: string;
  /** As shown: clipped, secrets masked. */
  v: string;
}

interface StepRecord {
  key: string;
  parent: string;
  /** When the parent is a stage's root: the base image (id null for scratch). */
  base?: { ref: string; id: string | null };
  text: ValueRecord;
  /** Digest of each input of the key. */
  fields: Record<string, string>;
  args: Record<string, ValueRecord>;
  env: Record<string, ValueRecord>;
  files?: SourceFiles;
}

interface ExplainRecord {
  steps: Record<string, StepRecord>;
}

const SCRATCH_KEY = rootKey('scratch');

/** One build's explainer: the last build's record in, this build's reasons and record out. */
export class Explainer {
  /** Steps that ran in this build, in order, with their reasons. */
  readonly misses: StepMiss[] = [];
  private readonly recordKey: string;
  private old: ExplainRecord | undefined;
  private readonly now = new Map<string, StepRecord>();
  /** Keys produced in this build: which step, and whether it ran. */
  private readonly origins = new Map<string, { id: number; ran: boolean; name: string }>();
  /** Root keys of stages: their base image. */
  private readonly bases = new Map<string, { ref: string; id: string | null }>([[SCRATCH_KEY, { ref: 'scratch', id: null }]]);
  private readonly redactor: Redactor | undefined;
  /** This build's file lists by step id (computed once: for the reason and for the record). */
  private readonly fileLists = new Map<number, Promise<SourceFiles>>();
  /** File lists of this build's records still being walked. */
  private readonly pendingFiles = new Map<StepRecord, Promise<SourceFiles>>();

  constructor(private readonly session: BuildSession) {
    const o = session.options;
    const dockerfile = o.dockerfileText !== undefined ? `stdin:${resolve(o.contextDir)}` : resolve(o.dockerfile ?? join(o.contextDir, 'Dockerfile'));
    this.recordKey = RECORD_PREFIX + digestOf({ dockerfile, target: o.target ?? '', tags: [...(o.tags ?? [])].sort() });
    this.old = session.store.cacheGet<ExplainRecord>(this.recordKey);
    this.redactor = secretRedactor(o.secrets);
  }

  /** A stage's root key and the image it stands for. */
  noteBase(key: string, ref: string, imageId: string): void {
    this.bases.set(key, { ref, id: imageId });
  }

  /** Why `step` runs (it missed the cache); the reason is also kept for the build result. */
  async reason(step: ExplainedStep): Promise<MissReason> {
    const r = await this.findReason(step);
    this.misses.push({ id: step.id, name: step.name, reason: r });
    return r;
  }

  /** Records the step's inputs as this build's (called for every step, cached or run). */
  note(step: ExplainedStep, ran: boolean): void {
    this.origins.set(step.key, { id: step.id, ran, name: step.name });
    const pos = positionOf(step.name);
    const prev = this.old?.steps[pos];
    const rec = this.inputsOf(step);
    if (step.files) {
      // an unchanged key read the same files: keep their list rather than walk again; a new list
      // is walked while later steps run (only the record at the end needs it)
      if (prev?.files && prev.key === step.key) rec.files = prev.files;
      else {
        this.pendingFiles.set(rec, this.filesOf(step));
      }
    }
    this.now.set(pos, rec);
  }

  /** Writes this build's record: in full after a success, merged into the last one after a failure. */
  async save(succeeded: boolean): Promise<void> {
    if (this.now.size === 0) return;
    for (const [rec, pending] of this.pendingFiles) {
      // a file gone meanwhile costs the next build its file names, not the record
      const files = await pending.catch(() => undefined);
      if (files) rec.files = files;
    }
    const steps: Record<string, StepRecord> = succeeded ? {} : { ...(this.old?.steps ?? {}) };
    for (const [pos, rec] of this.now) steps[pos] = rec;
    const names = Object.keys(steps);
    for (const extra of names.slice(MAX_STEPS)) delete steps[extra];
    // a no-op rebuild writes nothing (not even a temp file)
    if (this.old && canonicalJson(this.old.steps) === canonicalJson(steps)) return;
    await this.session.store.cachePut(this.recordKey, { steps } satisfies ExplainRecord, [] as Digest[]);
  }

  // ---------------------------------------------------------------------------------------------

  private async findReason(step: ExplainedStep): Promise<MissReason> {
    if (this.session.options.noCache) return { kind: 'no-cache' };
    const prev = this.old?.steps[positionOf(step.name)];
    if (!prev) return { kind: 'first-build' };
    if (prev.parent !== step.parent) {
      const origin = this.origins.get(step.parent);
      if (origin) return { kind: 'earlier-step', step: origin.id, ran: origin.ran, name: origin.name };
      const base = this.bases.get(step.parent);
      if (!base) return { kind: 'base-image', ref: prev.base?.ref ?? '', old: null, new: null };
      return { kind: 'base-image', ref: base.ref, old: prev.base?.id ?? null, new: base.id };
    }
    const now = this.inputsOf(step);
    if (now.text.d !== prev.text.d) return { kind: 'instruction', old: prev.text.v, new: now.text.v };
    const isRun = 'env' in step.inputs && prev.fields.env !== undefined;
    if (isRun && now.fields.env !== prev.fields.env) {
      const v = changedVar(prev, now, () => true);
      if (v) return v;
    }
    const text = now.text.v;
    const named = (name: string) => new RegExp(`\\$\\{?${name}\\b`).test(text);
    const v = changedVar(prev, now, named);
    if (v && !isRun) return v;
    if (step.files && now.fields.inputs !== prev.fields.inputs) {
      const files = await this.filesOf(step).catch(() => undefined);
      if (prev.files && files) {
        const { paths, more } = changedPaths(prev.files, files);
        if (paths.length > 0) return { kind: 'files', paths, more };
      }
      return { kind: 'files', paths: [], more: 0 };
    }
    for (const field of ORDER) {
      if (now.fields[field] !== prev.fields[field]) return { kind: 'input', input: FIELD_NAMES[field] ?? field };
    }
    for (const field of Object.keys({ ...now.fields, ...prev.fields }).sort()) {
      if (now.fields[field] !== prev.fields[field]) return { kind: 'input', input: FIELD_NAMES[field] ?? field };
    }
    return { kind: 'not-in-cache' };
  }

  private filesOf(step: ExplainedStep): Promise<SourceFiles> {
    let p = this.fileLists.get(step.id);
    if (!p) {
      this.fileLists.set(step.id, (p = step.files!.files()));
      p.catch(() => {}); // awaited later (or never): a failed walk must not be an unhandled rejection
    }
    return p;
  }

  private inputsOf(step: ExplainedStep): StepRecord {
    const fields: Record<string, string> = {};
    for (const [k, v] of Object.entries(step.inputs)) if (v !== undefined) fields[k] = digestOf(v);
    const rec: StepRecord = {
      key: step.key,
      parent: step.parent,
      text: this.value(instructionText(step.name), MAX_TEXT),
      fields,
      args: this.values(step.state.args.defined()),
      env: this.values([...envMap(step.state.config.config.Env)]),
    };
    const base = this.bases.get(step.parent);
    if (base) rec.base = base;
    return rec;
  }

  private values(entries: Array<[string, string]>): Record<string, ValueRecord> {
    const out: Record<string, ValueRecord> = {};
    for (const [k, v] of entries.slice(0, MAX_VARS)) out[k] = this.value(v, MAX_VALUE);
    return out;
  }

  private value(v: string, max: number): ValueRecord {
    const shown = this.redactor ? this.redactor.redact(Buffer.from(v)).toString() : v;
    return { d: digestOf(v), v: shown.length > max ? shown.slice(0, max - 1) + '…' : shown };
  }
}

/** Key inputs in the order they are named, and their names for people. */
const ORDER = ['argv', 'user', 'workdir', 'mounts', 'network', 'dest', 'chown', 'chmod', 'excludes'];
const FIELD_NAMES: Record<string, string> = {
  argv: 'command (SHELL or the command itself)',
  user: 'USER',
  workdir: 'WORKDIR',
  mounts: 'RUN --mount',
  network: 'RUN --network',
  dest: 'destination',
  chown: '--chown',
  chmod: '--chmod',
  excludes: '--exclude',
  inputs: 'sources',
};

/** The first ARG (then ENV) that `relevant` picks and whose value differs. */
function changedVar(prev: StepRecord, now: StepRecord, relevant: (name: string) => boolean): MissReason | undefined {
  for (const [kind, a, b] of [['build-arg', prev.args, now.args], ['env', prev.env, now.env]] as const) {
    for (const name of new Set([...Object.keys(a), ...Object.keys(b)])) {
      if (!relevant(name) || a[name]?.d === b[name]?.d) continue;
      // an ARG shadowed by an ENV of the same name is the ENV's business
      if (kind === 'build-arg' && (now.env[name] || prev.env[name])) continue;
      return { kind, name, old: a[name]?.v ?? null, new: b[name]?.v ?? null };
    }
  }
  return undefined;
}

/** `[build 3/7] RUN make` → `build 3`: the stage and the step's number in it. */
export function positionOf(name: string): string {
  const m = /^\[(.*?)\s*(\d+)\/\d+\]/.exec(name);
  return m ? `${m[1]} ${m[2]}` : name;
}

/** `[build 3/7] RUN make` → `RUN make`. */
function instructionText(name: string): string {
  return name.replace(/^\[[^\]]*\]\s*/, '');
}

const explainers = new WeakMap<BuildSession, Explainer>();

/** The build's explainer (made on first use). */
export function explainerOf(session: BuildSession): Explainer {
  let e = explainers.get(session);
  if (!e) explainers.set(session, (e = new Explainer(session)));
  return e;
}

/** Keeps this build's step inputs for the next build's explanations; never fails the build (a
 *  record that cannot be written only loses the next build its reasons). */
export async function saveExplanations(session: BuildSession, succeeded: boolean): Promise<void> {
  try {
    await explainers.get(session)?.save(succeeded);
  } catch {
    /* see above */
  }
}

/** The reasons of the steps that ran in this build (none when every step was cached). */
export function buildMisses(session: BuildSession): StepMiss[] {
  return explainers.get(session)?.misses ?? [];
}
