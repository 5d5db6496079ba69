/**
 * Starts a container's monitor: the sandbox helper in monitor mode (native/sandbox.c,
 * monitor_main), which detaches from us, runs the command as PID 1 of its namespaces, writes the
 * json-file log and the exit file, and outlives this process. This module encodes the spec, does
 * the network handshake, and reports how the start went before anyone prints an ID: the command
 * runs (`started`), or it could not be executed (126/127, Docker's words) or the sandbox failed (125).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { TsbuildError } from '../errors.js';
import { encodeSpec, sandboxHelperPath, type NetAttachment, type SandboxSpec } from './sandbox.js';

export interface MonitorSpec extends Omit<SandboxSpec, 'stdout' | 'stderr' | 'signal' | 'timeoutMs' | 'limits'> {
  /** Where the monitor keeps `monitor`, `ctl` and `exit` (made by the caller, 0700). */
  runDir: string;
  /** The json-file log (absent: no log, `--log-driver none`). */
  log?: { path: string; maxSize: number; maxFile: number };
  /** `--log-driver syslog`: native/syslog.c's spec (containers/syslog-driver.ts). */
  syslog?: string;
  /** tsbuild-init as PID 1 in front of the command (`--init`). */
  init?: boolean;
  /** `-t`: the command's stdio is a pty of the container (the monitor holds the master), first of this size. */
  tty?: { rows: number; cols: number };
  /** Without `stdin`: the command's stdin is a pipe that stays open for `attach` clients (`-di`). */
  stdinOpen?: boolean;
  /** Piped to the command's stdin (`-i`); its end reaches the command as end of file. */
  stdin?: Readable;
  /** A foreground run: the output also goes here while we are alive. */
  attach?: { stdout: Writable; stderr: Writable };
  /** `cgroup.procs` files the container's PID 1 joins (the monitor removes the groups at the end). */
  cgroupProcs?: readonly string[];
  /** Executed by the monitor after the exit file is written (e.g. `--rm`'s cleanup). */
  exitCommand?: readonly string[];
  exitEnv?: readonly string[];
  /** The exit command's working directory (default /). */
  exitCwd?: string;
  /** With `attach`: we remove the container ourselves once it ended (`handle.cleanedUp()`); the exit
   *  command runs only if we die or detach first (a foreground `run --rm`: one Node start, not two). */
  callerCleans?: boolean;
  /** Host ports the monitor binds and holds while the container lives (published ports; port 0:
   *  the kernel picks one). A port already taken fails the start (125, Docker's words). */
  ports?: readonly HostPort[];
  /** The health probe the monitor runs in the container (containers/health.ts decides it). */
  health?: MonitorHealth;
}

/** A health check as the monitor runs it: the probe's argv (CMD-SHELL already `/bin/sh -c`),
 *  durations in ns, and the timeout as Go prints it (for "Health check exceeded timeout (T)"). */
export interface MonitorHealth {
  argv: readonly string[];
  intervalNs: number;
  timeoutNs: number;
  startPeriodNs: number;
  retries: number;
  timeoutText: string;
}

export interface HostPort {
  proto: 'tcp' | 'udp';
  /** IPv4 address to bind ('0.0.0.0': every address). */
  ip: string;
  port: number;
}

/** A host port as bound: `bound` is the port the kernel gave (differs from `port` only for 0). */
export interface BoundPort extends HostPort {
  bound: number;
}

export interface MonitorEnd {
  exitCode: number;
  signal?: number;
}

export interface MonitorHandle {
  /** Host PID of the container's PID 1. */
  pid: number;
  /** When the command was executed (ns since the epoch). */
  startedAt: bigint;
  network?: NetAttachment;
  /** The host ports the monitor holds, in the order asked. */
  ports: BoundPort[];
  /** Resolves when the monitor (and its exit command) is done; only meaningful before `detach`. */
  done: Promise<MonitorEnd>;
  /** Resolves once the command ended and its output reached us (before the exit command runs). */
  ended: Promise<MonitorEnd>;
  /** Whether the monitor waits for `cleanedUp` (the spec's `callerCleans`). */
  callerCleans: boolean;
  /** `callerCleans`: we did the cleanup (true) or leave it to the exit command (false). */
  cleanedUp(done: boolean): void;
  /** Stops listening (a detached run): the monitor carries on alone. */
  detach(): void;
}

