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
 *   words behind "OCI runtime exec failed: " (a missing command too: exec never answers 127; a
 *   relative -w is runc's "Cwd must be an absolute path"; a cwd that is not a directory gets
 *   dockerd's mount hint), an unknown -u user 126 with dockerd's bare "unable to find user ...":
 *   these are `BareExecError`s, which the CLI prints as they are (Docker prints no prefix); with
 *   `-d` they are the daemon's answer instead: exit 1, "Error response from daemon: " (tsbuild: ).
 * - Checked in Docker 20.10's order: no such container; `-it` without a terminal ("the input
 *   device is not a TTY", the CLI's check, exit 1); paused ("Container NAME is paused, unpause the
 *   container before exec", NAME as typed); restarting ("Container ID is restarting, wait until
 *   the container is running"); not running ("Container ID is not running"): exit 1 each.
 * - `-d`: returns once the process runs; `-t`: a pty of the container's own devpts.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { Writable } from 'node:stream';
import { TsbuildError } from '../errors.js';
import { sandboxHelperPath, DEFAULT_PATH } from '../runtime/sandbox.js';
import { resolveUser } from '../runtime/users.js';
import type { Containers } from './containers.js';
import { restarting } from './inspect.js';
import { isPaused } from './pause.js';

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
  /** Whether the caller's stdin is a terminal (`-it` without one is refused, as docker exec does). */
  inputIsTerminal?: boolean;
}

/** An error docker exec prints in these words alone, with no "Error response from daemon: " (for
 *  which tsbuild's CLI says "tsbuild: "): a process that could not be started (126), the CLI's own
 *  terminal check (1). */
export class BareExecError extends TsbuildError {
  constructor(message: string, exitCode = 126) {
    super(exitCode === 126 ? 'RUNTIME' : 'USAGE', message, undefined, exitCode);
  }
}

/** runc's words for a process that could not be started, as dockerd passes them on. */
function ociExecFailed(what: string): string {
  // dockerd's hint for ENOTDIR from the runtime (translateContainerdStartErr)
  const hint = /not a directory/.test(what) ? ': Are you trying to mount a directory onto a file (or vice-versa)? Check if the specified host path exists and is the expected type' : '';
  return `OCI runtime exec failed: ${what}: unknown${hint}`;
}

/** A process that could not be started: 126 in these words alone, but with `-d` (the daemon's
 *  answer to the start request, then) exit 1 behind the daemon's prefix. */
function startFailed(message: string, detach: boolean): TsbuildError {
  return detach ? new TsbuildError('RUNTIME', message, undefined, 1) : new BareExecError(message);
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
  if (o.tty && o.interactive && !o.detach && o.inputIsTerminal === false) throw new BareExecError('the input device is not a TTY', 1);
  // a frozen container would hold the exec'd process (and this command) until it is thawed
  if (isPaused(v)) throw new TsbuildError('CONFLICT', `Container ${word} is paused, unpause the container before exec`, undefined, 1);
  if (restarting(v)) throw new TsbuildError('CONFLICT', `Container ${id} is restarting, wait until the container is running`, undefined, 1);
  if (!v.state.Running || !v.state.Pid) throw new TsbuildError('CONFLICT', `Container ${id} is not running`, undefined, 1);
  const { lowerDirs, upperDir: upper } = c.layer(v.record);
  const cfg = v.record.Config;
  const userSpec = o.user ?? cfg.User;
  const user = userSpec
    ? await resolveUser([...lowerDirs, upper], userSpec).catch((e: unknown) => {
        // dockerd resolves the user itself: its words reach the CLI without runc's
        throw startFailed((e as Error).message, o.detach);
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
  if (!cwd.startsWith('/')) throw startFailed(ociExecFailed('exec failed: Cwd must be an absolute path'), o.detach);

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
        return reject(code === 126 ? startFailed(ociExecFailed(what), o.detach) : new TsbuildError('RUNTIME', `exec failed: ${what}`, undefined, 125));
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
