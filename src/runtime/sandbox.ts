/**
 * Runs one process in the namespaced sandbox: a typed spec in, an exit status out. The work is done
 * by the C helper native/build/tsbuild-sandbox (see native/sandbox.c); this module encodes the spec,
 * streams output and turns the helper's status lines into a result or a TsbuildError.
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Readable, Writable } from 'node:stream';
import { TsbuildError } from '../errors.js';
import { processRunning } from './proc-stat.js';
import { createCgroup, defaultMemoryBytes, type Cgroup, type CgroupLimits } from './cgroup.js';
import { attachHelper, discardHelper, spawnHelperProcess, startHelper, type PipeKind, type StartedHelper } from './helper-process.js';

export interface SandboxUser {
  uid: number;
  gid: number;
  /** Supplementary group ids. */
  groups: number[];
}

export type SandboxMount =
  /** A host file or directory at `target` (a path inside the rootfs; symlinks resolve inside it).
   *  Read-only unless `readonly: false` (CVE-2025-4953: a build must not write into its context).
   *  `source` is a trusted host path: resolve user-given sources safely before passing them. */
  | {
      type: 'bind';
      source: string;
      target: string;
      readonly?: boolean;
      /** A relative path below `source` (trusted) that is not: the helper resolves it by fd, with
       *  no symlinks and without leaving `source`, right before mounting it (cache `source=`). */
      beneath?: string;
    }
  /** A fresh tmpfs at `target`; `sizeBytes` 0 or absent = the run's memory limit (or, without one,
   *  defaultMemoryBytes()): never the kernel's default of half the RAM per mount. */
  | { type: 'tmpfs'; target: string; sizeBytes?: number };

/** What `netAttach` reports: eth0's IPv4 address, prefix length, default gateway and MTU. */
export interface NetAttachment {
  address: string;
  prefixLength: number;
  /** The default route's next hop; absent = no default route. */
  gateway?: string;
  mtu?: number;
  /** Called once the run is over (whatever its outcome), e.g. to give the address back. */
  release?: () => void | Promise<void>;
}

export interface SandboxSpec {
  /** Layer directories in overlayfs format, LOWEST (base image) FIRST, as an image lists them. */
  lowerDirs: string[];
  /** Overlay upper and work dirs (same filesystem) and an empty directory to mount the root on. */
  upperDir: string;
  workDir: string;
  mountPoint: string;
  args: string[];
  /** `KEY=VALUE` strings, in order. PATH defaults to Docker's when absent. */
  env: string[];
  /** Absolute path inside the rootfs; created when missing (as WORKDIR is). Default `/`. */
  cwd?: string;
  user?: SandboxUser;
  hostname?: string;
  /** 'none': a network namespace of its own with only `lo` up; 'private': the same plus an `eth0`
   *  that `netAttach` provides; 'host': the host's network. */
  network: 'host' | 'none' | 'private';
  /** network 'private' only: called with the host PID whose /proc/PID/ns/net is the run's network
   *  namespace, before the command starts; it must move a veth end named `eth0` into it and say how
   *  to configure it. A rejection fails the run (RUNTIME) before the command starts. */
  netAttach?: (pid: number) => Promise<NetAttachment>;
  /** Limits for a cgroup made for the run (none when absent: callers set the defaults). */
  limits?: CgroupLimits;
  mounts?: SandboxMount[];
  /** Set no_new_privs for the command (default true: setuid binaries do not gain privileges). */
  noNewPrivileges?: boolean;
  /** Mount the overlay `volatile` (Linux >= 6.8 here): its unmount does not syncfs the whole
   *  filesystem of the upper dir and fsyncs inside are no-ops, so the upper dir is NOT on disk when
   *  the run ends: the caller syncs it before relying on it (a build step's deferred commit). */
  volatile?: boolean;
  /** Pass the layers as one pre-Linux-6.8 `lowerdir=` list (the helper falls back to it by itself
   *  on older kernels; this forces it, for tests). */
  legacyLowerdir?: boolean;
  /** Output sinks: a callback per chunk or a stream to pipe into. Default: discarded. */
  stdout?: ((chunk: Buffer) => void) | Writable;
  stderr?: ((chunk: Buffer) => void) | Writable;
  /** Aborting kills the whole process tree; the promise then resolves with `aborted: true`. */
  signal?: AbortSignal;
  /** Kills the whole process tree after this many milliseconds (`timedOut: true`). */
  timeoutMs?: number;
  /** No run follows this one soon (a build's last RUN): no spare helper and cgroup are made for
   *  the next run while this one runs (they would only be ended unused). */
  last?: boolean;
  /** Called once the spec is on its way to the helper (the command starts without this thread):
   *  what the caller does next overlaps the run. Not called when the helper cannot be started. */
  onStarted?: () => void;
}

