/**
 * The Dockerfile parser's public API (pure: no I/O).
 *
 *   const result = parseDockerfile(text, { file: 'Dockerfile' }); // raw tree, directives, escape token
 *   dumpAst(result);                                            // Docker's `result` dump format
 *   const { metaArgs, stages } = toInstructions(result);         // typed, validated
 */
export type { Directive, Heredoc, ParseResult, ParseWarning, Position, RawNode, SourceRange } from './ast.js';
export { parseDockerfile, type ParseOptions } from './parse.js';
export { detectSyntax, type SyntaxDirective } from './directives.js';
export { dumpAst, dumpNode } from './dump.js';
export { toInstructions, toInstruction } from './to-instructions.js';
export type * from './instructions.js';
export { INSTRUCTION_KEYWORDS } from './instructions.js';
export { parseMount, parseCsvLine } from './run-mount.js';
export { FLAG_SCHEMAS, parseFlags, type FlagSchema, type FlagType, type ParsedFlags } from './flags.js';
export {
  parseChmod,
  parseGoDuration,
  parsePortSpec,
  parseSignal,
  parseByteSize,
  suggest,
  type ChmodValue,
  type PortSpec,
} from './values.js';
export { goQuote, goQuoteList } from './go-quote.js';
export { chompHeredocContent, heredocsInLine, parseHeredocWord, type HeredocMarker } from './heredoc.js';
// Word expansion (src/parser/word-expansion.ts, a separate piece of work) is part of the same API.
export { ShellLex, type ShellEnv, type ShellLexOptions } from './word-expansion.js';
