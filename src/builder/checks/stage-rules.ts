/**
 * Rules BuildKit applies while it dispatches: the FROM line's arguments and platform
 * (UndefinedArgInFrom, InvalidDefaultArgInFrom, RedundantTargetPlatform,
 * FromPlatformFlagConstDisallowed) for every stage, and for each stage the build needs, instruction
 * by instruction: UndefinedVar, SecretsUsedInArgOrEnv, LegacyKeyValueFormat, WorkdirRelativePath,
 * JSONArgsRecommended, MultipleInstructionsDisallowed, CopyIgnoredFile, ExposeProtoCasing. Pure.
 */
import { parseReference } from '../../image/reference.js';
import type { ParseResult, RawNode, SourceRange } from '../../parser/ast.js';
import type { Instruction, Instructions, Stage } from '../../parser/instructions.js';
import { goToLower } from '../../parser/text.js';
import { ShellLex, type WordMatches } from '../../parser/word-expansion.js';
import { envMap } from '../args.js';
import { cleanPath, type PatternMatcher } from '../dockerignore.js';
import type { CheckReport } from './report.js';
import { MESSAGES } from './rules.js';

/** What BuildKit would know of a base image: its env and shell (from the local store). */
export interface BaseImageFacts {
  env?: readonly string[];
  shell?: readonly string[];
}

export interface StageRulesInput {
  parsed: ParseResult;
  instructions: Instructions;
  buildArgs: Readonly<Record<string, string>>;
  /** The automatic global args (BUILDPLATFORM, TARGETARCH, ...). */
  predefinedArgs: ReadonlyMap<string, string>;
  /** Stages whose instructions are checked (those the build needs); all when absent (`--check`). */
  stages?: ReadonlySet<number>;
  /** Base images' facts by reference as FROM names them (see baseImageRefs), where tsbuild has
   *  them; an unknown env keeps UndefinedVar quiet for that stage (its variables could come from
   *  the image). */
  baseImages?: ReadonlyMap<string, BaseImageFacts>;
  /** The context's .dockerignore, for CopyIgnoredFile. */
  dockerignore?: PatternMatcher;
}

/** BuildKit's secret-looking ARG/ENV names: a token as the whole name or a `_`-separated part. */
const SECRET = /(?:_|^)(?:apikey|auth|credential|credentials|key|password|pword|passwd|secret|token)(?:_|$)/i;
const SECRET_ALLOWED = /(?:_|^)(?:public|file|version)(?:_|$)/i;
/** Args BuildKit never puts in the environment. */
const NON_ENV_ARGS = new Set(['BUILDKIT_SBOM_SCAN_CONTEXT', 'BUILDKIT_SBOM_SCAN_STAGE']);

interface StageFacts {
  env: Map<string, string>;
  /** False when the base image's env is unknown. */
  envKnown: boolean;
  workdirSet: boolean;
  shellSet: boolean;
}

export function stageRules(input: StageRulesInput, report: CheckReport): void {
  const { parsed, instructions } = input;
  const lex = new ShellLex(parsed.escapeToken);
  const { globals, metaKeys } = metaArgs(input, lex, input.buildArgs);
  invalidDefaultArgs(input, lex, report);

  const nodes = new Map<number, RawNode>(parsed.nodes.map((n) => [n.range.line, n]));
  const argKeys = [...metaKeys, ...[...globals.keys()].filter((k) => !metaKeys.includes(k))];
  const finals = new Map<number, StageFacts>();
  for (const stage of instructions.stages) {
    const comments = nodes.get(stage.location.line)?.comments ?? [];
    const base = tryExpand(lex, stage.baseName, globals);
    if (base) undefinedFromArgs(base, argKeys, stage.location, comments, report);
    if (stage.platform !== undefined) platformRules(stage, lex, globals, argKeys, comments, report);
    if (input.stages && !input.stages.has(stage.index)) continue;
    const facts = baseFacts(stage, base?.result, instructions.stages, finals, input);
    new StageChecker(facts, lex, input, globals, nodes, report).run(stage.instructions);
    finals.set(stage.index, facts);
  }
}

