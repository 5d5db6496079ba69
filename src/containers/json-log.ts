/**
 * Docker's json-file log driver: the writer a container's output goes through, and the reader
 * behind `logs` (with `--tail`, `--since`, `--until`, `-f`).
 *
 * Pinned Docker behaviour (moby daemon/logger: copier.go, jsonfilelog, jsonlog, loggerutils):
 * - One line per entry: `{"log":"…","stream":"stdout","time":"<RFC3339Nano>"}` + "\n". `log`
 *   keeps the line's "\n"; jsonlog's escaping: `"` `\` as \" \\, \n \r short, every other byte
 *   below 0x20 and `<` `>` `&` as \u00XX, U+2028/U+2029 as \u2028/\u2029, each invalid UTF-8
 *   byte as \ufffd.
 * - Lines are cut into 16 KiB pieces (the copier's buffer): pieces without "\n"; the pieces of
 *   one line share the first piece's time. Output that ends without "\n" is logged as it is
 *   (no newline added) when the stream ends.
 * - Rotation before an entry is written when the file has reached max-size: `<id>-json.log`
 *   becomes `.1`, `.1` becomes `.2`, … up to max-file − 1 (the oldest is removed); with
 *   max-file 1 the file is simply started anew. `--log-opt` checks and errors as Docker's.
 * - Reading: files oldest first; `--tail N` counts entries from the end across files (0 shows
 *   none); `--since` drops entries before it until the first that is not (times need not be
 *   monotonic); `--until` ends the stream at the first entry after it.
 * Beyond Docker: a 16 KiB cut never splits a UTF-8 character (so no byte of valid text is lost
 * to \ufffd), and `-f` follows across any number of rotations by finding the rotated files it
 * has not read yet, instead of skipping them.
 * File-only; memory stays bounded by one read chunk plus one line.
 */

import { closeSync, fstatSync, openSync, readSync, readdirSync, renameSync, statSync, unlinkSync, watch, writeSync, constants as fsc } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { TsbuildError } from '../errors.js';
import { formatRfc3339Nano, formatRfc3339NanoFixed, fromHumanSize } from './log-time.js';
import { nowNs } from '../clock.js';

export type LogStream = 'stdout' | 'stderr';

/** The copier's line limit: longer lines are logged in pieces of this size. */
export const MAX_LINE = 16 * 1024;

export interface JsonFileOptions {
  /** Bytes after which the file is rotated; -1 never. */
  maxSize: number;
  /** How many files to keep (≥ 1). */
  maxFile: number;
}

/** Check `--log-opt` values for the json-file driver as Docker does. */
export function parseJsonFileOpts(opts: Record<string, string>): JsonFileOptions {
  for (const key of Object.keys(opts)) {
    if (!['max-size', 'max-file', 'compress', 'labels', 'labels-regex', 'env', 'env-regex', 'tag'].includes(key)) {
      throw new TsbuildError('INVALID', `unknown log opt '${key}' for json-file log driver`);
    }
  }
  let maxSize = -1;
  if (opts['max-size'] !== undefined) {
    maxSize = fromHumanSize(opts['max-size']);
    if (maxSize <= 0) throw new TsbuildError('INVALID', 'max-size must be a positive number');
  }
  let maxFile = 1;
  if (opts['max-file'] !== undefined) {
    const v = opts['max-file'];
    if (!/^[+-]?\d+$/.test(v)) throw new TsbuildError('INVALID', `strconv.Atoi: parsing ${JSON.stringify(v)}: invalid syntax`);
    maxFile = Number(v);
    if (maxFile < 1) throw new TsbuildError('INVALID', 'max-file cannot be less than 1');
  }
  if (opts['compress'] !== undefined && !['false', '0', 'f', 'F', 'FALSE', 'False'].includes(opts['compress'])) {
    throw new TsbuildError('INVALID', 'compress is not supported by the json-file driver of tsbuild');
  }
  return { maxSize, maxFile };
}

