/**
 * Secret values kept out of what a build shows: RUN output in the progress stream and the output
 * tail a failed RUN's error carries. BuildKit does not redact logs at all; tsbuild replaces every
 * value of every `--secret` the build was given (used by a step or not: a secret a step copied
 * into the filesystem may be printed by a later one) with `****`, as CI runners mask theirs.
 *
 * Matching is by exact bytes, line by line (output is cut into lines): a single-line secret is
 * matched whole (one trailing newline of a secret file ignored); a multi-line secret (a key file)
 * line by line, lines shorter than 4 bytes left out (`{`, `}` of a JSON file carry nothing secret,
 * and masking them would mangle all output). A step that encodes a secret before printing it
 * (base64, rev) is not caught: the progress stream shows what the step prints; this keeps
 * accidents (`set -x`, a verbose tool) out, and the error message no worse than the stream.
 */
import { readFileSync } from 'node:fs';
import type { Redactor } from './log-lines.js';
import type { SecretSpec } from './options.js';

const MASK = Buffer.from('****');
/** Lines of a multi-line secret shorter than this are not masked. */
const MIN_LINE = 4;

/** A redactor for the secrets given to a build, or undefined when there is nothing to hide. */
export function secretRedactor(specs: readonly SecretSpec[] | undefined, env: NodeJS.ProcessEnv = process.env): Redactor | undefined {
  const values: Buffer[] = [];
  for (const s of specs ?? []) {
    const v = secretValue(s, env);
    if (v) values.push(v);
  }
  return redactorFor(values);
}

/** A redactor for these values (exported for tests and for values known another way). */
export function redactorFor(values: readonly Buffer[]): Redactor | undefined {
  const patterns = new Map<string, Buffer>();
  for (const v of values) for (const p of patternsOf(v)) patterns.set(p.toString('latin1'), p);
  if (patterns.size === 0) return undefined;
  // longest first: a secret that contains another one is masked whole
  const list = [...patterns.values()].sort((a, b) => b.length - a.length);
  return {
    hold: list[0]!.length - 1,
    redact: (line) => {
      let out = line;
      for (const p of list) out = replaceAll(out, p);
      return out;
    },
  };
}

function patternsOf(value: Buffer): Buffer[] {
  const lines: Buffer[] = [];
  let start = 0;
  for (let nl = value.indexOf(0x0a); nl >= 0; nl = value.indexOf(0x0a, start)) {
    lines.push(value.subarray(start, nl));
    start = nl + 1;
  }
  lines.push(value.subarray(start));
  const nonEmpty = lines.map(stripCr).filter((l) => l.length > 0);
  if (nonEmpty.length <= 1) return nonEmpty;
  return nonEmpty.filter((l) => l.length >= MIN_LINE);
}

function stripCr(b: Buffer): Buffer {
  return b.length && b[b.length - 1] === 0x0d ? b.subarray(0, b.length - 1) : b;
}

function replaceAll(buf: Buffer, p: Buffer): Buffer {
  let i = buf.indexOf(p);
  if (i < 0) return buf;
  const parts: Buffer[] = [];
  let start = 0;
  while (i >= 0) {
    parts.push(buf.subarray(start, i), MASK);
    start = i + p.length;
    i = buf.indexOf(p, start);
  }
  parts.push(buf.subarray(start));
  return Buffer.concat(parts);
}

/** The secret's bytes, or undefined when it cannot be read (the step using it reports that). */
function secretValue(s: SecretSpec, env: NodeJS.ProcessEnv): Buffer | undefined {
  try {
    if (s.src !== undefined) return readFileSync(s.src);
  } catch {
    return undefined;
  }
  const v = env[s.env ?? s.id];
  return v === undefined ? undefined : Buffer.from(v);
}