/** Why a start failed: `exitCode` 125 (the sandbox), 126 (cannot invoke) or 127 (not found). */
export class StartError extends TsbuildError {
  constructor(
    message: string,
    readonly startCode: number,
    /** Resolves once the monitor (and its exit command, e.g. --rm's removal) is done. */
    readonly finished: Promise<void>,
  ) {
    super('RUNTIME', message, undefined, startCode);
  }
}

export function startMonitor(spec: MonitorSpec, helper = sandboxHelperPath()): Promise<MonitorHandle> {
  if (!existsSync(helper)) throw new TsbuildError('RUNTIME', `sandbox helper ${helper} is missing (run npm install to build it)`);
  if (spec.network === 'private' && !spec.netAttach) throw new TsbuildError('INVALID', "network 'private' needs netAttach");
  const recs: string[] = [`rundir=${spec.runDir}`];
  if (spec.init) recs.push('init=1');
  if (spec.stdin) recs.push('stdin=pipe');
  else if (spec.stdinOpen) recs.push('stdin=open');
  if (spec.tty) recs.push('tty=1', `rows=${spec.tty.rows}`, `cols=${spec.tty.cols}`);
  if (spec.attach) recs.push('attach=1');
  if (spec.log) recs.push(`log=${spec.log.path}`, `logmaxsize=${spec.log.maxSize < 0 ? -1 : spec.log.maxSize}`, `logmaxfile=${spec.log.maxFile}`);
  if (spec.syslog) recs.push(`syslog=${spec.syslog}`);
  for (const a of spec.exitCommand ?? []) recs.push(`exitcmd=${a}`);
  for (const e of spec.exitEnv ?? []) recs.push(`exitenv=${e}`);
  if (spec.exitCwd) recs.push(`exitcwd=${spec.exitCwd}`);
  for (const p of spec.ports ?? []) recs.push(`port=${p.proto} ${p.ip} ${p.port}`);
  if (spec.health) {
    const h = spec.health;
    recs.push(...h.argv.map((a) => `healthcmd=${a}`), `healthinterval=${h.intervalNs}`, `healthtimeout=${h.timeoutNs}`);
    recs.push(`healthstart=${h.startPeriodNs}`, `healthretries=${h.retries}`, `healthtimeouttext=${h.timeoutText}`);
  }
  for (const r of recs) if (r.includes('\0')) throw new TsbuildError('INVALID', 'NUL byte in the container spec');
  const base = encodeSpec({ ...spec, stdout: undefined, stderr: undefined }, { cgroupProcs: spec.cgroupProcs ?? [] });
  // the helper parses logmaxsize as unsigned: "no limit" is simply left out
  const encoded = Buffer.concat([base, Buffer.from(recs.filter((r) => r !== 'logmaxsize=-1').map((r) => r + '\0').join(''), 'utf8')]);

  return new Promise((resolve, reject) => {
    // the input goes on fd 6 (the helper makes it its fd 0): Node destroys a child's own stdin pipe
    // when the child exits, and the monitor's first process exits at once (double fork)
    const stdio: ('ignore' | 'pipe')[] = ['ignore', spec.attach ? 'pipe' : 'ignore', spec.attach ? 'pipe' : 'ignore', 'pipe', 'pipe'];
    stdio.push(spec.network === 'private' ? 'pipe' : 'ignore');
    if (spec.stdin || spec.callerCleans) stdio.push(spec.stdin ? 'pipe' : 'ignore');
    if (spec.callerCleans) stdio.push('pipe');
    const child = spawn(helper, ['monitor'], { stdio, env: {} });
    const specPipe = child.stdio[3] as Writable;
    specPipe.on('error', () => {});
    specPipe.end(encoded);
    const netPipe = (child.stdio as unknown[])[5] as Writable | undefined;
    netPipe?.on('error', () => {});
    // fd 7: one byte once we removed the container; its end without one: the monitor's exit command does it
    const cleanupPipe = spec.callerCleans ? ((child.stdio as unknown[])[7] as Writable) : undefined;
    cleanupPipe?.on('error', () => {});
    const cleanedUp = (done: boolean) => {
      if (cleanupPipe && !cleanupPipe.destroyed) done ? cleanupPipe.end('1') : cleanupPipe.destroy();
    };
    if (spec.stdin) {
      const sink = (child.stdio as unknown[])[6] as Writable;
      sink.on('error', () => {});
      spec.stdin.pipe(sink);
    }
    let outputsOpen = 0;
    const outputsDone: Promise<void>[] = [];
    if (spec.attach) {
      for (const [from, to] of [
        [child.stdout!, spec.attach.stdout],
        [child.stderr!, spec.attach.stderr],
      ] as const) {
        outputsOpen++;
        from.pipe(to, { end: false });
        outputsDone.push(new Promise((r) => from.on('close', () => r())));
      }
    }
    const statusPipe = child.stdio[4] as Readable;
    let text = '';
    let pid: number | undefined;
    const ports: BoundPort[] = [];
    let error: string | undefined;
    let end: MonitorEnd | undefined;
    let network: Promise<NetAttachment | undefined> = Promise.resolve(undefined);
    let settled = false;
    let resolveDone!: (e: MonitorEnd) => void;
    const done = new Promise<MonitorEnd>((r) => (resolveDone = r));
    let resolveEnded!: (e: MonitorEnd) => void;
    const ended = new Promise<MonitorEnd>((r) => (resolveEnded = r));
    const onLine = (line: string) => {
      const sp = line.indexOf(' ');
      const key = sp < 0 ? line : line.slice(0, sp);
      const val = sp < 0 ? '' : line.slice(sp + 1);
      if (key === 'pid') pid = Number(val);
      else if (key === 'port') {
        const [proto, ip, port, bound] = val.split(' ');
        ports.push({ proto: proto === 'udp' ? 'udp' : 'tcp', ip: ip!, port: Number(port), bound: Number(bound) });
      }
      else if (key === 'netns' && netPipe) {
        const attach = spec.netAttach!(Number(val));
        network = attach.then(
          (a) => (netPipe.end(`eth0 ${a.address} ${a.prefixLength} ${a.gateway ?? '-'} ${a.mtu ?? 0}\n`), a),
          (e: unknown) => (netPipe.end(`fail ${String((e as Error)?.message ?? e).replace(/\n/g, ' ')}\n`), undefined),
        );
      } else if (key === 'started' && !settled) {
        settled = true;
        const startedAt = BigInt(val);
        network.then((net) => {
          resolve({
            pid: pid ?? 0,
            startedAt,
            ...(net ? { network: net } : {}),
            ports,
            done,
            ended,
            callerCleans: !!cleanupPipe,
            cleanedUp,
            detach: () => {
              cleanedUp(false);
              statusPipe.destroy();
              child.stdout?.destroy();
              child.stderr?.destroy();
              spec.stdin?.unpipe();
              ((child.stdio as unknown[])[6] as Writable | undefined)?.destroy();
              child.unref();
            },
          });
        });
      } else if (key === 'error') error ??= val;
      else if (key === 'exit') end = { exitCode: Number(val) };
      else if (key === 'signal') end = { exitCode: 128 + Number(val), signal: Number(val) };
      // the command never ran: say so now, not when the exit command is done (it may need the
      // container's lock, which our caller holds until we answer)
      if (end && !settled) fail();
      else if (end && (key === 'exit' || key === 'signal')) {
        const e = end;
        void Promise.all(outputsOpen ? outputsDone : []).then(() => resolveEnded(e));
      }
    };
    const fail = () => {
      settled = true;
      const code = end?.exitCode ?? 125;
      const why = error ?? `the container monitor ended without a status (exit ${code})`;
      // the command's own exit codes only count once it ran; before that it is the sandbox's
      const startCode = code === 126 || code === 127 ? code : 125;
      cleanedUp(false); // the command never ran: the exit command does the removal (we hold the lock)
      reject(new StartError(why, startCode, closed));
    };
    statusPipe.on('data', (d: Buffer) => {
      text += d.toString('utf8');
      for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n')) {
        onLine(text.slice(0, nl));
        text = text.slice(nl + 1);
      }
    });
    const closed: Promise<void> = new Promise<void>((r) => statusPipe.on('close', () => r())).then(() => Promise.all(outputsOpen ? outputsDone : [])).then(() => undefined);
    statusPipe.on('error', () => {});
    child.on('error', (e) => {
      if (settled) return;
      settled = true;
      reject(new TsbuildError('RUNTIME', `cannot start the container monitor: ${e.message}`));
    });
    closed.then(() => {
      netPipe?.destroy();
      if (!settled) fail();
      else {
        resolveEnded(end ?? { exitCode: 255 });
        resolveDone(end ?? { exitCode: 255 });
      }
    });
  });
}
