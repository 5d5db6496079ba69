/**
 * Per-instruction flag schemas (BuildKit's BFlags): which `--flags` an instruction accepts, of
 * which type, and the errors for unknown, duplicate, valueless or non-boolean flags.
 */
import { suggest } from './values.js';

export type FlagType = 'bool' | 'string' | 'strings';
export type FlagSchema = Readonly<Record<string, FlagType>>;

export interface ParsedFlags {
  bools: Map<string, boolean>;
  strings: Map<string, string>;
  lists: Map<string, string[]>;
}

/** A flag error with the index of the offending flag (for its location). */
export class FlagError extends Error {
  constructor(
    message: string,
    readonly index: number,
  ) {
    super(message);
  }
}

export const FLAG_SCHEMAS: Readonly<Record<string, FlagSchema>> = {
  from: { platform: 'string' },
  run: { mount: 'strings', network: 'string', security: 'string' },
  copy: {
    from: 'string',
    chown: 'string',
    chmod: 'string',
    link: 'bool',
    parents: 'bool',
    exclude: 'strings',
  },
  add: {
    chown: 'string',
    chmod: 'string',
    link: 'bool',
    'keep-git-dir': 'bool',
    checksum: 'string',
    exclude: 'strings',
    unpack: 'bool',
  },
  healthcheck: {
    interval: 'string',
    timeout: 'string',
    'start-period': 'string',
    'start-interval': 'string',
    retries: 'string',
  },
};

export function parseFlags(words: readonly string[], schema: FlagSchema = {}): ParsedFlags {
  const out: ParsedFlags = { bools: new Map(), strings: new Map(), lists: new Map() };
  const seen = new Set<string>();
  words.forEach((word, index) => {
    if (!word.startsWith('--')) throw new FlagError(`Arg should start with -- : ${word}`, index);
    const body = word.slice(2);
    const eq = body.indexOf('=');
    const name = eq < 0 ? body : body.slice(0, eq);
    const value = eq < 0 ? undefined : body.slice(eq + 1);
    const type = Object.hasOwn(schema, name) ? schema[name] : undefined;
    if (!type) {
      const names = Object.keys(schema);
      const hint = suggest(name, names);
      throw new FlagError(`unknown flag: --${name}${hint ? ` (did you mean --${hint}?)` : ''}`, index);
    }
    if (seen.has(name) && type !== 'strings') throw new FlagError(`duplicate flag specified: --${name}`, index);
    seen.add(name);
    switch (type) {
      case 'bool': {
        if (value === '') throw new FlagError(`missing a value on flag: --${name}`, index);
        const lower = (value ?? 'true').toLowerCase();
        if (lower !== 'true' && lower !== 'false') {
          throw new FlagError(`expecting boolean value for flag --${name}, not: ${value}`, index);
        }
        out.bools.set(name, lower === 'true');
        break;
      }
      case 'string':
        if (value === undefined) throw new FlagError(`missing a value on flag: --${name}`, index);
        out.strings.set(name, value);
        break;
      case 'strings':
        if (value === undefined) throw new FlagError(`missing a value on flag: --${name}`, index);
        out.lists.set(name, [...(out.lists.get(name) ?? []), value]);
        break;
    }
  });
  return out;
}
