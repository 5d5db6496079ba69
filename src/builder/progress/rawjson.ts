/** `--progress=rawjson`: every event as one JSON object per line. */
import type { Writable } from 'node:stream';
import type { BuildEvent } from '../events.js';

export function rawjsonRenderer(out: Writable): (e: BuildEvent) => void {
  return (e) => {
    out.write(JSON.stringify(e) + '\n');
  };
}
