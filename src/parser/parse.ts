/**
 * parseDockerfile: Dockerfile text → raw parse tree (Docker's `parser.Parse` semantics). The
 * line reader (lines.ts) produces logical lines, the Chevrotain lexer + grammar (lexer.ts,
 * grammar.ts) give each line's structure, and this module turns that into nodes with the
 * per-instruction argument rules (JSON or shell form, word lists, name=value pairs).
 */
import { TsbuildError } from '../errors.js';
import type { Directive, Heredoc, ParseResult, ParseWarning, Position, RawNode, SourceRange } from './ast.js';
import { DirectiveScanner, escapeTokenFrom } from './directives.js';
import { lineParser, MAX_GRAMMAR_JSON_DEPTH, type HeadSyntax, type LineSyntax } from './grammar.js';
import { heredocsInLine } from './heredoc.js';
import { LBracket, LCurly, lineLexer, RBracket, RCurly } from './lexer.js';
import {
  DEFAULT_MAX_LINE_BYTES,
  isBlank,
  isCommentLine,
  LineMap,
  PhysicalLines,
  stripContinuation,
  trimNewline,
} from './lines.js';
import {
  goTrimSpace,
  skipGoSpace,
  splitQuotedWords,
  splitWhitespace,
  splitWhitespaceOnce,
  unquoteFlagWord,
} from './text.js';
import type { IToken } from 'chevrotain';

export interface ParseOptions {
  /** File name used in locations and messages (default `Dockerfile`). */
  file?: string;
  /** Longest physical line accepted, in UTF-8 bytes (Docker: 65535). */
  maxLineBytes?: number;
}

/** Parses a Dockerfile. Throws TsbuildError('PARSE') with a location for malformed input. */
export function parseDockerfile(input: string | Uint8Array, opts: ParseOptions = {}): ParseResult {
  const text = typeof input === 'string' ? input : new TextDecoder('utf-8').decode(input);
  return new FileParser(text, opts.file ?? 'Dockerfile', opts.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES).run();
}

const HEREDOC_KEYWORDS = new Set(['add', 'copy', 'run']);
/** Go's encoding/json refuses deeper nesting (and Docker then falls back to the shell form). */
const GO_JSON_MAX_DEPTH = 10000;

class FileParser {
  private readonly lines: PhysicalLines;
  private readonly directives = new DirectiveScanner();
  private escape = '\\';
  private readonly warnings: ParseWarning[] = [];

  constructor(
    text: string,
    private readonly file: string,
    maxLineBytes: number,
  ) {
    this.lines = new PhysicalLines(text, maxLineBytes, (line) =>
      this.fail(`dockerfile line greater than max allowed size of ${maxLineBytes}`, line, 1),
    );
  }

  fail(message: string, line: number, column: number): never {
    throw new TsbuildError('PARSE', message, { file: this.file, line, column });
  }

  /** Feeds a line to the directive scanner; returns whether it was a directive. */
  private directive(line: string, lineNo: number): boolean {
    let d: Directive | undefined;
    try {
      d = this.directives.scan(line, lineNo);
      if (d?.name === 'escape') this.escape = escapeTokenFrom(d.value);
    } catch (e) {
      this.fail((e as Error).message, lineNo, 1);
    }
    return d !== undefined;
  }

  run(): ParseResult {
    const nodes: RawNode[] = [];
    let comments: string[] = [];
    for (let pl = this.lines.next(); pl; pl = this.lines.next()) {
      if (isCommentLine(pl.raw)) {
        const c = goTrimSpace(trimNewline(pl.raw).slice(1));
        if (c === '') comments = [];
        else comments.push(c);
      }
      const lead = skipGoSpace(pl.text);
      const first = lead === 0 ? pl.text : pl.text.slice(lead);
      if (this.directive(first, pl.number)) comments.pop();
      const content = isCommentLine(first) ? '' : first;
      const startLine = pl.number;
      let joined = stripContinuation(content, this.escape);
      if (joined === undefined && content === '') continue;

      const map = new LineMap();
      map.add(0, startLine, lead + 1);
      let line = joined ?? content;
      let emptyContinuation = false;
      while (joined !== undefined) {
        const next = this.lines.next();
        if (!next) break;
        this.directive(next.text, next.number);
        if (isCommentLine(next.raw)) continue;
        if (isBlank(next.text)) {
          emptyContinuation = true;
          continue;
        }
        joined = stripContinuation(next.text, this.escape);
        map.add(line.length, next.number, 1);
        line += joined ?? next.text;
      }
      const endOfLine = this.lines.consumed;
      if (emptyContinuation) {
        this.warnings.push({ message: `Empty continuation line found in: ${line}`, line: endOfLine });
      }

      const node = this.lineToNode(line, map, startLine, comments);
      this.readHeredocs(node, line, startLine);
      for (let n: RawNode | undefined = node; n; n = n.child) n.range.endLine = this.lines.consumed;
      nodes.push(node);
      comments = [];
    }
    if (nodes.length === 0) this.fail('file with no instructions', Math.max(1, this.lines.consumed), 1);
    return {
      file: this.file,
      nodes,
      directives: this.directives.found,
      escapeToken: this.escape,
      warnings: this.warnings,
    };
  }

