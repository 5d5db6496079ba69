/**
 * Collects warnings the way BuildKit's Linter.Run does: a rule off by the config (or the
 * instruction's own `# check=` comment) reports nothing; every reported rule is remembered for the
 * `error=true` verdict.
 */
import type { SourceRange } from '../../parser/ast.js';
import { mergeComments, ruleEnabled, type CheckConfig } from './config.js';
import { RULES, type CheckWarning, type RuleName } from './rules.js';

export class CheckReport {
  readonly warnings: CheckWarning[] = [];

  constructor(readonly config: CheckConfig) {}

  /** Reports `rule` at `at` unless the config (with `comments` merged in) turns it off. */
  add(rule: RuleName, message: string, at: Pick<SourceRange, 'file' | 'line' | 'endLine'>, comments: readonly string[] = []): void {
    const config = comments.length ? mergeComments(this.config, comments) : this.config;
    if (!ruleEnabled(config, rule)) return;
    const r = RULES[rule];
    this.warnings.push({ rule, message, description: r.description, url: r.url, file: at.file, line: at.line, endLine: at.endLine });
  }
}
