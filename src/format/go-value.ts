/**
 * How Go templates see JavaScript values, and how Go prints and marshals them.
 *
 * The model: a plain object is a Go `map[string]interface{}` (sorted key order when printed,
 * ranged or marshalled; a missing key is "no value"), unless it was made with `goStruct`, which
 * makes it a Go struct (fields in declaration order; an unknown field is an error naming the
 * type, as `docker ps --format '{{.Foo}}'` reports for `*formatter.ContainerContext`; a function
 * field is a method, called with the template's arguments). Arrays are slices, `null` is a nil
 * interface, `undefined` is Go's invalid value (printed `<no value>`).
 *
 * Pinned Go behaviour: fmt's %v (`map[a:1 b:2]`, `[a b]`, `{x y}`, `<nil>`, floats as %g with
 * shortest digits and an exponent from 1e+06 on), encoding/json output (no spaces, maps sorted,
 * \u003c-style escapes of <>& only when HTML escaping is asked for — docker's `json` template
 * function turns it off — \u2028/\u2029 always escaped, \b \f \n \r \t short forms, lone
 * surrogates as \ufffd) and text/template's truth (empty string/slice/map, 0, false and nil are
 * false; structs are always true). Pure.
 */

const GO_TYPE = Symbol('go.type');
const GO_ZERO = Symbol('go.zero');

/** A nil pointer read from a struct field (prints `<nil>`, unlike a nil interface in a map). */
export const NIL_POINTER: unique symbol = Symbol('go.nil-pointer');

export type GoStruct = Record<string, unknown> & { [GO_TYPE]: string };

/** Mark `fields` as a Go struct named `typeName` (e.g. '*formatter.ContainerContext'). */
export function goStruct<T extends Record<string, unknown>>(typeName: string, fields: T): T {
  Object.defineProperty(fields, GO_TYPE, { value: typeName, enumerable: false });
  return fields;
}

/**
 * Mark `entries` as a Go map whose element type has the zero value `zero` (e.g. '' for
 * map[string]string, so `index .Labels "missing"` gives '' as Docker does, not `<no value>`).
 */
export function goMap<T extends Record<string, unknown>>(entries: T, zero: unknown): T {
  Object.defineProperty(entries, GO_ZERO, { value: zero, enumerable: false });
  return entries;
}

export function structType(v: unknown): string | undefined {
  return typeof v === 'object' && v !== null ? (v as { [GO_TYPE]?: string })[GO_TYPE] : undefined;
}

/** The zero value `index` returns for a missing key of this map (nil interface by default). */
export function mapZero(v: object): unknown {
  const z = (v as { [GO_ZERO]?: unknown })[GO_ZERO];
  return z === undefined ? null : z;
}

export function isMap(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && structType(v) === undefined;
}

export function isStruct(v: unknown): v is GoStruct {
  return structType(v) !== undefined;
}

/** Go's name for the type of a value, as text/template error messages print it. */
export function goTypeName(v: unknown): string {
  if (v === undefined) return '<nil>';
  if (v === null) return 'interface {}';
  if (v === NIL_POINTER) return '*struct';
  switch (typeof v) {
    case 'string':
      return 'string';
    case 'boolean':
      return 'bool';
    case 'number':
      return Number.isInteger(v) ? 'int' : 'float64';
    case 'bigint':
      return 'int64';
    case 'function':
      return 'func';
  }
  if (Array.isArray(v)) return v.length > 0 && v.every((e) => typeof e === 'string') ? '[]string' : '[]interface {}';
  return structType(v) ?? 'map[string]interface {}';
}

/** text/template's truth: ok=false for values that have no truth (none in this model). */
export function isTrue(v: unknown): boolean {
  if (v === undefined || v === null || v === NIL_POINTER) return false;
  switch (typeof v) {
    case 'string':
      return v.length > 0;
    case 'boolean':
      return v;
    case 'number':
      return v !== 0;
    case 'bigint':
      return v !== 0n;
    case 'function':
      return true;
  }
  if (Array.isArray(v)) return v.length > 0;
  if (isStruct(v)) return true;
  return Object.keys(v as object).length > 0;
}

