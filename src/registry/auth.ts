/**
 * Registry authentication: the `WWW-Authenticate` challenge flow (anonymous, Basic, Bearer tokens
 * from the realm with `repository:NAME:pull[,push]` scopes, reused until they expire) and where
 * credentials come from (docker's config.json `auths`, `credsStore`, `credHelpers`). Secrets are
 * never put into error messages.
 */
import { spawn } from 'node:child_process';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { TsbuildError } from '../errors.js';
import type { Transport } from './transport.js';

export type Credentials = { username: string; password: string } | { identityToken: string; username?: string };

/** Returns credentials for a registry host, or undefined for anonymous access. */
export type CredentialProvider = (registry: string) => Promise<Credentials | undefined>;

export interface Challenge {
  /** Lower-cased: `basic`, `bearer`. */
  scheme: string;
  params: Record<string, string>;
}

export interface Scope {
  repository: string;
  actions: ('pull' | 'push' | 'delete' | '*')[];
}

export function formatScope(s: Scope): string {
  return `repository:${s.repository}:${s.actions.join(',')}`;
}

/** Parses a WWW-Authenticate header (`Bearer realm="...",service="...",scope="..."`, possibly several). */
export function parseChallenges(header: string): Challenge[] {
  const out: Challenge[] = [];
  let cur: Challenge | undefined;
  let i = 0;
  const n = header.length;
  const isTokenChar = (c: string): boolean => !/[\s,="]/.test(c);
  while (i < n) {
    while (i < n && (header[i] === ' ' || header[i] === ',' || header[i] === '\t')) i++;
    const start = i;
    while (i < n && isTokenChar(header[i]!)) i++;
    const name = header.slice(start, i);
    if (!name) break;
    let j = i;
    while (j < n && header[j] === ' ') j++;
    if (header[j] !== '=') {
      cur = { scheme: name.toLowerCase(), params: {} };
      out.push(cur);
      continue;
    }
    i = j + 1;
    while (i < n && header[i] === ' ') i++;
    let value = '';
    if (header[i] === '"') {
      i++;
      while (i < n && header[i] !== '"') {
        if (header[i] === '\\' && i + 1 < n) i++;
        value += header[i++];
      }
      i++;
    } else {
      const vs = i;
      while (i < n && header[i] !== ',' && header[i] !== ' ') i++;
      value = header.slice(vs, i);
    }
    if (cur) cur.params[name.toLowerCase()] = value;
  }
  return out;
}

interface CachedToken {
  token: string;
  expiresAt: number;
  granted: Map<string, Set<string>>;
}

interface RegistryState {
  challenge?: Challenge;
  tokens: CachedToken[];
  pending: Map<string, Promise<CachedToken>>;
}

/**
 * Holds per-registry auth state for one client. `authorization()` gives the header to send
 * before any challenge is known (none), and after one (Basic, or a Bearer token for the scopes).
 */
export class Authenticator {
  private readonly state = new Map<string, RegistryState>();
  /** Number of token requests made (for tests and diagnostics). */
  tokenRequests = 0;

  constructor(
    private readonly transport: Transport,
    private readonly credentials: CredentialProvider = async () => undefined,
  ) {}

  /** Whether credentials are configured for a registry (for error messages; never returns them). */
  async hasCredentials(registry: string): Promise<boolean> {
    return (await this.credentials(registry)) !== undefined;
  }

  /** The Authorization header value for a request needing `scopes`, or undefined (anonymous). */
  async authorization(registry: string, scopes: Scope[]): Promise<string | undefined> {
    const st = this.state.get(registry);
    if (!st?.challenge) return undefined;
    if (st.challenge.scheme === 'basic') {
      const c = await this.credentials(registry);
      if (!c || !('password' in c)) return undefined;
      return `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;
    }
    if (st.challenge.scheme === 'bearer') {
      const t = await this.token(registry, st, scopes);
      return `Bearer ${t.token}`;
    }
    return undefined;
  }

  /**
   * Records a 401's challenge. `sent` is the Authorization value that was refused: a Bearer token
   * is forgotten so the next `authorization()` fetches a fresh one. The caller retries only when
   * that next value differs from `sent` (so parallel first requests all retry, bad passwords don't).
   */
  onUnauthorized(registry: string, header: string | undefined, sent: string | undefined): void {
    const challenges = header ? parseChallenges(header) : [];
    const ch = challenges.find((c) => c.scheme === 'bearer') ?? challenges.find((c) => c.scheme === 'basic');
    if (!ch) return;
    const st = this.stateOf(registry);
    const same = st.challenge?.scheme === ch.scheme && st.challenge.params.realm === ch.params.realm;
    if (!same) st.challenge = ch;
    if (sent?.startsWith('Bearer ')) {
      const token = sent.slice(7);
      st.tokens = st.tokens.filter((t) => t.token !== token);
    }
  }

  private stateOf(registry: string): RegistryState {
    let st = this.state.get(registry);
    if (!st) {
      st = { tokens: [], pending: new Map() };
      this.state.set(registry, st);
    }
    return st;
  }

  private async token(registry: string, st: RegistryState, scopes: Scope[]): Promise<CachedToken> {
    const now = Date.now();
    st.tokens = st.tokens.filter((t) => t.expiresAt > now);
    const hit = st.tokens.find((t) => covers(t, scopes));
    if (hit) return hit;
    const key = scopes.map(formatScope).sort().join(' ');
    let p = st.pending.get(key);
    if (!p) {
      p = this.fetchToken(registry, st.challenge!, scopes).finally(() => st.pending.delete(key));
      st.pending.set(key, p);
    }
    const t = await p;
    if (!st.tokens.includes(t)) st.tokens.push(t);
    return t;
  }

  private async fetchToken(registry: string, ch: Challenge, scopes: Scope[]): Promise<CachedToken> {
    const realm = ch.params.realm;
    if (!realm) throw new TsbuildError('REGISTRY', `registry ${registry} sent a Bearer challenge without a realm`);
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw new TsbuildError('REGISTRY', `registry ${registry} sent an invalid token realm`);
    }
    const creds = await this.credentials(registry);
    const scopeStrs = scopes.map(formatScope);
    this.tokenRequests++;
    let res;
    if (creds && 'identityToken' in creds) {
      const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: creds.identityToken, client_id: 'tsbuild' });
      if (ch.params.service) form.set('service', ch.params.service);
      if (scopeStrs.length) form.set('scope', scopeStrs.join(' '));
      res = await this.transport.send({
        method: 'POST',
        url,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: Buffer.from(form.toString()),
        retryConnection: true,
      });
    } else {
      if (ch.params.service) url.searchParams.set('service', ch.params.service);
      for (const s of scopeStrs) url.searchParams.append('scope', s);
      const headers: Record<string, string> = {};
      if (creds) {
        headers.authorization = `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`;
        url.searchParams.set('account', creds.username);
      }
      res = await this.transport.send({ method: 'GET', url, headers });
    }
    if (res.status === 401 || res.status === 403) {
      await res.drain();
      throw new TsbuildError(
        'REGISTRY',
        creds
          ? `authentication to registry ${registry} failed: incorrect username or password`
          : `registry ${registry} requires authentication (run tsbuild login ${registry})`,
      );
    }
    if (res.status !== 200) {
      await res.drain();
      throw new TsbuildError('REGISTRY', `token server for registry ${registry} answered HTTP ${res.status}`);
    }
    let body: { token?: string; access_token?: string; expires_in?: number; issued_at?: string };
    try {
      body = JSON.parse(await res.text(1024 * 1024));
    } catch {
      throw new TsbuildError('REGISTRY', `token server for registry ${registry} sent invalid JSON`);
    }
    const token = body.token ?? body.access_token;
    if (!token) throw new TsbuildError('REGISTRY', `token server for registry ${registry} sent no token`);
    // Spec default lifetime is 60 s; keep a margin so a token does not expire in flight.
    const lifetime = Math.max(body.expires_in ?? 60, 60) * 1000;
    const issued = body.issued_at ? Date.parse(body.issued_at) : NaN;
    const start = Number.isNaN(issued) ? Date.now() : Math.min(issued, Date.now());
    const granted = new Map<string, Set<string>>();
    for (const s of scopes) granted.set(s.repository, new Set(s.actions));
    return { token, expiresAt: start + lifetime - Math.min(10_000, lifetime / 10), granted };
  }
}

function covers(t: CachedToken, scopes: Scope[]): boolean {
  return scopes.every((s) => {
    const g = t.granted.get(s.repository);
    return g !== undefined && s.actions.every((a) => g.has(a));
  });
}

// ---------------------------------------------------------------------------------------------
// Docker config.json credentials

export interface DockerConfigOptions {
  /** Directory holding config.json (default $DOCKER_CONFIG, else ~/.docker). */
  configDir?: string;
  /** Environment for credential helpers and DOCKER_CONFIG (default process.env). */
  env?: NodeJS.ProcessEnv;
}

interface DockerConfigFile {
  auths?: Record<string, { auth?: string; username?: string; password?: string; identitytoken?: string }>;
  credsStore?: string;
  credHelpers?: Record<string, string>;
  [k: string]: unknown;
}

const HUB_KEY = 'https://index.docker.io/v1/';

export function dockerConfigPath(opts: DockerConfigOptions = {}): string {
  const env = opts.env ?? process.env;
  const dir = opts.configDir ?? env.DOCKER_CONFIG ?? join(homedir(), '.docker');
  return join(dir, 'config.json');
}

/** The key docker uses in `auths` for a registry host. */
export function configKey(registry: string): string {
  return registry === 'docker.io' || registry === 'registry-1.docker.io' || registry === 'index.docker.io' ? HUB_KEY : registry;
}

/** Credentials from docker's config.json, looked up per registry host on each call. */
export function dockerConfigCredentials(opts: DockerConfigOptions = {}): CredentialProvider {
  return async (registry) => {
    const cfg = await readDockerConfig(opts);
    const key = configKey(registry);
    const helper = cfg.credHelpers?.[key] ?? cfg.credHelpers?.[registry];
    if (helper) return helperGet(helper, key, opts.env);
    const entry = findAuth(cfg, key);
    if (entry) {
      if (entry.identitytoken) return { identityToken: entry.identitytoken };
      if (entry.auth) {
        const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
        const colon = decoded.indexOf(':');
        if (colon < 0) throw new TsbuildError('INVALID', `invalid auth entry for ${registry} in ${dockerConfigPath(opts)}`);
        return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
      }
      if (entry.username && entry.password) return { username: entry.username, password: entry.password };
    }
    if (cfg.credsStore) return helperGet(cfg.credsStore, key, opts.env);
    return undefined;
  };
}

/** Saves credentials for a registry (`credsStore` helper if configured, else base64 in `auths`). */
export async function saveCredentials(registry: string, creds: { username: string; password: string }, opts: DockerConfigOptions = {}): Promise<void> {
  const cfg = await readDockerConfig(opts);
  const key = configKey(registry);
  const helper = cfg.credHelpers?.[key] ?? cfg.credsStore;
  if (helper) {
    await runHelper(helper, 'store', JSON.stringify({ ServerURL: key, Username: creds.username, Secret: creds.password }), opts.env);
    return;
  }
  cfg.auths = cfg.auths ?? {};
  cfg.auths[key] = { auth: Buffer.from(`${creds.username}:${creds.password}`).toString('base64') };
  await writeDockerConfig(cfg, opts);
}

/** Removes stored credentials; returns false when there were none. */
export async function removeCredentials(registry: string, opts: DockerConfigOptions = {}): Promise<boolean> {
  const cfg = await readDockerConfig(opts);
  const key = configKey(registry);
  const helper = cfg.credHelpers?.[key] ?? cfg.credsStore;
  let removed = false;
  if (cfg.auths && key in cfg.auths) {
    delete cfg.auths[key];
    await writeDockerConfig(cfg, opts);
    removed = true;
  }
  if (helper) {
    try {
      await runHelper(helper, 'erase', key, opts.env);
      removed = true;
    } catch {
      // nothing stored in the helper
    }
  }
  return removed;
}

async function readDockerConfig(opts: DockerConfigOptions): Promise<DockerConfigFile> {
  const path = dockerConfigPath(opts);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new TsbuildError('INVALID', `cannot read ${path}: ${(e as Error).message}`);
  }
  try {
    const cfg = JSON.parse(text) as unknown;
    return typeof cfg === 'object' && cfg !== null ? (cfg as DockerConfigFile) : {};
  } catch {
    throw new TsbuildError('INVALID', `${path} is not valid JSON`);
  }
}

async function writeDockerConfig(cfg: DockerConfigFile, opts: DockerConfigOptions): Promise<void> {
  const path = dockerConfigPath(opts);
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, JSON.stringify(cfg, null, '\t') + '\n', { mode: 0o600 });
  await rename(tmp, path);
}

function findAuth(cfg: DockerConfigFile, key: string): NonNullable<DockerConfigFile['auths']>[string] | undefined {
  if (!cfg.auths) return undefined;
  if (cfg.auths[key]) return cfg.auths[key];
  // Entries may be written as URLs (`https://host/`, `http://host/v2/`).
  for (const [k, v] of Object.entries(cfg.auths)) {
    const host = k.replace(/^[a-z]+:\/\//, '').replace(/\/.*$/, '');
    if (configKey(host) === key) return v;
  }
  return undefined;
}

async function helperGet(helper: string, key: string, env?: NodeJS.ProcessEnv): Promise<Credentials | undefined> {
  let out: string;
  try {
    out = await runHelper(helper, 'get', key, env);
  } catch (e) {
    if (e instanceof HelperNotFound) return undefined;
    throw e;
  }
  let v: { Username?: string; Secret?: string };
  try {
    v = JSON.parse(out);
  } catch {
    throw new TsbuildError('REGISTRY', `docker-credential-${helper} returned invalid output`);
  }
  if (!v.Secret) return undefined;
  if (v.Username === '<token>') return { identityToken: v.Secret };
  return { username: v.Username ?? '', password: v.Secret };
}

class HelperNotFound extends Error {}

/** Runs `docker-credential-NAME ACTION` with INPUT on stdin; stdout on success. */
function runHelper(name: string, action: string, input: string, env?: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    const bin = `docker-credential-${name}`;
    const child = spawn(bin, [action], { env: env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.resume();
    child.on('error', (e) => {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') reject(new TsbuildError('REGISTRY', `credential helper ${bin} not found in PATH`));
      else reject(e);
    });
    child.on('close', (code) => {
      if (code === 0) return resolve(out);
      // Helpers print "credentials not found in native keychain" for unknown servers.
      if (/credentials not found/i.test(out) || action !== 'store') return reject(new HelperNotFound());
      reject(new TsbuildError('REGISTRY', `credential helper ${bin} ${action} failed (exit ${code})`));
    });
    child.stdin.end(input);
  });
}
