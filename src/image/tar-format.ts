/**
 * The tar format, both ways, with nothing host-specific: a header encoder (ustar + PAX records
 * for long names, big numbers and xattrs as `SCHILY.xattr.*`, binary-safe) and a streaming
 * reader (ustar, PAX, GNU long names, base-256 numbers; header checksums verified). Written here
 * rather than taken from tar-stream because xattr values are binary and tar-stream decodes PAX
 * values as UTF-8, and because layer digests must not depend on a library's header choices.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { TsbuildError } from '../errors.js';

export type TarEntryType = 'file' | 'dir' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo' | 'other';

export interface TarHeader {
  name: string;
  type: TarEntryType;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** Seconds since the epoch (whole seconds: sub-second times are not written). */
  mtime: number;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  xattrs?: Record<string, Buffer>;
}

/** A header as read, with the raw type flag (for 'other') and every PAX record. */
export interface ReadHeader extends TarHeader {
  typeflag: string;
  pax: Record<string, Buffer>;
}

export const BLOCK = 512;
const TYPEFLAG: Record<TarEntryType, string> = { file: '0', hardlink: '1', symlink: '2', char: '3', block: '4', dir: '5', fifo: '6', other: '0' };
const MAX_OCTAL_8 = 0o7777777;
const MAX_OCTAL_12 = 0o77777777777;

/** The header block(s) of one entry: a PAX header first when ustar cannot say it all. */
export function encodeHeader(h: TarHeader): Buffer {
  const out = Buffer.allocUnsafe(BLOCK);
  return encodeHeaderInto(h, out, 0) === BLOCK ? out : encodePaxHeader(h);
}

/**
 * The fast path of encodeHeader: writes `h` as one ustar block at `off` of `out` (BLOCK bytes free
 * there) and returns BLOCK, or writes nothing and returns 0 when `h` needs PAX records (a name or
 * link that is not printable ASCII or too long, a big size or id, xattrs): encodeHeader then makes
 * them. The bytes are encodeHeader's, without a string or an object per field (a layer of 5,000
 * files spent ~4 % of its build making those).
 */
export function encodeHeaderInto(h: TarHeader, out: Buffer, off: number): number {
  let name = h.type === 'dir' && !h.name.endsWith('/') ? `${h.name}/` : h.name;
  if (!printableAscii(name)) return 0;
  let prefix = '';
  if (name.length > 100) {
    const split = splitUstarName(name);
    if (!split) return 0;
    [prefix, name] = split;
  }
  const link = h.linkname ?? '';
  if (link.length > 100 || !printableAscii(link)) return 0;
  if (h.size > MAX_OCTAL_12 || h.uid > MAX_OCTAL_8 || h.gid > MAX_OCTAL_8) return 0;
  if (h.xattrs !== undefined && Object.keys(h.xattrs).length > 0) return 0;
  ustarInto(out, off, h, name, prefix, link, TYPEFLAG[h.type]);
  return BLOCK;
}

/** encodeHeader for an entry that needs PAX records: the PAX header, its records, then the
 *  ustar block with what fits. */
function encodePaxHeader(h: TarHeader): Buffer {
  const pax: Array<[string, Buffer]> = [];
  let name = h.type === 'dir' && !h.name.endsWith('/') ? `${h.name}/` : h.name;
  let prefix = '';
  const nameBytes = Buffer.byteLength(name);
  if (!printableAscii(name)) pax.push(['path', Buffer.from(name)]);
  else if (nameBytes > 100) {
    const split = splitUstarName(name);
    if (split) [prefix, name] = split;
    else pax.push(['path', Buffer.from(name)]);
  }
  const link = h.linkname ?? '';
  if (Buffer.byteLength(link) > 100 || !printableAscii(link)) pax.push(['linkpath', Buffer.from(link)]);
  if (h.size > MAX_OCTAL_12) pax.push(['size', Buffer.from(String(h.size))]);
  if (h.uid > MAX_OCTAL_8) pax.push(['uid', Buffer.from(String(h.uid))]);
  if (h.gid > MAX_OCTAL_8) pax.push(['gid', Buffer.from(String(h.gid))]);
  for (const k of Object.keys(h.xattrs ?? {}).sort()) pax.push([`SCHILY.xattr.${k}`, h.xattrs![k]!]);
  const main = Buffer.allocUnsafe(BLOCK);
  ustarInto(main, 0, h, pax.some(([k]) => k === 'path') ? name.slice(0, 100) : name, prefix, link.slice(0, 100), TYPEFLAG[h.type]);
  if (pax.length === 0) return main;
  const body = encodePax(pax);
  const base = h.name.replace(/\/$/, '').split('/').pop() ?? 'x';
  const paxHead = Buffer.allocUnsafe(BLOCK);
  const paxFields: TarHeader = { name: '', type: 'file', mode: 0o644, uid: 0, gid: 0, size: body.length, mtime: h.mtime };
  ustarInto(paxHead, 0, paxFields, `PaxHeaders/${base}`.slice(0, 100), '', '', 'x');
  return Buffer.concat([paxHead, body, Buffer.alloc(padding(body.length)), main]);
}

