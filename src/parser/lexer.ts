/**
 * Chevrotain token set for an instruction's argument text when it may be a JSON exec form (see
 * grammar.ts). The tokens describe JSON exactly (strings, numbers, literals, punctuation, the
 * blanks JSON allows); everything else falls into catch-all tokens (words, shell-quoted strings,
 * other blanks) so that any text tokenizes and a non-JSON token simply fails the grammar.
 */
import { chevrotain } from './chevrotain.js';

const { createToken, Lexer } = chevrotain;

// Offsets only (no line/column tracking) and no newline inside a logical line: `line_breaks:
// false` spares Chevrotain the regexp analysis it would otherwise run on every pattern at start-up.

/** Any token (the grammar's "rest of the line"). */
export const Any = createToken({ name: 'Any', pattern: Lexer.NA });
/** Blanks that separate words. */
export const Ws = createToken({ name: 'Ws', pattern: Lexer.NA, categories: [Any] });
/** Material of a word (anything but blanks). */
export const NonWs = createToken({ name: 'NonWs', pattern: Lexer.NA, categories: [Any] });

/** Blanks JSON also accepts (space, tab, CR). */
export const JsonWs = createToken({ line_breaks: false, name: 'JsonWs', pattern: /[ \t\r]+/, categories: [Ws] });
/** Blanks Docker splits words on but JSON rejects. */
export const OtherWs = createToken({ line_breaks: false, name: 'OtherWs', pattern: /[\v\f]+/, categories: [Ws] });

export const LBracket = createToken({ line_breaks: false, name: 'LBracket', pattern: '[', categories: [NonWs] });
export const RBracket = createToken({ line_breaks: false, name: 'RBracket', pattern: ']', categories: [NonWs] });
export const LCurly = createToken({ line_breaks: false, name: 'LCurly', pattern: '{', categories: [NonWs] });
export const RCurly = createToken({ line_breaks: false, name: 'RCurly', pattern: '}', categories: [NonWs] });
export const Comma = createToken({ line_breaks: false, name: 'Comma', pattern: ',', categories: [NonWs] });
export const Colon = createToken({ line_breaks: false, name: 'Colon', pattern: ':', categories: [NonWs] });

/** A string exactly as JSON defines it (no raw control characters, only JSON escapes). */
export const JsonString = createToken({ line_breaks: false,
  name: 'JsonString',
  pattern: /"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/,
  categories: [NonWs],
});
/** Any other quoted string (shell quoting: a backslash escapes the next character). */
export const QuotedString = createToken({ line_breaks: false,
  name: 'QuotedString',
  pattern: /"(?:[^"\\]|\\[^])*"|'(?:[^'\\]|\\[^])*'/,
  categories: [NonWs],
});
/** A quote that is never closed on this line. */
export const Quote = createToken({ line_breaks: false, name: 'Quote', pattern: /["']/, categories: [NonWs] });

export const Word = createToken({ line_breaks: false,
  name: 'Word',
  pattern: /(?:[^ \t\v\f\r[\]{},:"'\\]|\\[^]?)+/,
  categories: [NonWs],
});
export const JsonNumber = createToken({ line_breaks: false,
  name: 'JsonNumber',
  pattern: /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/,
  longer_alt: Word,
  categories: [NonWs],
});
export const JsonLiteral = createToken({ line_breaks: false,
  name: 'JsonLiteral',
  pattern: /true|false|null/,
  longer_alt: Word,
  categories: [NonWs],
});

/** Order = matching priority (first match wins), most frequent first: Chevrotain tries them in turn. */
export const allTokens = [
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

let lexer: InstanceType<typeof Lexer> | undefined;

/** The lexer of a line's JSON-looking text, made on first use: a Dockerfile without an exec-form
 *  argument never needs one, and making it (Chevrotain's analysis of the token set) is several ms
 *  of a cached build's start. */
export function lineLexer(): InstanceType<typeof Lexer> {
  return (lexer ??= new Lexer(allTokens, {
    positionTracking: 'onlyOffset',
    ensureOptimizations: false,
    skipValidations: true,
    // the first-character optimisation cannot index the negated classes of Word anyway; skipping
    // its analysis saves ~10 ms of start-up
    safeMode: true,
  }));
}
