/**
 * BuildKit's `splitCommand` / `extractBuilderFlags`: a logical line is trimmed, cut at its first
 * run of `[\t\v\f\r ]` into the instruction word and the rest (quotes do not protect white space
 * here: `GNUPGHOME="$(mktemp -d)"` is the word `GNUPGHOME="$(mktemp`), then leading `--flag`
 * words are taken off the rest. The flag reader works on bytes (see utf8.ts): quotes are removed,
 * the escape character takes the next byte literally, an unclosed quote runs to the end of the
 * line, a bare `--` ends the flags, and white space includes the bytes 0x85 and 0xA0.
 */
import { fromByteString, isAscii, toByteString } from './utf8.js';
import { goTrimSpace, isGoSpace, skipGoSpace, WHITESPACE_RUN } from './text.js';

export interface SplitFlag {
  /** The flag word as BuildKit keeps it (`--name=value`, quotes and escapes removed). */
  value: string;
  /** Offset of the word in the line. */
  offset: number;
}

export interface SplitCommand {
  /** The instruction word as written. */
  cmd: string;
  cmdOffset: number;
  flags: SplitFlag[];
  /** The arguments after the flags, trimmed (Go's strings.TrimSpace). */
  args: string;
  /** Offset of `args` in the line (the line's length when there are none). */
  argsOffset: number;
}

export function splitCommand(line: string, escape: string): SplitCommand {
  const start = skipGoSpace(line);
  const trimmed = goTrimSpace(line.slice(start));
  const m = WHITESPACE_RUN.exec(trimmed);
  if (!m) return { cmd: trimmed, cmdOffset: start, flags: [], args: '', argsOffset: line.length };
  const tailOffset = start + m.index + m[0].length;
  const tail = trimmed.slice(m.index + m[0].length);
  const { rest, restOffset, flags } = extractFlags(tail, escape);
  for (const f of flags) f.offset += tailOffset;
  const lead = skipGoSpace(rest);
  return {
    cmd: trimmed.slice(0, m.index),
    cmdOffset: start,
    flags,
    args: goTrimSpace(rest.slice(lead)),
    argsOffset: tailOffset + restOffset + lead,
  };
}

const IN_SPACES = 0;
const IN_WORD = 1;
const IN_QUOTE = 2;

/** Offsets below are in bytes; this maps a byte offset of `bytes` back to a character offset. */
function charOffset(bytes: string, byteOffset: number, ascii: boolean): number {
  return ascii ? byteOffset : fromByteString(bytes.slice(0, byteOffset)).length;
}

/** The result when the flags end at byte `pos` (a function, not a closure: this is hot code). */
function flagsEnd(b: string, pos: number, ascii: boolean, flags: SplitFlag[]): FlagsResult {
  return {
    rest: ascii ? b.slice(pos) : fromByteString(b.slice(pos)),
    restOffset: charOffset(b, pos, ascii),
    flags,
  };
}

interface FlagsResult {
  rest: string;
  restOffset: number;
  flags: SplitFlag[];
}

function extractFlags(text: string, escape: string): FlagsResult {
  // the common case: no flag at all (a non-ASCII start may be an invalid 0x85/0xA0 byte: a blank)
  const c0 = text.charCodeAt(0);
  if (c0 < 0x80 && (c0 !== 0x2d || text.charCodeAt(1) !== 0x2d)) return { rest: text, restOffset: 0, flags: [] };
  const ascii = isAscii(text);
  const b = ascii ? text : toByteString(text);
  const n = b.length;
  const flags: SplitFlag[] = [];
  let phase = IN_SPACES;
  let word = '';
  let wordStart = 0;
  let quote = '';
  let blankOK = false;
  for (let pos = 0; pos <= n; pos++) {
    let ch = pos < n ? b[pos]! : '';
    if (phase === IN_SPACES) {
      if (pos === n) break;
      if (isGoSpace(ch.charCodeAt(0))) continue;
      // only words that start with -- are flags
      if (ch !== '-' || pos + 1 === n || b[pos + 1] !== '-') return flagsEnd(b, pos, ascii, flags);
      phase = IN_WORD;
      wordStart = pos;
    }
    if (pos === n) {
      if (word !== '--' && (blankOK || word.length > 0)) flags.push({ value: word, offset: charOffset(b, wordStart, ascii) });
      break;
    }
    if (phase === IN_WORD) {
      if (isGoSpace(ch.charCodeAt(0))) {
        phase = IN_SPACES;
        if (word === '--') return flagsEnd(b, pos, ascii, flags);
        if (blankOK || word.length > 0) flags.push({ value: word, offset: charOffset(b, wordStart, ascii) });
        word = '';
        blankOK = false;
        continue;
      }
      if (ch === "'" || ch === '"') {
        quote = ch;
        blankOK = true;
        phase = IN_QUOTE;
        continue;
      }
      if (ch === escape) {
        if (pos + 1 === n) continue; // an escape at the very end is dropped
        ch = b[++pos]!;
      }
      word += ch;
      continue;
    }
    // IN_QUOTE
    if (ch === quote) {
      phase = IN_WORD;
      continue;
    }
    if (ch === escape) {
      if (pos + 1 === n) {
        phase = IN_WORD;
        continue;
      }
      ch = b[++pos]!;
    }
    word += ch;
  }
  return { rest: '', restOffset: text.length, flags };
}