/** Zero bytes that pad `size` content bytes to a whole block. */
export function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

/** The end-of-archive marker: two zero blocks. */
export const END_OF_ARCHIVE = Buffer.alloc(2 * BLOCK);

/** Whether every character is printable ASCII (then its UTF-8 bytes are its characters). */
function printableAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

function splitUstarName(name: string): [string, string] | undefined {
  for (let i = name.length - 1; i > 0; i--) {
    if (name[i] !== '/') continue;
    const p = name.slice(0, i);
    const n = name.slice(i + 1);
    if (p.length <= 155 && n.length <= 100 && n.length > 0) return [p, n];
    if (p.length <= 155) return undefined;
  }
  return undefined;
}

function encodePax(records: Array<[string, Buffer]>): Buffer {
  const parts: Buffer[] = [];
  for (const [k, v] of records) {
    const rest = Buffer.byteLength(k) + v.length + 3; // ' ' '=' '\n'
    let len = rest + String(rest).length;
    if (String(len).length !== String(rest).length) len = rest + String(len).length;
    parts.push(Buffer.from(`${len} ${k}=`), v, Buffer.from('\n'));
  }
  return Buffer.concat(parts);
}

/** What every block starts from: zeros, the ustar magic and version, and the checksum field as
 *  spaces (how the checksum is summed). */
const TEMPLATE = (() => {
  const b = Buffer.alloc(BLOCK);
  b.write('ustar\x0000', 257, 8, 'latin1');
  b.fill(0x20, 148, 156);
  return b;
})();

/** The sum of TEMPLATE's bytes: a block's checksum is this plus what its fields add to the zeros
 *  (summed as they are written: a loop over the 512 bytes cost ~15 us per header until V8 has
 *  optimised it, which a build's first few hundred headers never are). */
const TEMPLATE_SUM = TEMPLATE.reduce((a, x) => a + x, 0);

/** One ustar block at `off` of `b`: `name`, `prefix` and `link` as they go into their fields (cut
 *  to them as UTF-8, whole characters only), the numbers from `h`. */
function ustarInto(b: Buffer, off: number, h: TarHeader, name: string, prefix: string, link: string, typeflag: string): void {
  TEMPLATE.copy(b, off);
  // every field below lands on TEMPLATE's zeros: the checksum is TEMPLATE_SUM plus their bytes
  let sum = TEMPLATE_SUM + field(b, off, name, 100);
  sum += octal(b, off + 100, 8, h.mode & 0o7777);
  sum += octal(b, off + 108, 8, Math.min(h.uid, MAX_OCTAL_8));
  sum += octal(b, off + 116, 8, Math.min(h.gid, MAX_OCTAL_8));
  sum += octal(b, off + 124, 12, Math.min(h.size, MAX_OCTAL_12));
  sum += octal(b, off + 136, 12, Math.max(0, Math.min(Math.floor(h.mtime), MAX_OCTAL_12)));
  const t = typeflag.charCodeAt(0);
  b[off + 156] = t;
  sum += t;
  if (link) sum += field(b, off + 157, link, 100);
  if (h.type === 'char' || h.type === 'block') {
    sum += octal(b, off + 329, 8, h.devmajor ?? 0);
    sum += octal(b, off + 337, 8, h.devminor ?? 0);
  }
  if (prefix) sum += field(b, off + 345, prefix, 155);
  // six octal digits (at most 512 * 255 = 0o377000), NUL, space
  for (let i = 5; i >= 0; i--) {
    b[off + 148 + i] = 0x30 + (sum & 7);
    sum >>>= 3;
  }
  b[off + 154] = 0;
  b[off + 155] = 0x20;
}

/** A string into a zeroed field of `len` bytes, as UTF-8 cut at a whole character; the sum of
 *  the bytes written. */
function field(b: Buffer, off: number, s: string, len: number): number {
  if (s.length <= len) {
    let i = 0;
    let sum = 0;
    for (; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) break;
      b[off + i] = c;
      sum += c;
    }
    if (i === s.length) return sum;
  }
  return sumOf(b, off, b.write(s, off, len, 'utf8'));
}

