/**
 * Bytes ⇄ text the way Go sees a Dockerfile. BuildKit's parser works on bytes: invalid UTF-8
 * passes through untouched (its dump prints such a byte as `\xhh`), and two of its scanners
 * (`extractBuilderFlags`, the HEALTHCHECK type split) read one byte at a time, treating each byte
 * as the code point of the same value — so the continuation bytes 0x85 and 0xA0 count as white
 * space and a non-ASCII character in a flag comes out re-encoded, one character per byte.
 *
 * Text keeps every invalid byte b as the lone low surrogate U+DC00+b ("surrogate escape"), which
 * no valid input produces, so the original bytes stay recoverable.
 */

const FATAL = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Go's reading of bytes: valid UTF-8 decoded, each invalid byte kept as U+DC00+byte. */
export function decodeGoUtf8(bytes: Uint8Array): string {
  try {
    return FATAL.decode(bytes);
  } catch {
    return decodeSlow(bytes);
  }
}

function decodeSlow(b: Uint8Array): string {
  let out = '';
  const n = b.length;
  for (let i = 0; i < n; ) {
    const c = b[i]!;
    if (c < 0x80) {
      out += String.fromCharCode(c);
      i++;
      continue;
    }
    const len = sequenceLength(b, i);
    if (len === 0) {
      out += String.fromCharCode(0xdc00 + c);
      i++;
      continue;
    }
    let cp = c & (len === 2 ? 0x1f : len === 3 ? 0x0f : 0x07);
    for (let k = 1; k < len; k++) cp = (cp << 6) | (b[i + k]! & 0x3f);
    out += String.fromCodePoint(cp);
    i += len;
  }
  return out;
}

/** Length of the valid UTF-8 sequence at i (Go's utf8.DecodeRune rules), 0 when invalid. */
function sequenceLength(b: Uint8Array, i: number): number {
  const c = b[i]!;
  const cont = (k: number, lo = 0x80, hi = 0xbf): boolean => i + k < b.length && b[i + k]! >= lo && b[i + k]! <= hi;
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
  if (c >= 0xe0 && c <= 0xef) {
    const lo = c === 0xe0 ? 0xa0 : 0x80;
    const hi = c === 0xed ? 0x9f : 0xbf;
    return cont(1, lo, hi) && cont(2) ? 3 : 0;
  }
  if (c >= 0xf0 && c <= 0xf4) {
    const lo = c === 0xf0 ? 0x90 : 0x80;
    const hi = c === 0xf4 ? 0x8f : 0xbf;
    return cont(1, lo, hi) && cont(2) && cont(3) ? 4 : 0;
  }
  return 0;
}

/** An escaped invalid byte (see decodeGoUtf8), or -1. */
export function escapedByte(code: number): number {
  return code >= 0xdc80 && code <= 0xdcff ? code - 0xdc00 : -1;
}

const NON_ASCII = /[^\x00-\x7f]/;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** True when every character is ASCII (then bytes and characters coincide). */
export function isAscii(s: string): boolean {
  return !NON_ASCII.test(s);
}

/**
 * The UTF-8 bytes of `s` (escaped invalid bytes restored) as a "byte string": one character per
 * byte, char code = byte value. That is exactly Go's `rune(line[pos])` view of the text.
 */
export function toByteString(s: string): string {
  if (isAscii(s)) return s;
  if (!LONE_SURROGATE.test(s)) return Buffer.from(s, 'utf8').toString('latin1');
  let out = '';
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    const b = escapedByte(cp);
    if (b >= 0) out += String.fromCharCode(b);
    else if (cp < 0x80) out += ch;
    else if (cp >= 0xd800 && cp <= 0xdfff) out += '\xef\xbf\xbd';
    else out += Buffer.from(ch, 'utf8').toString('latin1');
  }
  return out;
}

/** The inverse of toByteString: bytes (one per character) read as Go reads them. */
export function fromByteString(s: string): string {
  if (isAscii(s)) return s;
  const b = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i);
  return decodeGoUtf8(b);
}

const ESCAPED = /(?<![\ud800-\udbff])[\udc80-\udcff]/g;

/** Text with every escaped invalid byte replaced by U+FFFD (what a UTF-8 consumer would see). */
export function replaceEscapedBytes(s: string): string {
  return s.replace(ESCAPED, '\ufffd');
}

/** Whether decodeGoUtf8 had to escape any byte. */
export function hasEscapedBytes(s: string): boolean {
  ESCAPED.lastIndex = 0;
  const found = ESCAPED.test(s);
  ESCAPED.lastIndex = 0;
  return found;
}
