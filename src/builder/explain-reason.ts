/**
 * Why a build step ran instead of coming from the cache: the first input that differs from the
 * last build of the same step position (same Dockerfile, target and tags). No builder says this
 * (BuildKit and Docker only print CACHED or not); the wording here is tsbuild's own. Pure: the
 * reasons are found by explain.ts, shown by every progress renderer through `missText`.
 */

/** A context (or `--from`) path whose content differs; digests as the cache key computed them. */
export interface ChangedPath {
  /** Relative to the source root (the context, or the `--from` image); a trailing `/` marks a
   *  directory whose files were too many to record one by one. */
  path: string;
  /** null: the path was not there last time (added). */
  old: string | null;
  /** null: the path is gone (removed). */
  new: string | null;
}

export type MissReason =
  /** `--no-cache`. */
  | { kind: 'no-cache' }
  /** Nothing recorded for this step position yet. */
  | { kind: 'first-build' }
  /** The step below it in the chain ran (or was taken from another build): its `id` in this
   *  build's events, and whether it ran in this build. */
  | { kind: 'earlier-step'; step: number; ran: boolean; name: string }
  /** The stage's base image is another one (image IDs; null for scratch, or not known: a named
   *  context's content). */
  | { kind: 'base-image'; ref: string; old: string | null; new: string | null }
  /** The instruction's text (as written in the Dockerfile). */
  | { kind: 'instruction'; old: string; new: string }
  /** An ARG in scope (RUN sees every one; other steps those their words name). Values are shown
   *  as Docker's history shows build args, with any `--secret` value masked; null = unset. */
  | { kind: 'build-arg'; name: string; old: string | null; new: string | null }
  /** An ENV value the RUN sees. */
  | { kind: 'env'; name: string; old: string | null; new: string | null }
  /** Files read by COPY/ADD: at most MAX_SHOWN paths, `more` counts the rest. */
  | { kind: 'files'; paths: ChangedPath[]; more: number }
  /** Another input of the key: `USER`, `WORKDIR`, `SHELL`/command, mounts, network, flags. */
  | { kind: 'input'; input: string }
  /** Every input is as it was last time: the cache entry is gone (`prune -a`, or another store). */
  | { kind: 'not-in-cache' };

/** A step that ran, with its reason: the build result lists these (the library's view). */
export interface StepMiss {
  /** The step's id in the build's events. */
  id: number;
  /** Its progress name (`[2/3] COPY . /app`). */
  name: string;
  reason: MissReason;
}

/** The one short line shown under the step, after `cache miss: `. */
export function missText(r: MissReason): string {
  switch (r.kind) {
    case 'no-cache':
      return '--no-cache';
    case 'first-build':
      return 'first build of this step';
    case 'earlier-step':
      return r.ran ? `an earlier step ran (#${r.step})` : `an earlier step changed (#${r.step})`;
    case 'base-image':
      // both unknown: a named context (--build-context) or a record without its base
      if (r.old === null && r.new === null) return r.ref ? `base ${r.ref} changed` : 'base image changed';
      return `base image ${r.ref} changed (${shortId(r.old)} → ${shortId(r.new)})`;
    case 'instruction':
      return 'instruction changed';
    case 'build-arg':
      return `build-arg ${r.name} changed (${shownValue(r.old)} → ${shownValue(r.new)})`;
    case 'env':
      return `env ${r.name} changed (${shownValue(r.old)} → ${shownValue(r.new)})`;
    case 'files':
      return filesText(r.paths, r.more);
    case 'input':
      return `${r.input} changed`;
    case 'not-in-cache':
      return 'inputs unchanged, but the cache entry is gone (pruned?)';
  }
}

function filesText(paths: ChangedPath[], more: number): string {
  if (paths.length === 0) return 'source files changed';
  const verb = (p: ChangedPath) => (p.old === null ? 'added' : p.new === null ? 'removed' : 'changed');
  const shown = paths.slice(0, 3);
  const same = shown.every((p) => verb(p) === verb(shown[0]!));
  const list = same ? shown.map((p) => p.path).join(', ') + ` ${verb(shown[0]!)}` : shown.map((p) => `${p.path} ${verb(p)}`).join(', ');
  const rest = paths.length - shown.length + more;
  return rest > 0 ? `${list} (and ${rest} more)` : list;
}

/** `sha256:0123456789ab…`, as short as a line allows. */
function shortId(d: string | null): string {
  if (d === null) return 'scratch';
  const m = /^(sha256:)?([0-9a-f]{12})[0-9a-f]*$/.exec(d);
  return m ? `${m[1] ?? ''}${m[2]}…` : d;
}

function shownValue(v: string | null): string {
  if (v === null) return 'unset';
  const one = v.length > 40 ? v.slice(0, 39) + '…' : v;
  return JSON.stringify(one).slice(1, -1) || '""';
}
