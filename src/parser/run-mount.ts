/**
 * `RUN --mount=...` specs: a CSV list of key[=value] fields (Go encoding/csv quoting), typed per
 * mount kind with BuildKit's keys and checks. Values containing `$` are left for the builder to
 * expand: it calls parseMount(raw, expand) again once the build environment is known.
 */
import type { RunMount } from './instructions.js';
import { parseKeyValues } from './key-values.js';
import { parseByteSize, suggest } from './values.js';

export { parseCsvLine } from './key-values.js';

const TYPES = ['bind', 'cache', 'tmpfs', 'secret', 'ssh'] as const;
const SHARING = ['shared', 'private', 'locked'] as const;
const ALL_KEYS = [
  'type', 'from', 'source', 'src', 'target', 'dst', 'destination', 'readonly', 'ro', 'readwrite', 'rw',
  'id', 'sharing', 'required', 'mode', 'uid', 'gid', 'size', 'env',
];
/** Keys each mount type accepts (besides `type`). */
const KEYS_BY_TYPE: Record<RunMount['type'], ReadonlySet<string>> = {
  bind: new Set(['from', 'source', 'target', 'readonly', 'readwrite']),
  cache: new Set(['from', 'source', 'target', 'readonly', 'readwrite', 'id', 'sharing', 'mode', 'uid', 'gid']),
  tmpfs: new Set(['target', 'size', 'readonly', 'readwrite']),
  secret: new Set(['source', 'target', 'id', 'required', 'mode', 'uid', 'gid', 'env']),
  ssh: new Set(['target', 'id', 'required', 'mode', 'uid', 'gid']),
};
const ALIASES: Record<string, string> = {
  src: 'source',
  dst: 'target',
  destination: 'target',
  ro: 'readonly',
  rw: 'readwrite',
};

export function parseMount(raw: string, expand?: (value: string) => string): RunMount {
  const m: RunMount = { type: 'bind', readOnly: true, required: false, raw, needsExpansion: false };
  let roAuto = true;
  // `type` decides which keys are valid, wherever it appears in the list
  const entries = parseKeyValues(raw).map(({ field, key, value }) => ({ field, key: ALIASES[key] ?? key, rawKey: key, value }));
  const typeEntry = entries.find((e) => e.key === 'type');
  if (typeEntry) {
    let v = typeEntry.value ?? '';
    if (v.includes('$')) {
      if (!expand) throw new Error(`mount type ${JSON.stringify(v)} can not use variables`);
      v = expand(v);
    }
    const t = v.toLowerCase();
    if (!(TYPES as readonly string[]).includes(t)) {
      const hint = suggest(t, TYPES);
      throw new Error(`unsupported mount type ${JSON.stringify(v)}${hint ? ` (did you mean ${hint}?)` : ''}`);
    }
    m.type = t as RunMount['type'];
  }
  for (const { field, key, rawKey, value: rawValue } of entries) {
    if (key === 'type') continue;
    if (!ALL_KEYS.includes(rawKey)) {
      const hint = suggest(rawKey, ALL_KEYS);
      throw new Error(`unexpected key '${rawKey}' in '${field}'${hint ? ` (did you mean ${hint}?)` : ''}`);
    }
    if (!KEYS_BY_TYPE[m.type].has(key)) throw new Error(`unexpected key '${rawKey}' for mount type '${m.type}'`);
    if (rawValue === undefined) {
      if (key === 'readonly' || key === 'readwrite') {
        m.readOnly = key === 'readonly';
        roAuto = false;
        continue;
      }
      if (key === 'required') {
        m.required = true;
        continue;
      }
      throw new Error(`invalid field '${field}' must be a key=value pair`);
    }
    let value = rawValue;
    if (value.includes('$')) {
      if (key === 'from') throw new Error(`'from' doesn't support variable expansion, define alias stage instead`);
      if (!expand) {
        m.needsExpansion = true;
        continue;
      }
      value = expand(value);
    }
    switch (key) {
      case 'from':
        m.from = value;
        break;
      case 'source':
        m.source = value;
        break;
      case 'target':
        m.target = value;
        break;
      case 'readonly':
        m.readOnly = parseBool(rawKey, value);
        roAuto = false;
        break;
      case 'readwrite':
        m.readOnly = !parseBool(rawKey, value);
        roAuto = false;
        break;
      case 'required':
        m.required = parseBool(rawKey, value);
        break;
      case 'id':
        m.id = value;
        break;
      case 'sharing': {
        const s = value.toLowerCase();
        if (!(SHARING as readonly string[]).includes(s)) throw new Error(`unsupported sharing value ${JSON.stringify(value)}`);
        m.sharing = s as RunMount['sharing'];
        break;
      }
      case 'mode':
        if (!/^[0-7]+$/.test(value) || Number.parseInt(value, 8) > 0xffffffff) throw new Error(`invalid value ${value} for mode`);
        m.mode = Number.parseInt(value, 8);
        break;
      case 'uid':
      case 'gid': {
        if (!/^[0-9]+$/.test(value) || Number(value) > 0xffffffff) throw new Error(`invalid value ${value} for ${key}`);
        m[key] = Number(value);
        break;
      }
      case 'size':
        m.size = parseByteSize(value);
        break;
      case 'env':
        m.env = value;
        break;
    }
  }
  if (roAuto) m.readOnly = !(m.type === 'cache' || m.type === 'tmpfs');
  if (m.type === 'secret' && m.source !== undefined && m.id !== undefined) throw new Error(`both source and id can't be set`);
  if (!m.needsExpansion && (m.type === 'bind' || m.type === 'cache' || m.type === 'tmpfs') && !m.target) {
    throw new Error(`mount type ${m.type} requires a target`);
  }
  return m;
}

function parseBool(key: string, value: string): boolean {
  // Go's strconv.ParseBool
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(value)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(value)) return false;
  throw new Error(`invalid value for ${key}: ${value}`);
}
