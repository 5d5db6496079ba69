/** `--progress=quiet` / `-q`: nothing but the image ID at the end. */
import type { Writable } from 'node:stream';
import type { BuildEvent } from '../events.js';

export function quietRenderer(out: Writable): (e: BuildEvent) => void {
  return (e) => {
    if (e.type === 'build-done') out.write(`${e.imageId}\n`);
  };
}
