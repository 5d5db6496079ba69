/**
 * `--progress=plain`: one line per event, numbered like BuildKit's plain output, for CI logs.
 * RUN output is never clipped.
 */
import type { Writable } from 'node:stream';
import type { BuildEvent } from '../events.js';

export function plainRenderer(out: Writable): (e: BuildEvent) => void {
  const started = new Map<number, number>();
  const partial = new Map<number, string>();
  const secs = (id: number, t: number) => ((t - (started.get(id) ?? t)) / 1000).toFixed(1);
  const flushPartial = (id: number, t: number) => {
    const rest = partial.get(id);
    if (rest) out.write(`#${id} ${secs(id, t)} ${rest}\n`);
    partial.delete(id);
  };
  return (e) => {
    switch (e.type) {
      case 'step-start':
        started.set(e.id, e.time);
        out.write(`#${e.id} ${e.name}\n`);
        break;
      case 'step-log': {
        const text = (partial.get(e.id) ?? '') + e.data;
        const lines = text.split('\n');
        partial.set(e.id, lines.pop() ?? '');
        for (const line of lines) out.write(`#${e.id} ${secs(e.id, e.time)} ${line}\n`);
        break;
      }
      case 'step-cached':
        out.write(`#${e.id} CACHED\n\n`);
        break;
      case 'step-done':
        flushPartial(e.id, e.time);
        out.write(`#${e.id} DONE ${secs(e.id, e.time)}s\n\n`);
        break;
      case 'step-error':
        flushPartial(e.id, e.time);
        out.write(`#${e.id} ERROR: ${e.message}\n\n`);
        break;
      case 'warning':
        out.write(`WARNING: ${e.message}\n`);
        break;
      case 'build-done':
        out.write(`writing image ${e.imageId} done\n`);
        for (const t of e.tags) out.write(`naming to ${t} done\n`);
        break;
      case 'build-start':
        break;
    }
  };
}
