/**
 * Character-level helpers that reproduce Go's notion of white space, trimming and lower-casing,
 * and the quote-aware word splitter Docker's parser applies to ENV/LABEL/ARG arguments (it
 * depends on the file's escape directive, which no context-free token set can express).
 */

/** Go's `unicode.IsSpace`: ASCII blanks plus NEL, NBSP and the Unicode Z-category spaces. */
export function isGoSpace(c: number): boolean {
  if (c <= 0x20) return c === 0x20 || (c >= 0x09 && c <= 0x0d);
  if (c < 0x85) return false;
  return (
    c === 0x85 ||
    c === 0xa0 ||
    c === 0x1680 ||
    (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 ||
    c === 0x2029 ||
    c === 0x202f ||
    c === 0x205f ||
    c === 0x3000
  );
}

/** Index of the first character that is not Go white space (s.length when there is none). */
export function skipGoSpace(s: string, from = 0): number {
  let i = from;
  while (i < s.length && isGoSpace(s.charCodeAt(i))) i++;
  return i;
}

/** Go's `strings.TrimSpace`. */
export function goTrimSpace(s: string): string {
  const start = skipGoSpace(s);
  let end = s.length;
  while (end > start && isGoSpace(s.charCodeAt(end - 1))) end--;
  return start === 0 && end === s.length ? s : s.slice(start, end);
}

/** Go's `strings.TrimLeftFunc(s, unicode.IsSpace)`. */
export function goTrimLeft(s: string): string {
  const i = skipGoSpace(s);
  return i === 0 ? s : s.slice(i);
}

/** Docker's `reWhitespace` (`[\t\v\f\r ]+`), the separator of plain word lists. */
export const WHITESPACE_RUN = /[\t\v\f\r ]+/;

/** `reWhitespace.Split(s, -1)` as Go does it (no special case for the empty string). */
export function splitWhitespace(s: string): string[] {
  return s.split(WHITESPACE_RUN);
}

const ESCAPED_BYTE = /(?<![\ud800-\udbff])[\udc80-\udcff]/;
const ESCAPED_BYTE_G = new RegExp(ESCAPED_BYTE.source, 'g');

function charAt(s: string, i: number): string {
  const c = s.charCodeAt(i);
  // keep surrogate pairs together so an escaped astral character stays one character
  if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) return s.slice(i, i + 2);
  return s[i]!;
}

/**
 * Splits ENV/LABEL/ARG arguments into words the way Docker's `parseWords` does: white space
 * separates words except inside quotes; quotes and escapes stay in the words (they are removed
 * later, by word expansion); an escape character escapes the next character outside quotes and
 * inside double quotes; a trailing escape is dropped.
 */
export function splitQuotedWords(rest: string, escape: string): string[] {
  const words: string[] = [];
  const n = rest.length;
  let word = '';
  let inWord = false;
  let quote = '';
  let blankOK = false;
  for (let pos = 0; pos < n; ) {
    let ch = charAt(rest, pos);
    if (!inWord && !quote) {
      if (isGoSpace(ch.charCodeAt(0))) {
        pos += ch.length;
        continue;
      }
      inWord = true;
    }
    if (quote) {
      if (ch === quote) {
        quote = '';
      } else if (ch === escape && quote !== "'") {
        if (pos + ch.length === n) {
          pos += ch.length;
          continue; // a trailing escape inside quotes is dropped
        }
        word += ch;
        pos += ch.length;
        ch = charAt(rest, pos);
      }
      word += ch;
      pos += ch.length;
      continue;
    }
    if (isGoSpace(ch.charCodeAt(0))) {
      if (blankOK || word.length > 0) words.push(word);
      word = '';
      blankOK = false;
      inWord = false;
      pos += ch.length;
      continue;
    }
    if (ch === "'" || ch === '"') {
      quote = ch;
      blankOK = true;
    }
    if (ch === escape) {
      if (pos + ch.length === n) {
        pos += ch.length;
        continue; // a trailing escape is dropped
      }
      word += ch;
      pos += ch.length;
      ch = charAt(rest, pos);
    }
    word += ch;
    pos += ch.length;
  }
  if ((inWord || quote) && (blankOK || word.length > 0)) words.push(word);
  // Go reads these words rune by rune: an invalid byte (see utf8.ts) comes out as U+FFFD
  for (let i = 0; i < words.length; i++) {
    if (ESCAPED_BYTE.test(words[i]!)) words[i] = words[i]!.replace(ESCAPED_BYTE_G, '\ufffd');
  }
  return words;
}

/**
 * Go's `strings.ToLower`: simple (one-to-one) case mapping, unlike JavaScript's full mapping
 * (`İ` → `i`, a final `Σ` → `σ`), and invalid bytes (see utf8.ts) become U+FFFD.
 */
export function goToLower(s: string): string {
  if (ASCII_ONLY.test(s)) return s.toLowerCase();
  let out = '';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (c === 0x130) out += 'i';
    else if (c === 0x3a3) out += '\u03c3';
    else if (c >= 0xd800 && c <= 0xdfff) out += '\ufffd';
    else {
      const l = ch.toLowerCase();
      out += l.length === ch.length ? l : ch;
    }
  }
  return out;
}

const ASCII_ONLY = /^[\x00-\x7f]*$/;
