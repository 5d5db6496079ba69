/**
 * The raw parse tree: one node per instruction, as Docker's low-level parser builds it (keyword,
 * flags, arguments, ONBUILD child, heredoc bodies), before any validation. Values are exactly as
 * Docker's dump shows them: no variable expansion, quotes and escapes of ENV/LABEL/ARG kept.
 */
import type { HeredocMarker } from './heredoc.js';

/** A 1-based position in the source. */
export interface Position {
  line: number;
  column: number;
}

/** Where a node came from: file, first line/column, last line (continuations and heredocs). */
export interface SourceRange {
  file: string;
  line: number;
  column: number;
  endLine: number;
}

export interface Heredoc extends HeredocMarker {
  /** The body exactly as read (line endings kept, tabs not yet chomped). */
  content: string;
}

export interface RawNode {
  /** Lower-cased keyword as written (`''` for an empty instruction). */
  keyword: string;
  /** The keyword with its original case. */
  keywordRaw: string;
  /** `--flag[=value]` words with quotes removed, in order. */
  flags: string[];
  /** Where each flag starts (parallel to `flags`). */
  flagPositions: Position[];
  /** Arguments: JSON elements, words, the shell text, or ENV/LABEL (key, value, sep) triples. */
  args: string[];
  /** Where the arguments start. */
  argsPosition: Position;
  /** ONBUILD's trigger instruction. */
  child?: RawNode;
  /** The arguments were a JSON array (exec form). */
  json: boolean;
  heredocs: Heredoc[];
  /** The logical line (continuations joined), or for an ONBUILD child its part of it. */
  original: string;
  range: SourceRange;
  /** Comment lines directly above the instruction. */
  comments: string[];
}

export interface Directive {
  /** Lower-cased name: syntax, escape or check. */
  name: string;
  value: string;
  line: number;
}

export interface ParseWarning {
  message: string;
  line: number;
}

export interface ParseResult {
  file: string;
  nodes: RawNode[];
  directives: Directive[];
  /** `\` or a backtick, from the escape directive. */
  escapeToken: string;
  warnings: ParseWarning[];
  /** The input had invalid UTF-8: its bytes are kept as U+DC80..U+DCFF in the tree (utf8.ts). */
  invalidUtf8?: boolean;
}
