/**
 * The build's side of the checks: what the pure rules need from outside (the base images' env and
 * shell as the local store has them — nothing is pulled for a check — and the context's
 * .dockerignore), and `checkOnly`, what `tsbuild build --check` runs instead of the build: every
 * stage checked whatever the target, as BuildKit's lint subrequest does.
 */
import type { TsbuildError } from '../../errors.js';
import type { ImageCatalog } from '../../image/store-roles.js';
import type { ParseResult } from '../../parser/ast.js';
import type { Instructions } from '../../parser/instructions.js';
import { parseDockerfile } from '../../parser/parse.js';
import { toInstructions } from '../../parser/to-instructions.js';
import { platformArgs } from '../args.js';
import { loadDockerignore } from '../dockerignore.js';
import { readDockerfile } from '../dockerfile-source.js';
import type { BuildOptions } from '../options.js';
import { planBuild } from '../plan.js';
import { runChecks, type CheckResult } from './index.js';
import { baseImageRefs, type BaseImageFacts } from './stage-rules.js';

export interface BuildChecksInput {
  parsed: ParseResult;
  instructions: Instructions;
  buildArgs: Readonly<Record<string, string>>;
  /** Stages the build needs (file indexes); all when absent. */
  stages?: ReadonlySet<number>;
  contextDir: string;
  /** The Dockerfile's path, for `<Dockerfile>.dockerignore`. */
  dockerfilePath?: string;
}

export async function collectChecks(store: Pick<ImageCatalog, 'getImage'>, input: BuildChecksInput): Promise<CheckResult> {
  const predefinedArgs = platformArgs();
  const base = { parsed: input.parsed, instructions: input.instructions, buildArgs: input.buildArgs, predefinedArgs };
  const baseImages = new Map<string, BaseImageFacts>();
  for (const ref of baseImageRefs(base)) {
    try {
      const img = await store.getImage(ref);
      if (img) baseImages.set(ref, { env: img.config.config?.Env ?? [], ...(img.config.config?.Shell ? { shell: img.config.config.Shell } : {}) });
    } catch {
      // a malformed reference: the build itself says so
    }
  }
  let dockerignore;
  try {
    dockerignore = (await loadDockerignore(input.contextDir, input.dockerfilePath)).matcher;
  } catch {
    dockerignore = undefined; // a bad ignore file fails the build where it is read
  }
  return runChecks({ ...base, baseImages, ...(input.stages ? { stages: input.stages } : {}), ...(dockerignore && !dockerignore.empty ? { dockerignore } : {}) });
}

/** `build --check`: the checks alone, no step run (every stage, or those `--target` needs). */
export async function checkOnly(store: Pick<ImageCatalog, 'getImage'>, options: BuildOptions): Promise<CheckOnlyResult> {
  const src = await readDockerfile(options);
  const parsed = parseDockerfile(src.text, { file: src.displayName });
  const buildArgs = options.buildArgs ?? {};
  let instructions;
  try {
    instructions = toInstructions(parsed);
  } catch (e) {
    // BuildKit's lint result: the warnings found so far, then the build error
    const partial = runChecks({ parsed, buildArgs, predefinedArgs: platformArgs() });
    return { ...partial, error: e as TsbuildError, sourceText: src.text };
  }
  let stages: Set<number> | undefined;
  if (options.target !== undefined) {
    const plan = planBuild(instructions, { buildArgs, target: options.target, escapeToken: parsed.escapeToken });
    stages = new Set(plan.stages.map((p) => p.stage.index));
  }
  const result = await collectChecks(store, {
    parsed, instructions, buildArgs, contextDir: src.contextDir,
    ...(stages ? { stages } : {}),
    ...(src.fromStdin ? {} : { dockerfilePath: src.path }),
  });
  return { ...result, sourceText: src.text };
}

export interface CheckOnlyResult extends CheckResult {
  /** The Dockerfile's text, for the excerpts of formatCheckReport. */
  sourceText: string;
}
