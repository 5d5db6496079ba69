/**
 * Go's fmt.Sprint, fmt.Sprintln and the common part of fmt.Sprintf, as the `print`, `println`
 * and `printf` template functions use them.
 *
 * Pinned: Sprint puts a space between operands only when neither is a string; Sprintln always
 * separates with spaces and ends with a newline; Sprintf verbs %v %s %q %d %t %x %X %o %b %c %e
 * %f %g (flags `-` `+` `0` space, width, precision, `*`), `%%`, and Go's in-band errors:
 * `%!d(string=x)` for a wrong type, `%!d(MISSING)`, `%!(EXTRA int=1)`, `%!(NOVERB)`. Pure.
 */

import { goQuote } from '../parser/go-quote.js';
import { formatFloatV, formatValue, goTypeName } from './go-value.js';

export function sprint(args: readonly unknown[]): string {
  let out = '';
  for (let i = 0; i < args.length; i++) {
    if (i > 0 && typeof args[i] !== 'string' && typeof args[i - 1] !== 'string') out += ' ';
    out += formatValue(args[i]);
  }
  return out;
}

export function sprintln(args: readonly unknown[]): string {
  return args.map(formatValue).join(' ') + '\n';
}

interface Spec {
  minus: boolean;
  plus: boolean;
  zero: boolean;
  space: boolean;
  sharp: boolean;
  width: number | undefined;
  prec: number | undefined;
}

const isNil = (v: unknown) => v === undefined || v === null || typeof v === 'symbol';

function pad(s: string, spec: Spec, numeric: boolean): string {
  const w = spec.width;
  if (w === undefined || [...s].length >= w) return s;
  const n = w - [...s].length;
  if (spec.minus) return s + ' '.repeat(n);
  if (spec.zero && numeric) {
    const sign = s[0] === '-' || s[0] === '+' || s[0] === ' ' ? s[0] : '';
    return sign + '0'.repeat(n) + s.slice(sign.length);
  }
  return ' '.repeat(n) + s;
}

function badVerb(verb: string, v: unknown): string {
  if (isNil(v)) return `%!${verb}(<nil>)`;
  return `%!${verb}(${goTypeName(v)}=${formatValue(v)})`;
}

function signed(s: string, neg: boolean, spec: Spec): string {
  if (neg) return '-' + s;
  if (spec.plus) return '+' + s;
  if (spec.space) return ' ' + s;
  return s;
}

function fmtInt(n: number | bigint, verb: string, spec: Spec): string | undefined {
  const neg = n < 0;
  const abs = neg ? -BigInt(n) : BigInt(n);
  let digits: string;
  switch (verb) {
    case 'd':
    case 'v':
      digits = abs.toString(10);
      break;
    case 'x':
      digits = (spec.sharp ? '0x' : '') + abs.toString(16);
      break;
    case 'X':
      digits = (spec.sharp ? '0X' : '') + abs.toString(16).toUpperCase();
      break;
    case 'o':
      digits = (spec.sharp ? '0' : '') + abs.toString(8);
      break;
    case 'b':
      digits = abs.toString(2);
      break;
    case 'c':
      return String.fromCodePoint(Number(n));
    case 'q':
      return `'${String.fromCodePoint(Number(n))}'`;
    default:
      return undefined;
  }
  if (spec.prec !== undefined) digits = digits.padStart(spec.prec, '0');
  return signed(digits, neg, spec);
}

function fmtFloat(n: number, verb: string, spec: Spec): string | undefined {
  const neg = n < 0 || Object.is(n, -0);
  const a = Math.abs(n);
  let s: string;
  if (!Number.isFinite(a)) s = Number.isNaN(a) ? 'NaN' : 'Inf';
  else
    switch (verb) {
      case 'v':
      case 'g':
      case 'G':
        s = spec.prec === undefined ? formatFloatV(a) : trimG(a.toPrecision(Math.max(1, spec.prec)));
        if (verb === 'G') s = s.toUpperCase();
        break;
      case 'f':
      case 'F':
        s = a.toFixed(spec.prec ?? 6);
        break;
      case 'e':
      case 'E': {
        const [m, e] = a.toExponential(spec.prec ?? 6).split('e') as [string, string];
        const x = Number(e);
        s = `${m}e${x < 0 ? '-' : '+'}${String(Math.abs(x)).padStart(2, '0')}`;
        if (verb === 'E') s = s.toUpperCase();
        break;
      }
      default:
        return undefined;
    }
  if (Number.isNaN(n)) return spec.plus ? '+NaN' : 'NaN';
  return signed(s, neg, spec);
}