/** The expanded FROM references that name images (not stages or scratch): what baseImages may hold. */
export function baseImageRefs(input: Pick<StageRulesInput, 'parsed' | 'instructions' | 'buildArgs' | 'predefinedArgs'>): string[] {
  const lex = new ShellLex(input.parsed.escapeToken);
  const { globals } = metaArgs(input, lex, input.buildArgs);
  const refs = new Set<string>();
  for (const stage of input.instructions.stages) {
    const base = tryExpand(lex, stage.baseName, globals)?.result;
    if (!base) continue;
    const lower = goToLower(base);
    if (lower === 'scratch' || input.instructions.stages.some((s) => s.index < stage.index && (s.name === lower || String(s.index) === base))) continue;
    refs.add(base);
  }
  return [...refs];
}

/** The global scope: predefined args, then the meta ARGs (build args override their defaults). */
function metaArgs(input: Pick<StageRulesInput, 'instructions' | 'predefinedArgs'>, lex: ShellLex, buildArgs: Readonly<Record<string, string>>) {
  const globals = new Map(input.predefinedArgs);
  const metaKeys: string[] = [];
  for (const a of input.instructions.metaArgs) {
    for (const def of a.args) {
      if (!metaKeys.includes(def.key)) metaKeys.push(def.key);
      const given = Object.hasOwn(buildArgs, def.key) ? buildArgs[def.key] : undefined;
      const value = given ?? (def.value !== undefined ? tryExpand(lex, def.value, globals)?.result : undefined);
      if (value !== undefined) globals.set(def.key, value);
    }
  }
  return { globals, metaKeys };
}

/** InvalidDefaultArgInFrom: each FROM expanded with the meta ARGs' defaults alone must name an image. */
function invalidDefaultArgs(input: StageRulesInput, lex: ShellLex, report: CheckReport): void {
  const { globals } = metaArgs(input, lex, {});
  for (const stage of input.instructions.stages) {
    const m = tryExpand(lex, stage.baseName, globals);
    if (!m) return; // BuildKit abandons this rule when expansion fails
    if (!validReference(m.result)) report.add('InvalidDefaultArgInFrom', MESSAGES.InvalidDefaultArgInFrom(stage.baseName), stage.location);
  }
}

function validReference(name: string): boolean {
  try {
    parseReference(name);
    return true;
  } catch {
    return false;
  }
}

function undefinedFromArgs(m: WordMatches, argKeys: readonly string[], at: SourceRange, comments: readonly string[], report: CheckReport): void {
  for (const name of m.unmatched) {
    if (argKeys.includes(name)) continue;
    report.add('UndefinedArgInFrom', MESSAGES.UndefinedArgInFrom(name, closest(name, argKeys)), at, comments);
  }
}

function platformRules(stage: Stage, lex: ShellLex, globals: Map<string, string>, argKeys: readonly string[], comments: readonly string[], report: CheckReport): void {
  const m = tryExpand(lex, stage.platform!, globals);
  if (!m) return;
  undefinedFromArgs(m, argKeys, stage.location, comments, report);
  if (m.matched.size === 1 && m.unmatched.size === 0 && m.matched.has('TARGETPLATFORM') && m.result === globals.get('TARGETPLATFORM')) {
    report.add('RedundantTargetPlatform', MESSAGES.RedundantTargetPlatform(stage.platform!), stage.location, comments);
  }
  if (m.matched.size > 0 || m.unmatched.size > 0) return;
  const parts = m.result.split('/');
  if (parts.some((p) => p === '') || parts.length > 3) return; // fails later as a bad platform
  const os = parts.length > 1 ? parts[0]! : 'linux';
  const arch = parts.length > 1 ? parts[1]! : parts[0]!;
  const name = stage.name ?? '';
  // a stage named after the platform it pins (`FROM --platform=linux/amd64 x AS build-amd64`) is fine
  if (name.includes(os) || name.includes(arch)) return;
  report.add('FromPlatformFlagConstDisallowed', MESSAGES.FromPlatformFlagConstDisallowed(m.result), stage.location, comments);
}

function baseFacts(stage: Stage, base: string | undefined, stages: readonly Stage[], finals: Map<number, StageFacts>, input: StageRulesInput): StageFacts {
  const fresh = (env: readonly string[] | undefined, known: boolean, shell = false): StageFacts => {
    const m = envMap(env);
    if (!m.has('PATH')) m.set('PATH', '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin');
    return { env: m, envKnown: known, workdirSet: false, shellSet: shell };
  };
  if (base === undefined) return fresh([], false);
  const lower = goToLower(base);
  const parent = stages.find((s) => s.index < stage.index && (s.name === lower || String(s.index) === base));
  if (parent) {
    const f = finals.get(parent.index);
    if (f) return { env: new Map(f.env), envKnown: f.envKnown, workdirSet: f.workdirSet, shellSet: f.shellSet };
    return fresh([], false);
  }
  if (lower === 'scratch') return fresh([], true);
  const img = input.baseImages?.get(base);
  if (!img || !img.env) return fresh([], false);
  return fresh(img.env, true, (img.shell?.length ?? 0) > 0);
}

