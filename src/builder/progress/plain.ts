/**
 * `--progress=plain`: one line per event, numbered like BuildKit's plain output, for CI logs.
 * RUN output is never clipped (the builder hands it on in lines of at most 16 KiB, so nothing here
 * grows with a step's output).
 */
import type { Writable } from 'node:stream';
import type { ProgressEvent } from '../../events.js';
import { logLines } from '../events.js';
import { checkSummary } from './check-summary.js';
import { statusText } from './status-text.js';
import { humanSize } from '../../image/display.js';

export function plainRenderer(out: Pick<Writable, 'write'>): (e: ProgressEvent) => void {
  const started = new Map<number, number>();
  const checks: string[] = [];
  const secs = (id: number, t: number) => ((t - (started.get(id) ?? t)) / 1000).toFixed(1);
  // per item of a step: when it was first seen; CI logs get its first byte count and its end only
  const items = new Map<string, { start: number; bytesShown: boolean }>();
  return (e) => {
    switch (e.type) {
      case 'step-start':
        started.set(e.id, e.time);
        out.write(`#${e.id} ${e.name}\n`);
        break;
      case 'step-log': {
        const prefix = `#${e.id} ${secs(e.id, e.time)} `;
        out.write(logLines(e.data).map((line) => prefix + line + '\n').join(''));
        break;
      }
      case 'step-status': {
        const key = `${e.id} ${e.item}`;
        let it = items.get(key);
        if (!it) items.set(key, (it = { start: e.time, bytesShown: false }));
        const t = ((e.time - it.start) / 1000).toFixed(1);
        if (e.done) {
          items.delete(key);
          out.write(`#${e.id} ${statusText(e, size4)} ${t}s done\n`);
        } else if (e.current !== undefined && !it.bytesShown) {
          it.bytesShown = true;
          out.write(`#${e.id} ${statusText(e, size4)} ${t}s\n`);
        }
        break;
      }
      case 'step-cached':
        out.write(`#${e.id} CACHED\n\n`);
        break;
      case 'step-miss':
        out.write(`#${e.id} cache miss: ${e.text}\n`);
        break;
      case 'step-done':
        out.write(`#${e.id} DONE ${secs(e.id, e.time)}s\n\n`);
        break;
      case 'step-error':
        out.write(`#${e.id} ERROR: ${e.message}\n\n`);
        break;
      case 'message':
        out.write(e.id !== undefined ? `#${e.id} ${e.message}\n` : `${e.message}\n`);
        break;
      case 'warning':
        out.write(`WARNING: ${e.message}\n`);
        break;
      case 'check-warning':
        // BuildKit's plain output shows each under the Dockerfile's vertex as `WARN: ...`
        checks.push(e.short);
        out.write(`WARN: ${e.short}\n`);
        break;
      case 'build-done':
        out.write(`writing image ${e.imageId} done\n`);
        for (const t of e.tags) out.write(`naming to ${t} done\n`);
        out.write(checkSummary(checks));
        break;
      case 'build-start':
        break;
    }
  };
}

const size4 = (n: number) => humanSize(n, 4);