function sumOf(b: Buffer, off: number, n: number): number {
  let sum = 0;
  for (let i = off; i < off + n; i++) sum += b[i]!;
  return sum;
}

/** A number as `len - 1` zero-padded octal digits and a NUL. Anything else (negative, fractional,
 *  too big: never in a layer) as the string form always wrote it, cut to the field. */
function octal(b: Buffer, off: number, len: number, n: number): number {
  if (Number.isInteger(n) && n >= 0 && n < 8 ** (len - 1)) {
    let sum = 0;
    for (let i = len - 2; i >= 0; i--) {
      const d = 0x30 + (n % 8);
      b[off + i] = d;
      sum += d;
      n = Math.floor(n / 8);
    }
    b[off + len - 1] = 0;
    return sum;
  }
  return sumOf(b, off, b.write(`${n.toString(8).padStart(len - 1, '0')}\0`, off, len, 'latin1'));
}

// ---------------------------------------------------------------- reading

export interface TarEntry {
  header: ReadHeader;
  /** The content; must be consumed (or is skipped) before the next entry is asked for. */
  body: AsyncIterable<Buffer>;
}

/** Reads a tar stream entry by entry; CORRUPT on bad checksums or a truncated archive. */
export type TarSource = AsyncIterable<Buffer | Uint8Array> | Iterable<Buffer | Uint8Array>;

export async function* readTar(source: TarSource): AsyncGenerator<TarEntry> {
  const r = new ByteReader(source);
  const st = new HeaderState();
  for (;;) {
    const block = await r.read(BLOCK, true);
    if (!block) return; // EOF at a block boundary: accepted, as GNU tar does
    if (isZero(block)) return;
    const step = st.block(block);
    if (step.ext) {
      st.extension(step.typeflag, (await r.read(step.size)) as Buffer);
      await r.skip(padding(step.size));
      continue;
    }
    const body = r.stream(step.bodySize);
    yield { header: step.header, body };
    // Skip whatever the consumer did not read.
    for await (const _ of body) void _;
    await r.skip(padding(step.bodySize));
  }
}

/**
 * The headers of a tar FILE, read by seeking past every body: O(entries) reads instead of reading
 * every byte (a layer's content size, its listing). CORRUPT for a damaged or truncated archive.
 */
export function* scanTarFileHeaders(path: string): Generator<ReadHeader> {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const st = new HeaderState();
    const block = Buffer.alloc(BLOCK);
    let off = 0;
    const readAt = (buf: Buffer, at: number) => {
      if (at + buf.length > size) throw new TsbuildError('CORRUPT', 'tar: truncated archive');
      let got = 0;
      while (got < buf.length) {
        const n = readSync(fd, buf, got, buf.length - got, at + got);
        if (n === 0) throw new TsbuildError('CORRUPT', 'tar: truncated archive');
        got += n;
      }
    };
    for (;;) {
      if (off === size) return; // EOF at a block boundary: accepted, as GNU tar does
      if (off + BLOCK > size) throw new TsbuildError('CORRUPT', 'tar: truncated archive');
      readAt(block, off);
      off += BLOCK;
      if (isZero(block)) return;
      const step = st.block(block);
      if (step.ext) {
        const data = Buffer.alloc(step.size);
        readAt(data, off);
        st.extension(step.typeflag, data);
        off += step.size + padding(step.size);
        continue;
      }
      yield step.header;
      off += step.bodySize + padding(step.bodySize);
      if (off > size) throw new TsbuildError('CORRUPT', 'tar: truncated archive');
    }
  } finally {
    closeSync(fd);
  }
}

type Step = { ext: true; typeflag: string; size: number } | { ext: false; header: ReadHeader; bodySize: number };

/** Header decoding shared by the pull reader and the push scanner: PAX and GNU state between blocks. */
class HeaderState {
  private globalPax: Record<string, Buffer> = {};
  private pax: Record<string, Buffer> = {};
  private longName: string | undefined;
  private longLink: string | undefined;

