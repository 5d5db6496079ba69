/**
 * A real OCI registry for tests: Debian's `docker-registry` (distribution 2.8) on 127.0.0.1 with a
 * free port and a temp storage dir. Variants: no auth, htpasswd basic auth, bearer tokens issued by
 * a small token server (see registry-token-server.ts). Everything listens on loopback only.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTokenServer, type TokenServer, type TokenPolicy } from './registry-token-server.js';

export type RegistryAuth =
  | { kind: 'none' }
  | { kind: 'basic'; users: Record<string, string> }
  | { kind: 'token'; users: Record<string, string>; policy?: TokenPolicy; expiresIn?: number };

export interface TestRegistry {
  /** `127.0.0.1:PORT` — the host part of image references. */
  host: string;
  port: number;
  url: string;
  storageDir: string;
  token?: TokenServer;
  /** With `tls`: the self-signed certificate (for 127.0.0.1) clients must trust. */
  caFile?: string;
  stop(): Promise<void>;
}

export const REGISTRY_BIN = '/usr/bin/docker-registry';

/** Starts a registry and waits until it answers `/v2/`. */
export async function startRegistry(auth: RegistryAuth = { kind: 'none' }, opts: { tls?: boolean } = {}): Promise<TestRegistry> {
  const dir = mkdtempSync(join(tmpdir(), 'tsbuild-registry-'));
  const storageDir = join(dir, 'storage');
  const port = await freePort();
  let token: TokenServer | undefined;
  let authYaml = '';
  if (auth.kind === 'basic') {
    const file = join(dir, 'htpasswd');
    writeFileSync(file, '');
    for (const [user, pass] of Object.entries(auth.users)) {
      // -B bcrypt is the only hash distribution accepts; -i reads the password from stdin.
      execFileSync('htpasswd', ['-B', '-i', file, user], { input: pass, stdio: ['pipe', 'ignore', 'pipe'] });
    }
    authYaml = `auth:\n  htpasswd:\n    realm: test-realm\n    path: ${file}\n`;
  } else if (auth.kind === 'token') {
    token = await startTokenServer({
      users: auth.users,
      service: 'tsbuild-test-registry',
      issuer: 'tsbuild-test-issuer',
      workDir: dir,
      policy: auth.policy,
      expiresIn: auth.expiresIn,
    });
    authYaml =
      `auth:\n  token:\n    realm: ${token.realm}\n    service: ${token.service}\n` +
      `    issuer: ${token.issuer}\n    rootcertbundle: ${token.certFile}\n`;
  }
  let tlsYaml = '';
  let caFile: string | undefined;
  if (opts.tls) {
    caFile = join(dir, 'registry.crt');
    const keyFile = join(dir, 'registry.key');
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', caFile, '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'],
      { stdio: 'ignore' },
    );
    tlsYaml = `  tls:\n    certificate: ${caFile}\n    key: ${keyFile}\n`;
  }
  const config =
    `version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n` +
    `storage:\n  filesystem:\n    rootdirectory: ${storageDir}\n  delete:\n    enabled: true\n` +
    `http:\n  addr: 127.0.0.1:${port}\n  secret: tsbuild-test-secret\n` +
    tlsYaml +
    authYaml;
  const configFile = join(dir, 'config.yml');
  writeFileSync(configFile, config);
  const child = spawn(REGISTRY_BIN, ['serve', configFile], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    if (stderr.length < 20_000) stderr += d.toString();
  });
  const url = `${opts.tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  try {
    await waitReady(url, caFile ? readFileSync(caFile) : undefined, child, () => stderr);
  } catch (e) {
    child.kill('SIGKILL');
    await token?.stop();
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  return {
    host: `127.0.0.1:${port}`,
    port,
    url,
    storageDir,
    token,
    caFile,
    async stop() {
      await stopChild(child);
      await token?.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A port that was free a moment ago (the kernel picks it; we release it for the child). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

async function waitReady(url: string, ca: Buffer | undefined, child: ChildProcess, stderr: () => string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited ${child.exitCode}: ${stderr()}`);
    const status = await probe(`${url}/v2/`, ca);
    if (status === 200 || status === 401) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`docker-registry did not start: ${stderr()}`);
}

/** GET status of a URL, 0 if it cannot connect (http or https with a given CA). */
function probe(url: string, ca: Buffer | undefined): Promise<number> {
  return new Promise((resolve) => {
    const mod = url.startsWith('https:') ? https : http;
    const req = mod.get(url, ca ? { ca } : {}, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => resolve(0));
    req.setTimeout(2000, () => req.destroy());
  });
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(() => child.kill('SIGKILL'), 3000);
    child.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
    child.kill('SIGTERM');
  });
}
