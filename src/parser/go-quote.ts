/**
 * Go's `strconv.Quote`, which Docker's parse-tree dump uses for every string: double quotes,
 * backslash escapes for `"` `\` and \a \b \f \n \r \t \v, other control characters as \xhh,
 * non-printable characters as \uhhhh or \Uhhhhhhhh, printable Unicode kept as is.
 * Invalid UTF-8 bytes, which text keeps as U+DC80..U+DCFF (see utf8.ts), print as \xhh as Go
 * prints them.
 */

import { escapedByte } from './utf8.js';

const SIMPLE = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;
// Go's unicode.IsPrint: letters, marks, numbers, punctuation, symbols and the ASCII space.
const PRINTABLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S}]$/u;

const NAMED: Record<number, string> = {
  0x07: '\\a',
  0x08: '\\b',
  0x0c: '\\f',
  0x0a: '\\n',
  0x0d: '\\r',
  0x09: '\\t',
  0x0b: '\\v',
};

export function goQuote(s: string): string {
  if (SIMPLE.test(s)) return `"${s}"`;
  let out = '"';
  for (const ch of s) {
    out += quoteRune(ch);
  }
  return out + '"';
}

function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, '0');
}

function quoteRune(ch: string): string {
  const r = ch.codePointAt(0)!;
  if (r === 0x22) return '\\"';
  if (r === 0x5c) return '\\\\';
  if (r >= 0x20 && r < 0x7f) return ch;
  if (r >= 0xd800 && r <= 0xdfff) {
    const b = escapedByte(r);
    return b >= 0 ? `\\x${hex(b, 2)}` : '\ufffd'; // any other lone surrogate: Go would hold U+FFFD
  }
  if (r > 0x7f && PRINTABLE.test(ch)) return ch;
  const named = NAMED[r];
  if (named) return named;
  if (r < 0x20 || r === 0x7f) return `\\x${hex(r, 2)}`;
  if (r < 0x10000) return `\\u${hex(r, 4)}`;
  return `\\U${hex(r, 8)}`;
}

/** Go's `fmt.Sprintf("%q", []string{...})`: `["a" "b"]`. */
export function goQuoteList(list: readonly string[]): string {
  return `[${list.map(goQuote).join(' ')}]`;
}
