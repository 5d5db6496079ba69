/**
 * The reference Docker engine: finds one (DOCKER_HOST, else the reference socket, else the default
 * socket) and runs the docker client against it with BuildKit on. Nothing here pulls from a
 * registry; every image the suite uses is imported or built locally.
 *
 * Environment knobs:
 *   DOCKER_HOST          engine to use (default: unix:///run/ref-docker.sock if present, else
 *                        unix:///var/run/docker.sock)
 *   COMPAT_DOCKER_BIN    docker client (default /usr/bin/docker: its `build` speaks BuildKit
 *                        without buildx, which newer clients need)
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';

export interface DockerEngine {
  bin: string;
  host: string;
  serverVersion: string;
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

function candidateHost(): string | undefined {
  if (process.env.DOCKER_HOST) return process.env.DOCKER_HOST;
  for (const s of ['/run/ref-docker.sock', '/var/run/docker.sock']) if (existsSync(s)) return `unix://${s}`;
  return undefined;
}

function candidateBin(): string {
  if (process.env.COMPAT_DOCKER_BIN) return process.env.COMPAT_DOCKER_BIN;
  return existsSync('/usr/bin/docker') ? '/usr/bin/docker' : 'docker';
}

/** The engine, or a reason why there is none (the suite skips with that reason). */
export async function findDocker(): Promise<DockerEngine | { reason: string }> {
  const host = candidateHost();
  if (!host) return { reason: 'no Docker engine: DOCKER_HOST is unset and no docker socket exists (/run/ref-docker.sock, /var/run/docker.sock)' };
  const bin = candidateBin();
  const r = await execDocker({ bin, host, serverVersion: '' }, ['version', '--format', '{{.Server.Version}}'], { timeoutMs: 15_000 });
  if (r.code !== 0) return { reason: `no Docker engine reachable at ${host} (${bin} version: ${(r.stderr || r.stdout).trim().split('\n')[0] || `exit ${r.code}`})` };
  return { bin, host, serverVersion: r.stdout.trim() };
}

export function execDocker(engine: DockerEngine, args: string[], opts: { timeoutMs?: number; cwd?: string } = {}): Promise<ExecResult> {
  return new Promise((resolve) => {
    const child = spawn(engine.bin, args, {
      cwd: opts.cwd,
      env: { ...process.env, DOCKER_HOST: engine.host, DOCKER_BUILDKIT: '1', DOCKER_CLI_HINTS: 'false' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 180_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      resolve({ code: 127, stdout: '', stderr: String(e) });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
    });
  });
}

/** Like execDocker, but a non-zero exit is an error carrying the command and its output. */
export async function docker(engine: DockerEngine, args: string[], opts: { timeoutMs?: number; cwd?: string } = {}): Promise<string> {
  const r = await execDocker(engine, args, opts);
  if (r.code !== 0) throw new Error(`docker ${args.join(' ')} failed (exit ${r.code}):\n${tail(r.stderr || r.stdout)}`);
  return r.stdout;
}

export const tail = (s: string, n = 40) => s.trimEnd().split('\n').slice(-n).join('\n');

