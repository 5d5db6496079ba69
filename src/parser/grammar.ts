/**
 * The one real grammar in a Dockerfile line: the JSON exec form (`CMD ["a", "b"]`), as BuildKit
 * decides it with Go's encoding/json. Chevrotain, embedded actions:
 *
 *   execForm  := jsonArray JsonWs* EOF             the whole argument text, nothing after it
 *   jsonArray := '[' (value (',' value)*)? ']'     full JSON values (objects, numbers, ...)
 *
 * Everything else about a line (keyword, --flags, word lists) is not context-free and follows
 * BuildKit's character scanners (split-command.ts, line-parsers.ts). Outcomes, as Docker sees them:
 * a valid array of strings is the exec form; valid JSON with a non-string element is an error;
 * anything else (invalid JSON, text after the array, a number beyond float64, nesting deeper than
 * Go's limit of 10000) silently falls back to the shell form. A plain array of strings, the usual
 * exec form, is recognized without the grammar (arrayOfStrings): Chevrotain is then never needed.
 */
import type { ILookaheadStrategy, IOrAlt, IToken } from 'chevrotain';
import { chevrotain } from './chevrotain.js';
import { lexTokens, lineLexer } from './lexer.js';

type AltOptions = Parameters<ILookaheadStrategy['buildLookaheadForAlternation']>[0];
type OptOptions = Parameters<ILookaheadStrategy['buildLookaheadForOptional']>[0];

/**
 * Chevrotain's LL(k) lookahead functions, built on first use instead of all at start-up: most of
 * performSelfAnalysis's cost, which every `tsbuild parse` would otherwise pay for productions a
 * given Dockerfile never reaches (JSON objects, deep nesting, ...).
 */
class LazyLookahead implements ILookaheadStrategy {
  private readonly inner = new chevrotain.LLkLookaheadStrategy({ maxLookahead: 1 });

  validate(options: Parameters<ILookaheadStrategy['validate']>[0]) {
    return this.inner.validate(options);
  }

  initialize(options: { rules: Parameters<ILookaheadStrategy['validate']>[0]['rules'] }): void {
    this.inner.initialize?.(options);
  }

  buildLookaheadForAlternation(options: AltOptions): (orAlts?: IOrAlt<unknown>[]) => number | undefined {
    const inner = this.inner;
    let fn: ((orAlts?: IOrAlt<unknown>[]) => number | undefined) | undefined;
    return function (this: unknown, orAlts?: IOrAlt<unknown>[]) {
      fn ??= inner.buildLookaheadForAlternation(options);
      return fn.call(this, orAlts);
    };
  }

  buildLookaheadForOptional(options: OptOptions): () => boolean {
    const inner = this.inner;
    let fn: (() => boolean) | undefined;
    return function (this: unknown) {
      fn ??= inner.buildLookaheadForOptional(options);
      return fn.call(this);
    };
  }
}

export type ExecForm =
  | { kind: 'exec'; values: string[] }
  /** Valid JSON, but some top-level element is not a string: an error in Docker. */
  | { kind: 'nonString' }
  /** Not a JSON array: the shell form (or plain words) applies. */
  | { kind: 'none' };

/** Arrays nested deeper than this are checked without the (recursive) grammar. */
const MAX_GRAMMAR_JSON_DEPTH = 64;
/** Go's encoding/json refuses deeper nesting. */
const GO_JSON_MAX_DEPTH = 10000;

interface ExecFormParser {
  /** Parses tokenized argument text that starts with `[`. */
  parse(tokens: IToken[]): ExecForm;
}

/*
 * Every DSL closure is created once, as a field, instead of per call: per-call closures dominated
 * the cost (allocation, and the name-keeping wrappers some TypeScript runners add). Rule-local
 * state therefore lives on the instance and is reset by each parse. The class is made when first
 * needed: its base class is Chevrotain's, loaded then (lexer.ts).
 */