export interface SandboxResult {
  /** The command's exit code; 128+N when killed by signal N; 127 when it could not be executed. */
  exitCode: number;
  /** Set when the command was killed by a signal. */
  signal?: number;
  /** Why the command could not be executed (exitCode 127), e.g. `exec "foo": No such file or directory`. */
  execError?: string;
  timedOut?: boolean;
  aborted?: boolean;
  /** The kernel's OOM killer killed a process of the run (its memory limit was reached). */
  oomKilled?: boolean;
}

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Path of the compiled helper (built by `npm install` via native/Makefile). */
export function sandboxHelperPath(): string {
  // src/runtime/ and dist/runtime/ are both two levels below the project root
  return join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'native', 'build', 'tsbuild-sandbox');
}

/** Runs the spec to completion. Throws TsbuildError('RUNTIME') when the sandbox itself fails. */
export async function runSandbox(spec: SandboxSpec, helper = sandboxHelperPath()): Promise<SandboxResult> {
  if (!existsSync(helper)) {
    throw new TsbuildError('RUNTIME', `sandbox helper ${helper} is missing (run npm install to build it)`);
  }
  if (spec.network === 'private' && !spec.netAttach) throw new TsbuildError('INVALID', "network 'private' needs netAttach");
  const wantsCgroup = spec.limits !== undefined && Object.values(spec.limits).some((v) => v !== undefined);
  // encoded before the cgroup exists, so a bad spec leaves nothing to clean up
  const probe = encodeSpec(spec);
  const cgroup = wantsCgroup ? (takeSpareCgroup(spec.limits!) ?? createCgroup('run', spec.limits!, { freezer: false })) : undefined;
  const encoded = cgroup ? encodeSpec(spec, { cgroupProcs: cgroup.procsFiles }) : probe;
  let attached: Promise<NetAttachment | undefined> = Promise.resolve(undefined);
  let outcome: { result: SandboxResult } | { error: TsbuildError };
  try {
    outcome = await new Promise((resolve) => {
      spawnHelper(spec, helper, encoded, cgroup, (p) => (attached = p), resolve);
    });
  } finally {
    // the attachment's host side is released even when the helper was gone before it finished
    const a = await attached.catch(() => undefined);
    await a?.release?.();
    await cgroup?.remove();
  }
  if ('error' in outcome) throw outcome.error;
  return outcome.result;
}

