/**
 * `exec`: one more process in a running container, through the sandbox helper's exec mode
 * (native/exec.c: pidfd_open + setns into PID 1's namespaces, fork, the container's capabilities,
 * seccomp and cgroups).
 *
 * Pinned Docker behaviour:
 * - env = the container's (as its command got it: PATH, HOSTNAME, the image's and `-e` of run, HOME),
 *   then exec's `-e`; HOME follows the exec user when the container did not set it.
 * - user = `-u`, else the container's; working dir = `-w`, else the container's WorkingDir, else /.
 * - Exit code: the process's own (128+signal); a process that cannot be started is 126 with runc's
 *   words behind "OCI runtime exec failed: " (a missing command too: exec never answers 127);
 *   a container that is not running: "Container ID is not running", exit 1; a paused one:
 *   "Container ID is paused, unpause the container before exec", exit 1.
 * - `-d`: returns once the process runs; `-t`: a pty of the container's own devpts.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import { TsbuildError } from '../errors.js';
import { sandboxHelperPath, DEFAULT_PATH } from '../runtime/sandbox.js';
import { resolveUser } from '../runtime/users.js';
import type { Containers } from './containers.js';
import { isPaused } from './pause.js';
import { containerDir } from './record.js';

export interface ExecOptions {
  cmd: string[];
  /** `-e` entries, `K=V` (a bare `K` takes the value from the caller's environment, as Docker). */
  env: string[];
  user?: string;
  workdir?: string;
  tty: boolean;
  interactive: boolean;
  detach: boolean;
  /** `-it`: the bytes that detach (default ctrl-p ctrl-q; empty: none). */
  detachKeys?: number[];
}

export interface ExecResult {
  exitCode: number;
  /** Host PID of the process (`-d`: its PID in the container's namespace). */
  pid?: number;
}

/** Runs OPTS.cmd in the container WORD names. Our stdio is handed to the helper (relayed by it). */
export async function execInContainer(c: Containers, word: string, o: ExecOptions, helper = sandboxHelperPath()): Promise<ExecResult> {
  if (o.cmd.length === 0) throw new TsbuildError('USAGE', 'No exec command specified', undefined, 125);
  if (!existsSync(helper)) throw new TsbuildError('RUNTIME', `sandbox helper ${helper} is missing (run npm install to build it)`);
  const v = await c.find(word);
  const id = v.record.Id;
  if (!v.state.Running || !v.state.Pid) throw new TsbuildError('CONFLICT', `Container ${id} is not running`, undefined, 1);
  // a frozen container would hold the exec'd process (and this command) until it is thawed
  if (isPaused(v)) throw new TsbuildError('CONFLICT', `Container ${id} is paused, unpause the container before exec`, undefined, 1);
  const lowerDirs = c.store.snapshots.paths(v.record.Layers);
  const upper = join(containerDir(c.paths, id), 'upper');
  const cfg = v.record.Config;
  const userSpec = o.user ?? cfg.User;
  const user = userSpec
    ? await resolveUser([...lowerDirs, upper], userSpec).catch((e: unknown) => {
        throw new TsbuildError('INVALID', `OCI runtime exec failed: exec failed: unable to start container process: ${(e as Error).message}: unknown`, undefined, 126);
      })
    : { uid: 0, gid: 0, groups: [] as number[], home: '/root' as string | undefined };
  const env = [...(cfg.Env ?? [])];
  if (!env.some((e) => e.startsWith('PATH='))) env.unshift(`PATH=${DEFAULT_PATH}`);
  if (!env.some((e) => e.startsWith('HOSTNAME='))) env.splice(1, 0, `HOSTNAME=${cfg.Hostname || (await import('node:os')).hostname()}`);
  for (const e of o.env) {
    const eq = e.indexOf('=');
    const kv = eq < 0 ? (process.env[e] !== undefined ? `${e}=${process.env[e]}` : undefined) : e;
    if (kv === undefined) continue;
    const key = kv.slice(0, kv.indexOf('=') + 1);
    const at = env.findIndex((x) => x.startsWith(key));
    if (at >= 0) env[at] = kv;
    else env.push(kv);
  }
  if (!env.some((e) => e.startsWith('HOME='))) env.push(`HOME=${user.home || '/'}`);
  const cwd = o.workdir || cfg.WorkingDir || '/';
  if (!cwd.startsWith('/')) throw new TsbuildError('INVALID', `the working directory '${cwd}' is invalid, it needs to be an absolute path`, undefined, 1);

  const recs = [
    `pid=${v.state.Pid}`,
    ...o.cmd.map((a) => `arg=${a}`),
    ...env.map((e) => `env=${e}`),
    `cwd=${cwd}`,
    `uid=${user.uid}`,
    `gid=${user.gid}`,
    ...user.groups.map((g) => `group=${g}`),
    ...(v.state.Cgroups ?? []).map((d) => `cgroup=${d}/cgroup.procs`),
    `tty=${o.tty ? 1 : 0}`,
    `stdin=${o.interactive ? 1 : 0}`,
    `detach=${o.detach ? 1 : 0}`,
    ...(o.tty && o.interactive ? (o.detachKeys ?? [0x10, 0x11]).map((k) => `detachkey=${k}`) : []),
  ];
  if (recs.some((r) => r.includes('\0'))) throw new TsbuildError('INVALID', 'NUL byte in the exec command or environment', undefined, 1);

  return new Promise((resolve, reject) => {
    const child = spawn(helper, ['exec'], {
      stdio: [o.interactive && !o.detach ? 'inherit' : 'ignore', 'inherit', 'inherit', 'pipe', 'pipe'],
      env: {},
    });
    const specPipe = child.stdio[3] as Writable;
    specPipe.on('error', () => {});
    specPipe.end(recs.map((r) => r + '\0').join(''));
    let text = '';
    (child.stdio[4] as NodeJS.ReadableStream).setEncoding('utf8');
    (child.stdio[4] as NodeJS.ReadableStream).on('data', (d: string) => (text += d));
    // the helper forwards these to the process; we only wait for it
    const ignore = () => {};
    for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'] as const) process.on(s, ignore);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'] as const) process.off(s, ignore);
      const lines = text.split('\n');
      const err = lines.find((l) => l.startsWith('error '));
      const pid = lines.find((l) => l.startsWith('pid '));
      if (err) {
        const what = err.slice(6);
        // the helper's own failures (125) and a process that could not start (126)
        return reject(
          code === 126
            ? new TsbuildError('RUNTIME', `OCI runtime exec failed: ${what}: unknown`, undefined, 126)
            : new TsbuildError('RUNTIME', `exec failed: ${what}`, undefined, 125),
        );
      }
      if (lines.includes('detached')) return resolve({ exitCode: 0, ...(pid ? { pid: Number(pid.slice(4)) } : {}) });
      const end = lines.find((l) => l.startsWith('exit ') || l.startsWith('signal '));
      let exitCode = code ?? (signal ? 128 : 125);
      if (end?.startsWith('exit ')) exitCode = Number(end.slice(5));
      else if (end?.startsWith('signal ')) exitCode = 128 + Number(end.slice(7));
      resolve({ exitCode, ...(pid ? { pid: Number(pid.slice(4)) } : {}) });
    });
  });
}
