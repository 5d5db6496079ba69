/** `--progress=rawjson`: every event as one JSON object per line. */
import type { Writable } from 'node:stream';
import type { ProgressEvent } from '../../events.js';

export function rawjsonRenderer(out: Pick<Writable, 'write'>): (e: ProgressEvent) => void {
  return (e) => {
    out.write(JSON.stringify(e) + '\n');
  };
}
