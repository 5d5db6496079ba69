/**
 * Build-argument scoping, as BuildKit does it (Dockerfile reference, "ARG"):
 * - ARGs before the first FROM are global: usable in FROM lines only, unless a stage re-declares
 *   them (`ARG NAME` imports the global value);
 * - `--build-arg` overrides a declared default; a declared ARG without a value and no override is
 *   unset (expands to nothing, `${X:-d}` gives d);
 * - the platform args (TARGETPLATFORM, BUILDARCH, ...) are global automatically;
 * - the proxy args (HTTP_PROXY ...) reach RUN without being declared, but stay out of history and
 *   cache keys unless declared.
 * Pure.
 */
import { hostArchitecture } from '../image/config.js';

export const PROXY_ARGS = [
  'HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'https_proxy', 'FTP_PROXY', 'ftp_proxy', 'NO_PROXY', 'no_proxy',
  'ALL_PROXY', 'all_proxy',
] as const;

/** The automatic platform args (host platform only: tsbuild does not cross-build). */
export function platformArgs(): Map<string, string> {
  const arch = hostArchitecture();
  const platform = `linux/${arch}`;
  const m = new Map<string, string>();
  for (const p of ['BUILD', 'TARGET']) {
    m.set(`${p}PLATFORM`, platform);
    m.set(`${p}OS`, 'linux');
    m.set(`${p}ARCH`, arch);
    m.set(`${p}VARIANT`, '');
  }
  return m;
}

/** An ordered set of ARGs in scope with their values (undefined = declared but unset). */
export class ArgScope {
  private readonly values = new Map<string, string | undefined>();
  /** Names declared in this scope itself (not inherited from a parent stage). */
  private readonly own = new Set<string>();

  constructor(entries?: Iterable<[string, string | undefined]>) {
    if (entries) for (const [k, v] of entries) this.values.set(k, v);
  }

  /** A child stage's scope: the same values, none of them declared there yet. */
  clone(): ArgScope {
    return new ArgScope(this.values);
  }

  declare(key: string, value: string | undefined): void {
    // re-declaring moves nothing: keep first position (matters for the history's `|N k=v` order)
    this.values.set(key, value);
    this.own.add(key);
  }

  /** ARGs declared in this stage, in order, with their values (what RUN's history lists). */
  declaredHere(): Array<[string, string | undefined]> {
    return [...this.values].filter(([k]) => this.own.has(k));
  }

  has(key: string): boolean {
    return this.values.has(key);
  }

  get(key: string): string | undefined {
    return this.values.get(key);
  }

  /** Declared ARGs that have a value, in declaration order. */
  defined(): Array<[string, string]> {
    const out: Array<[string, string]> = [];
    for (const [k, v] of this.values) if (v !== undefined) out.push([k, v]);
    return out;
  }
}

/** Parses `K=V` env lines into a map (later wins). */
export function envMap(env: readonly string[] | undefined): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of env ?? []) {
    const eq = line.indexOf('=');
    if (eq < 0) m.set(line, '');
    else m.set(line.slice(0, eq), line.slice(eq + 1));
  }
  return m;
}

/** The variables word expansion sees in a stage: ARGs, overridden by ENV of the same name. */
export function expansionEnv(args: ArgScope, env: readonly string[] | undefined): Map<string, string> {
  const m = new Map<string, string>(args.defined());
  for (const [k, v] of envMap(env)) m.set(k, v);
  return m;
}
