/**
 * The build context's digests for the COPY/ADD steps ahead, worked out while a RUN runs (this
 * thread only waits for the sandbox then): a COPY that reaches its turn finds its sources' digests
 * memoized in the context (context.ts) instead of walking and hashing them on the build's critical
 * path — BuildKit, too, reads the context before the steps that need it. Only what is known before
 * any step runs: sources and --exclude patterns written without variables, quotes or escapes, read
 * from the context (no --from, no heredoc, no URL or git source). Best-effort: whatever fails here
 * is left for the COPY itself to report; a source it gets wrong is simply not found in the memo.
 * A build that ends before its COPY steps closes the context (build.ts): no file is read after.
 */
import type { AddInstruction, CopyInstruction } from '../parser/instructions.js';
import type { BuildPlan } from './plan.js';
import type { BuildSession } from './session.js';
import { copyInputsDigest } from './steps/copy.js';
import { isGitUrl, isHttpUrl } from './steps/add-url.js';

/** A function that starts the digests of the plan's context sources the first time it is called
 *  and returns that work (later calls return the same; it never rejects); undefined when the plan
 *  has none to work out. */
export function contextPrefetch(session: Pick<BuildSession, 'context'>, plan: BuildPlan): (() => Promise<void>) | undefined {
  const wanted = plan.stages.flatMap((p) => p.stage.instructions).filter(prefetchable);
  if (wanted.length === 0) return undefined;
  let started: Promise<void> | undefined;
  return () => (started ??= prefetch(session, wanted).catch(() => {}));
}

/** Literal: what word expansion leaves as it is, whatever the variables and the escape token. */
const LITERAL = /^[A-Za-z0-9_.,:@%+=~/*?-]*$/;

function prefetchable(ins: { kind: string }): ins is CopyInstruction | AddInstruction {
  if (ins.kind !== 'copy' && ins.kind !== 'add') return false;
  const c = ins as CopyInstruction | AddInstruction;
  if ((c.kind === 'copy' && c.from !== undefined) || c.contents.length > 0 || c.sources.length === 0) return false;
  return [...c.sources, ...c.exclude].every((w) => LITERAL.test(w)) && !c.sources.some((s) => isHttpUrl(s) || isGitUrl(s));
}

async function prefetch(session: Pick<BuildSession, 'context'>, wanted: (CopyInstruction | AddInstruction)[]): Promise<void> {
  const context = await session.context();
  // one at a time, in the order the steps will ask: the first COPY's digests are ready first
  for (const ins of wanted) {
    await copyInputsDigest({
      isAdd: ins.kind === 'add',
      sources: ins.sources,
      dest: '/',
      workdir: '/',
      from: { kind: 'context', context },
      excludes: ins.exclude,
      ...(ins.kind === 'copy' ? { parents: ins.parents } : {}),
    }).catch(() => {});
  }
}
