/**
 * Which checks run and whether they fail the build: BuildKit's `# check=` directive and
 * `--build-arg BUILDKIT_DOCKERFILE_CHECK=...` (the build arg replaces the directive entirely), in
 * BuildKit's grammar (`linter.ParseLintOptions`): up to three `;`-separated `key=value` options,
 * `skip=Rule1,Rule2|all`, `error=<Go bool>`, `experimental=Rule|all`. A `# check=` comment right
 * above an instruction adds to the file's settings for that instruction only.
 */
import { TsbuildError } from '../../errors.js';
import { goQuote } from '../../parser/go-quote.js';
import { RULES, type RuleName } from './rules.js';

export interface CheckConfig {
  skipAll: boolean;
  skip: ReadonlySet<string>;
  experimentalAll: boolean;
  experimental: ReadonlySet<string>;
  /** `error=true`: any warning fails the build before a step runs. */
  error: boolean;
}

export const DEFAULT_CHECK_CONFIG: CheckConfig = { skipAll: false, skip: new Set(), experimentalAll: false, experimental: new Set(), error: false };

/** Parses an option string; throws a plain Error with BuildKit's words. */
export function parseCheckOptions(text: string): CheckConfig {
  text = text.trim();
  if (text === '') return DEFAULT_CHECK_CONFIG;
  const parts = splitN(text, ';', 3);
  let skipAll = false;
  let experimentalAll = false;
  let error = false;
  let skip: string[] = [];
  let experimental: string[] = [];
  for (const p of parts) {
    const eq = p.indexOf('=');
    if (eq < 0) throw new Error(`invalid check option ${goQuote(p)}`);
    const k = p.slice(0, eq).trim();
    const v = p.slice(eq + 1).trim();
    if (k === 'skip') {
      if (v === 'all') skipAll = true;
      else skip = v.split(',').map((r) => r.trim());
    } else if (k === 'experimental') {
      if (v === 'all') experimentalAll = true;
      else experimental = v.split(',').map((r) => r.trim());
    } else if (k === 'error') {
      error = parseGoBool(v, p);
    } else {
      throw new Error(`invalid check option ${goQuote(k)}`);
    }
  }
  return { skipAll, skip: new Set(skip), experimentalAll, experimental: new Set(experimental), error };
}

/**
 * The build's settings: the build arg when given (BuildKit: `failed to parse
 * build-arg:BUILDKIT_DOCKERFILE_CHECK: ...`), else the file's `# check=` directive.
 */
export function checkConfigFor(directive: string | undefined, buildArg: string | undefined): CheckConfig {
  if (buildArg !== undefined) {
    try {
      return parseCheckOptions(buildArg);
    } catch (e) {
      throw new TsbuildError('INVALID', `failed to parse build-arg:BUILDKIT_DOCKERFILE_CHECK: ${(e as Error).message}`);
    }
  }
  try {
    return parseCheckOptions(directive ?? '');
  } catch (e) {
    throw new TsbuildError('INVALID', `failed to parse check options: ${(e as Error).message}`);
  }
}

/** `config` with a `# check=` comment above an instruction merged in (BuildKit ignores a bad one). */
export function mergeComments(config: CheckConfig, comments: readonly string[]): CheckConfig {
  for (const c of comments) {
    const m = /^check[\t\n\f\r ]*=[\t\n\f\r ]*(.*?)[\t\n\f\r ]*$/i.exec(c);
    if (!m) continue;
    let other: CheckConfig;
    try {
      other = parseCheckOptions(m[1]!.split(' ')[0]!);
    } catch {
      return config;
    }
    return {
      skipAll: config.skipAll || other.skipAll,
      skip: new Set([...config.skip, ...other.skip]),
      experimentalAll: config.experimentalAll || other.experimentalAll,
      experimental: new Set([...config.experimental, ...other.experimental]),
      error: config.error,
    };
  }
  return config;
}

/** Whether `rule` reports under `config` (BuildKit's Linter.Run: experimental rules only on request). */
export function ruleEnabled(config: CheckConfig, rule: RuleName): boolean {
  const r = RULES[rule];
  if ('experimental' in r && r.experimental) return config.experimentalAll || config.experimental.has(rule);
  return !config.skipAll && !config.skip.has(rule);
}

/** BuildKit's error when `error=true` and a rule reported (rules in first-seen order). */
export function violationError(rules: readonly string[]): TsbuildError {
  return new TsbuildError('INVALID', `lint violation found for rules: ${[...new Set(rules)].join(', ')}`);
}

function splitN(s: string, sep: string, n: number): string[] {
  const out: string[] = [];
  let rest = s;
  while (out.length < n - 1) {
    const i = rest.indexOf(sep);
    if (i < 0) break;
    out.push(rest.slice(0, i));
    rest = rest.slice(i + 1);
  }
  out.push(rest);
  return out;
}

function parseGoBool(v: string, option: string): boolean {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(v)) return false;
  throw new Error(`failed to parse check option ${goQuote(option)}: strconv.ParseBool: parsing ${goQuote(v)}: invalid syntax`);
}