function spawnHelper(
  spec: SandboxSpec,
  helper: string,
  encoded: Buffer,
  cgroup: Cgroup | undefined,
  onAttach: (p: Promise<NetAttachment | undefined>) => void,
  done: (o: { result: SandboxResult } | { error: TsbuildError }) => void,
): void {
  // the spare started for this run when there is one, else a helper started now
  const spareHelper = takeSpareHelper(helper);
  const child = spareHelper ? attachHelper(spareHelper) : spawnHelperProcess(helper, 'tsbuild-sandbox', HELPER_STDIO, { sealed: true });
  const pid = child.pid; // undefined when the spawn failed (reported by 'error')
  if (pid !== undefined) live.add(pid);
  const status: Buffer[] = [];
  let timedOut = false;
  let aborted = false;
  let killTimer: NodeJS.Timeout | undefined;

  // SIGUSR1 asks the helper to kill PID 1 of the sandbox, which takes every process with it;
  // SIGKILL is the fallback should the helper not answer.
  const stop = () => {
    child.kill('SIGUSR1');
    killTimer ??= setTimeout(() => child.kill('SIGKILL'), 2000);
  };
  const timer =
    spec.timeoutMs !== undefined
      ? setTimeout(() => {
          timedOut = true;
          stop();
        }, spec.timeoutMs)
      : undefined;
  const onAbort = () => {
    aborted = true;
    stop();
  };
  if (spec.signal?.aborted) onAbort();
  else spec.signal?.addEventListener('abort', onAbort, { once: true });

  pipeOut(child.stdio[1] as Readable, spec.stdout);
  pipeOut(child.stdio[2] as Readable, spec.stderr);
  const specPipe = child.stdio[3] as Writable;
  specPipe.on('error', () => {}); // the helper may exit before reading (reported via status)
  specPipe.end(encoded);
  // the next run's helper and cgroup are made while this one runs (this thread waits meanwhile)
  if (pid !== undefined && !spec.last) setImmediate(() => prestartSandbox(helper, cgroup ? spec.limits : undefined));
  // (after the spare's start: that one is for the next run, which may come sooner)
  if (pid !== undefined && spec.onStarted) setImmediate(spec.onStarted);
  const fd5 = child.stdio[5] as Writable | undefined;
  fd5?.on('error', () => {});
  const netPipe = spec.network === 'private' ? fd5 : undefined;
  if (!netPipe) fd5?.end(); // (the helper closes its end for the other networks)
  let scanned = 0;
  (child.stdio[4] as Readable).on('data', (d: Buffer) => {
    status.push(d);
    if (!netPipe || scanned < 0) return;
    // "netns PID": the run's network namespace exists; answer with eth0's configuration
    const text = Buffer.concat(status).toString('utf8');
    const m = /^netns (\d+)$/m.exec(text.slice(0, text.lastIndexOf('\n') + 1));
    if (!m) return;
    scanned = -1;
    const attach = spec.netAttach!(Number(m[1]));
    onAttach(attach);
    attach.then(
      (a) => netPipe.end(`eth0 ${a.address} ${a.prefixLength} ${a.gateway ?? '-'} ${a.mtu ?? 0}\n`),
      (e: unknown) => netPipe.end(`fail ${String((e as Error)?.message ?? e).replace(/\n/g, ' ')}\n`),
    );
  });

  child.on('error', (e) => {
    cleanup();
    done({ error: new TsbuildError('RUNTIME', `cannot start sandbox helper: ${e.message}`) });
  });
  child.on('close', (code, sig) => {
    cleanup();
    const lines = Buffer.concat(status).toString('utf8').split('\n');
    let exitCode: number | undefined;
    let signal: number | undefined;
    let error: string | undefined;
    for (const line of lines) {
      const sp = line.indexOf(' ');
      const key = line.slice(0, sp);
      const val = line.slice(sp + 1);
      if (key === 'exit') exitCode = Number(val);
      else if (key === 'signal') signal = Number(val);
      else if (key === 'error') error ??= val;
    }
    const oom = cgroup?.oomKilled() ? { oomKilled: true } : {};
    if (timedOut || aborted) {
      done({ result: { exitCode: 137, signal: 9, ...(timedOut ? { timedOut } : {}), ...(aborted ? { aborted } : {}), ...oom } });
    } else if (signal !== undefined) {
      done({ result: { exitCode: 128 + signal, signal, ...oom } });
    } else if (exitCode === 127 && error?.startsWith('exec ')) {
      done({ result: { exitCode, execError: error } });
    } else if (exitCode !== undefined && error === undefined) {
      done({ result: { exitCode, ...oom } });
    } else if ('oomKilled' in oom) {
      // the OOM killer took the helper or PID 1 rather than the command: still the run's doing
      done({ result: { exitCode: 137, signal: 9, oomKilled: true } });
    } else {
      const why = error ?? (sig ? `helper killed by ${sig}` : `helper exited with status ${code}`);
      // namespaces and mounts need root: say so instead of leaving a bare EPERM
      const hint = /Operation not permitted/.test(why) && process.getuid?.() !== 0 ? ' (RUN steps need root; rootless builds are not supported yet)' : '';
      done({ error: new TsbuildError('RUNTIME', `sandbox: ${why}${hint}`) });
    }
  });

  function cleanup() {
    if (pid !== undefined) live.delete(pid);
    if (timer) clearTimeout(timer);
    if (killTimer) clearTimeout(killTimer);
    spec.signal?.removeEventListener('abort', onAbort);
    if (netPipe && !netPipe.writableEnded && scanned >= 0) netPipe.end();
  }
}

/** Helpers still running, so an exiting Node process can take them down (see killAllSandboxes). */
const live = new Set<number>();

/** Every helper's fds: none (stdin, the helper makes its own), stdout, stderr, the spec, the status
 *  lines, eth0's configuration (network 'private'; the helper closes it for the others). An empty
 *  environment: nothing of the host's reaches PID 1 (the command gets spec.env only). */
const HELPER_STDIO: readonly PipeKind[] = ['null', 'w', 'w', 'r', 'w', 'r'];

/** How long a spare waits for a run before it is ended (a build's RUNs come well within it). */
const SPARE_IDLE_MS = 2000;

