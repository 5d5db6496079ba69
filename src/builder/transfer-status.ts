/**
 * Registry transfers on the build's one event stream. A pull (a FROM image not in the store) and a
 * push (`build --push`) report per-layer LayerProgress; here it becomes `step-status` events of the
 * step doing the transfer, as BuildKit shows a pull's layers under its FROM step and a push's under
 * its pushing step. Every renderer (tty bars, plain lines, rawjson, quiet) then handles them as it
 * handles any step. Byte updates are thinned to one per item per 100 ms: a fast loopback transfer
 * reports every chunk, which no renderer needs.
 */
import type { LayerProgressCallback } from '../registry/progress.js';
import type { EventEmitterHub } from './events.js';

const THIN_MS = 100;

/** The LayerProgress callback that reports into step `id`. */
export function transferStatuses(events: EventEmitterHub, id: number): LayerProgressCallback {
  const last = new Map<string, number>();
  return (e) => {
    if (e.type === 'resolved') {
      events.emit({ type: 'step-status', id, item: `resolve ${e.ref}`, done: true });
      return;
    }
    const item = e.layer;
    const bytes = e.current !== undefined && e.total !== undefined ? { current: e.current, total: e.total } : {};
    switch (e.status) {
      case 'exists':
      case 'complete':
      case 'pushed':
      case 'mounted':
        last.delete(item);
        events.emit({ type: 'step-status', id, item, ...bytes, done: true });
        return;
      case 'downloading':
      case 'pushing': {
        const now = Date.now();
        const prev = last.get(item);
        if (prev !== undefined && now - prev < THIN_MS) return;
        last.set(item, now);
        events.emit({ type: 'step-status', id, item, ...bytes });
        return;
      }
      default: // waiting, preparing: the item is known, no bytes yet
        if (!last.has(item)) last.set(item, 0);
        events.emit({ type: 'step-status', id, item });
    }
  };
}

/** BuildKit's status text: `sha256:ab… 1.05MB / 2.1MB`, sizes as Docker prints them. */
export function statusText(e: { item: string; current?: number; total?: number }, size: (n: number) => string): string {
  if (e.current === undefined) return e.item;
  return e.total ? `${e.item} ${size(e.current)} / ${size(e.total)}` : `${e.item} ${size(e.current)}`;
}
