/**
 * Docker's shell word expansion for instruction arguments (ENV, ARG, WORKDIR, COPY, FROM, ...).
 * Behaviour follows BuildKit's `frontend/dockerfile/shell` lexer (verified against its envVarTest and
 * wordsTest data): quotes, escapes with the Dockerfile's escape token, `$name`, `${name}` and the
 * POSIX-ish modifiers `:-` `-` `:+` `+` `:?` `?` `#` `##` `%` `%%` `/` `//`. It is not a shell: no
 * command substitution, no arithmetic, no globbing of file names. Pure: no I/O.
 */
import { TsbuildError } from '../errors.js';

/** Variables visible to an expansion. A Map or a plain object; lookups are case-sensitive. */
export type ShellEnv = ReadonlyMap<string, string> | Readonly<Record<string, string>>;

export interface ShellLexOptions {
  /** Keep quote characters in the result (used where a later stage re-parses the text). */
  rawQuotes?: boolean;
  /** Keep escape characters in the result. */
  rawEscapes?: boolean;
  /** Leave references to unset variables as written (`$x`, `${x:-y}`) instead of expanding. */
  skipUnsetEnv?: boolean;
  /** Treat quotes as ordinary characters (e.g. heredoc bodies). */
  skipProcessQuotes?: boolean;
}

export interface WordMatches {
  result: string;
  /** Names that were looked up and found. */
  matched: Set<string>;
  /** Names that were looked up and not set. */
  unmatched: Set<string>;
}

export class ShellLex {
  readonly escapeToken: string;
  readonly options: Readonly<ShellLexOptions>;

  constructor(escapeToken = '\\', options: ShellLexOptions = {}) {
    if (escapeToken !== '\\' && escapeToken !== '`') {
      throw new TsbuildError('INVALID', `invalid escape token '${escapeToken}': must be \` or \\`);
    }
    this.escapeToken = escapeToken;
    this.options = { ...options };
  }

  /** Expands `word` to one string (quotes removed, escapes applied). */
  processWord(word: string, env: ShellEnv): string {
    return this.run(word, env).result;
  }

  /** Expands `word` and splits it into words on unquoted whitespace (including whitespace that
   *  came from an unquoted variable's value). */
  processWords(word: string, env: ShellEnv): string[] {
    return this.run(word, env).words;
  }

  /** Like processWord, and reports which variable names were used (for lint / ARG usage). */
  processWordWithMatches(word: string, env: ShellEnv): WordMatches {
    const r = this.run(word, env);
    return { result: r.result, matched: r.matched, unmatched: r.unmatched };
  }

  private run(word: string, env: ShellEnv) {
    const sw = new WordScanner(word, lookupIn(env), this.escapeToken, this.options);
    try {
      const { result, words } = sw.processStopOn(EOF, !!this.options.rawEscapes);
      return { result, words, matched: sw.matched, unmatched: sw.unmatched };
    } catch (e) {
      if (e instanceof ExpansionError) {
        throw new TsbuildError('INVALID', `failed to process ${goQuote(word)}: ${e.message}`);
      }
      throw e;
    }
  }
}

/** Convenience: expand one word with the default escape token. */
export function expandWord(word: string, env: ShellEnv, escapeToken = '\\'): string {
  return new ShellLex(escapeToken).processWord(word, env);
}

// ---------------------------------------------------------------------------------------------
// Scanner

const EOF = '';

/** Internal error; the public entry points turn it into a TsbuildError naming the whole word. */
class ExpansionError extends Error {}

type Lookup = (name: string) => string | undefined;

function lookupIn(env: ShellEnv): Lookup {
  if (env instanceof Map) return (n) => env.get(n);
  const rec = env as Readonly<Record<string, string>>;
  return (n) => (Object.prototype.hasOwnProperty.call(rec, n) ? rec[n] : undefined);
}

/** The current word's characters. One buffer for a whole expansion, as in BuildKit: a nested
 *  `${name:-word}` starts by clearing it, so it also clears the enclosing word's characters so far
 *  (BuildKit's behaviour, kept for identical word splitting). */
interface WordBuffer {
  text: string;
}

/** Accumulates the word list for processWords: whitespace from unquoted text splits, quoted text
 *  and escaped characters never do. An empty quoted string alone does not make a word (as Docker). */
class WordList {
  private inWord = false;
  readonly words: string[] = [];

  constructor(private readonly buf: WordBuffer) {
    buf.text = '';
  }

