/**
 * Chevrotain token set for an instruction's argument text when it may be a JSON exec form (see
 * grammar.ts). The tokens describe JSON exactly (strings, numbers, literals, punctuation, the
 * blanks JSON allows); everything else falls into catch-all tokens (words, shell-quoted strings,
 * other blanks) so that any text tokenizes and a non-JSON token simply fails the grammar.
 * Made on first use (`lexTokens()`), as Chevrotain itself is in the bundle (scripts/bundle.mjs): a
 * Dockerfile whose exec forms are plain arrays of strings never needs either (grammar.ts).
 */
import { chevrotain } from './chevrotain.js';

type Lexer = InstanceType<typeof chevrotain.Lexer>;

function makeTokens() {
  const { createToken, Lexer } = chevrotain;

  // Offsets only (no line/column tracking) and no newline inside a logical line: `line_breaks:
  // false` spares Chevrotain the regexp analysis it would otherwise run on every pattern at start-up.

  /** Any token (the grammar's "rest of the line"). */
  const Any = createToken({ name: 'Any', pattern: Lexer.NA });
  /** Blanks that separate words. */
  const Ws = createToken({ name: 'Ws', pattern: Lexer.NA, categories: [Any] });
  /** Material of a word (anything but blanks). */
  const NonWs = createToken({ name: 'NonWs', pattern: Lexer.NA, categories: [Any] });

  /** Blanks JSON also accepts (space, tab, CR). */
  const JsonWs = createToken({ line_breaks: false, name: 'JsonWs', pattern: /[ \t\r]+/, categories: [Ws] });
  /** Blanks Docker splits words on but JSON rejects. */
  const OtherWs = createToken({ line_breaks: false, name: 'OtherWs', pattern: /[\v\f]+/, categories: [Ws] });

  const LBracket = createToken({ line_breaks: false, name: 'LBracket', pattern: '[', categories: [NonWs] });
  const RBracket = createToken({ line_breaks: false, name: 'RBracket', pattern: ']', categories: [NonWs] });
  const LCurly = createToken({ line_breaks: false, name: 'LCurly', pattern: '{', categories: [NonWs] });
  const RCurly = createToken({ line_breaks: false, name: 'RCurly', pattern: '}', categories: [NonWs] });
  const Comma = createToken({ line_breaks: false, name: 'Comma', pattern: ',', categories: [NonWs] });
  const Colon = createToken({ line_breaks: false, name: 'Colon', pattern: ':', categories: [NonWs] });

  /** A string exactly as JSON defines it (no raw control characters, only JSON escapes). */
  const JsonString = createToken({ line_breaks: false,
    name: 'JsonString',
    pattern: /"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/,
    categories: [NonWs],
  });
  /** Any other quoted string (shell quoting: a backslash escapes the next character). */
  const QuotedString = createToken({ line_breaks: false,
    name: 'QuotedString',
    pattern: /"(?:[^"\\]|\\[^])*"|'(?:[^'\\]|\\[^])*'/,
    categories: [NonWs],
  });
  /** A quote that is never closed on this line. */
  const Quote = createToken({ line_breaks: false, name: 'Quote', pattern: /["']/, categories: [NonWs] });

  const Word = createToken({ line_breaks: false,
    name: 'Word',
    pattern: /(?:[^ \t\v\f\r[\]{},:"'\\]|\\[^]?)+/,
    categories: [NonWs],
  });
  const JsonNumber = createToken({ line_breaks: false,
    name: 'JsonNumber',
    pattern: /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/,
    longer_alt: Word,
    categories: [NonWs],
  });
  const JsonLiteral = createToken({ line_breaks: false,
    name: 'JsonLiteral',
    pattern: /true|false|null/,
    longer_alt: Word,
    categories: [NonWs],
  });

  /** Order = matching priority (first match wins), most frequent first: Chevrotain tries them in turn. */
  const allTokens = [
    JsonWs,
    JsonNumber,
    JsonLiteral,
    Word,
    JsonString,
    QuotedString,
    Quote,
    LBracket,
    RBracket,
    Comma,
    LCurly,
    RCurly,
    Colon,
    OtherWs,
    Any,
    Ws,
    NonWs,
  ];
  return { Any, Ws, NonWs, JsonWs, OtherWs, LBracket, RBracket, LCurly, RCurly, Comma, Colon, JsonString, QuotedString, Quote, Word, JsonNumber, JsonLiteral, allTokens };
}

/** The token types (one set per process: the grammar and the lexer compare them by identity). */
export type Tokens = ReturnType<typeof makeTokens>;

let tokens: Tokens | undefined;

export function lexTokens(): Tokens {
  return (tokens ??= makeTokens());
}

let lexer: Lexer | undefined;

/** The lexer of a line's JSON-looking text, made on first use: a Dockerfile without an exec-form
 *  argument never needs one, and making it (Chevrotain's analysis of the token set) is several ms
 *  of a cached build's start. */
export function lineLexer(): Lexer {
  return (lexer ??= new chevrotain.Lexer(lexTokens().allTokens, {
    positionTracking: 'onlyOffset',
    ensureOptimizations: false,
    skipValidations: true,
    // the first-character optimisation cannot index the negated classes of Word anyway; skipping
    // its analysis saves ~10 ms of start-up
    safeMode: true,
  }));
}