/** %.Ng: toPrecision's output with Go's exponent form and without trailing zeros. */
function trimG(p: string): string {
  const [m, e] = p.split('e') as [string, string | undefined];
  const mant = m.includes('.') ? m.replace(/0+$/, '').replace(/\.$/, '') : m;
  if (e === undefined) return mant;
  const x = Number(e);
  return `${mant}e${x < 0 ? '-' : '+'}${String(Math.abs(x)).padStart(2, '0')}`;
}

function fmtString(s: string, verb: string, spec: Spec): string | undefined {
  switch (verb) {
    case 'v':
    case 's':
      return spec.prec !== undefined ? [...s].slice(0, spec.prec).join('') : s;
    case 'q':
      return goQuote(s);
    case 'x':
    case 'X': {
      const h = Buffer.from(s, 'utf8').toString('hex');
      return verb === 'X' ? h.toUpperCase() : h;
    }
  }
  return undefined;
}

function fmtArg(v: unknown, verb: string, spec: Spec): string {
  let s: string | undefined;
  let numeric = false;
  if (verb === 'T') s = goTypeName(v);
  else if (isNil(v)) s = verb === 'v' ? '<nil>' : undefined;
  else if (typeof v === 'boolean') s = verb === 'v' || verb === 't' ? String(v) : undefined;
  else if (typeof v === 'bigint' || (typeof v === 'number' && Number.isInteger(v) && 'eEfFgG'.indexOf(verb) < 0)) {
    s = fmtInt(v, verb, spec);
    numeric = true;
  } else if (typeof v === 'number') {
    s = fmtFloat(v, verb, spec);
    numeric = true;
  } else if (typeof v === 'string') s = fmtString(v, verb, spec);
  else if (Array.isArray(v) && verb !== 'v') {
    // fmt applies the verb to each element of a slice.
    return pad(`[${v.map((e) => fmtArg(e, verb, { ...spec, width: undefined })).join(' ')}]`, spec, false);
  } else if (verb === 'v' || verb === 's') s = formatValue(v);
  if (s === undefined) return badVerb(verb, v);
  return pad(s, spec, numeric);
}

/** fmt.Sprintf for the verbs templates use. */
export function sprintf(format: string, args: readonly unknown[]): string {
  let out = '';
  let argi = 0;
  let i = 0;
  while (i < format.length) {
    const pct = format.indexOf('%', i);
    if (pct < 0) {
      out += format.slice(i);
      break;
    }
    out += format.slice(i, pct);
    i = pct + 1;
    const spec: Spec = { minus: false, plus: false, zero: false, space: false, sharp: false, width: undefined, prec: undefined };
    for (; i < format.length; i++) {
      const c = format[i];
      if (c === '-') spec.minus = true;
      else if (c === '+') spec.plus = true;
      else if (c === '0') spec.zero = !spec.minus;
      else if (c === ' ') spec.space = true;
      else if (c === '#') spec.sharp = true;
      else break;
    }
    const num = (): number | undefined => {
      if (format[i] === '*') {
        i++;
        const a = args[argi++];
        return typeof a === 'number' ? Math.trunc(a) : undefined;
      }
      const m = /^\d+/.exec(format.slice(i));
      if (!m) return undefined;
      i += m[0].length;
      return Number(m[0]);
    };
    spec.width = num();
    if (spec.width !== undefined && spec.width < 0) {
      spec.minus = true;
      spec.width = -spec.width;
    }
    if (format[i] === '.') {
      i++;
      spec.prec = num() ?? 0;
    }
    if (i >= format.length) {
      out += '%!(NOVERB)';
      break;
    }
    const verb = String.fromCodePoint(format.codePointAt(i)!);
    i += verb.length;
    if (verb === '%') {
      out += '%';
      continue;
    }
    if (argi >= args.length) {
      out += `%!${verb}(MISSING)`;
      continue;
    }
    out += fmtArg(args[argi++], verb, spec);
  }
  if (argi < args.length) {
    const extra = args.slice(argi).map((a) => (isNil(a) ? '<nil>' : `${goTypeName(a)}=${formatValue(a)}`));
    out += `%!(EXTRA ${extra.join(', ')})`;
  }
  return out;
}
