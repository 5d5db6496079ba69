/**
 * The common life of a filesystem step (RUN, COPY, ADD, WORKDIR): compute its cache key, look it up,
 * else produce the layer, remember it, and move the stage forward. Events and history included.
 * An interrupted step leaves nothing half-made: blobs appear atomically and the cache entry is
 * written only after its layer is in the store (at the stage runner's next settle point).
 */
import type { BlobInfo } from '../../image/blobs.js';
import type { Digest } from '../../image/digest.js';
import { stepKey } from '../cache-key.js';
import { explainerOf } from '../explain.js';
import type { SourceFilesCollector } from '../explain-files.js';
import { missText } from '../explain-reason.js';
import type { BuildSession } from '../session.js';
import { addHistory, type StageState } from '../stage-state.js';
import { blobCommit, recordStep, recordedStep } from '../step-records.js';
import { warmRuns } from './run-limits.js';

export interface FsStep {
  /** Progress name, e.g. `[build 2/5] RUN make`. */
  name: string;
  /** Everything that determines the step's output (see cache-key.ts). */
  key: Record<string, unknown>;
  /** `created_by` for the history entry. */
  history: string;
  /** Makes the layer (on a cache miss); `stepId` is for its log events. */
  produce: (stepId: number) => Promise<BlobInfo>;
  /** The files a COPY/ADD read (for explaining a cache miss: explain.ts). */
  files?: SourceFilesCollector;
}

interface CacheValue {
  layer: BlobInfo;
  /** When the layer was made (its history entry keeps this time on later cache hits). */
  created?: string;
}

export async function runFsStep(session: BuildSession, state: StageState, step: FsStep): Promise<void> {
  // SOURCE_DATE_EPOCH clamps the times written into the layer: a layer made without it (or with
  // another) is not this step's result (keys without it are unchanged)
  const inputs = session.sourceDateEpoch !== undefined ? { ...step.key, sourceDateEpoch: session.sourceDateEpoch } : step.key;
  const key = stepKey(state.fsKey, inputs);
  const { store, events } = session;
  const id = events.start(step.name);
  let layer: BlobInfo | undefined;
  let created = session.created;
  if (!session.options.noCache) {
    const hit = recordedStep<CacheValue>(session, key) ?? store.cacheGet<CacheValue>(key);
    if (hit && (store.hasBlob(hit.layer.digest as Digest) || blobCommit(session, hit.layer.digest) !== undefined)) {
      layer = hit.layer;
      created = hit.created ?? created;
      store.lease([layer.digest]);
      events.emit({ type: 'step-cached', id });
    }
  }
  if (!layer && !session.options.noCache && session.remoteCache) {
    // another machine built this step: its layer comes from the registry instead of a run
    const remote = await session.remoteCache.lookup(key);
    if (remote) {
      layer = remote.layer;
      created = remote.created ?? created;
      await store.cachePut(key, { layer, created } satisfies CacheValue, [layer.digest as Digest]);
      events.emit({ type: 'step-cached', id });
    }
  }
  const explained = { id, name: step.name, key, parent: state.fsKey, inputs, state, ...(step.files ? { files: step.files } : {}) };
  const explainer = explainerOf(session);
  const ran = !layer;
  if (!layer) {
    const reason = await explainer.reason(explained);
    events.emit({ type: 'step-miss', id, reason, text: missText(reason) });
    // a RUN after this step will run too: its sandbox is made ready while this one works
    warmRuns(session);
    try {
      layer = await step.produce(id);
    } catch (e) {
      events.emit({ type: 'step-error', id, message: (e as Error).message });
      throw e;
    }
    // written at the stage runner's next settle point, not now (step-records.ts)
    recordStep(session, key, { layer, created } satisfies CacheValue, [layer.digest as Digest]);
    session.layersMade++;
    events.emit({ type: 'step-done', id });
  }
  explainer.note(explained, ran);
  session.remoteCache?.record(key, layer, { created });
  state.layers.push(layer);
  state.fsKey = key;
  addHistory(state, session, step.history, false, created);
}