  addChar(ch: string): void {
    if (isSpace(ch)) {
      if (this.inWord && this.buf.text.length > 0) {
        this.words.push(this.buf.text);
        this.buf.text = '';
        this.inWord = false;
      }
    } else {
      this.addRawChar(ch);
    }
  }
  addRawChar(ch: string): void {
    this.buf.text += ch;
    this.inWord = true;
  }
  addString(s: string): void {
    for (const ch of s) this.addChar(ch);
  }
  addRawString(s: string): void {
    this.buf.text += s;
    this.inWord = true;
  }
  finish(): string[] {
    if (this.buf.text.length > 0) {
      this.words.push(this.buf.text);
      this.buf.text = '';
      this.inWord = false;
    }
    return this.words;
  }
}

class WordScanner {
  /** Code points, so multi-unit characters (e.g. emoji) are single characters as in Go's scanner. */
  private readonly chars: string[];
  private pos = 0;
  private rawEscapes: boolean;
  private readonly wordBuffer: WordBuffer = { text: '' };
  readonly matched = new Set<string>();
  readonly unmatched = new Set<string>();

  constructor(
    source: string,
    private readonly lookup: Lookup,
    private readonly escapeToken: string,
    private readonly opts: Readonly<ShellLexOptions>,
  ) {
    // Go's text/scanner: a leading BOM is skipped, an invalid byte (utf8.ts) reads as U+FFFD
    this.chars = Array.from(source, (c) => (c.length === 1 && c >= '\ud800' && c <= '\udfff' ? '\ufffd' : c));
    if (this.chars[0] === '\ufeff') this.chars.shift();
    this.rawEscapes = !!opts.rawEscapes;
  }

  private peek(): string {
    return this.pos < this.chars.length ? this.chars[this.pos]! : EOF;
  }
  private next(): string {
    return this.pos < this.chars.length ? this.chars[this.pos++]! : EOF;
  }

  /** Reads until `stop` (consumed) or the end of input; `stop === EOF` means read everything. */
  processStopOn(stop: string, rawEscapes: boolean): { result: string; words: string[] } {
    const saved = this.rawEscapes;
    this.rawEscapes = rawEscapes;
    try {
      return this.stopOn(stop);
    } finally {
      this.rawEscapes = saved;
    }
  }

  private stopOn(stop: string): { result: string; words: string[] } {
    let result = '';
    const words = new WordList(this.wordBuffer);
    const quotes = !this.opts.skipProcessQuotes;
    while (this.peek() !== EOF) {
      const ch = this.peek();
      if (stop !== EOF && ch === stop) {
        this.next();
        return { result, words: words.finish() };
      }
      if (ch === '$') {
        const v = this.processDollar();
        result += v;
        words.addString(v); // unquoted expansion: its whitespace splits words
      } else if (ch === '<') {
        const v = this.processPossibleHeredoc();
        result += v;
        words.addRawString(v);
      } else if (quotes && ch === "'") {
        const v = this.processSingleQuote();
        result += v;
        words.addRawString(v);
      } else if (quotes && ch === '"') {
        const v = this.processDoubleQuote();
        result += v;
        words.addRawString(v);
      } else {
        let c = this.next();
        if (c === this.escapeToken) {
          if (this.rawEscapes) {
            words.addRawChar(c);
            result += c;
          }
          c = this.next();
          if (c === EOF) break; // a trailing escape is dropped
          words.addRawChar(c);
        } else {
          words.addChar(c);
        }
        result += c;
      }
    }
    if (stop !== EOF) {
      throw new ExpansionError(`unexpected end of statement while looking for matching ${stop}`);
    }
    return { result, words: words.finish() };
  }

  /** `<<` and the blanks after it stay in one word with the heredoc name that follows. */
  private processPossibleHeredoc(): string {
    this.next();
    if (this.peek() !== '<') return '<';
    this.next();
    let space = '';
    for (let c = this.peek(); c === ' ' || c === '\t' || c === '\r'; c = this.peek()) space += this.next();
    return '<<' + space;
  }

  /** Everything up to the next `'` is literal; a single quote cannot be escaped inside. */
  private processSingleQuote(): string {
    let result = '';
    const open = this.next();
    if (this.opts.rawQuotes) result += open;
    for (;;) {
      const ch = this.next();
      if (ch === EOF) {
        throw new ExpansionError('unterminated quote: missing closing single-quote (\')');
      }
      if (ch === "'") {
        if (this.opts.rawQuotes) result += ch;
        return result;
      }
      result += ch;
    }
  }

  /** Literal except `$` expansions; the escape token escapes only `"`, `$` and itself. */
  private processDoubleQuote(): string {
    let result = '';
    const open = this.next();
    if (this.opts.rawQuotes) result += open;
    for (;;) {
      const p = this.peek();
      if (p === EOF) {
        throw new ExpansionError('unterminated quote: missing closing double-quote (")');
      }
      if (p === '"') {
        const ch = this.next();
        if (this.opts.rawQuotes) result += ch;
        return result;
      }
      if (p === '$') {
        result += this.processDollar();
        continue;
      }
      let ch = this.next();
      if (ch === this.escapeToken) {
        if (this.rawEscapes) result += ch;
        const n = this.peek();
        if (n === EOF) continue; // reported as unterminated on the next turn
        if (n === '"' || n === '$' || n === this.escapeToken) ch = this.next();
      }
      result += ch;
    }
  }

