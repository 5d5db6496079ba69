/**
 * Checks a layer tar as it streams by (into the store), without extracting it: every name must
 * stay inside the root (no absolute names, no `..`), a hard link must point inside, and no entry
 * may sit below a symlink the same tar created. Layers are refused at the door (import, load)
 * with the same rules the extractor enforces later, so an unsafe layer never enters the store.
 */
import { TsbuildError } from '../errors.js';
import { TarScanner } from './tar-format.js';
import { cleanName } from './layer-reader.js';

/** What a scan found: fine, unsafe (UNSAFE), or not a tar / damaged (CORRUPT). */
export type LayerVerdict = { ok: true; entries: number } | { ok: false; error: TsbuildError };

export class LayerCheck {
  private readonly scanner: TarScanner;
  private readonly symlinks = new Set<string>();
  private error: TsbuildError | undefined;

  constructor() {
    this.scanner = new TarScanner((h) => {
      const name = cleanName(h.name);
      if (h.type === 'hardlink') cleanName(h.linkname ?? '', 'hard link target');
      for (let i = name.indexOf('/'); i > 0; i = name.indexOf('/', i + 1)) {
        if (this.symlinks.has(name.slice(0, i))) throw new TsbuildError('UNSAFE', `layer: refusing ${name}: its parent ${name.slice(0, i)} is a symlink`);
      }
      if (h.type === 'symlink') this.symlinks.add(name);
      else this.symlinks.delete(name);
    });
  }

  push(chunk: Buffer): void {
    if (this.error) return;
    try {
      this.scanner.push(chunk);
    } catch (e) {
      this.error = asError(e);
    }
  }

  verdict(): LayerVerdict {
    if (!this.error) {
      try {
        this.scanner.end();
        if (this.scanner.entries === 0 && !this.scanner.finished) throw new TsbuildError('CORRUPT', 'not a tar archive (empty)');
      } catch (e) {
        this.error = asError(e);
      }
    }
    return this.error ? { ok: false, error: this.error } : { ok: true, entries: this.scanner.entries };
  }
}

/** Passes bytes through while checking them; throws the verdict's error at the end (`strict`). */
export async function* checkedLayer(src: AsyncIterable<Buffer>, check: LayerCheck, strict: boolean): AsyncGenerator<Buffer> {
  for await (const b of src) {
    check.push(b);
    yield b;
  }
  const v = check.verdict();
  if (strict && !v.ok) throw v.error;
}

function asError(e: unknown): TsbuildError {
  return e instanceof TsbuildError ? e : new TsbuildError('CORRUPT', `tar: ${(e as Error).message}`);
}