function newExecFormParser(): ExecFormParser {
  const { allTokens, Colon, Comma, JsonLiteral, JsonNumber, JsonString, JsonWs, LBracket, LCurly, RBracket, RCurly } = lexTokens();
  class Parser extends chevrotain.EmbeddedActionsParser implements ExecFormParser {
    private depth = 0;
    private values: string[] = [];
    private nonString = false;
    /** A number Go cannot hold in a float64 (its decoder then fails as a whole). */
    private overflow = false;
    private lastString: IToken | undefined;

    constructor() {
      super(allTokens, {
        recoveryEnabled: false,
        maxLookahead: 1,
        skipValidations: true,
        lookaheadStrategy: new LazyLookahead(),
      });
      this.performSelfAnalysis();
    }

    private readonly enterArray = (): void => void this.depth++;
    private readonly leaveArray = (): void => void this.depth--;
    private readonly jws1 = (): void => void this.CONSUME(JsonWs);
    private readonly jws2 = (): void => void this.CONSUME2(JsonWs);
    private readonly jws3 = (): void => void this.CONSUME3(JsonWs);
    private readonly elements = (): void => {
      this.SUBRULE(this.element);
      this.MANY(this.moreElements);
    };
    private readonly moreElements = (): void => {
      this.CONSUME(Comma);
      this.OPTION3(this.jws3);
      this.SUBRULE2(this.element);
    };
    private readonly pushString = (): void => {
      if (this.depth === 1) this.values.push(decodeJsonString(this.lastString!.image));
    };
    private readonly markNonString = (): void => {
      if (this.depth === 1) this.nonString = true;
    };
    private lastNumber: IToken | undefined;
    private readonly checkNumber = (): void => {
      if (!Number.isFinite(Number(this.lastNumber!.image))) this.overflow = true;
      this.markNonString();
    };
    private readonly valueAlts = [
      {
        ALT: (): void => {
          this.lastString = this.CONSUME(JsonString);
          this.ACTION(this.pushString);
        },
      },
      {
        ALT: (): void => {
          this.lastNumber = this.CONSUME(JsonNumber);
          this.ACTION(this.checkNumber);
        },
      },
      {
        ALT: (): void => {
          this.CONSUME(JsonLiteral);
          this.ACTION(this.markNonString);
        },
      },
      {
        ALT: (): void => {
          this.SUBRULE(this.jsonArray);
          this.ACTION(this.markNonString);
        },
      },
      {
        ALT: (): void => {
          this.SUBRULE(this.jsonObject);
          this.ACTION(this.markNonString);
        },
      },
    ];
    private readonly members = (): void => {
      this.SUBRULE(this.member);
      this.MANY(this.moreMembers);
    };
    private readonly moreMembers = (): void => {
      this.CONSUME(Comma);
      this.OPTION3(this.jws3);
      this.SUBRULE2(this.member);
    };

    // ---- rules ----------------------------------------------------------------------------
    public execForm = this.RULE('execForm', (): void => {
      this.SUBRULE(this.jsonArray);
      this.MANY(this.jws1);
    });

    private jsonArray = this.RULE('jsonArray', (): void => {
      this.CONSUME(LBracket);
      this.ACTION(this.enterArray);
      this.OPTION(this.jws1);
      this.OPTION2(this.elements);
      this.CONSUME(RBracket);
      this.ACTION(this.leaveArray);
    });

    private element = this.RULE('element', (): void => {
      this.OR(this.valueAlts);
      this.OPTION(this.jws1);
    });

    private jsonObject = this.RULE('jsonObject', (): void => {
      this.CONSUME(LCurly);
      this.ACTION(this.enterArray);
      this.OPTION(this.jws1);
      this.OPTION2(this.members);
      this.CONSUME(RCurly);
      this.ACTION(this.leaveArray);
    });

    private member = this.RULE('member', (): void => {
      this.CONSUME(JsonString);
      this.OPTION(this.jws1);
      this.CONSUME(Colon);
      this.OPTION2(this.jws2);
      this.SUBRULE(this.element);
    });

    /** Parses tokenized argument text that starts with `[`. */
    parse(tokens: IToken[]): ExecForm {
      this.depth = 0;
      this.values = [];
      this.nonString = false;
      this.overflow = false;
      this.input = tokens;
      this.execForm();
      // a leftover token (text after the array) or a syntax error: not JSON
      if (this.errors.length > 0 || this.overflow) return { kind: 'none' };
      return this.nonString ? { kind: 'nonString' } : { kind: 'exec', values: this.values };
    }
  }
  return new Parser();
}