  block(block: Buffer): Step {
    verifyChecksum(block);
    const typeflag = String.fromCharCode(block[156]!) === '\0' ? '0' : String.fromCharCode(block[156]!);
    const size = readNumber(block, 124, 12);
    if (typeflag === 'x' || typeflag === 'g' || typeflag === 'L' || typeflag === 'K') {
      if (size > 16 << 20) throw new TsbuildError('CORRUPT', 'tar: extended header too large');
      return { ext: true, typeflag, size };
    }
    const all = { ...this.globalPax, ...this.pax };
    const magic = block.toString('latin1', 257, 263);
    let name = cstr(block.subarray(0, 100));
    if (magic === 'ustar\0') {
      const prefix = cstr(block.subarray(345, 500));
      if (prefix) name = `${prefix}/${name}`;
    }
    if (this.longName !== undefined) name = this.longName;
    if (all.path) name = all.path.toString('utf8');
    let linkname = cstr(block.subarray(157, 257));
    if (this.longLink !== undefined) linkname = this.longLink;
    if (all.linkpath) linkname = all.linkpath.toString('utf8');
    const xattrs: Record<string, Buffer> = {};
    for (const [k, v] of Object.entries(all)) if (k.startsWith('SCHILY.xattr.')) xattrs[k.slice(13)] = v;
    const type = typeOf(typeflag);
    const header: ReadHeader = {
      name,
      type,
      typeflag,
      mode: readNumber(block, 100, 8) & 0o7777,
      uid: all.uid ? Number(all.uid.toString()) : readNumber(block, 108, 8),
      gid: all.gid ? Number(all.gid.toString()) : readNumber(block, 116, 8),
      size: all.size ? Number(all.size.toString()) : size,
      mtime: all.mtime ? Math.floor(Number(all.mtime.toString())) : readNumber(block, 136, 12),
      linkname,
      devmajor: readNumber(block, 329, 8),
      devminor: readNumber(block, 337, 8),
      xattrs,
      pax: all,
    };
    if (!Number.isSafeInteger(header.size) || header.size < 0) throw new TsbuildError('CORRUPT', `tar: bad size for ${name}`);
    // Only regular files (and unknown types) carry content; a size on a link or dir is ignored, as tar does.
    const bodySize = type === 'file' || type === 'other' ? header.size : 0;
    if (type !== 'file' && type !== 'other') header.size = 0;
    this.pax = {};
    this.longName = this.longLink = undefined;
    return { ext: false, header, bodySize };
  }

  extension(typeflag: string, data: Buffer): void {
    if (typeflag === 'x') this.pax = { ...this.pax, ...parsePax(data) };
    else if (typeflag === 'g') this.globalPax = { ...this.globalPax, ...parsePax(data) };
    else if (typeflag === 'L') this.longName = cstr(data);
    else this.longLink = cstr(data);
  }
}

/**
 * A push-mode tar parser that only looks at headers: fed the bytes of a stream as they pass by
 * (into the blob store), it checks the archive without a second read or a second stream.
 * `push` and `end` throw CORRUPT for a damaged or truncated archive.
 */
export class TarScanner {
  private readonly st = new HeaderState();
  private pending: Buffer[] = [];
  private pendingLen = 0;
  /** Bytes still to collect for the current header or extension, or to skip of a body. */
  private need = BLOCK;
  private mode: 'header' | 'ext' | 'skip' = 'header';
  private ext: { typeflag: string; size: number } | undefined;
  /** The end-of-archive marker was seen. */
  finished = false;
  entries = 0;

  constructor(private readonly onHeader: (h: ReadHeader) => void) {}

  push(chunk: Buffer): void {
    let off = 0;
    while (off < chunk.length && !this.finished) {
      if (this.mode === 'skip') {
        const n = Math.min(this.need, chunk.length - off);
        this.need -= n;
        off += n;
        if (this.need === 0) this.toHeader();
        continue;
      }
      const n = Math.min(this.need - this.pendingLen, chunk.length - off);
      // a copy: the caller may reuse its chunk's buffer (byte-streams.ts readFileReusing)
      this.pending.push(Buffer.from(chunk.subarray(off, off + n)));
      this.pendingLen += n;
      off += n;
      if (this.pendingLen < this.need) continue;
      const data = Buffer.concat(this.pending, this.pendingLen);
      this.pending = [];
      this.pendingLen = 0;
      if (this.mode === 'header') this.header(data);
      else {
        this.st.extension(this.ext!.typeflag, data.subarray(0, this.ext!.size));
        this.toHeader();
      }
    }
  }

  /** The stream ended: fine at a header boundary (or after the end marker), else truncated. */
  end(): void {
    if (this.finished || (this.mode === 'header' && this.pendingLen === 0)) return;
    throw new TsbuildError('CORRUPT', 'tar: unexpected end of archive (truncated?)');
  }

  private toHeader(): void {
    this.mode = 'header';
    this.need = BLOCK;
  }