  private getEnv(name: string): string | undefined {
    const v = this.lookup(name);
    if (v === undefined) this.unmatched.add(name);
    else this.matched.add(name);
    return v;
  }

  private processDollar(): string {
    this.next(); // '$'
    if (this.peek() !== '{') {
      const name = this.processName();
      if (name === '') return '$';
      const v = this.getEnv(name);
      if (v === undefined && this.opts.skipUnsetEnv) return '$' + name;
      return v ?? '';
    }
    this.next(); // '{'
    const first = this.peek();
    if (first === EOF) throw new ExpansionError("syntax error: missing '}'");
    if (first === '{' || first === '}' || first === ':') {
      throw new ExpansionError('syntax error: bad substitution');
    }
    const name = this.processName();
    let ch = this.next();
    let modifier = ch;
    switch (ch) {
      case '}': {
        const v = this.getEnv(name);
        if (v === undefined && this.opts.skipUnsetEnv) return '${' + name + '}';
        return v ?? '';
      }
      case '/':
        return this.processReplace(name);
      case ':':
      case '+':
      case '-':
      case '?':
      case '#':
      case '%':
        break;
      default:
        if (ch === EOF) throw new ExpansionError("syntax error: missing '}'");
        throw new ExpansionError(`bad substitution: unsupported modifier (${ch}) in \${${name}${ch}...}`);
    }
    let nullIsUnset = false;
    if (ch === ':') {
      nullIsUnset = true;
      ch = this.next();
      modifier += ch;
    }
    const isPattern = ch === '#' || ch === '%';
    if (nullIsUnset && isPattern) {
      throw new ExpansionError(`bad substitution: unsupported modifier (${modifier}) in substitution`);
    }
    let word: string;
    try {
      word = this.processStopOn('}', isPattern).result;
    } catch (e) {
      if (e instanceof ExpansionError && this.peek() === EOF) {
        throw new ExpansionError("syntax error: missing '}'");
      }
      throw e;
    }
    const value = this.getEnv(name);
    if (value === undefined && this.opts.skipUnsetEnv) return '${' + name + modifier + word + '}';
    const unset = value === undefined || (nullIsUnset && value === '');
    switch (ch) {
      case '-':
        return unset ? word : value!;
      case '+':
        return unset ? '' : word;
      case '?':
        if (value === undefined) throw new ExpansionError(`${name}: ${word || 'is not allowed to be unset'}`);
        if (nullIsUnset && value === '') throw new ExpansionError(`${name}: ${word || 'is not allowed to be empty'}`);
        return value;
      case '#':
      case '%': {
        // A doubled operator (## / %%) asks for the longest match.
        let greedy = false;
        if (word.startsWith(ch)) {
          greedy = true;
          word = word.slice(1);
        }
        const re = patternRegex(word, this.escapeToken);
        return ch === '#' ? trimPrefix(value ?? '', re, greedy) : trimSuffix(value ?? '', re, greedy);
      }
      default:
        throw new ExpansionError(`bad substitution: unsupported modifier (${modifier}) in substitution`);
    }
  }

  /** `${name/pattern/replacement}` and `${name//pattern/replacement}` (after the first `/`). */
  private processReplace(name: string): string {
    const all = this.peek() === '/';
    if (all) this.next();
    let pattern: string;
    let replacement: string;
    try {
      pattern = this.processStopOn('/', true).result;
    } catch (e) {
      if (e instanceof ExpansionError && this.peek() === EOF) {
        throw new ExpansionError("syntax error: missing '/' in ${}");
      }
      throw e;
    }
    try {
      replacement = this.processStopOn('}', true).result;
    } catch (e) {
      if (e instanceof ExpansionError && this.peek() === EOF) {
        throw new ExpansionError("syntax error: missing '}'");
      }
      throw e;
    }
    const value = this.getEnv(name);
    if (value === undefined && this.opts.skipUnsetEnv) {
      return '${' + name + (all ? '//' : '/') + pattern + '/' + replacement + '}';
    }
    const re = patternRegex(pattern, this.escapeToken);
    return replace(value ?? '', re, unescapeReplacement(replacement, this.escapeToken), all);
  }