/** `<dir>/<id>-json.log`, as Docker names it. */
export function jsonLogPath(dir: string, id: string): string {
  return join(dir, `${id}-json.log`);
}

// ---------------------------------------------------------------------------------------------
// Encoding

const HEX = '0123456789abcdef';
const NEEDS = new Uint8Array(256);
for (let b = 0; b < 256; b++) NEEDS[b] = b < 0x20 || b === 0x22 || b === 0x5c || b === 0x3c || b === 0x3e || b === 0x26 || b >= 0x80 ? 1 : 0;
const HEAD = Buffer.from('{"log":"');
const ESC_QUOTE = Buffer.from('\\"');
const ESC_BACKSLASH = Buffer.from('\\\\');
const ESC_N = Buffer.from('\\n');
const ESC_R = Buffer.from('\\r');
const ESC_FFFD = Buffer.from('\\ufffd');
const ESC_BYTE: Buffer[] = Array.from({ length: 0x80 }, (_, b) => Buffer.from(`\\u00${HEX[b >> 4]}${HEX[b & 15]}`));

/** Length of the valid UTF-8 sequence at `i` (as Go's DecodeRune accepts it), 0 if invalid. */
function utf8Len(s: Uint8Array, i: number, end: number): number {
  const b = s[i]!;
  let n: number;
  let lo = 0x80;
  let hi = 0xbf;
  if (b >= 0xc2 && b <= 0xdf) n = 2;
  else if (b >= 0xe0 && b <= 0xef) {
    n = 3;
    if (b === 0xe0) lo = 0xa0;
    else if (b === 0xed) hi = 0x9f; // no surrogates
  } else if (b >= 0xf0 && b <= 0xf4) {
    n = 4;
    if (b === 0xf0) lo = 0x90;
    else if (b === 0xf4) hi = 0x8f;
  } else return 0;
  if (i + n > end) return 0;
  const b1 = s[i + 1]!;
  if (b1 < lo || b1 > hi) return 0;
  for (let k = 2; k < n; k++) if ((s[i + k]! & 0xc0) !== 0x80) return 0;
  return n;
}