/** One stage's instructions in order, with the state BuildKit's dispatcher keeps. */
class StageChecker {
  /** ARG names declared in this stage (set or not): never "undefined". */
  private readonly declared = new Set<string>();
  private readonly once = new Map<string, SourceRange>();

  constructor(
    private readonly facts: StageFacts,
    private readonly lex: ShellLex,
    private readonly input: StageRulesInput,
    private readonly globals: ReadonlyMap<string, string>,
    private readonly nodes: ReadonlyMap<number, RawNode>,
    private readonly report: CheckReport,
  ) {}

  run(list: readonly Instruction[]): void {
    for (const ins of list) this.instruction(ins, this.nodes.get(ins.location.line));
  }

  private instruction(ins: Instruction, node: RawNode | undefined): void {
    const comments = node?.comments ?? [];
    const at = ins.location;
    const add = (rule: Parameters<CheckReport['add']>[0], message: string, where: SourceRange = at) => this.report.add(rule, message, where, comments);
    const word = (w: string | undefined): string | undefined => (w === undefined ? undefined : this.word(w, at, comments));
    const keyword = node?.keywordRaw ?? ins.kind.toUpperCase();
    switch (ins.kind) {
      case 'env':
      case 'label': {
        const pairs = ins.kind === 'env' ? ins.env : ins.labels;
        const expanded = pairs.map((kv) => [word(kv.key) ?? kv.key, word(kv.value) ?? ''] as const);
        pairs.forEach((_, i) => {
          // the raw node holds (key, value, separator) triples; '' is the legacy `KEY value` form
          if (node && node.args[i * 3 + 2] === '') add('LegacyKeyValueFormat', MESSAGES.LegacyKeyValueFormat(keyword));
          if (ins.kind === 'env') this.secret('ENV', expanded[i]![0], at, comments);
        });
        if (ins.kind === 'env') for (const [k, v] of expanded) this.facts.env.set(k, v);
        break;
      }
      case 'arg':
        for (const def of ins.args) {
          this.secret('ARG', def.key, at, comments);
          let value: string | undefined;
          if (Object.hasOwn(this.input.buildArgs, def.key)) value = this.input.buildArgs[def.key];
          else if (def.value !== undefined) value = word(def.value);
          else value = this.globals.get(def.key);
          this.declared.add(def.key);
          if (value !== undefined && !NON_ENV_ARGS.has(def.key)) this.facts.env.set(def.key, value);
        }
        break;
      case 'workdir': {
        const path = word(ins.path) ?? ins.path;
        if (!this.facts.workdirSet && !path.startsWith('/')) add('WorkdirRelativePath', MESSAGES.WorkdirRelativePath(path));
        this.facts.workdirSet = true;
        break;
      }
      case 'copy':
      case 'add': {
        word(ins.chown);
        word(ins.chmod);
        if (ins.kind === 'add') word(ins.checksum);
        const sources = ins.sources.map((s) => word(s) ?? s);
        word(ins.dest);
        if (ins.kind === 'add' || ins.from === undefined) this.ignoredSources(ins.kind, sources, add);
        break;
      }
      case 'user':
        word(ins.user);
        break;
      case 'stopsignal':
        word(ins.signal);
        break;
      case 'volume':
        for (const v of ins.volumes) word(v);
        break;
      case 'expose':
        for (const raw of ins.ports) for (const port of this.words(raw)) this.exposeRules(port, add);
        break;
      case 'run':
        for (const m of ins.mounts) if (m.needsExpansion) word(m.raw);
        break;
      case 'cmd':
      case 'entrypoint':
        this.usedOnce(ins.kind, keyword, at, comments);
        if (ins.form === 'shell' && !this.facts.shellSet) add('JSONArgsRecommended', MESSAGES.JSONArgsRecommended(keyword));
        break;
      case 'healthcheck':
        this.usedOnce(ins.kind, keyword, at, comments);
        break;
      case 'shell':
        this.facts.shellSet = true;
        break;
      default:
        break;
    }
  }

