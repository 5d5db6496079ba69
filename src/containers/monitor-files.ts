/**
 * The monitor's runtime files (see native/sandbox.c, monitor_main) as tsbuild reads them:
 * `monitor` (PID, start time, the container's PID 1, when it started), `exit` (written whole once
 * every byte of output is logged), and the `ctl` FIFO through which signals reach the command
 * (its parent sends them: no PID-reuse race).
 */
import { processIdentity } from '../runtime/proc-stat.js';
import { closeSync, constants, openSync, readFileSync, writeSync } from 'node:fs';
import { inDir } from './record.js';

export interface MonitorInfo {
  pid: number;
  starttime: string;
  /** Host PID of the container's PID 1 (0 while starting). */
  child: number;
  /** ns since the epoch (0 while starting). */
  startedAt: bigint;
}

export interface ExitInfo {
  code: number;
  signal: number;
  /** Whether the command was executed at all. */
  started: boolean;
  finishedAt: bigint;
  error: string;
  /** The OOM killer killed a process of the container (State.OOMKilled). */
  oomKilled: boolean;
}

export function readMonitorInfo(runDir: string): MonitorInfo | undefined {
  let text: string;
  try {
    text = readFileSync(inDir(runDir, 'monitor'), 'utf8');
  } catch {
    return undefined;
  }
  const [pid, starttime, child, started] = text.trim().split(' ');
  if (!pid || !starttime) return undefined;
  return { pid: Number(pid), starttime, child: Number(child ?? 0), startedAt: BigInt(started ?? '0') };
}

export function readExitInfo(runDir: string): ExitInfo | undefined {
  let text: string;
  try {
    text = readFileSync(inDir(runDir, 'exit'), 'utf8');
  } catch {
    return undefined;
  }
  const v = new Map<string, string>();
  for (const line of text.split('\n')) {
    const sp = line.indexOf(' ');
    if (sp > 0) v.set(line.slice(0, sp), line.slice(sp + 1));
  }
  return {
    code: Number(v.get('code') ?? 255),
    signal: Number(v.get('signal') ?? 0),
    started: v.get('started') === '1',
    finishedAt: BigInt(v.get('finished') ?? '0'),
    error: v.get('error') ?? '',
    oomKilled: v.get('oom') === '1',
  };
}

/** The same process as when `info` was written, still running (not a zombie)? */
export function monitorAlive(info: MonitorInfo): boolean {
  return processIdentity(info.pid) === `${info.pid} ${info.starttime}`;
}

/** Asks the monitor to send SIG to the command; false when nobody listens (not running). */
export function signalContainer(runDir: string, sig: number): boolean {
  let fd: number;
  try {
    fd = openSync(inDir(runDir, 'ctl'), constants.O_WRONLY | constants.O_NONBLOCK);
  } catch {
    return false; // ENOENT: gone; ENXIO: no reader
  }
  try {
    writeSync(fd, `kill ${sig}\n`);
    return true;
  } catch {
    return false;
  } finally {
    closeSync(fd);
  }
}
