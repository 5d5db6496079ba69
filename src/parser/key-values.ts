/**
 * `key=value,key=value` lists, the one grammar of every such value: `RUN --mount=...` in a
 * Dockerfile (BuildKit) and `--secret`, `--output`, `--cache-from`, `--cache-to` on the command
 * line (buildx). Both read them as one record of Go's encoding/csv, so a value holding a comma
 * is quoted: `src="a,b"`. A field without `=` is a bare key (value undefined).
 */

export interface KeyValue {
  /** The field as written (after CSV unquoting). */
  field: string;
  /** The part before the first `=`, lower-cased. */
  key: string;
  /** The part after it; undefined for a bare key. */
  value: string | undefined;
}

/** Splits one `k=v,k=v` list (see the module comment); throws a plain Error on bad quoting.
 *  `what` names the list in quoting errors (`failed to parse csv mounts: ...`, as BuildKit says). */
export function parseKeyValues(s: string, what = 'mounts'): KeyValue[] {
  return parseCsvLine(s, what).map((field) => {
    const eq = field.indexOf('=');
    return { field, key: (eq < 0 ? field : field.slice(0, eq)).toLowerCase(), value: eq < 0 ? undefined : field.slice(eq + 1) };
  });
}

/** One record of Go's encoding/csv (comma separated, `"` quoting with `""` escapes, strict). */
export function parseCsvLine(s: string, what = 'mounts'): string[] {
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    if (s[i] === '"') {
      let v = '';
      i++;
      for (;;) {
        const q = s.indexOf('"', i);
        if (q < 0) throw new Error(`failed to parse csv ${what}: extraneous or missing " in quoted-field`);
        v += s.slice(i, q);
        if (s[q + 1] === '"') {
          v += '"';
          i = q + 2;
          continue;
        }
        i = q + 1;
        break;
      }
      if (i < s.length && s[i] !== ',') throw new Error(`failed to parse csv ${what}: extraneous or missing " in quoted-field`);
      fields.push(v);
    } else {
      const c = s.indexOf(',', i);
      const v = c < 0 ? s.slice(i) : s.slice(i, c);
      if (v.includes('"')) throw new Error(`failed to parse csv ${what}: bare " in non-quoted-field`);
      fields.push(v);
      i = c < 0 ? s.length : c;
    }
    if (i >= s.length) break;
    i++; // the comma
  }
  return fields;
}
