/**
 * The instruction grammar (Chevrotain, embedded actions) for one logical line:
 *
 *   line       := Ws* head (Ws* head)*¹ Ws* healthType? jsonOrRest
 *   head       := word (Ws+ flagWord)*²          keyword and its --flags
 *   healthType := word Ws*                       only after HEALTHCHECK (CMD/NONE/...)
 *   jsonOrRest := jsonArray?³ Any*               exec form, or shell/word text
 *   jsonArray  := '[' (value (',' value)*)? ']'  full JSON values (objects, numbers, ...)
 *
 *   ¹ only while the previous keyword is ONBUILD (its argument is another instruction; iterated
 *     rather than recursed so `ONBUILD ONBUILD ...` cannot exhaust the stack)
 *   ² a word is a flag when it starts with `--`; a bare `--` ends the flags
 *   ³ only for instructions with an exec form, and only when the array is valid JSON: Docker
 *     silently falls back to the shell form otherwise (decided by backtracking)
 *
 * The result is offsets into the line plus decoded exec-form strings; turning that into nodes
 * (word lists, name=value pairs) is done by parse.ts.
 */
import type { ILookaheadStrategy, IOrAlt, IToken, TokenType } from 'chevrotain';
import { chevrotain } from './chevrotain.js';
import {
  allTokens,
  Any,
  Colon,
  Comma,
  JsonLiteral,
  JsonNumber,
  JsonString,
  JsonWs,
  LBracket,
  LCurly,
  NonWs,
  Quote,
  RBracket,
  RCurly,
  Ws,
} from './lexer.js';

const { EmbeddedActionsParser, LLkLookaheadStrategy, tokenMatcher } = chevrotain;

type AltOptions = Parameters<ILookaheadStrategy['buildLookaheadForAlternation']>[0];
type OptOptions = Parameters<ILookaheadStrategy['buildLookaheadForOptional']>[0];

/**
 * Chevrotain's LL(k) lookahead functions, built on first use instead of all at start-up: most of
 * performSelfAnalysis's cost, which every `tsbuild parse` would otherwise pay for productions a
 * given Dockerfile never reaches (JSON objects, deep nesting, ...).
 */
class LazyLookahead implements ILookaheadStrategy {
  private readonly inner = new LLkLookaheadStrategy({ maxLookahead: 1 });

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

/** One keyword with its flags; an ONBUILD line has two or more. */
export interface HeadSyntax {
  /** The keyword as written. */
  keyword: string;
  keywordOffset: number;
  /** Flag words as written (quotes and escapes still in), with their offsets. */
  flags: { raw: string; offset: number }[];
  /** A never-closed quote in a flag swallowed the rest of the line into that flag. */
  swallowed: boolean;
  /** Offset where this head's arguments start (line length when there are none). */
  argsOffset: number;
}

export interface ExecFormSyntax {
  /** Decoded top-level strings. */
  values: string[];
  /** Some top-level element was not a string (an error in Docker). */
  nonString: boolean;
}

export interface LineSyntax {
  heads: HeadSyntax[];
  /** HEALTHCHECK's first word (CMD, NONE, ...) and its offset. */
  healthType?: { text: string; offset: number };
  /** Offset of the final argument text (after the heads and the health type). */
  restOffset: number;
  /** Set when the arguments were a valid JSON array. */
  exec?: ExecFormSyntax;
}

/** Keywords whose arguments may be a JSON exec form. */
const EXEC_FORM_KEYWORDS = new Set(['run', 'cmd', 'entrypoint', 'shell', 'add', 'copy', 'volume', 'healthcheck']);
/** Deeper JSON nesting is checked without the (recursive) grammar; see parse.ts. */
export const MAX_GRAMMAR_JSON_DEPTH = 64;

/*
 * Every DSL closure is created once, as a field, instead of per call: the grammar runs for every
 * line of every Dockerfile and per-call closures dominated its cost (allocation, and the
 * name-keeping wrappers some TypeScript runners add). Rule-local state therefore lives on the
 * instance and is reset by each rule.
 */
class LineParser extends EmbeddedActionsParser {
  /** The line being parsed (offsets index into it). */
  text = '';
  /** Exec-form parsing is switched off for lines nested deeper than MAX_GRAMMAR_JSON_DEPTH. */
  jsonAllowed = true;
  private depth = 0;
  private backtracking = 0;

  // line state
  private heads: HeadSyntax[] = [];
  private keyword = '';
  private healthType: LineSyntax['healthType'];
  private restOffset = 0;
  private exec: ExecFormSyntax | undefined;
  // head state
  private kw: IToken[] = [];
  private flags: HeadSyntax['flags'] = [];
  private run: IToken[] = [];
  private ended = false;
  private swallowed = false;
  // health type words
  private words: IToken[] = [];
  // JSON state
  private top: ExecFormSyntax = { values: [], nonString: false };
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

