/**
 * `--squash` (BuildKit #819, Docker's classic builder's `--squash`): the layers this build made
 * become one layer on top of the base image's layers, which stay as they are (shared with every
 * other image on that base). Only the exported image changes: each step's layer stays in the
 * build cache, so the next build still hits step by step; the merged layer is cached too (keyed by
 * the layers it merges), so a cached rebuild gives the same image ID.
 *
 * History as Docker's classic squash writes it: the base's entries unchanged, this build's entries
 * kept but all marked `empty_layer`, and one more entry for the merged layer with the comment
 * `merge <base image ID> to <unsquashed image ID>` (`create new from <ID>` on scratch) and no
 * created_by.
 */
import type { BlobInfo } from '../image/blobs.js';
import type { HistoryEntry, ImageConfig } from '../image/config.js';
import { serializeConfig } from '../image/config.js';
import { sha256, type Digest } from '../image/digest.js';
import { writeLayer } from '../image/layer-writer.js';
import { RootfsView } from '../image/rootfs-view.js';
import { squashEntries } from '../image/squash.js';
import { digestOf } from './cache-key.js';
import type { BuildSession } from './session.js';
import { stateSnapshots, type StageState } from './stage-state.js';

interface SquashCacheValue {
  layer: BlobInfo;
  created: string;
}

/** The image `config`/`state` describe, squashed: its config (history rewritten) and layers. */
export async function squashImage(session: BuildSession, state: StageState, config: ImageConfig): Promise<{ config: ImageConfig; layers: BlobInfo[] }> {
  const keep = state.baseImage?.layers ?? 0;
  const below = state.layers.slice(0, keep);
  const mine = state.layers.slice(keep);
  if (mine.length === 0) return { config, layers: state.layers };
  const { store, events } = session;
  const key = digestOf({ v: 'tsbuild-squash-v1', below: below.map((l) => l.digest), layers: mine.map((l) => l.digest) });
  const id = events.start(`squashing ${mine.length} layer${mine.length === 1 ? '' : 's'}`);
  let value = session.options.noCache ? undefined : store.cacheGet<SquashCacheValue>(key);
  if (value && store.hasBlob(value.layer.digest as Digest)) {
    store.lease([value.layer.digest]);
    events.emit({ type: 'step-cached', id });
  } else {
    try {
      const dirs = await stateSnapshots(session, state);
      const base = new RootfsView(dirs.slice(0, keep).reverse());
      const entries = squashEntries(
        mine.map((l, i) => ({ blobPath: store.blobPath(l.digest as Digest), root: dirs[keep + i]! })),
        (p) => base.lookup('/' + p) !== null,
      );
      const layer = await writeLayer(store, entries, session.sourceDateEpoch !== undefined ? { sourceDateEpoch: session.sourceDateEpoch } : {});
      value = { layer, created: session.created };
      await store.cachePut(key, value, [layer.digest as Digest]);
    } catch (e) {
      events.emit({ type: 'step-error', id, message: (e as Error).message });
      throw e;
    }
    events.emit({ type: 'step-done', id });
  }
  const unsquashedId = sha256(serializeConfig({ ...config, rootfs: { type: 'layers', diff_ids: state.layers.map((l) => l.digest) } }));
  const history = markEmpty(config.history ?? [], keep);
  history.push({
    created: value.created,
    comment: state.baseImage?.id ? `merge ${state.baseImage.id} to ${unsquashedId}` : `create new from ${unsquashedId}`,
  });
  const layers = [...below, value.layer];
  return { config: { ...config, history, created: value.created, rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) } }, layers };
}

/** Every layer entry after the first `keep` ones marked empty_layer (the squashed layer holds them). */
function markEmpty(history: HistoryEntry[], keep: number): HistoryEntry[] {
  let seen = 0;
  return history.map((h) => {
    if (h.empty_layer) return { ...h };
    if (seen++ < keep) return { ...h };
    return { ...h, empty_layer: true };
  });
}
