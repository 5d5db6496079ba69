/**
 * Rules BuildKit applies while it parses, to every stage whatever the target: keyword casing
 * (FromAsCasing, StageNameCasing, ConsistentInstructionCasing), MaintainerDeprecated,
 * NoEmptyContinuation, DuplicateStageName and ReservedStageName. Pure: raw parse tree in.
 */
import type { ParseResult, RawNode } from '../../parser/ast.js';
import { goToLower } from '../../parser/text.js';
import type { CheckReport } from './report.js';
import { MESSAGES } from './rules.js';

const RESERVED_STAGE_NAMES = new Set(['context', 'scratch']);

/** The parser's own warnings (empty continuation lines) as the NoEmptyContinuation rule. */
export function continuationRules(parsed: ParseResult, report: CheckReport): void {
  for (const w of parsed.warnings) {
    if (!w.message.startsWith('Empty continuation line')) continue;
    report.add('NoEmptyContinuation', MESSAGES.NoEmptyContinuation(), { file: parsed.file, line: w.line, endLine: w.line });
  }
}

/** MAINTAINER and FROM ... AS rules, node by node in file order (BuildKit's ParseInstructionWithLinter). */
export function instructionRules(parsed: ParseResult, report: CheckReport): void {
  for (const n of parsed.nodes) {
    if (n.keyword === 'maintainer') report.add('MaintainerDeprecated', MESSAGES.MaintainerDeprecated(), n.range, n.comments);
    if (n.keyword !== 'from') continue;
    if (n.args.length === 3 && n.args[2] !== goToLower(n.args[2]!)) {
      report.add('StageNameCasing', MESSAGES.StageNameCasing(n.args[2]!), n.range, n.comments);
    }
    if (!fromMatchesAs(n)) report.add('FromAsCasing', MESSAGES.FromAsCasing(n.keywordRaw, n.args[1]!), n.range, n.comments);
  }
}

function fromMatchesAs(n: RawNode): boolean {
  if (n.args.length < 3) return true;
  const from = n.keywordRaw;
  const lower = from === goToLower(from);
  // an inconsistently cased FROM is ConsistentInstructionCasing's business
  if (!lower && from !== goToUpper(from)) return true;
  const as = n.args[1]!;
  return lower ? as === goToLower(as) : as === goToUpper(as);
}

/** Reserved and duplicate stage names (names as BuildKit keeps them: lower-cased). */
export function stageNameRules(parsed: ParseResult, report: CheckReport): void {
  const seen = new Set<string>();
  for (const n of stageNodes(parsed)) {
    if (n.args.length !== 3) continue;
    const name = goToLower(n.args[2]!);
    if (RESERVED_STAGE_NAMES.has(name)) report.add('ReservedStageName', MESSAGES.ReservedStageName(name), n.range);
    if (seen.has(name)) report.add('DuplicateStageName', MESSAGES.DuplicateStageName(name), n.range);
    seen.add(name);
  }
}

/**
 * ConsistentInstructionCasing: each keyword of the stages (meta ARGs before the first FROM do not
 * count) must be all lower or all upper case, matching the majority (ties go to upper case).
 */
export function casingRules(parsed: ParseResult, report: CheckReport): void {
  const keywords = stageKeywordNodes(parsed);
  let lower = 0;
  let upper = 0;
  for (const n of keywords) {
    const k = n.keywordRaw;
    if (k === goToLower(k)) lower++;
    else if (k === goToUpper(k)) upper++;
  }
  const majorityLower = lower > upper;
  for (const n of keywords) {
    const k = n.keywordRaw;
    const casing = majorityLower ? (goToLower(k) !== k ? 'lowercase' : '') : goToUpper(k) !== k ? 'uppercase' : '';
    if (casing) report.add('ConsistentInstructionCasing', MESSAGES.ConsistentInstructionCasing(k, casing), n.range);
  }
}

/** Keywords are ASCII words; JavaScript's upper-casing equals Go's for them. */
function goToUpper(s: string): string {
  return s.toUpperCase();
}

function stageNodes(parsed: ParseResult): RawNode[] {
  return parsed.nodes.filter((n) => n.keyword === 'from');
}

function stageKeywordNodes(parsed: ParseResult): RawNode[] {
  const first = parsed.nodes.findIndex((n) => n.keyword === 'from');
  return first < 0 ? [] : parsed.nodes.slice(first);
}