// Bytes jsonlog escapes or must look at (non-ASCII), searched natively over a latin1 view.
const SPECIAL = /[\x00-\x1f"\\<>&\x80-\xff]/g;

/** Append jsonlog's string escaping of `s[start:end]` to `out` (slices of `s`, no copy where clean). */
function escapeInto(out: Buffer[], s: Buffer, start: number, end: number): number {
  let bytes = 0;
  let run = start;
  const push = (b: Buffer) => {
    out.push(b);
    bytes += b.length;
  };
  const view = s.toString('latin1', start, end);
  SPECIAL.lastIndex = 0;
  for (let m = SPECIAL.exec(view); m; m = SPECIAL.exec(view)) {
    let i = start + m.index;
    if (i < run) {
      SPECIAL.lastIndex = run - start; // inside a multi-byte character already passed
      continue;
    }
    const b = s[i]!;
    if (b >= 0x80) {
      const n = utf8Len(s, i, end);
      if (n > 0) {
        // U+2028 / U+2029 (E2 80 A8 / E2 80 A9) are escaped; other valid characters kept.
        if (n === 3 && b === 0xe2 && s[i + 1] === 0x80 && (s[i + 2] === 0xa8 || s[i + 2] === 0xa9)) {
          if (run < i) push(s.subarray(run, i));
          push(Buffer.from(s[i + 2] === 0xa8 ? '\\u2028' : '\\u2029'));
          run = i + 3;
        }
        SPECIAL.lastIndex = i + n - start;
        continue;
      }
      if (run < i) push(s.subarray(run, i));
      push(ESC_FFFD);
      run = ++i;
      continue;
    }
    if (run < i) push(s.subarray(run, i));
    push(b === 0x22 ? ESC_QUOTE : b === 0x5c ? ESC_BACKSLASH : b === 0x0a ? ESC_N : b === 0x0d ? ESC_R : ESC_BYTE[b]!);
    run = ++i;
  }
  if (run < end) push(s.subarray(run, end));
  return bytes;
}

/**
 * Where to cut a too-long line at `limit` bytes without splitting a UTF-8 character: when the
 * last lead byte before the cut announces more bytes than fit, cut before it. (Only the lead
 * byte is looked at: the rest of the character may not have arrived yet.)
 */
function safeCut(s: Buffer, start: number, limit: number): number {
  const cut = start + limit;
  for (let back = 1; back <= 3 && cut - back >= start; back++) {
    const b = s[cut - back]!;
    if ((b & 0xc0) === 0x80) continue; // a continuation byte: the lead is further back
    const n = b >= 0xf0 && b <= 0xf4 ? 4 : b >= 0xe0 ? 3 : b >= 0xc2 && b < 0xe0 ? 2 : 1;
    return n > back ? cut - back : cut;
  }
  return cut;
}

// ---------------------------------------------------------------------------------------------
// Writer

interface StreamState {
  /** Bytes of an unfinished line (pieces kept, not joined; at most 16 KiB). */
  pending: Buffer[];
  pendingBytes: number;
  /** When the first of those bytes arrived. */
  pendingTime: bigint | undefined;
  /** Time of the first piece of a line already logged in part. */
  partialTime: bigint | undefined;
}

/**
 * Appends a container's output to `<id>-json.log` with rotation. Synchronous file writes, one
 * write(2) per `write` call (entries batched), so an entry is never half-written by us.
 */
export class JsonLogWriter {
  private fd: number;
  private size: number;
  private readonly streams: Record<LogStream, StreamState> = {
    stdout: { pending: [], pendingBytes: 0, pendingTime: undefined, partialTime: undefined },
    stderr: { pending: [], pendingBytes: 0, pendingTime: undefined, partialTime: undefined },
  };
  private batch: Buffer[] = [];
  private batchBytes = 0;

  private constructor(
    readonly path: string,
    private readonly opts: JsonFileOptions,
    private readonly clock: () => bigint,
  ) {
    this.fd = openSync(path, fsc.O_WRONLY | fsc.O_APPEND | fsc.O_CREAT, 0o600);
    this.size = fstatSync(this.fd).size;
  }

  /** Open (or continue) the log at `path`. */
  static open(path: string, opts: Partial<JsonFileOptions> = {}, clock: () => bigint = nowNs): JsonLogWriter {
    return new JsonLogWriter(path, { maxSize: opts.maxSize ?? -1, maxFile: opts.maxFile ?? 1 }, clock);
  }

  /** Log a chunk of a stream's output (any size, any split). */
  write(stream: LogStream, chunk: Buffer, time: bigint = this.clock()): void {
    const st = this.streams[stream];
    let start = 0;
    while (start < chunk.length) {
      const nl = chunk.indexOf(0x0a, start);
      const end = nl < 0 ? chunk.length : nl;
      // While the unfinished line fills the copier's 16 KiB buffer, log it in pieces. (A line
      // of exactly 16 KiB is one piece and then a "\n" entry of its own, as Docker logs it.)
      while (st.pendingBytes + (end - start) >= MAX_LINE) {
        const take = MAX_LINE - st.pendingBytes;
        const line = st.pendingBytes ? Buffer.concat([...st.pending, chunk.subarray(start, start + take)]) : chunk.subarray(start, start + take);
        const cut = safeCut(line, 0, MAX_LINE);
        st.pending = [line.subarray(0, cut)];
        st.pendingBytes = cut;
        st.pendingTime ??= time;
        this.emitPending(stream, st, false);
        if (cut < line.length) this.keep(st, line.subarray(cut), time); // the start of a character cut off
        start += take;
      }
      if (nl < 0) {
        if (start < chunk.length) this.keep(st, chunk.subarray(start), time);
        break;
      }
      st.pending.push(chunk.subarray(start, end));
      st.pendingBytes += end - start;
      st.pendingTime ??= time;
      this.emitPending(stream, st, true);
      start = nl + 1;
    }
    this.flushBatch();
  }

  /** Hold bytes of an unfinished line past this call (copied: the caller may reuse its buffer). */
  private keep(st: StreamState, bytes: Buffer, time: bigint): void {
    st.pending.push(Buffer.from(bytes));
    st.pendingBytes += bytes.length;
    st.pendingTime ??= time;
  }

  /** The stream ended: log what is left of its last line as it is (no newline added). */
  endStream(stream: LogStream): void {
    const st = this.streams[stream];
    if (st.pendingBytes > 0) this.emitPending(stream, st, false);
    st.partialTime = undefined;
    this.flushBatch();
  }

  /** End both streams and close the file. */
  close(): void {
    this.endStream('stdout');
    this.endStream('stderr');
    closeSync(this.fd);
    this.fd = -1;
  }

  private emitPending(stream: LogStream, st: StreamState, newline: boolean): void {
    if (!newline && st.pendingBytes === 0) return;
    // The pieces of one line share the time of its first piece.
    const t = st.partialTime ?? st.pendingTime ?? this.clock();
    st.partialTime = newline ? undefined : t;
    const parts: Buffer[] = [HEAD];
    let bytes = HEAD.length;
    // One buffer, so that a character split between two writes is escaped whole.
    const line = st.pending.length === 1 ? st.pending[0]! : Buffer.concat(st.pending, st.pendingBytes);
    bytes += escapeInto(parts, line, 0, line.length);
    if (newline) {
      parts.push(ESC_N);
      bytes += 2;
    }
    const tail = this.tail(stream, t);
    parts.push(tail);
    bytes += tail.length;
    st.pending = [];
    st.pendingBytes = 0;
    st.pendingTime = undefined;
    this.entry(parts, bytes);
  }

  private lastTail: { stream: LogStream; time: bigint; buf: Buffer } | undefined;

  /** `","stream":"…","time":"…"}\n`, reused while the time stays the same (one write call). */
  private tail(stream: LogStream, t: bigint): Buffer {
    const l = this.lastTail;
    if (l && l.stream === stream && l.time === t) return l.buf;
    const buf = Buffer.from(`","stream":"${stream}","time":"${formatRfc3339Nano(t)}"}\n`);
    this.lastTail = { stream, time: t, buf };
    return buf;
  }

  private entry(parts: Buffer[], bytes: number): void {
    if (this.opts.maxSize !== -1 && this.size + this.batchBytes >= this.opts.maxSize) {
      this.flushBatch();
      if (this.size >= this.opts.maxSize) this.rotate();
    }
    for (const p of parts) this.batch.push(p);
    this.batchBytes += bytes;
  }

  private flushBatch(): void {
    if (this.batchBytes === 0) return;
    const buf = this.batch.length === 1 ? this.batch[0]! : Buffer.concat(this.batch, this.batchBytes);
    let off = 0;
    while (off < buf.length) off += writeSync(this.fd, buf, off, buf.length - off);
    this.size += buf.length;
    this.batch = [];
    this.batchBytes = 0;
  }

  private rotate(): void {
    closeSync(this.fd);
    const max = this.opts.maxFile;
    if (max < 2) {
      unlinkQuiet(this.path);
    } else {
      unlinkQuiet(`${this.path}.${max - 1}`);
      for (let i = max - 1; i > 1; i--) renameQuiet(`${this.path}.${i - 1}`, `${this.path}.${i}`);
      renameQuiet(this.path, `${this.path}.1`);
    }
    this.fd = openSync(this.path, fsc.O_WRONLY | fsc.O_APPEND | fsc.O_CREAT | fsc.O_TRUNC, 0o600);
    this.size = 0;
  }
}

function unlinkQuiet(p: string): void {
  try {
    unlinkSync(p);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}

function renameQuiet(from: string, to: string): void {
  try {
    renameSync(from, to);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}

// ---------------------------------------------------------------------------------------------
// Reader

export interface LogEntry {
  stream: LogStream;
  /** Nanoseconds since the epoch. */
  time: bigint;
  /** The logged bytes (a line's "\n" included). */
  log: Buffer;
}

export interface ReadLogOptions {
  /** The last N entries (undefined or negative: all; 0: none). */
  tail?: number;
  /** Nanoseconds since the epoch (see parseLogTime). */
  since?: bigint;
  until?: bigint;
  /** Keep reading new entries until `signal` aborts or `stopped()` says the container ended. */
  follow?: boolean;
  signal?: AbortSignal;
  stopped?: () => boolean | Promise<boolean>;
  /** How often to look again when no change was signalled (ms). */
  pollMs?: number;
}

const CHUNK = 64 * 1024;

/** Parse a json-file time (RFC 3339 with up to nine fraction digits) to nanoseconds. */
let lastSecs = '';
let lastSecsNs = 0n;
function parseEntryTime(t: string): bigint {
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/.exec(t);
  if (!m) return 0n;
  const secs = m[1]! + m[3]!;
  if (secs !== lastSecs) {
    lastSecs = secs;
    lastSecsNs = BigInt(Date.parse(secs)) * 1_000_000n;
  }
  return lastSecsNs + BigInt((m[2] ?? '').padEnd(9, '0') || '0');
}

const STREAM_OUT = Buffer.from('","stream":"stdout","time":"');
const STREAM_ERR = Buffer.from('","stream":"stderr","time":"');

/* The writer's own shape, `{"log":"TEXT","stream":"S","time":"T"}` with TEXT free of escapes but a
 * final \n, is taken apart without JSON.parse (most lines of a big log); anything else is parsed. */
function decodeFast(line: Buffer): LogEntry | undefined {
  const n = line.length;
  if (n < HEAD.length + STREAM_OUT.length + 3 || line[n - 1] !== 0x7d || line[n - 2] !== 0x22 || !line.subarray(0, HEAD.length).equals(HEAD)) return undefined;
  const tq = line.lastIndexOf(0x22, n - 3); // the quote before the time
  const at = tq - (STREAM_OUT.length - 1);
  if (at < HEAD.length) return undefined;
  const tag = line.subarray(at, tq + 1);
  const stream = tag.equals(STREAM_OUT) ? 'stdout' : tag.equals(STREAM_ERR) ? 'stderr' : undefined;
  if (!stream) return undefined;
  let text = line.subarray(HEAD.length, at);
  const bs = text.indexOf(0x5c);
  if (bs >= 0) {
    if (bs !== text.length - 2 || text[bs + 1] !== 0x6e) return undefined;
    text = Buffer.concat([text.subarray(0, bs), NL]);
  } else text = Buffer.from(text);
  return new LazyEntry(stream, line.toString('latin1', tq + 1, n - 2), text);
}
const NL = Buffer.from('\n');

/** An entry whose time is parsed when asked for (`logs` without -t/--since/--until never asks). */
class LazyEntry implements LogEntry {
  private parsed: bigint | undefined;
  constructor(
    readonly stream: LogStream,
    private readonly rawTime: string,
    readonly log: Buffer,
  ) {}
  get time(): bigint {
    return (this.parsed ??= parseEntryTime(this.rawTime));
  }
}

function decodeLine(line: Buffer): LogEntry | undefined {
  const fast = decodeFast(line);
  if (fast) return fast;
  let j: { log?: unknown; stream?: unknown; time?: unknown };
  try {
    j = JSON.parse(line.toString('utf8'));
  } catch {
    return undefined; // a torn or foreign line is skipped, as Docker's decoder resynchronises
  }
  const stream = j.stream === 'stderr' ? 'stderr' : 'stdout';
  return { stream, time: typeof j.time === 'string' ? parseEntryTime(j.time) : 0n, log: Buffer.from(typeof j.log === 'string' ? j.log : '', 'utf8') };
}

interface OpenLog {
  fd: number;
  ino: number;
  pos: number;
}

/** Rotated files of `path`, oldest first (`.N` … `.1`). */
function rotatedFiles(path: string): string[] {
  const dir = dirname(path);
  const base = basename(path);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .filter((n) => n.startsWith(base + '.') && /^\d+$/.test(n.slice(base.length + 1)))
    .map((n) => ({ n, i: Number(n.slice(base.length + 1)) }))
    .sort((a, b) => b.i - a.i)
    .map((x) => join(dir, x.n));
}

function openIfExists(p: string): OpenLog | undefined {
  try {
    const fd = openSync(p, fsc.O_RDONLY);
    return { fd, ino: fstatSync(fd).ino, pos: 0 };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

function inoOf(p: string): number | undefined {
  try {
    return statSync(p).ino;
  } catch {
    return undefined;
  }
}

function closeAll(files: OpenLog[]): void {
  for (const f of files) closeSync(f.fd);
}

/**
 * Open every file of the log, oldest first, as one consistent set (retried when a rotation
 * moved files while they were being opened; an open file stays readable after a rename or an
 * unlink, so the set can be read at leisure).
 */
function openAll(path: string): OpenLog[] {
  for (;;) {
    const paths = [...rotatedFiles(path), path];
    const opened = paths.map(openIfExists).filter((o): o is OpenLog => o !== undefined);
    const now = paths.map(inoOf).filter((x): x is number => x !== undefined);
    if (now.length === opened.length && now.every((ino, i) => ino === opened[i]!.ino)) return opened;
    closeAll(opened);
  }
}

/** Where the last `n` lines start, searching files newest first: [fileIndex, offset]. */
function tailStart(files: OpenLog[], n: number): [number, number] {
  let need = n;
  const buf = Buffer.allocUnsafe(CHUNK);
  for (let f = files.length - 1; f >= 0; f--) {
    const { fd } = files[f]!;
    const size = fstatSync(fd).size;
    let end = size;
    let skipLast = true; // a final "\n" ends the last line; it does not start one
    while (end > 0) {
      const start = Math.max(0, end - CHUNK);
      const got = readSync(fd, buf, 0, end - start, start);
      for (let i = got - 1; i >= 0; i--) {
        if (buf[i] !== 0x0a) {
          skipLast = false;
          continue;
        }
        if (skipLast) {
          skipLast = false;
          continue;
        }
        if (--need === 0) return [f, start + i + 1];
      }
      end = start;
    }
    if (size > 0 && --need === 0) return [f, 0]; // the file's first line
  }
  return [0, 0];
}

/** Read entries of the json-file log at `path` (see ReadLogOptions). */
export async function* readJsonLog(path: string, opts: ReadLogOptions = {}): AsyncGenerator<LogEntry> {
  for await (const batch of readJsonLogBatches(path, opts)) yield* batch;
}

/** readJsonLog's entries in batches (those of one 64 KiB read): one await per batch, not per line,
 *  so `logs` of a large log is not paced by the event loop. */
export async function* readJsonLogBatches(path: string, opts: ReadLogOptions = {}): AsyncGenerator<LogEntry[]> {
  let files = openAll(path);
  let since = opts.since;
  const until = opts.until;
  let done = false;
  const filter = (e: LogEntry): LogEntry | undefined => {
    if (since !== undefined) {
      if (e.time < since) return undefined;
      since = undefined; // times are not monotonic: later entries are not checked again
    }
    if (until !== undefined && e.time > until) {
      done = true;
      return undefined;
    }
    return e;
  };
  const buf = Buffer.allocUnsafe(CHUNK);
  let carry: Buffer[] = [];
  // Read one file from its position to its current end, yielding whole lines.
  function* drain(f: OpenLog): Generator<LogEntry[]> {
    for (;;) {
      const got = readSync(f.fd, buf, 0, CHUNK, f.pos);
      if (got === 0) return;
      f.pos += got;
      const data = buf.subarray(0, got);
      const entries: LogEntry[] = [];
      let s = 0;
      for (let nl = data.indexOf(0x0a, s); nl >= 0; nl = data.indexOf(0x0a, s)) {
        const line = carry.length ? Buffer.concat([...carry, data.subarray(s, nl)]) : data.subarray(s, nl);
        carry = [];
        s = nl + 1;
        const e = line.length ? decodeLine(line) : undefined;
        const kept = e && filter(e);
        if (done) break;
        if (kept) entries.push(kept);
      }
      if (!done && s < got) carry.push(Buffer.from(data.subarray(s)));
      // Entries own their bytes (decodeLine copies), so the read buffer can be reused.
      if (entries.length) yield entries;
      if (done) return;
    }
  }
  try {
    let first = 0;
    if (opts.tail !== undefined && opts.tail >= 0) {
      if (opts.tail === 0) {
        for (const f of files) f.pos = fstatSync(f.fd).size;
        first = files.length - 1;
      } else {
        const [fi, off] = tailStart(files, opts.tail);
        first = fi;
        files[fi]!.pos = off;
      }
    }
    for (let i = first; i < files.length && !done; i++) {
      yield* drain(files[i]!);
      if (i < files.length - 1) carry = []; // a rotated file ends with a whole entry
    }
    if (!opts.follow || done) return;

    // Follow the live file; on rotation, read what is left of it, then the newer files.
    let cur = files[files.length - 1]!;
    closeAll(files.slice(0, -1));
    files = [cur];
    const waiter = changeWaiter(path, opts.pollMs ?? 200, opts.signal);
    try {
      for (;;) {
        // Asked before draining: whatever was written before the container stopped is read.
        const stopping = opts.signal?.aborted === true || (opts.stopped ? await opts.stopped() : false);
        yield* drain(cur);
        if (done) return;
        const live = inoOf(path);
        if (live !== undefined && live !== cur.ino) {
          const all = openAll(path);
          const at = all.findIndex((f) => f.ino === cur.ino);
          // Files newer than ours; if ours is gone (max-file reached), every file left is newer.
          const newer = all.slice(at + 1);
          closeAll(all.slice(0, at + 1));
          closeSync(cur.fd);
          files = newer;
          carry = [];
          while (newer.length > 1) {
            const f = newer.shift()!;
            yield* drain(f);
            closeSync(f.fd);
            files = newer;
            carry = [];
            if (done) return;
          }
          cur = newer[0]!;
          continue; // read the new live file before deciding to wait or stop
        }
        if (stopping) return;
        await waiter.wait();
      }
    } finally {
      waiter.close();
    }
  } finally {
    closeAll(files);
  }
}

/** Resolves `wait()` when the log's directory changes, after `pollMs`, or on abort. */
function changeWaiter(path: string, pollMs: number, signal: AbortSignal | undefined) {
  let wake: (() => void) | undefined;
  let dirty = false;
  const poke = () => {
    dirty = true;
    wake?.();
  };
  let watcher: ReturnType<typeof watch> | undefined;
  try {
    watcher = watch(dirname(path), { persistent: false }, poke);
    watcher.on('error', () => undefined);
  } catch {
    watcher = undefined; // polling alone still works
  }
  signal?.addEventListener('abort', poke, { once: true });
  return {
    wait(): Promise<void> {
      if (dirty) {
        dirty = false;
        return Promise.resolve();
      }
      return new Promise<void>((resolve) => {
        const t = setTimeout(done, pollMs);
        function done() {
          clearTimeout(t);
          wake = undefined;
          dirty = false;
          resolve();
        }
        wake = done;
      });
    },
    close(): void {
      watcher?.close();
      signal?.removeEventListener('abort', poke);
    },
  };
}

/** What `docker logs` prints for an entry: with `-t`, RFC3339NanoFixed and a space first. */
export function renderLogEntry(e: LogEntry, timestamps: boolean): Buffer {
  return timestamps ? Buffer.concat([Buffer.from(formatRfc3339NanoFixed(e.time) + ' '), e.log]) : e.log;
}

