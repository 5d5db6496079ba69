/**
 * `COPY --chmod=` values: octal (`755`, `0640`) as BuildKit always took them, or symbolic
 * (`u+x,go-w`, `a=rX`, `u+x-w`) as dockerfile 1.14 added. One grammar, the parser's
 * (parser/values.ts): a literal value is checked when the Dockerfile is parsed, one with `$` here
 * after expansion, before the step reads anything. Applied per entry because symbolic modes
 * depend on the entry's current bits and type (`X`).
 */
import { TsbuildError } from '../../errors.js';
import { applyChmod, parseChmod as parseChmodValue } from '../../parser/values.js';

/** Maps an entry's mode bits (and whether it is a directory) to the new bits. */
export type ChmodFn = (mode: number, isDir: boolean) => number;

export function parseChmod(spec: string): ChmodFn {
  let value;
  try {
    value = parseChmodValue(spec);
  } catch (e) {
    throw new TsbuildError('INVALID', (e as Error).message);
  }
  return (mode, isDir) => applyChmod(value, mode, isDir);
}
