/**
 * Build checks (BuildKit's Dockerfile linter, `docker build --check`): a pure function of the
 * parsed Dockerfile, the build args and what is known of the base images. Warnings come in the
 * order BuildKit emits them: the parser's, then per instruction while parsing, stage names,
 * keyword casing, FROM lines, then each needed stage's instructions.
 *
 *   const result = runChecks({ parsed, instructions, buildArgs, predefinedArgs: platformArgs() });
 *   result.warnings    // [{ rule: 'JSONArgsRecommended', message: ..., line: 2, ... }]
 *   result.error       // a TsbuildError when `error=true` and something was reported
 */
import type { TsbuildError } from '../../errors.js';
import { checkConfigFor, violationError, type CheckConfig } from './config.js';
import { casingRules, continuationRules, instructionRules, stageNameRules } from './file-rules.js';
import { CheckReport } from './report.js';
import { stageRules, type StageRulesInput } from './stage-rules.js';
import type { CheckWarning } from './rules.js';

export { RULES, MESSAGES, shortWarning, type CheckWarning, type RuleName } from './rules.js';
export { parseCheckOptions, checkConfigFor, type CheckConfig } from './config.js';
export type { BaseImageFacts } from './stage-rules.js';

export interface CheckInput extends Omit<StageRulesInput, 'instructions'> {
  /** The validated instructions; absent when they could not be made (a duplicate stage name,
   *  say): then only the rules on the parse tree run, as BuildKit's lint reports them before the
   *  error. */
  instructions?: StageRulesInput['instructions'];
  /** Settings; default: the file's `# check=` directive, or the BUILDKIT_DOCKERFILE_CHECK build arg. */
  config?: CheckConfig;
}

export interface CheckResult {
  warnings: CheckWarning[];
  config: CheckConfig;
  /** Set when the config says `error=true` and some rule reported. */
  error?: TsbuildError;
}

export const CHECK_BUILD_ARG = 'BUILDKIT_DOCKERFILE_CHECK';

export function runChecks(input: CheckInput): CheckResult {
  const config =
    input.config ??
    checkConfigFor(
      input.parsed.directives.find((d) => d.name === 'check')?.value,
      Object.hasOwn(input.buildArgs, CHECK_BUILD_ARG) ? input.buildArgs[CHECK_BUILD_ARG] : undefined,
    );
  const report = new CheckReport(config);
  continuationRules(input.parsed, report);
  instructionRules(input.parsed, report);
  stageNameRules(input.parsed, report);
  casingRules(input.parsed, report);
  if (input.instructions) stageRules({ ...input, instructions: input.instructions }, report);
  const result: CheckResult = { warnings: report.warnings, config };
  if (config.error && report.warnings.length > 0) result.error = violationError(report.warnings.map((w) => w.rule));
  return result;
}
