/**
 * Heredoc markers (`<<EOF`, `<<-EOF`, `3<<"EOF"`, `<< EOF`) in RUN/COPY/ADD lines, as BuildKit
 * finds them: the logical line is split into shell words by the shell lexer (quotes and escapes
 * kept, unset variables left as written, `<<` and the blanks after it kept in the following word;
 * a lexing error means no heredocs at all), each word is matched against
 * `^(\d*)<<(-?)\s*([^<]*)$`, and the delimiter is unquoted; quoting any part of it turns variable
 * expansion of the body off. Pure string functions; reading the bodies is the line reader's job.
 */
import { ShellLex } from './word-expansion.js';

export interface HeredocMarker {
  /** The delimiter with quotes removed. */
  name: string;
  /** File descriptor prefix (`3<<EOF`), 0 when absent. */
  fileDescriptor: number;
  /** False when the delimiter was quoted: the body is taken literally. */
  expand: boolean;
  /** `<<-`: leading tabs are stripped from body lines and from the terminator. */
  chomp: boolean;
}

// Go's \s is [\t\n\f\r ]
const HEREDOC_WORD = /^(\d*)<<(-?)[\t\n\f\r ]*([^<]*)$/;
const NO_ENV: ReadonlyMap<string, string> = new Map();
const LINE_LEX = new ShellLex('\\', { rawQuotes: true, rawEscapes: true, skipUnsetEnv: true });
const WORD_LEX = new ShellLex('\\', { skipUnsetEnv: true });
const RAW_WORD_LEX = new ShellLex('\\', { rawQuotes: true, skipUnsetEnv: true });
/** Go's math.MaxUint64, what strconv.ParseUint gives for a descriptor too large. */
const MAX_FD = 2 ** 64 - 1;

/**
 * The heredoc a single word announces, or undefined when the word is not a heredoc marker.
 * Throws (a TsbuildError from the lexer) where BuildKit's parser fails on the delimiter.
 */
export function parseHeredocWord(word: string): HeredocMarker | undefined {
  const m = HEREDOC_WORD.exec(word);
  if (!m) return undefined;
  const rest = m[3]!;
  if (rest === '') return undefined;
  const plain = WORD_LEX.processWords(rest, NO_ENV);
  if (plain.length !== 1) return undefined;
  const quoted = RAW_WORD_LEX.processWords(rest, NO_ENV);
  if (quoted.length !== plain.length) {
    throw new Error(`internal lexing of heredoc produced inconsistent results: ${rest}`);
  }
  const name = plain[0]!;
  const fd = m[1] === '' ? 0 : Number(m[1]);
  return {
    name,
    fileDescriptor: fd > MAX_FD ? MAX_FD : fd,
    expand: countQuotes(name) === countQuotes(quoted[0]!),
    chomp: m[2] === '-',
  };
}

/** BuildKit's MustParseHeredoc (used by its instruction layer): a failing delimiter is no heredoc. */
export function heredocOf(word: string): HeredocMarker | undefined {
  try {
    return parseHeredocWord(word);
  } catch {
    return undefined;
  }
}

/** Every heredoc marker of a logical line, in order. */
export function heredocsInLine(line: string): HeredocMarker[] {
  let words: string[];
  try {
    words = LINE_LEX.processWords(line, NO_ENV);
  } catch {
    return []; // BuildKit ignores the lexing error and finds no heredoc
  }
  const out: HeredocMarker[] = [];
  for (const w of words) {
    const h = parseHeredocWord(w);
    if (h) out.push(h);
  }
  return out;
}

/** `<<-` bodies: leading tabs removed from every line. */
export function chompHeredocContent(content: string): string {
  return content.replace(/^\t+/gm, '');
}

function countQuotes(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x22 || c === 0x27) n++;
  }
  return n;
}