/**
 * The spare: what the next run needs that does not depend on its spec, made while a run runs
 * (this thread mostly waits then). A helper that has exec'd, re-exec'd itself from its sealed
 * memfd, set PDEATHSIG and blocks reading its spec (fd 3), nothing else: every isolation step
 * happens after the spec, as for a helper started by the run itself; it takes the helper's exec
 * (~3 ms of this thread in posix_spawn's vfork) and its loading (~5 ms) off the next run's path.
 * And a cgroup with the limits of this run, taken by the next run if its limits are the same
 * (mkdir and limit writes in each v1 hierarchy: 1-3 ms of this thread). The spare never outlives
 * us: the helper dies with us (PDEATHSIG, end of file on fd 3), killAllSandboxes ends both on
 * SIGINT/SIGTERM, an exit handler removes the cgroup (a SIGKILL leaves it to sweepCgroups), and
 * what no run takes within SPARE_IDLE_MS is ended.
 */
const spare: {
  helper?: { path: string; started: StartedHelper };
  cgroup?: { key: string; group: Cgroup };
  timer?: NodeJS.Timeout;
} = {};
let exitHooked = false;

/** Prepares a spare helper (and a cgroup for LIMITS) for the next run, unless one waits already.
 *  Never throws: the run then makes its own, and reports what fails. */
export function prestartSandbox(helper = sandboxHelperPath(), limits?: CgroupLimits): void {
  if (spare.helper?.path !== helper) {
    dropSpareHelper();
    try {
      spare.helper = { path: helper, started: startHelper(helper, 'tsbuild-sandbox', HELPER_STDIO, { sealed: true }) };
    } catch {
      // the run starts its own
    }
  }
  const key = limits && cgroupKey(limits);
  if (key !== undefined && spare.cgroup?.key !== key) {
    dropSpareCgroup();
    try {
      spare.cgroup = { key, group: createCgroup('run', limits!, { freezer: false }) };
    } catch {
      // the run makes its own
    }
    if (!exitHooked) {
      exitHooked = true;
      process.on('exit', dropSpare);
    }
  }
  if (spare.timer) clearTimeout(spare.timer);
  spare.timer = setTimeout(dropSpare, SPARE_IDLE_MS).unref();
}

/** Starts a spare of the default helper unless a spare (of any helper) waits: for a first run,
 *  as early as its rootfs is prepared (rootfs.ts), so its helper starts while that goes on. */
export function warmSandbox(): void {
  if (!spare.helper) prestartSandbox();
}

/** Ends the spare helper and removes the spare cgroup, if any (no run has taken them). */
export function dropSpare(): void {
  if (spare.timer) clearTimeout(spare.timer);
  spare.timer = undefined;
  dropSpareHelper();
  dropSpareCgroup();
}

function dropSpareHelper(): void {
  const h = spare.helper;
  spare.helper = undefined;
  if (h) void discardHelper(h.started);
}

function dropSpareCgroup(): void {
  const c = spare.cgroup;
  spare.cgroup = undefined;
  // an empty group: removed right away (synchronously, as an exit handler needs it)
  if (c) void c.group.remove();
}

/** The spare helper for HELPER, if it is still waiting (a stray signal may have ended it). */
function takeSpareHelper(helper: string): StartedHelper | undefined {
  const h = spare.helper;
  if (!h || h.path !== helper || !processRunning(h.started.pid)) {
    dropSpareHelper();
    return undefined;
  }
  spare.helper = undefined;
  return h.started;
}

/** The spare cgroup if it was made with these LIMITS. */
function takeSpareCgroup(limits: CgroupLimits): Cgroup | undefined {
  const c = spare.cgroup;
  if (!c || c.key !== cgroupKey(limits)) return undefined;
  spare.cgroup = undefined;
  return c.group;
}

function cgroupKey(limits: CgroupLimits): string {
  return JSON.stringify(Object.entries(limits).filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : 1)));
}

/** The spare helper's PID and the spare cgroup's directories, for tests. */
export function spareOf(): { pid?: number; cgroupPaths?: readonly string[] } {
  return { ...(spare.helper ? { pid: spare.helper.started.pid } : {}), ...(spare.cgroup ? { cgroupPaths: spare.cgroup.group.paths } : {}) };
}

/** Synchronously asks every running helper to kill its sandbox and waits (up to `waitMs`) until
 *  they are gone, so files can be removed after it (for exit and signal handlers). */
