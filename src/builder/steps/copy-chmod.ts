/**
 * `COPY --chmod=` values: octal (`755`, `0640`) as BuildKit always took them, or symbolic
 * (`u+x,go-w`, `a=rX`) as dockerfile 1.14 added. Parsed once; applied per entry because symbolic
 * modes depend on the entry's current bits and type (`X`).
 */
import { TsbuildError } from '../../errors.js';

/** Maps an entry's mode bits (and whether it is a directory) to the new bits. */
export type ChmodFn = (mode: number, isDir: boolean) => number;

export function parseChmod(spec: string): ChmodFn {
  if (/^[0-7]{1,4}$/.test(spec)) {
    const bits = parseInt(spec, 8);
    return () => bits;
  }
  const clauses = spec.split(',').map((c) => parseClause(c, spec));
  return (mode, isDir) => clauses.reduce((m, c) => c(m, isDir), mode & 0o7777);
}

// ---------------------------------------------------------------------------------------------

const WHO: Record<string, number> = { u: 0o4700, g: 0o2070, o: 0o1007, a: 0o7777 };

function parseClause(clause: string, spec: string): ChmodFn {
  const m = /^([ugoa]*)([-+=])([rwxXst]*|[ugo])$/.exec(clause);
  if (!m) throw invalid(spec);
  const who = m[1]! === '' ? 0o7777 : [...m[1]!].reduce((w, c) => w | WHO[c]!, 0);
  const op = m[2]!;
  const perms = m[3]!;
  return (mode, isDir) => {
    let bits = 0;
    if (/^[ugo]$/.test(perms)) {
      // Copy another class's bits (`g=u`).
      const shift = perms === 'u' ? 6 : perms === 'g' ? 3 : 0;
      const rwx = (mode >> shift) & 7;
      bits = (rwx << 6) | (rwx << 3) | rwx;
    } else {
      for (const p of perms) {
        if (p === 'r') bits |= 0o444;
        else if (p === 'w') bits |= 0o222;
        else if (p === 'x') bits |= 0o111;
        else if (p === 'X') bits |= isDir || (mode & 0o111) !== 0 ? 0o111 : 0;
        else if (p === 's') bits |= 0o6000;
        else if (p === 't') bits |= 0o1000;
      }
    }
    bits &= who;
    if (op === '+') return mode | bits;
    if (op === '-') return mode & ~bits;
    return (mode & ~who) | bits;
  };
}

function invalid(spec: string): TsbuildError {
  return new TsbuildError('INVALID', `invalid --chmod value ${JSON.stringify(spec)}: expected octal (e.g. 755) or symbolic (e.g. u+x,go-w)`);
}
