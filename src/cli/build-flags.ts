/**
 * Turns `docker build`-style flag values into BuildOptions fields. Pure: each function takes the
 * raw strings commander collected and throws a USAGE error naming the flag on bad input.
 */
import { TsbuildError } from '../errors.js';
import { ENTITLEMENTS, type CacheSpec, type Entitlement, type NamedContextSource, type OutputSpec, type RunLimits, type SecretSpec, type SshSpec } from '../builder/options.js';
import { contextName } from '../builder/build-contexts.js';
import { resolve as resolvePath } from 'node:path';
import { formatPlatform, hostPlatform, parsePlatform, type Platform } from '../image/platform.js';
import { parseReference } from '../image/reference.js';
import { parseKeyValues } from '../parser/key-values.js';
import { parseByteSize } from '../parser/values.js';

// Docker's exit codes for misuse: a value its flag parser refuses (a typed flag: -m, --pids-limit,
// --cpu-shares) exits 125; a value the command checks itself (buildx: --secret, --output, ...) 1.
const usage = (msg: string) => new TsbuildError('USAGE', msg);
const badFlagValue = (msg: string) => new TsbuildError('USAGE', msg, undefined, 125);

/** `--build-arg K=V` or `K` (value taken from the environment, skipped when unset, as Docker does). */
export function parseBuildArgs(values: string[], env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values) {
    const eq = v.indexOf('=');
    if (eq === 0) throw usage(`invalid --build-arg "${v}": missing name`);
    if (eq > 0) out[v.slice(0, eq)] = v.slice(eq + 1);
    else if (env[v] !== undefined) out[v] = env[v]!;
  }
  return out;
}

/** `--label K=V` (a bare `K` means an empty value). */
export function parseLabels(values: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values) {
    const eq = v.indexOf('=');
    if (eq === 0) throw usage(`invalid --label "${v}": missing name`);
    if (eq > 0) out[v.slice(0, eq)] = v.slice(eq + 1);
    else out[v] = '';
  }
  return out;
}

/** Splits `a=b,c=d` (the CSV syntax of --secret, --output, --cache-from/to) into pairs. */
function keyValues(flag: string, v: string): Map<string, string> {
  const m = new Map<string, string>();
  let pairs;
  try {
    pairs = parseKeyValues(v, 'value');
  } catch (e) {
    throw usage(`invalid ${flag} "${v}": ${(e as Error).message}`);
  }
  for (const { field, key, value } of pairs) {
    if (value === undefined || key.trim() === '') throw usage(`invalid ${flag} "${v}": expected key=value pairs, got "${field}"`);
    m.set(key.trim(), value);
  }
  return m;
}

/** `--secret id=ID,src=PATH` | `id=ID,env=VAR` (also `source=`, `type=file|env`). */
export function parseSecret(v: string): SecretSpec {
  const kv = keyValues('--secret', v);
  const id = kv.get('id');
  if (!id) throw usage(`invalid --secret "${v}": id= is required`);
  const src = kv.get('src') ?? kv.get('source');
  const env = kv.get('env');
  const type = kv.get('type');
  for (const k of kv.keys()) {
    if (!['id', 'src', 'source', 'env', 'type'].includes(k)) throw usage(`invalid --secret "${v}": unknown key "${k}"`);
  }
  if (type && type !== 'file' && type !== 'env') throw usage(`invalid --secret "${v}": type must be file or env`);
  if (type === 'env' || (env && !src)) return { id, env: env ?? src ?? id };
  if (src) return { id, src };
  // Like Docker: with neither, the secret comes from the environment variable named like the id.
  return { id, env: id };
}

/** `--build-context NAME=DIR|docker-image://REF|oci-layout://DIR[:TAG][@sha256:HEX]` (repeatable;
 *  a later value for one name wins); names are kept normalized (builder/build-contexts.ts). */
export function parseBuildContexts(values: string[], cwd: string): Record<string, NamedContextSource> {
  const out: Record<string, NamedContextSource> = {};
  for (const v of values) {
    const eq = v.indexOf('=');
    if (eq <= 0 || eq === v.length - 1) throw usage(`invalid context value: ${v}, expected key=value`);
    const rawName = v.slice(0, eq);
    const value = v.slice(eq + 1);
    const name = contextName(rawName);
    if (name === undefined) throw usage(`invalid context name ${rawName}`);
    if (value.startsWith('docker-image://')) {
      const ref = value.slice('docker-image://'.length);
      try {
        parseReference(ref);
      } catch (e) {
        throw usage(`invalid context value: ${v}: ${(e as Error).message}`);
      }
      out[name] = { kind: 'image', ref };
    } else if (value.startsWith('oci-layout://')) {
      let rest = value.slice('oci-layout://'.length);
      let digest: string | undefined;
      const at = rest.lastIndexOf('@');
      if (at >= 0) {
        digest = rest.slice(at + 1);
        rest = rest.slice(0, at);
        if (!/^sha256:[0-9a-f]{64}$/.test(digest)) throw usage(`invalid context value: ${v}: the digest must be sha256: and 64 hex digits`);
      }
      let tag: string | undefined;
      const colon = rest.lastIndexOf(':');
      if (colon > rest.lastIndexOf('/')) {
        tag = rest.slice(colon + 1);
        rest = rest.slice(0, colon);
        if (!/^[\w][\w.-]{0,127}$/.test(tag)) throw usage(`invalid context value: ${v}: invalid tag "${tag}"`);
      }
      if (rest === '') throw usage(`invalid context value: ${v}: no layout directory`);
      out[name] = { kind: 'oci-layout', dir: resolvePath(cwd, rest), ...(tag !== undefined ? { tag } : {}), ...(digest !== undefined ? { digest } : {}) };
    } else if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value) || value.startsWith('git@') || value.startsWith('target:')) {
      throw usage(`invalid context value: ${v}: only a directory, docker-image:// and oci-layout:// are supported`);
    } else {
      out[name] = { kind: 'local', dir: resolvePath(cwd, value) };
    }
  }
  return out;
}

