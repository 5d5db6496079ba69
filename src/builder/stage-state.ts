/**
 * The state of a stage while it is built: its image config (with history), its layers, the cache
 * key of its filesystem so far, and the ARGs in scope. Each instruction moves it forward.
 */
import type { BlobInfo } from '../image/blobs.js';
import type { ImageConfig, ContainerConfig, HistoryEntry } from '../image/config.js';
import { chainIds, type Digest } from '../image/digest.js';
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
  /** What the stage chain stands on: how many of `layers` are the base's, and the base image's ID
   *  (none for scratch) — what `--squash` keeps and names. */
  baseImage?: { layers: number; id?: string };
}

/** The snapshot dirs of the state's layers, bottom first, unpacking any that are missing. */
export async function stateSnapshots(session: BuildSession, state: StageState): Promise<string[]> {
  const diffIds = state.layers.map((l) => l.digest);
  const chain = chainIds(diffIds);
  session.store.lease(chain);
  const out: string[] = [];
  for (let i = 0; i < chain.length; i++) out.push(await session.snapshotter.ensure(chain[i]!, diffIds[i]! as Digest));
  return out;
}

export function cloneState(s: StageState): StageState {
  return {
    config: structuredClone(s.config),
    layers: [...s.layers],
    fsKey: s.fsKey,
    args: s.args.clone(),
    cmdSet: false,
    ...(s.baseImage ? { baseImage: s.baseImage } : {}),
  };
}

/**
 * Appends a history entry. A layer's entry carries the time its layer was made (kept in the cache,
 * so a cached rebuild reproduces it); metadata entries get their time when the build ends
 * (fillHistoryTimes), as BuildKit's exporter does. With SOURCE_DATE_EPOCH every time is the epoch.
 */
export function addHistory(state: StageState, session: BuildSession, createdBy: string, emptyLayer: boolean, layerCreated?: string): void {
  const h: HistoryEntry = { created_by: createdBy, comment: 'buildkit.dockerfile.v0' };
  if (session.sourceDateEpoch !== undefined) h.created = session.created;
  else if (!emptyLayer) h.created = layerCreated ?? session.created;
  if (emptyLayer) h.empty_layer = true;
  state.config.history.push(h);
}

/**
 * Gives undated entries a time (BuildKit's rule): those before the first new layer take that
 * layer's time, later ones the time of the layer before them; with no new layer at all, the last
 * dated entry's time. Returns the last entry's time (the image's `created`), or undefined.
 */
export function fillHistoryTimes(history: HistoryEntry[]): string | undefined {
  let created: string | undefined;
  let gap = false;
  for (const h of history) {
    if (h.created !== undefined) {
      created = h.created;
      if (gap) break;
    } else gap = true;
  }
  gap = false;
  for (const h of history) {
    if (h.created !== undefined) {
      if (gap) created = h.created;
    } else {
      gap = true;
      if (created !== undefined) h.created = created;
    }
  }
  return history.length ? history[history.length - 1]!.created : undefined;
}

/** RFC 3339 with only the fractional digits needed, as Go's time.RFC3339Nano writes it. */
export function rfc3339(ms: number): string {
  return new Date(ms).toISOString().replace(/\.?0+Z$/, 'Z').replace(/\.Z$/, 'Z');
}
