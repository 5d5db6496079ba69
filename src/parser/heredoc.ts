/**
 * Heredoc markers (`<<EOF`, `<<-EOF`, `3<<"EOF"`) in RUN/COPY/ADD lines, as BuildKit finds them:
 * the logical line is split into shell words keeping quotes and escapes, each word is matched
 * against `^(\d*)<<(-?)([^<]*)$`, and the delimiter is unquoted; quoting any part of it turns
 * variable expansion of the body off. Pure string functions; reading the bodies is the line
 * reader's job (see lines.ts).
 */
import { isGoSpace } from './text.js';

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

const HEREDOC_WORD = /^(\d*)<<(-?)([^<]*)$/;

/** The heredoc a single word announces, or undefined when the word is not a heredoc marker. */
export function parseHeredocWord(word: string): HeredocMarker | undefined {
  const m = HEREDOC_WORD.exec(word);
  if (!m) return undefined;
  const rest = m[3]!;
  if (rest === '') return undefined;
  const plain = shellWords(rest, false, false);
  if (!plain || plain.length !== 1) return undefined;
  const quoted = shellWords(rest, true, false);
  if (!quoted || quoted.length !== 1) return undefined;
  const name = plain[0]!;
  const raw = quoted[0]!;
  const fd = m[1] === '' ? 0 : Number.parseInt(m[1]!, 10);
  return {
    name,
    fileDescriptor: Number.isSafeInteger(fd) ? fd : 0,
    expand: countQuotes(name) === countQuotes(raw),
    chomp: m[2] === '-',
  };
}

/** Every heredoc marker of a logical line, in order. */
export function heredocsInLine(line: string): HeredocMarker[] {
  const words = shellWords(line, true, true);
  const out: HeredocMarker[] = [];
  if (!words) return out;
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

/**
 * Shell-style word splitting with backslash escapes, enough to find heredoc words: no variable
 * expansion ($ is kept as written, as BuildKit does with unset variables). Returns undefined for
 * an unterminated quote (BuildKit's lexer fails and no heredoc is recognised).
 */
function shellWords(s: string, keepQuotes: boolean, keepEscapes: boolean): string[] | undefined {
  const words: string[] = [];
  let word = '';
  let started = false;
  const n = s.length;
  for (let i = 0; i < n; i++) {
    const ch = s[i]!;
    if (isGoSpace(ch.charCodeAt(0))) {
      if (started) words.push(word);
      word = '';
      started = false;
      continue;
    }
    started = true;
    if (ch === "'") {
      const end = s.indexOf("'", i + 1);
      if (end < 0) return undefined;
      word += keepQuotes ? s.slice(i, end + 1) : s.slice(i + 1, end);
      i = end;
      continue;
    }
    if (ch === '"') {
      if (keepQuotes) word += '"';
      let closed = false;
      for (i++; i < n; i++) {
        const c = s[i]!;
        if (c === '"') {
          closed = true;
          break;
        }
        if (c === '\\' && i + 1 < n) {
          const next = s[i + 1]!;
          if (keepEscapes || (next !== '"' && next !== '\\' && next !== '$')) word += c;
          word += next;
          i++;
          continue;
        }
        word += c;
      }
      if (!closed) return undefined;
      if (keepQuotes) word += '"';
      continue;
    }
    if (ch === '\\') {
      if (i + 1 < n) {
        if (keepEscapes) word += ch;
        word += s[i + 1]!;
        i++;
      } else if (keepEscapes) {
        word += ch;
      }
      continue;
    }
    word += ch;
  }
  if (started) words.push(word);
  return words;
}
