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
 * The layer blobs of RUN and COPY steps are committed the same way (BlobStore.put's commitLater):
 * the step goes on once its bytes are written and hashed, while their fsync and rename into the
 * store run in the background; a record waits for its blob's commit, and the build's last stage
 * waits for them all (a failed one fails the build) before the image can refer to them.
 */
import type { Digest } from '../image/digest.js';
import type { BuildSession } from './session.js';

interface Pending {
  value: unknown;
  refs: Digest[];
  /** When it was recorded (ms since the epoch). */
  at: number;
  /** Its layer blob's commit, if that is still going on; `done` once it settled. */
  blob?: Promise<void>;
  done: boolean;
}

const FLUSH_AFTER_MS = 2000;

const pending = new WeakMap<BuildSession, Map<string, Pending>>();
const blobCommits = new WeakMap<BuildSession, Map<string, Promise<void>>>();

/** BlobStore.put's `commitLater` for this build's layers: their commits, kept by digest. */
export function commitLaterIn(session: BuildSession): (commit: Promise<void>, info: { digest: string }) => void {
  return (commit, info) => {
    let m = blobCommits.get(session);
    if (!m) blobCommits.set(session, (m = new Map()));
    m.set(info.digest, commit);
  };
}

/** The commit of a layer blob this build wrote, while it may still be going on. */
export function blobCommit(session: BuildSession, digest: string): Promise<void> | undefined {
  return blobCommits.get(session)?.get(digest);
}

/** Waits for every layer blob this build committed in the background; throws the first failure
 *  (a layer that could not be stored: the image must not refer to it). */
export async function awaitBlobCommits(session: BuildSession): Promise<void> {
  const m = blobCommits.get(session);
  if (!m) return;
  const all = await Promise.allSettled(m.values());
  m.clear();
  const failed = all.find((r) => r.status === 'rejected');
  if (failed) throw (failed as PromiseRejectedResult).reason;
}

/** Records `value` under `key` (see store.cachePut) to be written at the next settle point, and
 *  only once its layer blob (`refs[0]`) is in the store. */
export function recordStep(session: BuildSession, key: string, value: unknown, refs: Digest[]): void {
  let m = pending.get(session);
  if (!m) pending.set(session, (m = new Map()));
  m.delete(key); // (re-inserted last: the map's order is the recording order)
  const blob = refs[0] !== undefined ? blobCommit(session, refs[0]) : undefined;
  const p: Pending = { value, refs, at: Date.now(), done: blob === undefined, ...(blob ? { blob } : {}) };
  blob?.then(
    () => (p.done = true),
    () => (p.done = true),
  );
  m.set(key, p);
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
  const ready: Array<{ key: string; value: unknown; refs: Digest[] }> = [];
  for (const [key, p] of [...m]) {
    if (!opts.all && !p.done) continue; // (its blob is still on its way: next time)
    m.delete(key);
    // a blob that could not be stored gets no record (awaitBlobCommits reports it)
    if (p.blob && !(await p.blob.then(() => true, () => false))) continue;
    ready.push({ key, value: p.value, refs: p.refs });
  }
  // (one lock and one sync for them all)
  await session.store.cachePutAll(ready);
}
