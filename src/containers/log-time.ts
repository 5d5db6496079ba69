/**
 * Times and sizes as `docker logs` and the json-file driver read and write them.
 *
 * Pinned Docker behaviour:
 * - `--since` / `--until` (docker's timestamp.GetTimestamp): a Go duration (`10m`, `1h30m`,
 *   `1.5s`; not `0`) means that long before now, cut to whole seconds; else RFC 3339 in its
 *   shortened forms (`2024-05-01`, `2024-05-01T12`, `2024-05-01T12:00`, with or without seconds,
 *   fractions and a zone; without a zone the local one); else Unix seconds with an optional
 *   `.nanoseconds`; else `failed to parse value as time or duration: "x"`.
 * - json-file's `time` is RFC3339Nano (fraction without trailing zeros, UTC `Z`); `logs -t`
 *   prints RFC3339NanoFixed (always nine digits).
 * - `max-size` is go-units FromHumanSize (decimal: 10m = 10,000,000 bytes — json-file uses it,
 *   not RAMInBytes); RAMInBytes (binary) is here too for memory limits.
 * Times are nanoseconds since the epoch as bigint. Pure.
 */

import { TsbuildError } from '../errors.js';
import { nowNs } from '../clock.js';

const NS = 1_000_000_000n;


function isoSeconds(ns: bigint): string {
  const sec = ns >= 0n ? ns / NS : (ns - NS + 1n) / NS;
  return new Date(Number(sec) * 1000).toISOString().slice(0, 19);
}

function nanosOf(ns: bigint): bigint {
  return ((ns % NS) + NS) % NS;
}

/** Go's time.RFC3339Nano in UTC: `2024-05-01T12:00:00.5Z`. */
export function formatRfc3339Nano(ns: bigint): string {
  const frac = nanosOf(ns).toString().padStart(9, '0').replace(/0+$/, '');
  return `${isoSeconds(ns)}${frac ? '.' + frac : ''}Z`;
}

/** docker's RFC3339NanoFixed in UTC: `2024-05-01T12:00:00.500000000Z`. */
export function formatRfc3339NanoFixed(ns: bigint): string {
  return `${isoSeconds(ns)}.${nanosOf(ns).toString().padStart(9, '0')}Z`;
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2})(?::(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?)?(Z|z|[+-]\d{2}:\d{2})?$/;

/** Parse an RFC 3339 time (full or shortened as GetTimestamp accepts); `localOffsetMin` for zoneless. */
export function parseRfc3339(value: string, localOffsetMin = 0): bigint | undefined {
  const m = RFC3339.exec(value);
  if (!m) return undefined;
  const [, y, mo, d, h = '00', mi = '00', s = '00', frac = '', zone] = m;
  const ms = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s));
  const check = new Date(ms);
  if (Number.isNaN(ms) || check.getUTCDate() !== Number(d) || check.getUTCMonth() !== Number(mo) - 1 || Number(h) > 23 || Number(mi) > 59 || Number(s) > 59) {
    return undefined;
  }
  let offsetMin = localOffsetMin;
  if (zone && zone !== 'Z' && zone !== 'z') offsetMin = (zone[0] === '-' ? -1 : 1) * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6)));
  else if (zone) offsetMin = 0;
  return (BigInt(ms) - BigInt(offsetMin) * 60_000n) * 1_000_000n + BigInt(frac.padEnd(9, '0') || '0');
}

const UNITS: Record<string, number> = { ns: 1, us: 1e3, 'µs': 1e3, 'μs': 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

/** Go's time.ParseDuration, in nanoseconds (undefined when it is not a duration). */
export function parseGoDuration(s: string): bigint | undefined {
  let rest = s;
  let neg = false;
  if (rest[0] === '-' || rest[0] === '+') {
    neg = rest[0] === '-';
    rest = rest.slice(1);
  }
  if (rest === '0') return 0n;
  if (rest === '') return undefined;
  let total = 0;
  while (rest !== '') {
    const m = /^(\d*)(?:\.(\d*))?([^\d.]+)/.exec(rest);
    if (!m || (m[1] === '' && (m[2] === undefined || m[2] === ''))) return undefined;
    const unit = UNITS[m[3]!];
    if (unit === undefined) return undefined;
    total += Number(`${m[1] || '0'}.${m[2] || '0'}`) * unit;
    rest = rest.slice(m[0].length);
  }
  return BigInt(Math.round(neg ? -total : total));
}

/**
 * docker's GetTimestamp followed by the daemon's ParseTimestamps: a `--since`/`--until` value
 * as nanoseconds since the epoch. `now` is the reference time (ns).
 */
export function parseLogTime(value: string, now: bigint = nowNs()): bigint {
  const d = value !== '0' ? parseGoDuration(value) : undefined;
  if (d !== undefined) {
    const t = now - d;
    return (t >= 0n ? t / NS : (t - NS + 1n) / NS) * NS; // Unix(): whole seconds
  }
  const localOffsetMin = -new Date(Number(now / 1_000_000n)).getTimezoneOffset();
  const t = parseRfc3339(value, localOffsetMin);
  if (t !== undefined) return t;
  if (value.includes('-')) throw new TsbuildError('INVALID', `parsing time ${JSON.stringify(value)}: not an RFC 3339 time`);
  const m = /^(-?\d+)(?:\.(\d+))?$/.exec(value);
  if (!m) throw new TsbuildError('INVALID', `failed to parse value as time or duration: ${JSON.stringify(value)}`);
  return BigInt(m[1]!) * NS + BigInt((m[2] ?? '').slice(0, 9).padEnd(9, '0') || '0');
}

function parseSize(s: string, binary: boolean): number {
  let num: string;
  let sfx: string;
  const sp = s.indexOf(' ');
  if (sp >= 0) {
    num = s.slice(0, sp);
    sfx = s.slice(sp + 1);
  } else {
    let sep = -1;
    for (let i = s.length - 1; i >= 0; i--) {
      if ('0123456789.'.includes(s[i]!)) {
        sep = i;
        break;
      }
    }
    if (sep < 0) throw new TsbuildError('INVALID', `invalid size: '${s}'`);
    num = s.slice(0, sep + 1);
    sfx = s.slice(sep + 1);
  }
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(num)) throw new TsbuildError('INVALID', `strconv.ParseFloat: parsing ${JSON.stringify(num)}: invalid syntax`);
  let size = Number(num);
  if (size < 0) throw new TsbuildError('INVALID', `invalid size: '${s}'`);
  if (sfx === '') return Math.trunc(size);
  const bad = () => new TsbuildError('INVALID', `invalid suffix: '${sfx}'`);
  if (sfx.length > 3) throw bad();
  const l = sfx.toLowerCase();
  if (l[0] === 'b') {
    if (l.length > 1) throw bad();
    return Math.trunc(size);
  }
  const i = 'kmgtp'.indexOf(l[0]!);
  if (i < 0) throw bad();
  size *= (binary ? 1024 : 1000) ** (i + 1);
  if ((l.length === 2 && l[1] !== 'b') || (l.length === 3 && l.slice(1) !== 'ib')) throw bad();
  return Math.trunc(size);
}

/** go-units FromHumanSize: `10m` = 10,000,000; `1kb`, `1KiB`, `2 GB` accepted. */
export function fromHumanSize(s: string): number {
  return parseSize(s, false);
}

/** go-units RAMInBytes: `10m` = 10 MiB. */
export function ramInBytes(s: string): number {
  return parseSize(s, true);
}
