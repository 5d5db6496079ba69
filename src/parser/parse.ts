/**
 * parseDockerfile: Dockerfile bytes → raw parse tree, with the semantics of BuildKit's
 * `parser.Parse` for any input (verified differentially against it on mutated Dockerfiles, see
 * test/parser/buildkit-parity.test.ts). The line reader (lines.ts) produces logical lines and
 * heredoc bodies; each line is split into keyword, flags and argument text (split-command.ts) and
 * the keyword's argument rule applies (line-parsers.ts), the JSON exec form being decided by the
 * Chevrotain grammar (lexer.ts, grammar.ts).
 */
import { TsbuildError } from '../errors.js';
import type { Directive, Heredoc, ParseResult, ParseWarning, Position, RawNode, SourceRange } from './ast.js';
import { DirectiveScanner, escapeTokenFrom } from './directives.js';
import { heredocsInLine, type HeredocMarker } from './heredoc.js';
import { ArgsError, parseArgs } from './line-parsers.js';
import {
  DEFAULT_MAX_LINE_BYTES,
  isBlank,
  isCommentLine,
  LineMap,
  PhysicalLines,
  stripContinuation,
  trimNewline,
} from './lines.js';
import { splitCommand } from './split-command.js';
import { decodeGoUtf8, hasEscapedBytes } from './utf8.js';
import { goToLower, goTrimSpace, skipGoSpace } from './text.js';

export interface ParseOptions {
  /** File name used in locations and messages (default `Dockerfile`). */
  file?: string;
  /** Longest physical line accepted, in UTF-8 bytes (Docker: 65535). */
  maxLineBytes?: number;
}

/** Parses a Dockerfile. Throws TsbuildError('PARSE') with a location for malformed input. */
export function parseDockerfile(input: string | Uint8Array, opts: ParseOptions = {}): ParseResult {
  const text = typeof input === 'string' ? input : decodeGoUtf8(input);
  const result = new FileParser(text, opts.file ?? 'Dockerfile', opts.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES).run();
  if (typeof input !== 'string' && hasEscapedBytes(text)) result.invalidUtf8 = true;
  return result;
}

const HEREDOC_KEYWORDS = new Set(['add', 'copy', 'run']);

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
    let markers: HeredocMarker[];
    try {
      markers = heredocsInLine(line);
    } catch (e) {
      return this.fail((e as Error).message, startLine, node.range.column);
    }
    for (const marker of markers) {
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

  /**
   * BuildKit's `newNodeFromLine`: split off the keyword and flags, apply the keyword's argument
   * rule; ONBUILD's argument text is another instruction (iterated, so long ONBUILD chains cannot
   * exhaust the stack).
   */
  private lineToNode(line: string, map: LineMap, startLine: number, comments: string[]): RawNode {
    // BuildKit's StartLine is where the logical line begins, even when that physical line holds
    // only a continuation escape
    const first = map.at(skipGoSpace(line));
    const column = first.line === startLine ? first.column : 1;
    const range: SourceRange = { file: this.file, line: startLine, column, endLine: startLine };
    let text = line;
    let base = 0;
    let top: RawNode | undefined;
    let parent: RawNode | undefined;
    for (;;) {
      const sc = splitCommand(text, this.escape);
      const keyword = goToLower(sc.cmd);
      const flags: string[] = [];
      const flagPositions: Position[] = [];
      for (const f of sc.flags) {
        flags.push(f.value);
        flagPositions.push(map.at(base + f.offset));
      }
      const node: RawNode = {
        keyword,
        keywordRaw: sc.cmd,
        flags,
        flagPositions,
        args: [],
        argsPosition: map.at(base + sc.argsOffset),
        json: false,
        heredocs: [],
        original: text,
        range: parent ? { ...range, ...map.at(base + sc.cmdOffset) } : range,
        comments: parent ? [] : comments,
      };
      if (parent) parent.child = node;
      else top = node;
      if (keyword === 'onbuild') {
        if (sc.args === '') return top!;
        base += sc.argsOffset;
        text = sc.args;
        parent = node;
        continue;
      }
      try {
        const parsed = parseArgs(keyword, sc.args, this.escape);
        node.args = parsed.args;
        node.json = parsed.json;
      } catch (e) {
        if (!(e instanceof ArgsError)) throw e;
        // located at the instruction, as BuildKit does
        this.fail(e.message, range.line, range.column);
      }
      return top!;
    }
  }
}
