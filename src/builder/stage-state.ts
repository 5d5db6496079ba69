/**
 * The state of a stage while it is built: its image config (with history), its layers, the cache
 * key of its filesystem so far, and the ARGs in scope. Each instruction moves it forward.
 */
import type { BlobInfo } from '../image/blobs.js';
import type { ImageConfig, ContainerConfig, HistoryEntry } from '../image/config.js';
import { chainIds, type Digest } from '../image/digest.js';
import { ensureSnapshot } from '../image/snapshots.js';
import type { ArgScope } from './args.js';
import type { BuildSession } from './session.js';

export interface StageState {
  config: ImageConfig & { config: ContainerConfig; history: HistoryEntry[] };
  /** Uncompressed layer blobs, bottom first (digest = diff ID). */
  layers: BlobInfo[];
  /** Cache key of the filesystem (the chain of filesystem steps so far). */
  fsKey: string;
  args: ArgScope;
  /** CMD was set in this stage (ENTRYPOINT then keeps it). */
  cmdSet: boolean;
}

/** The snapshot dirs of the state's layers, bottom first, unpacking any that are missing. */
export async function stateSnapshots(session: BuildSession, state: StageState): Promise<string[]> {
  const diffIds = state.layers.map((l) => l.digest);
  const chain = chainIds(diffIds);
  session.store.lease(chain);
  const out: string[] = [];
  for (let i = 0; i < chain.length; i++) out.push(await ensureSnapshot(session.store, chain[i]!, diffIds[i]! as Digest));
  return out;
}

export function cloneState(s: StageState): StageState {
  return {
    config: structuredClone(s.config),
    layers: [...s.layers],
    fsKey: s.fsKey,
    args: s.args.clone(),
    cmdSet: false,
  };
}

export function addHistory(state: StageState, session: BuildSession, createdBy: string, emptyLayer: boolean): void {
  const h: HistoryEntry = { created: session.created, created_by: createdBy, comment: 'buildkit.dockerfile.v0' };
  if (emptyLayer) h.empty_layer = true;
  state.config.history.push(h);
}