  /** A name: letters/digits/underscore; or a run of digits (positional); or one special char. */
  private processName(): string {
    let name = '';
    for (;;) {
      const ch = this.peek();
      if (ch === EOF) break;
      if (name === '' && isDigit(ch)) {
        while (this.peek() !== EOF && isDigit(this.peek())) name += this.next();
        return name;
      }
      if (name === '' && SPECIAL_PARAMS.has(ch)) {
        return this.next();
      }
      if (!isLetter(ch) && !isDigit(ch) && ch !== '_') break;
      name += this.next();
    }
    return name;
  }
}

// ---------------------------------------------------------------------------------------------
// Helpers

/** POSIX special parameters; never set in a Dockerfile, so they expand to empty. */
const SPECIAL_PARAMS = new Set(['@', '*', '#', '?', '-', '$', '!', '0']);

const LETTER = /^\p{L}$/u;
const DIGIT = /^\p{Nd}$/u;
function isLetter(ch: string): boolean {
  return LETTER.test(ch);
}
function isDigit(ch: string): boolean {
  return DIGIT.test(ch);
}

/** Go's unicode.IsSpace: ASCII blanks, NEL, NBSP and the Unicode White_Space separators. */
function isSpace(ch: string): boolean {
  switch (ch) {
    case ' ':
    case '\t':
    case '\n':
    case '\v':
    case '\f':
    case '\r':
    case '\u0085':
    case '\u00a0':
      return true;
  }
  const c = ch.codePointAt(0)!;
  return c > 0xff && /^[\p{Zs}\p{Zl}\p{Zp}]$/u.test(ch);
}

/**
 * Compiles a `${x#pattern}`-style shell pattern (`*`, `?`, escaped literals; `[` is literal as in
 * Docker) to an anchored RegExp matching the whole candidate string. Escapes were kept raw by the
 * scanner, so they are interpreted here: `\*` `\?` and a doubled escape are literals, an escaped
 * `}` or `/` is the character itself, anything else is an error.
 */
function patternRegex(pattern: string, esc: string): RegExp {
  const chars = Array.from(pattern);
  let src = '';
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i]!;
    if (ch === '*') src += '[^]*';
    else if (ch === '?') src += '[^]';
    else if (ch === esc) {
      const n = chars[i + 1];
      if (n === undefined) src += escapeRe(ch);
      else if (n === '}' || n === '/' || n === '*' || n === '?' || n === esc) {
        src += escapeRe(n);
        i++;
      } else {
        throw new ExpansionError(`invalid pattern (${pattern}) in substitution: invalid escape '${esc}${n}'`);
      }
    } else src += escapeRe(ch);
  }
  return new RegExp(`^(?:${src})$`, 'u');
}

function escapeRe(ch: string): string {
  return /[\\^$.*+?()[\]{}|/]/.test(ch) ? '\\' + ch : ch;
}

/** In a replacement only escaped `}` `/` and the escape itself lose their escape. */
function unescapeReplacement(s: string, esc: string): string {
  const chars = Array.from(s);
  let out = '';
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i]!;
    const n = chars[i + 1];
    if (ch === esc && (n === '}' || n === '/' || n === esc)) {
      out += n;
      i++;
    } else out += ch;
  }
  return out;
}

// Pattern removal works on code points; values are short, so trying every split point is simple
// and gives exactly the shortest/longest semantics without regex-engine subtleties.

function trimPrefix(value: string, re: RegExp, longest: boolean): string {
  const cps = Array.from(value);
  let cut = -1;
  for (let i = 0; i <= cps.length; i++) {
    if (re.test(cps.slice(0, i).join(''))) {
      cut = i;
      if (!longest) break;
    }
  }
  return cut < 0 ? value : cps.slice(cut).join('');
}

function trimSuffix(value: string, re: RegExp, longest: boolean): string {
  const cps = Array.from(value);
  let cut = -1;
  for (let i = cps.length; i >= 0; i--) {
    if (re.test(cps.slice(i).join(''))) {
      cut = i;
      if (!longest) break;
    }
  }
  return cut < 0 ? value : cps.slice(0, cut).join('');
}

/** Replaces the first (or every) leftmost-longest non-empty match of the pattern, as bash does. */
function replace(value: string, re: RegExp, replacement: string, all: boolean): string {
  const cps = Array.from(value);
  let out = '';
  let i = 0;
  let replaced = false;
  while (i < cps.length) {
    let end = -1;
    if (all || !replaced) {
      for (let j = cps.length; j > i; j--) {
        if (re.test(cps.slice(i, j).join(''))) {
          end = j;
          break;
        }
      }
    }
    if (end > 0) {
      out += replacement;
      i = end;
      replaced = true;
    } else {
      out += cps[i];
      i++;
    }
  }
  return out;
}

/** Go's %q-ish quoting for messages (keeps non-ASCII readable). */
function goQuote(s: string): string {
  return JSON.stringify(s);
}
