/**
 * `build --explain`: only the steps that ran, each with why it missed the cache (explain.ts), then
 * how many ran of those that could have been cached. Step output is left out; errors and warnings
 * stay. Numbered like the plain output, so the two can be read side by side.
 */
import type { Writable } from 'node:stream';
import type { ProgressEvent } from '../../events.js';

export function explainRenderer(out: Pick<Writable, 'write'>): (e: ProgressEvent) => void {
  const names = new Map<number, string>();
  let ran = 0;
  let cached = 0;
  return (e) => {
    switch (e.type) {
      case 'step-start':
        names.set(e.id, e.name);
        break;
      case 'step-cached':
        cached++;
        break;
      case 'step-miss':
        ran++;
        out.write(`#${e.id} ${names.get(e.id) ?? ''}\n#${e.id} cache miss: ${e.text}\n`);
        break;
      case 'step-error':
        out.write(`#${e.id} ERROR: ${e.message}\n`);
        break;
      case 'warning':
        out.write(`WARNING: ${e.message}\n`);
        break;
      case 'build-done':
        out.write(`${ran} of ${ran + cached} steps ran${ran === 0 ? ' (all cached)' : ''}\n`);
        out.write(`writing image ${e.imageId} done\n`);
        break;
      default:
        break;
    }
  };
}
