/**
 * A build's cache entries for the steps it ran, written at the stage runner's settle points rather
 * right after each step. Writing one (store.cachePut: a temp file fsynced, renamed, its directory
 * fsynced) after a COPY or RUN committed the filesystem's journal with everything the step had
 * just made — a snapshot's links and dirs, its blob's metadata — while the build waited: 10-200 ms
 * per step here, under other I/O. Written after the snapshots' sync (snapshots.ts settle), the
 * journal has little left to commit. An entry is only ever written after its layer's blob is in the
 * store (as before); until then this build answers its own look-ups from memory. A build killed
 * before it wrote them makes those steps run again next time (as if they had not finished), never
 * an entry without its layer; entries older than FLUSH_AFTER_MS are written at the next point
 * between steps, so a long build loses at most the last few seconds of steps.
 */
import type { Digest } from '../image/digest.js';
import type { BuildSession } from './session.js';

interface Pending {
  value: unknown;
  refs: Digest[];
  /** When it was recorded (ms since the epoch). */
  at: number;
}

const FLUSH_AFTER_MS = 2000;

const pending = new WeakMap<BuildSession, Map<string, Pending>>();

/** Records `value` under `key` (see store.cachePut) to be written at the next settle point. */
export function recordStep(session: BuildSession, key: string, value: unknown, refs: Digest[]): void {
  let m = pending.get(session);
  if (!m) pending.set(session, (m = new Map()));
  m.delete(key); // (re-inserted last: the map's order is the recording order)
  m.set(key, { value, refs, at: Date.now() });
}

/** A step of this build not written yet: what a look-up of `key` in the store would give. */
export function recordedStep<T>(session: BuildSession, key: string): T | undefined {
  return pending.get(session)?.get(key)?.value as T | undefined;
}

/** Writes the recorded entries: all of them with `all`, else only when the oldest has waited
 *  FLUSH_AFTER_MS (then all: one journal commit for them). */
export async function writeRecordedSteps(session: BuildSession, opts: { all: boolean }): Promise<void> {
  const m = pending.get(session);
  if (!m || m.size === 0) return;
  if (!opts.all && Date.now() - m.values().next().value!.at < FLUSH_AFTER_MS) return;
  for (const [key, p] of [...m]) {
    await session.store.cachePut(key, p.value, p.refs);
    m.delete(key);
  }
}