  private header(block: Buffer): void {
    if (isZero(block)) {
      this.finished = true;
      return;
    }
    const step = this.st.block(block);
    if (step.ext) {
      this.mode = 'ext';
      this.ext = { typeflag: step.typeflag, size: step.size };
      this.need = step.size + padding(step.size);
      if (this.need === 0) this.toHeader();
      return;
    }
    this.entries++;
    this.onHeader(step.header);
    const skip = step.bodySize + padding(step.bodySize);
    if (skip > 0) {
      this.mode = 'skip';
      this.need = skip;
    } else this.toHeader();
  }
}

function typeOf(flag: string): TarEntryType {
  switch (flag) {
    case '0':
    case '7':
      return 'file';
    case '1':
      return 'hardlink';
    case '2':
      return 'symlink';
    case '3':
      return 'char';
    case '4':
      return 'block';
    case '5':
      return 'dir';
    case '6':
      return 'fifo';
    default:
      return 'other';
  }
}

function isZero(b: Buffer): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}

function verifyChecksum(b: Buffer): void {
  let stored = -1;
  try {
    stored = readNumber(b, 148, 8);
  } catch {
    /* reported below as a checksum mismatch */
  }
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const v = i >= 148 && i < 156 ? 0x20 : b[i]!;
    unsigned += v;
    signed += v > 127 ? v - 256 : v;
  }
  if (stored !== unsigned && stored !== signed) throw new TsbuildError('CORRUPT', 'tar: header checksum mismatch (not a tar archive, or a damaged one)');
}

function readNumber(b: Buffer, off: number, len: number): number {
  if (b[off]! & 0x80) {
    // base-256 (GNU): big-endian two's complement; only positive values are meaningful here
    let n = 0;
    for (let i = 1; i < len; i++) n = n * 256 + b[off + i]!;
    return n;
  }
  const s = b.toString('latin1', off, off + len).replace(/[\0 ].*$/s, '').trim();
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) throw new TsbuildError('CORRUPT', 'tar: malformed numeric header field');
  return Number.parseInt(s, 8);
}

function cstr(b: Buffer): string {
  const z = b.indexOf(0);
  return b.toString('utf8', 0, z < 0 ? b.length : z);
}

function parsePax(data: Buffer): Record<string, Buffer> {
  const out: Record<string, Buffer> = {};
  let i = 0;
  while (i < data.length) {
    const sp = data.indexOf(0x20, i);
    if (sp < 0) break;
    const len = Number.parseInt(data.toString('latin1', i, sp), 10);
    if (!Number.isFinite(len) || len <= 0 || i + len > data.length) throw new TsbuildError('CORRUPT', 'tar: malformed PAX header');
    const rec = data.subarray(sp + 1, i + len - 1); // drop trailing '\n'
    const eq = rec.indexOf(0x3d);
    if (eq > 0) out[rec.toString('utf8', 0, eq)] = Buffer.from(rec.subarray(eq + 1));
    i += len;
  }
  return out;
}

/** Exact reads over an async byte source, with a small queue of unconsumed chunks. */
class ByteReader {
  private readonly it: AsyncIterator<Buffer | Uint8Array>;
  private buf: Buffer = Buffer.alloc(0);
  private done = false;

  constructor(src: TarSource) {
    if (Symbol.asyncIterator in src) this.it = src[Symbol.asyncIterator]();
    else {
      const sync = src[Symbol.iterator]();
      this.it = { next: async () => sync.next() };
    }
  }

  private async fill(): Promise<boolean> {
    if (this.done) return false;
    const n = await this.it.next();
    if (n.done) {
      this.done = true;
      return false;
    }
    const chunk = Buffer.isBuffer(n.value) ? n.value : Buffer.from(n.value);
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    return true;
  }

  /** Exactly n bytes; at a clean EOF (nothing read) returns null when `eofOk`. */
  async read(n: number, eofOk = false): Promise<Buffer | null> {
    while (this.buf.length < n) {
      if (!(await this.fill())) {
        if (eofOk && this.buf.length === 0) return null;
        throw new TsbuildError('CORRUPT', 'tar: unexpected end of archive (truncated?)');
      }
    }
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }

  async skip(n: number): Promise<void> {
    for await (const _ of this.stream(n)) void _;
  }

  /** Up to n bytes as they arrive, without copying; a re-entrant call resumes where it stopped. */
  stream(n: number): AsyncIterable<Buffer> {
    let left = n;
    const self = this;
    return {
      async *[Symbol.asyncIterator]() {
        while (left > 0) {
          if (self.buf.length === 0 && !(await self.fill())) {
            throw new TsbuildError('CORRUPT', 'tar: unexpected end of archive (truncated?)');
          }
          const take = Math.min(left, self.buf.length);
          const out = self.buf.subarray(0, take);
          self.buf = self.buf.subarray(take);
          left -= take;
          yield out;
        }
      },
    };
  }
}
