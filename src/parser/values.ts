/**
 * Validators for the small value languages inside instructions: Go durations (HEALTHCHECK),
 * chmod modes, EXPOSE port specs, signals, byte sizes, and the did-you-mean suggestion used by
 * error messages. Each throws a plain Error with the message; callers add the location.
 */

const UNIT_NS: Record<string, number> = {
  ns: 1,
  us: 1e3,
  'µs': 1e3, // U+00B5
  'μs': 1e3, // U+03BC
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};
const MAX_DURATION_NS = 9223372036854775807;

/** Go's `time.ParseDuration`, in nanoseconds. */
export function parseGoDuration(s: string): number {
  const orig = s;
  const invalid = (): never => {
    throw new Error(`time: invalid duration ${JSON.stringify(orig)}`);
  };
  let neg = false;
  if (s !== '' && (s[0] === '-' || s[0] === '+')) {
    neg = s[0] === '-';
    s = s.slice(1);
  }
  if (s === '0') return 0;
  if (s === '') invalid();
  let total = 0;
  while (s !== '') {
    const m = /^([0-9]*)(?:\.([0-9]*))?/.exec(s)!;
    const whole = m[1]!;
    const frac = m[2];
    if (whole === '' && (frac === undefined || frac === '')) invalid();
    s = s.slice(m[0].length);
    const u = /^[^0-9.]*/.exec(s)![0];
    if (u === '') throw new Error(`time: missing unit in duration ${JSON.stringify(orig)}`);
    const unit = UNIT_NS[u];
    if (unit === undefined) throw new Error(`time: unknown unit ${JSON.stringify(u)} in duration ${JSON.stringify(orig)}`);
    s = s.slice(u.length);
    total += Number(whole || '0') * unit + (frac ? Number(`0.${frac}`) * unit : 0);
    if (total > MAX_DURATION_NS) invalid();
  }
  return Math.round(neg ? -total : total);
}

/** Formats nanoseconds the way Go prints a time.Duration (used in messages). */
export function formatGoDuration(ns: number): string {
  if (ns === 0) return '0s';
  if (ns < 1e3) return `${ns}ns`;
  if (ns < 1e6) return `${ns / 1e3}µs`;
  if (ns < 1e9) return `${ns / 1e6}ms`;
  return `${ns / 1e9}s`;
}

/**
 * A `--chmod` value, decided when it is parsed: octal, or the clauses of a symbolic mode in the
 * grammar of BSD `chmod(1)` that BuildKit (dockerfile 1.14) takes:
 *
 *   mode   = clause *("," clause)
 *   clause = *who 1*action          who    = "u" / "g" / "o" / "a"
 *   action = op *perm / op copy     op     = "+" / "-" / "="
 *   perm   = "r" / "w" / "x" / "X" / "s" / "t"      copy = "u" / "g" / "o"
 *
 * so `u+x`, `go-w`, `g=u`, `u+x-w` and `a=rX` are valid; `x+r`, `u+q`, `755,u+x` are not.
 */
export type ChmodValue = { octal: number } | { symbolic: string; clauses: ChmodClause[] };

export interface ChmodClause {
  /** The classes named, as mode bits they cover (u = 04700, g = 02070, o = 01007); none named = 07777. */
  who: number;
  actions: ChmodAction[];
}

/** `perms`: letters of `rwxXst`, or `copy` = the class whose current bits are copied (`g=u`). */
export type ChmodAction = { op: '+' | '-' | '='; perms: string } | { op: '+' | '-' | '='; copy: 'u' | 'g' | 'o' };

const CHMOD_WHO: Record<string, number> = { u: 0o4700, g: 0o2070, o: 0o1007, a: 0o7777 };

/** COPY/ADD --chmod: an octal mode up to 07777, or a symbolic mode (see ChmodValue). */
export function parseChmod(s: string): ChmodValue {
  const invalid = () => new Error(`invalid chmod parameter: '${s}'. it should be octal string like 655 or symbolic like u+rwx`);
  if (/^[0-7]+$/.test(s)) {
    const v = Number.parseInt(s, 8);
    if (v <= 0o7777) return { octal: v };
    throw invalid();
  }
  const clauses: ChmodClause[] = [];
  for (const text of s.split(',')) {
    const m = /^([ugoa]*)((?:[-+=](?:[ugo]|[rwxXst]*))+)$/.exec(text);
    if (!m) throw invalid();
    const who = m[1] === '' ? 0o7777 : [...m[1]!].reduce((w, c) => w | CHMOD_WHO[c]!, 0);
    const actions: ChmodAction[] = [];
    for (const a of m[2]!.matchAll(/([-+=])([ugo]|[rwxXst]*)/g)) {
      const op = a[1] as '+' | '-' | '=';
      actions.push(/^[ugo]$/.test(a[2]!) ? { op, copy: a[2] as 'u' | 'g' | 'o' } : { op, perms: a[2]! });
    }
    clauses.push({ who, actions });
  }
  return { symbolic: s, clauses };
}