  private isWs(t: IToken): boolean {
    return tokenMatcher(t, Ws);
  }

  /** Index of the first lookahead token after blanks. */
  private afterBlanks(): number {
    let i = 1;
    while (this.isWs(this.LA(i))) i++;
    return i;
  }

  private wordText(first: IToken, last: IToken): string {
    return this.text.slice(first.startOffset, last.startOffset + last.image.length);
  }

  // ---- closures shared by the rules -------------------------------------------------------
  private readonly ws1 = (): void => void this.CONSUME(Ws);
  private readonly ws2 = (): void => void this.CONSUME2(Ws);
  private readonly ws3 = (): void => void this.CONSUME3(Ws);
  private readonly ws4 = (): void => void this.CONSUME4(Ws);
  private readonly anyToken = (): void => void this.CONSUME(Any);
  private readonly resetLine = (): void => {
    this.heads = [];
    this.healthType = undefined;
    this.exec = undefined;
  };
  private readonly onbuildHeads = {
    GATE: (): boolean => {
      const last = this.heads[this.heads.length - 1]!;
      return last.keyword.toLowerCase() === 'onbuild' && !last.swallowed && tokenMatcher(this.LA(this.afterBlanks()), NonWs);
    },
    DEF: (): void => {
      this.MANY3(this.ws2);
      this.SUBRULE2(this.head);
    },
  };
  private readonly setKeyword = (): void => {
    this.keyword = this.heads[this.heads.length - 1]!.keyword.toLowerCase();
  };
  private readonly healthWord = (): void => void this.words.push(this.CONSUME(NonWs));
  private readonly healthOpt = {
    GATE: (): boolean => this.keyword === 'healthcheck' && tokenMatcher(this.LA(1), NonWs),
    DEF: (): void => {
      this.ACTION(this.resetWords);
      this.AT_LEAST_ONE(this.healthWord);
      this.ACTION(this.setHealthType);
      this.MANY5(this.ws4);
    },
  };
  private readonly resetWords = (): void => {
    this.words = [];
  };
  private readonly setHealthType = (): void => {
    const w = this.words;
    this.healthType = { text: this.wordText(w[0]!, w[w.length - 1]!), offset: w[0]!.startOffset };
  };
  private readonly markRest = (): void => {
    const t = this.LA(1);
    this.restOffset = tokenMatcher(t, Any) ? t.startOffset : this.text.length;
  };
  private readonly execOpt = {
    GATE: (): boolean => {
      const kw = this.keyword;
      if (!this.jsonAllowed || !EXEC_FORM_KEYWORDS.has(kw) || !tokenMatcher(this.LA(1), LBracket)) return false;
      if (kw === 'healthcheck' && !this.healthType) return false;
      this.backtracking++;
      try {
        return this.BACKTRACK(this.jsonArray).call(this);
      } finally {
        this.backtracking--;
        this.depth = 0;
      }
    },
    DEF: (): void => {
      this.exec = this.SUBRULE(this.jsonArray);
    },
  };
  private readonly lineResult = (): LineSyntax => ({
    heads: this.heads,
    healthType: this.healthType,
    restOffset: this.restOffset,
    exec: this.exec,
  });

  private readonly resetHead = (): void => {
    this.kw = [];
    this.flags = [];
    this.ended = false;
    this.swallowed = false;
  };
  private readonly kwToken = (): void => void this.kw.push(this.CONSUME(NonWs));
  private readonly runToken = (): void => void this.run.push(this.CONSUME2(NonWs));
  private readonly resetRun = (): void => {
    this.run = [];
  };
  private readonly classifyFlag = (): void => {
    const run = this.run;
    const first = run[0]!;
    const raw = this.wordText(first, run[run.length - 1]!);
    if (raw === '--') {
      this.ended = true;
    } else if (run.some((t) => tokenMatcher(t, Quote))) {
      // Docker's flag reader stays inside an unclosed quote to the end of the line
      this.flags.push({ raw: this.text.slice(first.startOffset), offset: first.startOffset });
      this.ended = this.swallowed = true;
    } else {
      this.flags.push({ raw, offset: first.startOffset });
    }
  };
  private readonly headAny = (): void => void this.CONSUME3(Any);
  private readonly swallowOpt = {
    GATE: (): boolean => this.swallowed,
    DEF: (): void => this.MANY3(this.headAny),
  };
  private readonly headWs = (): void => void this.CONSUME(Ws);
  private readonly flagLoop = {
    GATE: (): boolean => {
      if (this.ended) return false;
      const i = this.afterBlanks();
      if (i === 1) return false;
      const t = this.LA(i);
      return tokenMatcher(t, NonWs) && t.image.startsWith('--');
    },
    DEF: (): void => {
      this.MANY2(this.headWs);
      this.ACTION(this.resetRun);
      this.AT_LEAST_ONE2(this.runToken);
      this.ACTION(this.classifyFlag);
      this.OPTION(this.swallowOpt);
    },
  };
  private readonly finishHead = (): void => {
    const kw = this.kw;
    let argsOffset = this.text.length;
    if (!this.swallowed) {
      const t = this.LA(this.afterBlanks());
      if (tokenMatcher(t, NonWs)) argsOffset = t.startOffset;
    }
    this.heads.push({
      keyword: this.wordText(kw[0]!, kw[kw.length - 1]!),
      keywordOffset: kw[0]!.startOffset,
      flags: this.flags,
      swallowed: this.swallowed,
      argsOffset,
    });
  };

