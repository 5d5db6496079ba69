/**
 * Which stages a build needs, in what order, on what bases — before anything runs. Pure.
 * Stages reachable from the target through FROM <stage>, COPY --from and RUN --mount from= are
 * kept; the others are never built (as BuildKit does). The meta ARGs (before the first FROM) are
 * resolved here, since FROM lines expand with them.
 */
import { TsbuildError, type SourceLocation } from '../errors.js';
import type { SourceRange } from '../parser/ast.js';
import type { Instructions, Stage } from '../parser/instructions.js';
import { ShellLex } from '../parser/word-expansion.js';
import { ArgScope, platformArgs } from './args.js';

export type StageBase =
  | { kind: 'scratch' }
  | { kind: 'stage'; index: number }
  | { kind: 'image'; ref: string }
  /** A `--build-context` (by normalized name) standing in for an image or a stage. */
  | { kind: 'context'; name: string };

export interface PlannedStage {
  stage: Stage;
  base: StageBase;
  /** Indexes of the stages this one reads from (its base included). */
  deps: number[];
}

export interface BuildPlan {
  /** Needed stages in file order (deps always come before dependents). */
  stages: PlannedStage[];
  target: number;
  /** Meta ARGs after --build-arg overrides and the automatic platform args. */
  globalArgs: ArgScope;
  /** Every ARG name declared anywhere (for the "not consumed" warning). */
  declaredArgs: Set<string>;
}

export interface PlanOptions {
  buildArgs: Record<string, string>;
  target?: string;
  escapeToken: string;
  /** The named context (`--build-context`) a FROM/--from word stands for, if any. */
  namedContext?: (word: string) => string | undefined;
}

export function planBuild(ins: Instructions, opts: PlanOptions): BuildPlan {
  const lex = new ShellLex(opts.escapeToken);
  const globalArgs = new ArgScope(platformArgs());
  const declaredArgs = new Set<string>();
  for (const a of ins.metaArgs) {
    for (const def of a.args) {
      declaredArgs.add(def.key);
      const given = opts.buildArgs[def.key];
      const value = given ?? (def.value !== undefined ? expand(lex, def.value, globalArgs, a.location) : undefined);
      globalArgs.declare(def.key, value);
    }
  }
  for (const s of ins.stages) {
    for (const i of s.instructions) if (i.kind === 'arg') for (const d of i.args) declaredArgs.add(d.key);
  }

  const byName = new Map<string, number>();
  ins.stages.forEach((s) => s.name && byName.set(s.name, s.index));
  const stageRef = (name: string, before: number): number | undefined => {
    const n = byName.get(name.toLowerCase());
    if (n !== undefined && n < before) return n;
    if (/^[0-9]+$/.test(name)) {
      const i = Number(name);
      if (i < before) return i;
    }
    return undefined;
  };

  const planned: PlannedStage[] = ins.stages.map((stage) => {
    const baseName = expand(lex, stage.baseName, globalArgs, stage.from.location);
    if (stage.platform !== undefined) {
      // FROM --platform: tsbuild builds for the host only; anything else is said, never ignored
      const want = expand(lex, stage.platform, globalArgs, stage.from.location);
      const host = globalArgs.get('BUILDPLATFORM');
      if (want !== host && want.replace(/\/v8$/, '') !== host) {
        throw new TsbuildError('INVALID', `FROM --platform=${want}: tsbuild builds only for the host platform (${host})`, at(stage.from.location));
      }
    }
    if (baseName === '') {
      throw new TsbuildError('INVALID', `base name (${stage.baseName}) should not be blank`, at(stage.from.location));
    }
    const deps = new Set<number>();
    let base: StageBase;
    const fromStage = byName.get(baseName.toLowerCase());
    // a named context replaces a stage of its name, and an image of its name (BuildKit's order)
    const context = opts.namedContext?.(baseName);
    if (fromStage !== undefined && fromStage < stage.index && context === undefined) {
      base = { kind: 'stage', index: fromStage };
      deps.add(fromStage);
    } else if (context !== undefined) {
      base = { kind: 'context', name: context };
    } else if (baseName.toLowerCase() === 'scratch') {
      base = { kind: 'scratch' };
    } else {
      base = { kind: 'image', ref: baseName };
    }
    for (const i of stage.instructions) {
      const froms: string[] = [];
      if (i.kind === 'copy' && i.from !== undefined) froms.push(i.from);
      if (i.kind === 'run') for (const m of i.mounts) if (m.from !== undefined) froms.push(m.from);
      if (i.kind === 'copy' && i.from !== undefined) checkCopyFrom(lex, i.from, i.location);
      for (const f of froms) {
        const name = expand(lex, f, globalArgs, i.location);
        if (opts.namedContext?.(name) !== undefined) continue;
        const d = stageRef(name, stage.index);
        if (d !== undefined) deps.add(d);
        else if (byName.has(name.toLowerCase()) || /^[0-9]+$/.test(name)) {
          throw new TsbuildError('INVALID', `stage ${JSON.stringify(name)} is not defined before it is used`, at(i.location));
        }
      }
    }
    return { stage, base, deps: [...deps].sort((a, b) => a - b) };
  });

  let target = planned.length - 1;
  if (opts.target !== undefined) {
    const t = byName.get(opts.target.toLowerCase());
    if (t === undefined) throw new TsbuildError('NOT_FOUND', `target stage "${opts.target}" could not be found`);
    target = t;
  }
  if (target < 0) throw new TsbuildError('INVALID', 'the Dockerfile has no stages (no FROM instruction)');

  const needed = new Set<number>();
  const visit = (i: number) => {
    if (needed.has(i)) return;
    needed.add(i);
    for (const d of planned[i]!.deps) visit(d);
  };
  visit(target);
  return { stages: planned.filter((p) => needed.has(p.stage.index)), target, globalArgs, declaredArgs };
}

/**
 * `COPY --from` takes no variables (nor quotes): BuildKit wires the stage graph before any ARG has
 * a value and refuses a word that expansion would change, wherever its ARG is declared (Docker
 * 20.10 failed on it too, as an invalid image name).
 */
export function checkCopyFrom(lex: ShellLex, from: string, loc: SourceRange): void {
  if (expand(lex, from, new ArgScope(), loc) !== from) {
    throw new TsbuildError('INVALID', 'variable expansion is not supported for --from, define a new stage with FROM using ARG from global scope as a workaround', at(loc));
  }
}

function expand(lex: ShellLex, word: string, scope: ArgScope, loc: SourceRange): string {
  try {
    return lex.processWord(word, new Map(scope.defined()));
  } catch (e) {
    if (e instanceof TsbuildError) throw new TsbuildError(e.code, e.message, at(loc));
    throw e;
  }
}

/** An instruction's source range as an error location. */
export function at(loc: SourceRange): SourceLocation {
  return { file: loc.file, line: loc.line, column: loc.column };
}