let instance: ExecFormParser | undefined;

/**
 * Docker's `parseJSON` on an instruction's argument text (already trimmed of white space): the
 * exec form, a non-string error, or not JSON at all.
 */
export function parseExecForm(text: string): ExecForm {
  if (text.charCodeAt(0) !== 0x5b) return { kind: 'none' };
  const strings = arrayOfStrings(text);
  if (strings) return { kind: 'exec', values: strings };
  const lexed = lineLexer().tokenize(text);
  // every character belongs to some token (Word is the catch-all), so this is a tsbuild bug
  if (lexed.errors.length > 0) throw new Error(`internal lexer error: ${lexed.errors[0]!.message}`);
  const tokens = lexed.tokens;
  if (maxNesting(tokens) > MAX_GRAMMAR_JSON_DEPTH) return deepExecForm(text);
  return (instance ??= newExecFormParser()).parse(tokens);
}

/**
 * The common exec form, `["sh", "-c", "..."]`, without the grammar (nor Chevrotain, which is then
 * never loaded): text that JSON.parse reads, as a whole, as an array of strings is the exec form
 * to Go's decoder too. Both take the same strings (escapes, no raw control characters) and the same
 * blanks between and after the values, but for a newline, which no logical line holds (refused here
 * anyway); with strings only, neither a number's range nor nesting comes into it. Any other text
 * (invalid JSON, text after the array, another kind of element) is left to the grammar: undefined.
 */
function arrayOfStrings(text: string): string[] | undefined {
  if (text.includes('\n')) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) return undefined;
  return value.map((v: string) => (LONE_SURROGATE.test(v) ? v.replace(LONE_SURROGATE_G, '\ufffd') : v));
}

function maxNesting(tokens: IToken[]): number {
  const { LBracket, LCurly, RBracket, RCurly } = lexTokens();
  let depth = 0;
  let max = 0;
  for (const t of tokens) {
    const tt = t.tokenType;
    if (tt === LBracket || tt === LCurly) {
      if (++depth > max) max = depth;
    } else if ((tt === RBracket || tt === RCurly) && depth > 0) depth--;
  }
  return max;
}

/**
 * Arrays nested deeper than the grammar recurses: the platform's JSON parser (iterative) with
 * Go's depth limit and float64 range. Strings cannot hide brackets from the token count above, so
 * the depth measured there is exact for valid JSON.
 */
function deepExecForm(text: string): ExecForm {
  const tokens = lineLexer().tokenize(text).tokens;
  if (maxNesting(tokens) > GO_JSON_MAX_DEPTH) return { kind: 'none' };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { kind: 'none' };
  }
  if (!Array.isArray(value)) return { kind: 'none' };
  const { JsonNumber } = lexTokens();
  if (tokens.some((t) => t.tokenType === JsonNumber && !Number.isFinite(Number(t.image)))) return { kind: 'none' };
  const values: string[] = [];
  for (const v of value) {
    if (typeof v !== 'string') return { kind: 'nonString' };
    values.push(LONE_SURROGATE.test(v) ? v.replace(LONE_SURROGATE_G, '\ufffd') : v);
  }
  return { kind: 'exec', values };
}

/** Decodes a JSON string token; lone surrogates become U+FFFD as Go's decoder does. */
function decodeJsonString(image: string): string {
  const s = image.indexOf('\\') < 0 ? image.slice(1, -1) : (JSON.parse(image) as string);
  return LONE_SURROGATE.test(s) ? s.replace(LONE_SURROGATE_G, '\ufffd') : s;
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const LONE_SURROGATE_G = new RegExp(LONE_SURROGATE.source, 'g');