  /** Expands a word as BuildKit's dispatcher does, reporting variables nothing defines. */
  private word(w: string, at: SourceRange, comments: readonly string[]): string | undefined {
    const m = tryExpand(this.lex, w, this.facts.env);
    if (!m) return undefined;
    if (!this.facts.envKnown) return m.result;
    const keys = [...this.facts.env.keys()];
    for (const name of m.unmatched) {
      if (this.declared.has(name) || NON_ENV_ARGS.has(name)) continue;
      this.report.add('UndefinedVar', MESSAGES.UndefinedVar(name, closest(name, keys)), at, comments);
    }
    return m.result;
  }

  /** EXPOSE's words: expanded and split, no variable reported (BuildKit's dispatchExpose). */
  private words(w: string): string[] {
    try {
      return this.lex.processWords(w, this.facts.env);
    } catch {
      return [];
    }
  }

  /** ExposeProtoCasing for one `port[/proto]` (BuildKit's ExposeInvalidFormat cannot arise: an
   *  `ip:host:port` spec is refused when the Dockerfile is read, see to-instructions.ts). */
  private exposeRules(port: string, add: (rule: 'ExposeProtoCasing', message: string) => void): void {
    const parts = port.split(':');
    const container = parts[parts.length - 1]!;
    const slash = container.indexOf('/');
    const proto = slash < 0 ? '' : container.slice(slash + 1);
    // a bad spec fails the build itself
    if ((slash < 0 ? container : container.slice(0, slash)) === '' || !['', 'tcp', 'udp', 'sctp'].includes(proto.toLowerCase())) return;
    if (proto !== proto.toLowerCase()) add('ExposeProtoCasing', MESSAGES.ExposeProtoCasing(port));
  }

  private secret(ins: 'ARG' | 'ENV', key: string, at: SourceRange, comments: readonly string[]): void {
    if (SECRET.test(key) && !SECRET_ALLOWED.test(key)) this.report.add('SecretsUsedInArgOrEnv', MESSAGES.SecretsUsedInArgOrEnv(ins, key), at, comments);
  }

  /** MultipleInstructionsDisallowed, at the earlier instruction (the one that is ignored). */
  private usedOnce(kind: string, keyword: string, at: SourceRange, comments: readonly string[]): void {
    const prev = this.once.get(kind);
    if (prev) this.report.add('MultipleInstructionsDisallowed', MESSAGES.MultipleInstructionsDisallowed(keyword), prev, comments);
    this.once.set(kind, at);
  }

  /** CopyIgnoredFile: only when the ignore file has no `!` exceptions (BuildKit cannot tell then). */
  private ignoredSources(kind: 'copy' | 'add', sources: readonly string[], add: (rule: 'CopyIgnoredFile', message: string) => void): void {
    const matcher = this.input.dockerignore;
    if (!matcher || matcher.hasExclusions) return;
    for (const raw of sources) {
      if (raw.startsWith('<<') || /^[a-z][a-z0-9+.-]*:\/\//i.test(raw) || raw.startsWith('git@')) continue;
      const src = cleanPath(raw);
      if ((src === '.' || src === '/') && !matcher.patterns.some((p) => !p.exclusion && ['*', '**', '**/*'].includes(p.source))) continue;
      if (matcher.matchesOrParentMatches(src.replace(/^\/+/, '') || '.')) add('CopyIgnoredFile', MESSAGES.CopyIgnoredFile(kind === 'add' ? 'Add' : 'Copy', src));
    }
  }
}

function tryExpand(lex: ShellLex, w: string, env: ReadonlyMap<string, string>): WordMatches | undefined {
  try {
    return lex.processWordWithMatches(w, env);
  } catch {
    return undefined; // the build reports a bad word itself
  }
}

/** BuildKit's suggest.Search (case-sensitive): the first candidate at Levenshtein distance < 3,
 *  closer ones replacing it; an exact match means no suggestion. */
function closest(value: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let min = 3;
  for (const c of candidates) {
    if (c === value) return undefined;
    const d = levenshtein(value, c);
    if (d < min) {
      min = d;
      best = c;
    }
  }
  return best;
}

function levenshtein(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = row;
  }
  return prev[b.length]!;
}
