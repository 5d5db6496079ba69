/** `--progress=quiet` / `-q`: nothing but the image ID at the end. */
import type { Writable } from 'node:stream';
import type { ProgressEvent } from '../../events.js';

export function quietRenderer(out: Pick<Writable, 'write'>): (e: ProgressEvent) => void {
  return (e) => {
    if (e.type === 'build-done') out.write(`${e.imageId}\n`);
  };
}