/** The mode bits a ChmodValue gives an entry with `mode` (symbolic modes depend on it, and `X` on `isDir`). */
export function applyChmod(v: ChmodValue, mode: number, isDir: boolean): number {
  if ('octal' in v) return v.octal;
  let m = mode & 0o7777;
  for (const { who, actions } of v.clauses) {
    for (const a of actions) {
      let bits = 0;
      if ('copy' in a) {
        const rwx = (m >> (a.copy === 'u' ? 6 : a.copy === 'g' ? 3 : 0)) & 7;
        bits = (rwx << 6) | (rwx << 3) | rwx;
      } else {
        for (const p of a.perms) {
          if (p === 'r') bits |= 0o444;
          else if (p === 'w') bits |= 0o222;
          else if (p === 'x') bits |= 0o111;
          else if (p === 'X') bits |= isDir || (m & 0o111) !== 0 ? 0o111 : 0;
          else if (p === 's') bits |= 0o6000;
          else if (p === 't') bits |= 0o1000;
        }
      }
      bits &= who;
      m = a.op === '+' ? m | bits : a.op === '-' ? m & ~bits : (m & ~who) | bits;
    }
  }
  return m;
}

export interface PortSpec {
  start: number;
  end: number;
  protocol: 'tcp' | 'udp' | 'sctp';
}

/** EXPOSE port spec: `80`, `80/udp`, `8000-8010/tcp`. */
export function parsePortSpec(s: string): PortSpec {
  const m = /^([0-9]+)(?:-([0-9]+))?(?:\/([A-Za-z]+))?$/.exec(s);
  if (!m) throw new Error(`invalid port specification: ${JSON.stringify(s)}`);
  const start = Number(m[1]);
  const end = m[2] === undefined ? start : Number(m[2]);
  const protocol = (m[3] ?? 'tcp').toLowerCase();
  if (start > 65535 || end > 65535) throw new Error(`invalid port specification: ${JSON.stringify(s)}: port out of range`);
  if (end < start) throw new Error(`invalid port range: ${JSON.stringify(s)}`);
  if (protocol !== 'tcp' && protocol !== 'udp' && protocol !== 'sctp') {
    throw new Error(`invalid proto: ${JSON.stringify(m[3])} in ${JSON.stringify(s)}`);
  }
  return { start, end, protocol };
}

const SIGNALS: Record<string, number> = {
  ABRT: 6, ALRM: 14, BUS: 7, CHLD: 17, CLD: 17, CONT: 18, FPE: 8, HUP: 1, ILL: 4, INT: 2, IO: 29,
  IOT: 6, KILL: 9, PIPE: 13, POLL: 29, PROF: 27, PWR: 30, QUIT: 3, SEGV: 11, STKFLT: 16, STOP: 19,
  SYS: 31, TERM: 15, TRAP: 5, TSTP: 20, TTIN: 21, TTOU: 22, URG: 23, USR1: 10, USR2: 12,
  VTALRM: 26, WINCH: 28, XCPU: 24, XFSZ: 25, RTMIN: 34, RTMAX: 64,
};

/** STOPSIGNAL: a number or a Linux signal name, with or without SIG (`SIGTERM`, `term`, `RTMIN+3`). */
export function parseSignal(s: string): number {
  if (/^[0-9]+$/.test(s)) {
    const n = Number(s);
    if (n >= 1 && n <= 64) return n;
    throw new Error(`invalid signal: ${s}`);
  }
  const name = s.toUpperCase().replace(/^SIG/, '');
  const rt = /^RTM(IN|AX)([+-])([0-9]+)$/.exec(name);
  if (rt) {
    const base = rt[1] === 'IN' ? 34 : 64;
    const n = base + (rt[2] === '+' ? 1 : -1) * Number(rt[3]);
    if (n >= 34 && n <= 64 && (rt[1] === 'IN' ? rt[2] === '+' : rt[2] === '-')) return n;
  }
  const n = SIGNALS[name];
  if (n === undefined) throw new Error(`invalid signal: ${s}`);
  return n;
}

/** Byte sizes as Docker's go-units `RAMInBytes` reads them (`64m`, `1g`, `1024`, `1.5GiB`). */
export function parseByteSize(s: string): number {
  const m = /^([0-9]+(?:\.[0-9]+)?)\s*([kKmMgGtTpP]?)(?:[iI]?[bB])?$/.exec(s);
  if (!m) throw new Error(`invalid size: '${s}'`);
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 }[m[2]!.toLowerCase()]!;
  return Math.floor(Number(m[1]) * mult);
}

/**
 * The closest candidate for "did you mean": edit distance with transpositions (optimal string
 * alignment) within a third of the word's length, or a candidate the word is a prefix of.
 */
export function suggest(value: string, candidates: readonly string[]): string | undefined {
  const v = value.toLowerCase();
  if (v === '') return undefined;
  let best: string | undefined;
  let bestDist = Infinity;
  for (const c of candidates) {
    const lc = c.toLowerCase();
    const d = v.length >= 3 && lc.startsWith(v) ? 1 : editDistance(v, lc);
    if (d < bestDist) {
      bestDist = d;
      best = c;
    }
  }
  return bestDist <= Math.max(1, Math.floor(v.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      if (i === 0) {
        row[j] = j;
        continue;
      }
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(rows[i - 1]![j]! + 1, row[j - 1]! + 1, rows[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, rows[i - 2]![j - 2]! + 1);
      row[j] = d;
    }
    rows.push(row);
  }
  return rows[a.length]![b.length]!;
}
