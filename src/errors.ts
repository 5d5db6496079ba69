/**
 * The one error type for failures a user caused or can fix (bad Dockerfile, unknown image, corrupt
 * archive, ...). Everything below the CLI throws it; only the CLI turns it into a line and an exit
 * code. Anything else that escapes is a bug in tsbuild and is reported as such.
 */

/** Where in a user's file something is (1-based line and column). */
export interface SourceLocation {
  file: string;
  line: number;
  column: number;
}

/** Stable machine-readable classes of user errors; the CLI maps some to specific exit codes. */
export type ErrorCode =
  | 'PARSE' // malformed Dockerfile syntax
  | 'INVALID' // well-formed but semantically invalid input (flags, values, references)
  | 'NOT_FOUND' // an image, stage, file or blob that does not exist
  | 'CORRUPT' // damaged archive, digest mismatch
  | 'UNSAFE' // a path or link that would leave its root
  | 'RUN_FAILED' // a build step's process exited non-zero
  | 'RUNTIME' // the sandbox helper could not do what it was asked
  | 'REGISTRY' // a registry refused or failed
  | 'CONFLICT' // an operation not allowed in the current state (e.g. image in use)
  | 'INTERRUPTED'
  | 'USAGE'; // wrong command-line use

export class TsbuildError extends Error {
  readonly code: ErrorCode;
  readonly location: SourceLocation | undefined;
  /** Exit code to use at the CLI edge (default 1). */
  readonly exitCode: number;

  constructor(code: ErrorCode, message: string, location?: SourceLocation, exitCode = 1) {
    super(message);
    this.name = 'TsbuildError';
    this.code = code;
    this.location = location;
    this.exitCode = exitCode;
  }

  /** One line: `file:line:col: message`, or just the message without a location. */
  format(): string {
    const l = this.location;
    return l ? `${l.file}:${l.line}:${l.column}: ${this.message}` : this.message;
  }
}

export function isTsbuildError(e: unknown): e is TsbuildError {
  return e instanceof TsbuildError;
}
