/**
 * A process's line of /proc/PID/stat, read the one safe way (fields counted after the last `)`,
 * as the command name may hold spaces and parentheses), and the identity `PID STARTTIME` that names
 * a process across PID reuse. A zombie is dead: it is only not yet reaped (a container's PID 1
 * orphaned by a killed monitor waits for the host's init, which may take its time), so it has no
 * identity and owns nothing.
 */
import { readFileSync } from 'node:fs';

export interface ProcStat {
  /** R, S, D, Z, X, ... */
  state: string;
  ppid: number;
  /** Clock ticks after boot, as the kernel writes it. */
  startTime: string;
  /** Every field after the command name: [0] is the state, [19] the start time (stat(5) minus 3). */
  fields: string[];
}

export function procStat(pid: number): ProcStat | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { state: fields[0]!, ppid: Number(fields[1]), startTime: fields[19]!, fields };
}

/** True while PID runs (exists and is not a zombie). */
export function processRunning(pid: number): boolean {
  const s = procStat(pid);
  return s !== undefined && s.state !== 'Z' && s.state !== 'X';
}

/** `PID STARTTIME` of a running process, undefined when it is gone or a zombie. */
export function processIdentity(pid: number): string | undefined {
  const s = procStat(pid);
  return s && s.state !== 'Z' && s.state !== 'X' ? `${pid} ${s.startTime}` : undefined;
}
