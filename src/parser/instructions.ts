/**
 * Typed, validated instructions (BuildKit's `instructions` package semantics): one interface per
 * Dockerfile instruction, discriminated by `kind`, grouped into stages. Values that Docker expands
 * (paths, names, ENV/LABEL/ARG values, flag values) are kept raw here; the builder expands them with
 * ShellLex and the file's escape token, in the order the instructions run.
 */
import type { SourceRange } from './ast.js';
import type { HeredocMarker } from './heredoc.js';

/** Exec (JSON array) or shell form. */
export type CommandForm = 'exec' | 'shell';

interface InstructionBase {
  location: SourceRange;
  /** The instruction as written (continuations joined); what `docker history` shows as created_by. */
  original: string;
}

export interface KeyValue {
  key: string;
  /** Raw: quotes and escapes still in, not expanded. */
  value: string;
}

export interface HeredocFile extends HeredocMarker {
  /** The body as written. */
  content: string;
  /** The body with `<<-` tab stripping applied (equal to content otherwise). */
  data: string;
}

export interface FromInstruction extends InstructionBase {
  kind: 'from';
  /** Base image reference, stage name or `scratch` (raw). */
  image: string;
  /** Lower-cased `AS name`. */
  stageName?: string;
  platform?: string;
}

export interface RunMount {
  type: 'bind' | 'cache' | 'tmpfs' | 'secret' | 'ssh';
  from?: string;
  source?: string;
  target?: string;
  readOnly: boolean;
  /** cache/secret/ssh id. */
  id?: string;
  sharing?: 'shared' | 'private' | 'locked';
  required: boolean;
  mode?: number;
  uid?: number;
  gid?: number;
  /** tmpfs size in bytes. */
  size?: number;
  /** secret exposed as this environment variable. */
  env?: string;
  /** The flag value as written. */
  raw: string;
  /** Some value contains `$`: re-parse `raw` with parseMount(raw, expand) at build time. */
  needsExpansion: boolean;
}

export interface RunInstruction extends InstructionBase {
  kind: 'run';
  form: CommandForm;
  /** Exec form: argv. Shell form: one element, the command text. */
  command: string[];
  heredocs: HeredocFile[];
  mounts: RunMount[];
  network?: 'default' | 'none' | 'host';
  security?: 'sandbox' | 'insecure';
}

export interface CmdInstruction extends InstructionBase {
  kind: 'cmd';
  form: CommandForm;
  command: string[];
}

export interface EntrypointInstruction extends InstructionBase {
  kind: 'entrypoint';
  form: CommandForm;
  command: string[];
}

export interface ShellInstruction extends InstructionBase {
  kind: 'shell';
  shell: string[];
}

export interface LabelInstruction extends InstructionBase {
  kind: 'label';
  labels: KeyValue[];
}

export interface MaintainerInstruction extends InstructionBase {
  kind: 'maintainer';
  maintainer: string;
}

export interface ExposeInstruction extends InstructionBase {
  kind: 'expose';
  /** Raw port specs (`80`, `53/udp`, `8000-8010/tcp`, `$PORT`). */
  ports: string[];
}

export interface EnvInstruction extends InstructionBase {
  kind: 'env';
  env: KeyValue[];
}

interface CopyLike extends InstructionBase {
  form: CommandForm;
  sources: string[];
  /** Inline sources from heredocs (`COPY <<EOF /dst`). */
  contents: HeredocFile[];
  dest: string;
  chown?: string;
  chmod?: string;
  link: boolean;
  exclude: string[];
}

export interface CopyInstruction extends CopyLike {
  kind: 'copy';
  from?: string;
  parents: boolean;
}

export interface AddInstruction extends CopyLike {
  kind: 'add';
  checksum?: string;
  keepGitDir: boolean;
  /** Undefined: Docker's default (local archives unpacked, remote ones not). */
  unpack?: boolean;
}

export interface VolumeInstruction extends InstructionBase {
  kind: 'volume';
  form: CommandForm;
  volumes: string[];
}

export interface UserInstruction extends InstructionBase {
  kind: 'user';
  user: string;
}

export interface WorkdirInstruction extends InstructionBase {
  kind: 'workdir';
  path: string;
}

export interface ArgDefinition {
  key: string;
  /** Raw default value; undefined for `ARG name`. */
  value?: string;
}

export interface ArgInstruction extends InstructionBase {
  kind: 'arg';
  args: ArgDefinition[];
}

export interface OnbuildInstruction extends InstructionBase {
  kind: 'onbuild';
  /** The trigger as a child build will parse it (ONBUILD removed, heredoc bodies appended). */
  expression: string;
  /** The trigger, already validated. */
  trigger: Instruction;
}

export interface StopsignalInstruction extends InstructionBase {
  kind: 'stopsignal';
  signal: string;
}

export interface HealthcheckInstruction extends InstructionBase {
  kind: 'healthcheck';
  /** `["NONE"]`, `["CMD", argv...]` or `["CMD-SHELL", text]` (Docker's HealthConfig.Test). */
  test: string[];
  /** Durations in nanoseconds; 0 = Docker's default. */
  interval: number;
  timeout: number;
  startPeriod: number;
  startInterval: number;
  retries: number;
}

export type Instruction =
  | FromInstruction
  | RunInstruction
  | CmdInstruction
  | LabelInstruction
  | MaintainerInstruction
  | ExposeInstruction
  | EnvInstruction
  | AddInstruction
  | CopyInstruction
  | EntrypointInstruction
  | VolumeInstruction
  | UserInstruction
  | WorkdirInstruction
  | ArgInstruction
  | OnbuildInstruction
  | StopsignalInstruction
  | HealthcheckInstruction
  | ShellInstruction;

export type InstructionKind = Instruction['kind'];

export interface Stage {
  /** Position in the file (0-based), usable as `COPY --from=<index>`. */
  index: number;
  /** Lower-cased `AS` name. */
  name?: string;
  /** Raw base reference (may use meta ARGs). */
  baseName: string;
  platform?: string;
  from: FromInstruction;
  /** Instructions after FROM, in order. */
  instructions: Instruction[];
  location: SourceRange;
}

export interface Instructions {
  /** ARGs before the first FROM. */
  metaArgs: ArgInstruction[];
  stages: Stage[];
}

export const INSTRUCTION_KEYWORDS: readonly InstructionKind[] = [
  'from',
  'run',
  'cmd',
  'label',
  'maintainer',
  'expose',
  'env',
  'add',
  'copy',
  'entrypoint',
  'volume',
  'user',
  'workdir',
  'arg',
  'onbuild',
  'stopsignal',
  'healthcheck',
  'shell',
];
