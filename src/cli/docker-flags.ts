/**
 * Docker's pflag parsing with interspersed=false, as `docker run|create|exec` use it: flags only
 * before the first operand (IMAGE, CONTAINER), everything from there on belongs to the command;
 * `--` ends the flags; `--name=value` or `--name value`; bool shorthands cluster (`-dit`), and a
 * value shorthand takes the rest of its word (`-eA=1`, `-e=A=1`) or the next word. Errors are
 * pflag's words, through the caller's USAGE (docker exits 125 on them).
 */
import { TsbuildError } from '../errors.js';

export type FlagKind = 'bool' | 'value' | 'list';
/** A command's flags by long name: the key of FLAGS it sets, its kind, its one-letter shorthand. */
export type FlagTable<F> = Record<string, { key: keyof F; kind: FlagKind; short?: string }>;

/**
 * Sets FLAGS from the flags at the start of ARGV; returns the index of the first operand
 * (argv.length when there is none). NOT_YET: flags docker has and tsbuild does not, with what to say.
 */
export function parseLeadingFlags<F extends object>(
  argv: readonly string[],
  table: FlagTable<F>,
  flags: F,
  usage: (msg: string) => TsbuildError,
  notYet: Record<string, string> = {},
): number {
  let i = 0;
  const next = () => (i + 1 < argv.length ? argv[++i] : undefined);
  const set = (name: string, value: string | undefined, display: string) => {
    const f = table[name] ?? Object.values(table).find((x) => x.short === name && display.startsWith('-') && !display.startsWith('--'));
    if (!f) {
      if (notYet[name]) throw new TsbuildError('USAGE', `${notYet[name]} is not supported by tsbuild yet`, undefined, 125);
      throw usage(display.startsWith('--') ? `unknown flag: ${display}` : `unknown shorthand flag: '${name}' in ${display}`);
    }
    const slot = flags as Record<keyof F, unknown>;
    if (f.kind === 'bool') {
      if (value !== undefined && !['true', 'false', '1', '0'].includes(value)) throw usage(`invalid argument "${value}" for "${display}" flag: strconv.ParseBool: parsing "${value}": invalid syntax`);
      slot[f.key] = value === undefined || value === 'true' || value === '1';
      return;
    }
    const v = value ?? next();
    if (v === undefined) throw usage(`flag needs an argument: ${display}`);
    if (f.kind === 'list') (slot[f.key] as string[]).push(v);
    else slot[f.key] = v;
  };
  for (; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      i++;
      break;
    }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq < 0 ? a.slice(2) : a.slice(2, eq);
      set(name, eq < 0 ? undefined : a.slice(eq + 1), eq < 0 ? a : a.slice(0, eq));
    } else if (a.startsWith('-') && a.length > 1) {
      // -dit: bool shorthands together; a value flag takes the rest of the word or the next one
      for (let k = 1; k < a.length; k++) {
        const ch = a[k]!;
        const f = Object.values(table).find((x) => x.short === ch);
        if (f && f.kind !== 'bool') {
          const rest = a.slice(k + 1);
          set(ch, rest === '' ? undefined : rest.replace(/^=/, ''), `-${ch}`);
          break;
        }
        set(ch, undefined, a);
      }
    } else break;
  }
  return i;
}