/** `--allow ENTITLEMENT` (repeatable; a comma-separated list works too, as with buildx). */
export function parseAllow(values: string[]): Entitlement[] {
  const out: Entitlement[] = [];
  for (const v of values.flatMap((x) => x.split(','))) {
    const e = v.trim();
    if (!(ENTITLEMENTS as readonly string[]).includes(e)) {
      throw usage(`invalid --allow "${v}": ${e === 'security.insecure' ? 'security.insecure is not supported' : `unknown entitlement, expected ${ENTITLEMENTS.join(' or ')}`}`);
    }
    if (!out.includes(e as Entitlement)) out.push(e as Entitlement);
  }
  return out;
}

/** `-m/--memory SIZE`, `--pids-limit N` (-1 or 0: none), `--cpu-shares N`: the RUN steps' cgroup. */
export function parseLimits(flags: { memory?: string; pidsLimit?: string; cpuShares?: string }): RunLimits {
  const out: RunLimits = {};
  if (flags.memory !== undefined) {
    let bytes: number;
    try {
      bytes = parseByteSize(flags.memory);
    } catch (e) {
      throw badFlagValue(`invalid argument "${flags.memory}" for "-m, --memory" flag: ${(e as Error).message}`);
    }
    // Docker's floor: below it a step cannot even start its shell
    if (bytes < 6 * 2 ** 20) throw usage('Minimum memory limit allowed is 6MB');
    out.memoryBytes = bytes;
  }
  if (flags.pidsLimit !== undefined) {
    if (!/^-?[0-9]+$/.test(flags.pidsLimit) || Number(flags.pidsLimit) < -1) throw badFlagValue(`invalid argument "${flags.pidsLimit}" for "--pids-limit" flag: expected -1, 0 or a positive count`);
    out.pidsMax = Math.max(0, Number(flags.pidsLimit));
  }
  if (flags.cpuShares !== undefined) {
    if (!/^[0-9]+$/.test(flags.cpuShares) || Number(flags.cpuShares) < 2) throw badFlagValue(`invalid argument "${flags.cpuShares}" for "--cpu-shares" flag: expected an integer of at least 2`);
    out.cpuShares = Number(flags.cpuShares);
  }
  return out;
}

/** `--ssh default` (the agent at $SSH_AUTH_SOCK) or `--ssh ID=SOCKET`. */
export function parseSsh(v: string, env: NodeJS.ProcessEnv): SshSpec {
  const eq = v.indexOf('=');
  const id = eq < 0 ? v : v.slice(0, eq);
  if (!/^[A-Za-z0-9_.-]+$/.test(id)) throw usage(`invalid --ssh "${v}": expected ID or ID=SOCKET`);
  const socket = eq < 0 ? env.SSH_AUTH_SOCK : v.slice(eq + 1);
  if (!socket) throw usage(`invalid --ssh "${v}": no socket given and SSH_AUTH_SOCK is not set`);
  if (socket.includes(',')) throw usage(`invalid --ssh "${v}": key files are not supported, give an agent socket`);
  return { id, socket };
}

const OUTPUT_TYPES = ['image', 'docker', 'oci', 'tar', 'local'] as const;

/** `--output type=...,dest=...`, or a bare path meaning `type=local,dest=PATH`. */
export function parseOutput(v: string): OutputSpec {
  if (!v.includes('=')) return { type: 'local', dest: v };
  const kv = keyValues('--output', v);
  const type = kv.get('type') ?? 'local';
  if (!(OUTPUT_TYPES as readonly string[]).includes(type)) {
    throw usage(`invalid --output "${v}": type must be one of ${OUTPUT_TYPES.join(', ')}`);
  }
  if (type === 'image') return { type: 'image' };
  const dest = kv.get('dest');
  if (!dest) throw usage(`invalid --output "${v}": dest= is required for type=${type}`);
  const preserve = kv.get('preserve-owner');
  if (preserve !== undefined) {
    if (type !== 'local') throw usage(`invalid --output "${v}": preserve-owner= applies to type=local only`);
    if (preserve !== 'true' && preserve !== 'false') throw usage(`invalid --output "${v}": preserve-owner must be true or false`);
    return { type: 'local', dest, preserveOwner: preserve === 'true' };
  }
  return { type: type as Exclude<OutputSpec['type'], 'image'>, dest };
}