  /** Reads the bodies of the heredocs a RUN/COPY/ADD line announces. */
  private readHeredocs(node: RawNode, line: string, startLine: number): void {
    const target = node.keyword === 'onbuild' && node.child ? node.child : node;
    if (!HEREDOC_KEYWORDS.has(target.keyword) || target.json || !line.includes('<<')) return;
    for (const marker of heredocsInLine(line)) {
      let content = '';
      let terminated = false;
      for (let pl = this.lines.next(); pl; pl = this.lines.next()) {
        let candidate = pl.text;
        if (marker.chomp) candidate = candidate.replace(/^\t+/, '');
        if (candidate === marker.name) {
          terminated = true;
          break;
        }
        content += pl.raw;
      }
      if (!terminated) this.fail(`unterminated heredoc ${marker.name}`, startLine, node.range.column);
      const h: Heredoc = { ...marker, content };
      node.heredocs.push(h);
    }
  }

  private lineToNode(line: string, map: LineMap, startLine: number, comments: string[]): RawNode {
    const start = skipGoSpace(line);
    const trimmed = goTrimSpace(line);
    const pos = (offset: number): Position => map.at(start + offset);
    const range: SourceRange = { file: this.file, ...pos(0), endLine: startLine };
    if (trimmed === '') {
      return emptyNode(line, range, pos(0), comments);
    }
    const lexed = lineLexer.tokenize(trimmed);
    // every character belongs to some token (Word is the catch-all), so this is a tsbuild bug
    if (lexed.errors.length > 0) throw new Error(`internal lexer error: ${lexed.errors[0]!.message}`);
    const tokens = lexed.tokens;
    const deep = maxNesting(tokens) > MAX_GRAMMAR_JSON_DEPTH;
    const syntax = lineParser().parseLine(trimmed, tokens, !deep);
    if (deep && !syntax.exec) syntax.exec = this.deepExecForm(trimmed, tokens, syntax);

    // Build the ONBUILD chain from the innermost head outwards.
    let child: RawNode | undefined;
    for (let i = syntax.heads.length - 1; i >= 0; i--) {
      const head = syntax.heads[i]!;
      const original = i === 0 ? line : trimmed.slice(syntax.heads[i]!.keywordOffset);
      const node: RawNode = {
        keyword: head.keyword.toLowerCase(),
        keywordRaw: head.keyword,
        flags: head.flags.map((f) => unquoteFlagWord(f.raw)),
        flagPositions: head.flags.map((f) => pos(f.offset)),
        args: [],
        argsPosition: pos(head.argsOffset),
        json: false,
        heredocs: [],
        original: i === 0 ? original : goTrimSpace(original),
        range: i === 0 ? range : { ...range, ...pos(head.keywordOffset) },
        comments: i === 0 ? comments : [],
      };
      if (i === syntax.heads.length - 1) {
        this.fillArgs(node, trimmed, head, syntax, pos);
      } else if (child) {
        node.child = child;
      }
      child = node;
    }
    return child!;
  }