/** Go's map iteration order for printing, ranging and marshalling: keys sorted by bytes. */
export function sortedKeys(m: object): string[] {
  return Object.keys(m).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** Fields of a struct in declaration order, methods left out. */
export function structFields(s: object): Array<[string, unknown]> {
  return Object.entries(s).filter(([, v]) => typeof v !== 'function');
}

/** fmt's %v for a float64: %g with the shortest digits (exponent when < 1e-4 or >= 1e+06). */
export function formatFloatV(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (n === Infinity) return '+Inf';
  if (n === -Infinity) return '-Inf';
  if (n === 0) return Object.is(n, -0) ? '-0' : '0';
  const [mant, expText] = n.toExponential().split('e') as [string, string];
  const exp = Number(expText);
  if (exp < -4 || exp >= 6) {
    return `${mant}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  }
  return String(n);
}

/** fmt.Sprint of one value (%v). */
export function formatValue(v: unknown): string {
  if (v === undefined || v === null || v === NIL_POINTER) return '<nil>';
  switch (typeof v) {
    case 'string':
      return v;
    case 'boolean':
      return v ? 'true' : 'false';
    case 'number':
      return Number.isInteger(v) && Math.abs(v) < 1e21 ? String(v) : formatFloatV(v);
    case 'bigint':
      return v.toString();
    case 'function':
      return '<func>';
    case 'symbol':
      return '<nil>';
  }
  if (Array.isArray(v)) return `[${v.map(formatValue).join(' ')}]`;
  if (isStruct(v)) return `{${structFields(v).map(([, f]) => formatValue(f)).join(' ')}}`;
  const m = v as Record<string, unknown>;
  return `map[${sortedKeys(m).map((k) => `${k}:${formatValue(m[k])}`).join(' ')}]`;
}

const HEX = '0123456789abcdef';

/** encoding/json's string encoding (HTML escaping optional, as Encoder.SetEscapeHTML). */
export function goJsonString(s: string, escapeHTML = true): string {
  let out = '"';
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    let rep: string | undefined;
    if (c < 0x20) {
      rep = c === 0x0a ? '\\n' : c === 0x0d ? '\\r' : c === 0x09 ? '\\t' : c === 0x08 ? '\\b' : c === 0x0c ? '\\f' : `\\u00${HEX[c >> 4]}${HEX[c & 15]}`;
    } else if (c === 0x22) rep = '\\"';
    else if (c === 0x5c) rep = '\\\\';
    else if (escapeHTML && (c === 0x3c || c === 0x3e || c === 0x26)) rep = `\\u00${HEX[c >> 4]}${HEX[c & 15]}`;
    else if (c === 0x2028 || c === 0x2029) rep = `\\u202${HEX[c & 15]}`;
    else if (c >= 0xd800 && c <= 0xdfff) {
      const pair = c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00;
      if (pair) {
        i++;
        continue;
      }
      rep = '\\ufffd';
    }
    if (rep !== undefined) {
      out += s.slice(start, i) + rep;
      start = i + 1;
    }
  }
  return out + s.slice(start) + '"';
}

/** json.Marshal of a template value (maps with sorted keys, structs in field order). */
export function goJson(v: unknown, escapeHTML = true): string {
  if (v === undefined || v === null || v === NIL_POINTER) return 'null';
  switch (typeof v) {
    case 'string':
      return goJsonString(v, escapeHTML);
    case 'boolean':
      return v ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(v)) throw new Error(`json: unsupported value: ${formatFloatV(v)}`);
      return JSON.stringify(v); // same shortest digits and exponent thresholds (1e-6, 1e21) as Go
    case 'bigint':
      return v.toString();
    case 'function':
    case 'symbol':
      throw new Error('json: unsupported type: func');
  }
  if (Array.isArray(v)) return `[${v.map((e) => goJson(e, escapeHTML)).join(',')}]`;
  if (isStruct(v)) {
    return `{${structFields(v).map(([k, f]) => `${goJsonString(k, escapeHTML)}:${goJson(f, escapeHTML)}`).join(',')}}`;
  }
  const m = v as Record<string, unknown>;
  return `{${sortedKeys(m).map((k) => `${goJsonString(k, escapeHTML)}:${goJson(m[k], escapeHTML)}`).join(',')}}`;
}