/** `--platform P[,P]`: tsbuild builds only for the host platform (a variant, if given, must be the
 *  host's); the platform asked for, parsed. */
export function checkPlatform(v: string | undefined): Platform | undefined {
  if (v === undefined) return undefined;
  const host = hostPlatform();
  let first: Platform | undefined;
  for (const p of v.split(',')) {
    let want;
    try {
      want = parsePlatform(p.trim());
    } catch (e) {
      throw usage(`--platform ${p}: ${(e as Error).message}`);
    }
    if (want.os !== host.os || want.architecture !== host.architecture || (want.variant !== undefined && want.variant !== host.variant)) {
      throw usage(`--platform ${p}: tsbuild builds only for the host platform (${formatPlatform(host)})`);
    }
    first ??= want;
  }
  return first;
}

/** One `--cache-from` / `--cache-to` value (see builder/remote-cache.ts for what each does); a bare
 *  value is a registry reference (`--cache-from` only). */
export function parseCacheSpec(spec: string, direction: 'from' | 'to'): CacheSpec {
  const flag = `--cache-${direction}`;
  const bad = (why: string): never => {
    throw usage(`invalid ${flag} "${spec}": ${why}`);
  };
  let attrs = new Map<string, string>();
  if (!spec.includes('=')) {
    if (direction === 'to') bad('expected type=registry,ref=REF or type=local,dest=DIR');
    attrs.set('type', 'registry').set('ref', spec);
  } else {
    attrs = keyValues(flag, spec);
    for (const [k, v] of attrs) attrs.set(k, v.trim());
  }
  const type = attrs.get('type') ?? (attrs.has('ref') ? 'registry' : undefined);
  const modeAttr = attrs.get('mode') ?? 'min';
  if (modeAttr !== 'min' && modeAttr !== 'max') bad('mode must be min or max');
  const mode = modeAttr as 'min' | 'max';
  if (attrs.has('mode') && direction === 'from') bad('mode applies to --cache-to only');
  const ignoreError = ['true', '1'].includes((attrs.get('ignore-error') ?? 'false').toLowerCase());
  // BuildKit attributes that do not change what tsbuild writes.
  const known = new Set(['type', 'ref', 'mode', 'ignore-error', 'src', 'dest', 'tag', 'oci-mediatypes', 'image-manifest', 'compression', 'compression-level', 'force-compression', 'mounts', 'mounts-max-size']);
  for (const k of attrs.keys()) if (!known.has(k)) bad(`unknown attribute "${k}"`);
  // tsbuild's own: cache mounts that travel with the cache
  const mountsAttr = attrs.get('mounts')?.toLowerCase();
  if (mountsAttr !== undefined && !['true', 'false'].includes(mountsAttr)) bad('mounts must be true or false');
  const maxAttr = attrs.get('mounts-max-size');
  let mountsMaxBytes: number | undefined;
  if (maxAttr !== undefined) {
    if (direction === 'from') bad('mounts-max-size applies to --cache-to only');
    try {
      mountsMaxBytes = parseByteSize(maxAttr);
    } catch (e) {
      bad(`mounts-max-size: ${(e as Error).message}`);
    }
  }
  const mounts = mountsAttr === 'true' ? { mounts: true, ...(mountsMaxBytes !== undefined ? { mountsMaxBytes } : {}) } : {};
  if (type === 'registry') {
    const ref = attrs.get('ref');
    if (!ref) bad('type=registry needs ref=REF');
    const r = parseReference(ref!);
    if (direction === 'to' && r.digest) bad('a cache cannot be exported to a digest reference');
    return { type: 'registry', ref: ref!, mode, ignoreError, ...mounts };
  }
  if (type === 'local') {
    const dir = attrs.get(direction === 'from' ? 'src' : 'dest');
    if (!dir) bad(`type=local needs ${direction === 'from' ? 'src' : 'dest'}=DIR`);
    return { type: 'local', dir: dir!, tag: attrs.get('tag') || 'latest', mode, ignoreError, ...mounts };
  }
  return bad(`unsupported cache type "${type ?? ''}" (registry or local)`);
}

/**
 * `--provenance` as buildx takes it: `true`/`1` (= `mode=min`), `false`/`0` (none), `mode=min`,
 * `mode=max` (also bare `min`/`max`); undefined means none.
 */
export function parseProvenance(value: string | undefined): { mode: 'min' | 'max' } | undefined {
  if (value === undefined) return undefined;
  const v = value.trim().toLowerCase();
  if (v === 'false' || v === '0') return undefined;
  if (v === 'true' || v === '1' || v === '' || v === 'min' || v === 'mode=min') return { mode: 'min' };
  if (v === 'max' || v === 'mode=max') return { mode: 'max' };
  throw usage(`invalid --provenance "${value}": expected true, false, mode=min or mode=max`);
}