  /** Applies the instruction's argument rule (Docker's line_parsers dispatch table). */
  private fillArgs(node: RawNode, text: string, head: HeadSyntax, syntax: LineSyntax, pos: (o: number) => Position): void {
    const rest = goTrimSpace(text.slice(head.argsOffset));
    const exec = syntax.exec;
    const failAt = (message: string, offset: number): never => {
      const p = pos(offset);
      return this.fail(message, p.line, p.column);
    };
    if (exec?.nonString) {
      failAt('when using JSON array syntax, arrays must be comprised of strings only', syntax.restOffset);
    }
    switch (node.keyword) {
      case 'add':
      case 'copy':
      case 'volume':
      case 'from':
      case 'expose':
        if (exec) {
          node.args = exec.values;
          node.json = true;
        } else {
          node.args = rest === '' ? [] : splitWhitespace(rest);
        }
        return;
      case 'run':
      case 'cmd':
      case 'entrypoint':
      case 'shell':
        if (exec) {
          node.args = exec.values;
          node.json = true;
        } else {
          node.args = rest === '' ? [] : [rest];
        }
        return;
      case 'healthcheck': {
        if (!syntax.healthType) return;
        const cmd = goTrimSpace(text.slice(syntax.restOffset));
        node.args = [syntax.healthType.text];
        if (exec) {
          node.args.push(...exec.values);
          node.json = true;
        } else if (cmd !== '') {
          node.args.push(cmd);
        }
        return;
      }
      case 'env':
      case 'label':
        node.args = this.nameValues(rest, node.keyword.toUpperCase(), head.argsOffset, failAt);
        return;
      case 'arg':
        node.args = splitQuotedWords(rest, this.escape);
        return;
      case 'maintainer':
      case 'stopsignal':
      case 'user':
      case 'workdir':
        node.args = rest === '' ? [] : [rest];
        return;
      case 'onbuild':
        return;
      default:
        // Docker keeps unknown instructions in the raw tree with one empty argument.
        node.args = [''];
    }
  }

  /** ENV/LABEL: `k=v k2=v2 ...` or the legacy `k value with spaces`; (key, value, sep) triples. */
  private nameValues(
    rest: string,
    key: string,
    offset: number,
    failAt: (message: string, offset: number) => never,
  ): string[] {
    const words = splitQuotedWords(rest, this.escape);
    if (words.length === 0) return [];
    if (!words[0]!.includes('=')) {
      const parts = splitWhitespaceOnce(rest);
      if (parts.length < 2) failAt(`${key} must have two arguments`, offset);
      return [parts[0]!, parts[1]!, ''];
    }
    const out: string[] = [];
    for (const w of words) {
      const eq = w.indexOf('=');
      if (eq < 0) failAt(`Syntax error - can't find = in ${JSON.stringify(w)}. Must be of the form: name=value`, offset);
      out.push(w.slice(0, eq), w.slice(eq + 1), '=');
    }
    return out;
  }

  /**
   * Exec form for arrays nested deeper than the grammar recurses: decided with the platform's
   * JSON parser on the first balanced array, with Go's depth limit.
   */
  private deepExecForm(text: string, tokens: IToken[], syntax: LineSyntax): LineSyntax['exec'] {
    const head = syntax.heads[syntax.heads.length - 1]!;
    const kw = head.keyword.toLowerCase();
    if (!['run', 'cmd', 'entrypoint', 'shell', 'add', 'copy', 'volume', 'healthcheck'].includes(kw)) return undefined;
    if (kw === 'healthcheck' && !syntax.healthType) return undefined;
    const from = tokens.findIndex((t) => t.startOffset >= syntax.restOffset);
    if (from < 0 || tokens[from]!.tokenType !== LBracket) return undefined;
    let depth = 0;
    let max = 0;
    for (let i = from; i < tokens.length; i++) {
      const tt = tokens[i]!.tokenType;
      if (tt === LBracket || tt === LCurly) max = Math.max(max, ++depth);
      else if (tt === RBracket || tt === RCurly) depth--;
      if (depth === 0) {
        if (max > GO_JSON_MAX_DEPTH) return undefined;
        const end = tokens[i]!.startOffset + 1;
        let value: unknown;
        try {
          value = JSON.parse(text.slice(tokens[from]!.startOffset, end));
        } catch {
          return undefined;
        }
        if (!Array.isArray(value)) return undefined;
        const values = value.filter((v): v is string => typeof v === 'string');
        return { values, nonString: values.length !== value.length };
      }
    }
    return undefined;
  }
}

function maxNesting(tokens: IToken[]): number {
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

function emptyNode(line: string, range: SourceRange, at: Position, comments: string[]): RawNode {
  return {
    keyword: '',
    keywordRaw: '',
    flags: [],
    flagPositions: [],
    args: [''],
    argsPosition: at,
    json: false,
    heredocs: [],
    original: line,
    range,
    comments,
  };
}
