/**
 * Registry transfers on a step of the one event stream (src/events.ts). A pull (a FROM image not in
 * the store, `tsbuild pull`) and a push (`build --push`, `tsbuild push`) report each blob's status;
 * here it becomes a `step-status` of the step doing the transfer, as BuildKit shows a pull's layers
 * under its FROM step and a push's under its pushing step. Every renderer (tty bars, plain lines,
 * rawjson, quiet, Docker's pull/push lines) then handles them as it handles any step.
 */
import type { EventHub, ItemStatusListener } from '../events.js';

const THIN_MS = 100;

/**
 * The listener that reports into step `id`. Byte updates are thinned to one per item per 100 ms
 * (a status change and the last byte always pass): a fast loopback transfer reports every chunk, which
 * no renderer needs.
 */
export function transferStatuses<R>(events: EventHub<R>, id: number): ItemStatusListener {
  const last = new Map<string, number>();
  return (s) => {
    if (s.done) last.delete(s.item);
    else if (s.current !== undefined) {
      const now = Date.now();
      const prev = last.get(s.item);
      const end = s.total !== undefined && s.current >= s.total;
      if (prev !== undefined && now - prev < THIN_MS && !end) return;
      last.set(s.item, now);
    } else if (!last.has(s.item)) last.set(s.item, 0); // known, no bytes yet: its first bytes pass
    events.emit({ ...s, id });
  };
}