export function killAllSandboxes(waitMs = 0): void {
  dropSpare();
  for (const pid of live) {
    if (pid <= 1) continue; // never a broadcast
    try {
      process.kill(pid, 'SIGUSR1');
    } catch {
      // already gone
    }
  }
  const until = Date.now() + waitMs;
  const nap = new Int32Array(new SharedArrayBuffer(4));
  while (Date.now() < until && [...live].some(processRunning)) Atomics.wait(nap, 0, 0, 5);
}


/** Count of sandboxes still running in this process. */
export function runningSandboxes(): number {
  return live.size;
}

/** The helper's wire format: NUL-terminated `key=value` records (see native/sandbox.c). */
export function encodeSpec(spec: SandboxSpec, extra: { cgroupProcs?: readonly string[] } = {}): Buffer {
  const recs: string[] = [];
  const put = (k: string, v: string) => {
    // never the value itself: env entries carry secrets (RUN --mount=type=secret,env=...)
    if (v.includes('\0')) throw new TsbuildError('INVALID', `NUL byte in sandbox ${k}${k === 'env' ? ` ${JSON.stringify(v.slice(0, Math.max(0, v.indexOf('='))))}` : ''}`);
    recs.push(`${k}=${v}`);
  };
  if (spec.args.length === 0) throw new TsbuildError('INVALID', 'empty command');
  if (spec.lowerDirs.length === 0) throw new TsbuildError('INVALID', 'a rootfs needs at least one lower dir');
  put('root', resolve(spec.mountPoint));
  put('upper', resolve(spec.upperDir));
  put('work', resolve(spec.workDir));
  // overlayfs lists the topmost layer first
  for (const d of [...spec.lowerDirs].reverse()) put('lower', resolve(d));
  for (const a of spec.args) put('arg', a);
  const env = spec.env.some((e) => e.startsWith('PATH=')) ? spec.env : [`PATH=${DEFAULT_PATH}`, ...spec.env];
  for (const e of env) put('env', e);
  const cwd = spec.cwd ?? '/';
  if (!cwd.startsWith('/')) throw new TsbuildError('INVALID', `working directory must be absolute: ${cwd}`);
  put('cwd', cwd);
  const user = spec.user ?? { uid: 0, gid: 0, groups: [] };
  put('uid', String(checkId(user.uid)));
  put('gid', String(checkId(user.gid)));
  for (const g of user.groups) put('group', String(checkId(g)));
  if (spec.hostname) put('hostname', spec.hostname);
  put('net', spec.network);
  for (const f of extra.cgroupProcs ?? []) put('cgroup', f);
  put('nonewprivs', spec.noNewPrivileges === false ? '0' : '1');
  if (spec.legacyLowerdir) put('legacy_lowerdir', '1');
  if (spec.volatile) put('volatile', '1');
  for (const m of spec.mounts ?? []) {
    if (!m.target.startsWith('/')) throw new TsbuildError('INVALID', `mount target must be absolute: ${m.target}`);
    if (m.target.includes('\t')) throw new TsbuildError('INVALID', `tab in mount target: ${m.target}`);
    if (m.type === 'bind') {
      if (m.source.includes('\t')) throw new TsbuildError('INVALID', `tab in mount source: ${m.source}`);
      if (m.beneath !== undefined && (m.beneath.includes('\t') || m.beneath.startsWith('/'))) throw new TsbuildError('INVALID', `bad bind sub-path: ${m.beneath}`);
      put('bind', `${resolve(m.source)}\t${m.target}\t${m.readonly === false ? 'rw' : 'ro'}${m.beneath !== undefined ? `\t${m.beneath}` : ''}`);
    } else {
      // never the kernel's default (half the RAM per mount: a few mounts could fill the host)
      const size = Math.floor(m.sizeBytes || spec.limits?.memoryBytes || defaultMemoryBytes());
      put('tmpfs', `${m.target}\t${size}`);
    }
  }
  return Buffer.from(recs.map((r) => r + '\0').join(''), 'utf8');
}

function checkId(n: number): number {
  if (!Number.isInteger(n) || n < 0 || n > 0xfffffffe) throw new TsbuildError('INVALID', `invalid uid/gid ${n}`);
  return n;
}

function pipeOut(from: Readable, to: SandboxSpec['stdout']): void {
  if (!to) from.resume();
  else if (typeof to === 'function') from.on('data', to);
  else from.pipe(to, { end: false });
}
