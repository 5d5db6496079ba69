/**
 * The line-oriented pre-pass. Docker's Dockerfile syntax is decided line by line before any
 * grammar applies: physical lines, the BOM, parser directives at the top, comment lines, escape
 * characters that continue a line, comment and blank lines inside a continuation (dropped), and
 * heredoc bodies (raw lines up to a terminator, decided only after the instruction line is known).
 * None of that is context-free, so it lives here as a small reader, and the Chevrotain grammar
 * (grammar.ts) sees one joined logical line at a time.
 */
import type { Position } from './ast.js';
import { skipGoSpace } from './text.js';

/** Docker reads lines with Go's bufio.Scanner, whose default limit is 64 KiB per line. */
export const DEFAULT_MAX_LINE_BYTES = 65535;

export interface PhysicalLine {
  /** The line with its line ending. */
  raw: string;
  /** The line without trailing \r and \n characters. */
  text: string;
  /** 1-based line number. */
  number: number;
}

/** Iterates physical lines; every line is length-checked before it is used. */
export class PhysicalLines {
  private pos = 0;
  private count = 0;

  constructor(
    private readonly src: string,
    private readonly maxLineBytes: number,
    private readonly tooLong: (line: number) => never,
  ) {}

  /** Number of lines handed out so far. */
  get consumed(): number {
    return this.count;
  }

  next(): PhysicalLine | undefined {
    const src = this.src;
    if (this.pos >= src.length) return undefined;
    const nl = src.indexOf('\n', this.pos);
    const end = nl < 0 ? src.length : nl + 1;
    let raw = src.slice(this.pos, end);
    this.pos = end;
    this.count++;
    if (this.count === 1 && raw.charCodeAt(0) === 0xfeff) raw = raw.slice(1);
    if (raw.length * 3 > this.maxLineBytes && Buffer.byteLength(raw) - (nl < 0 ? 0 : 1) > this.maxLineBytes) {
      this.tooLong(this.count);
    }
    return { raw, text: trimNewline(raw), number: this.count };
  }
}

/** Go's `bytes.TrimRight(s, "\r\n")`. */
export function trimNewline(s: string): string {
  let end = s.length;
  while (end > 0) {
    const c = s.charCodeAt(end - 1);
    if (c !== 0x0a && c !== 0x0d) break;
    end--;
  }
  return end === s.length ? s : s.slice(0, end);
}

/** A comment line: `#` after optional leading white space. */
export function isCommentLine(s: string): boolean {
  const i = skipGoSpace(s);
  return i < s.length && s.charCodeAt(i) === 0x23;
}

/** A continuation line with nothing but blanks on it. */
export function isBlank(s: string): boolean {
  return skipGoSpace(s) === s.length;
}

/**
 * Docker's continuation rule (`([^E])E[ \t]*$|^E[ \t]*$` for escape E): the escape character is
 * the last non-blank character and is not itself escaped (a lone escape on a line continues
 * too). Returns the line without the escape and its trailing blanks, or undefined when the line
 * does not continue.
 */
export function stripContinuation(s: string, escape: string): string | undefined {
  let end = s.length;
  while (end > 0) {
    const c = s.charCodeAt(end - 1);
    if (c !== 0x20 && c !== 0x09) break;
    end--;
  }
  if (end === 0 || s[end - 1] !== escape) return undefined;
  if (end >= 2 && s[end - 2] === escape) return undefined;
  return s.slice(0, end - 1);
}

/**
 * Maps offsets of a joined logical line back to file positions: each appended physical piece
 * records where it starts.
 */
export class LineMap {
  private readonly starts: number[] = [];
  private readonly positions: Position[] = [];

  add(offset: number, line: number, column: number): void {
    this.starts.push(offset);
    this.positions.push({ line, column });
  }

  at(offset: number): Position {
    const starts = this.starts;
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    const p = this.positions[lo] ?? { line: 1, column: 1 };
    return { line: p.line, column: p.column + Math.max(0, offset - (starts[lo] ?? 0)) };
  }
}