  private readonly enterArray = (): void => {
    if (++this.depth === 1) this.top = { values: [], nonString: false };
  };
  private readonly leaveArray = (): ExecFormSyntax => {
    this.depth--;
    return this.top;
  };
  private readonly enterObject = (): void => void this.depth++;
  private readonly leaveObject = (): void => void this.depth--;
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
    if (this.depth === 1 && this.backtracking === 0) this.top.values.push(decodeJsonString(this.lastString!.image));
  };
  private readonly markNonString = (): void => {
    if (this.depth === 1) this.top.nonString = true;
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
        this.CONSUME(JsonNumber);
        this.ACTION(this.markNonString);
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
  public line = this.RULE('line', (): LineSyntax => {
    this.ACTION(this.resetLine);
    this.MANY(this.ws1);
    this.SUBRULE(this.head);
    this.MANY2(this.onbuildHeads);
    this.MANY4(this.ws3);
    this.ACTION(this.setKeyword);
    this.OPTION(this.healthOpt);
    this.ACTION(this.markRest);
    this.OPTION2(this.execOpt);
    this.MANY6(this.anyToken);
    return this.ACTION(this.lineResult);
  });

  private head = this.RULE('head', (): void => {
    this.ACTION(this.resetHead);
    this.AT_LEAST_ONE(this.kwToken);
    this.MANY(this.flagLoop);
    this.ACTION(this.finishHead);
  });

  private jsonArray = this.RULE('jsonArray', (): ExecFormSyntax => {
    this.CONSUME(LBracket);
    this.ACTION(this.enterArray);
    this.OPTION(this.jws1);
    this.OPTION2(this.elements);
    this.CONSUME(RBracket);
    return this.ACTION(this.leaveArray);
  });

  private element = this.RULE('element', (): void => {
    this.OR(this.valueAlts);
    this.OPTION(this.jws1);
  });

  private jsonObject = this.RULE('jsonObject', (): void => {
    this.CONSUME(LCurly);
    this.ACTION(this.enterObject);
    this.OPTION(this.jws1);
    this.OPTION2(this.members);
    this.CONSUME(RCurly);
    this.ACTION(this.leaveObject);
  });

  private member = this.RULE('member', (): void => {
    this.CONSUME(JsonString);
    this.OPTION(this.jws1);
    this.CONSUME(Colon);
    this.OPTION2(this.jws2);
    this.SUBRULE(this.element);
  });

  /** Parses one tokenized line. Grammar failures cannot happen for non-empty input. */
  parseLine(text: string, tokens: IToken[], jsonAllowed: boolean): LineSyntax {
    this.text = text;
    this.jsonAllowed = jsonAllowed;
    this.depth = 0;
    this.input = tokens;
    const out = this.line();
    if (this.errors.length > 0) throw new Error(`internal grammar error: ${this.errors[0]!.message}`);
    return out;
  }
}

/** Decodes a JSON string token; lone surrogates become U+FFFD as Go's decoder does. */
function decodeJsonString(image: string): string {
  const s = image.indexOf('\\') < 0 ? image.slice(1, -1) : (JSON.parse(image) as string);
  return LONE_SURROGATE.test(s) ? s.replace(LONE_SURROGATE_G, '\ufffd') : s;
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const LONE_SURROGATE_G = new RegExp(LONE_SURROGATE.source, 'g');

let instance: LineParser | undefined;

/** The shared parser (built on first use: performSelfAnalysis runs once per process). */
export function lineParser(): LineParser {
  return (instance ??= new LineParser());
}

export type { TokenType };
