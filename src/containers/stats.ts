/**
 * `stats --no-stream`: Docker's columns (CONTAINER ID, NAME, CPU %, MEM USAGE / LIMIT, MEM %,
 * NET I/O, BLOCK I/O, PIDS) and its arithmetic, read from the container's cgroup and processes:
 * - CPU %: (container CPU time delta / host CPU time delta) x online CPUs x 100 over two samples
 *   one second apart, as the daemon's collector does. The time is summed from /proc/PID/stat of
 *   the group's processes (user+system, plus their reaped children): cgroup v1 here has cpuacct in
 *   its own hierarchy, which tsbuild's groups do not join.
 * - MEM USAGE: memory.usage_in_bytes minus total_inactive_file (v2: memory.current minus
 *   inactive_file), as docker's CLI; LIMIT: the group's limit, at most the host's memory.
 * - NET I/O: bytes of the container's interfaces but lo (/proc/PID/net/dev of its PID 1).
 * - BLOCK I/O: read_bytes/write_bytes of /proc/PID/io (the groups have no blkio controller).
 * - PIDS: pids.current.
 * Sizes as go-units prints them: binary BytesSize for memory (`1.5MiB`), decimal for I/O (`648B`).
 */
import { readFileSync } from 'node:fs';
import { totalmem } from 'node:os';
import { join } from 'node:path';
import { humanSize } from '../image/display.js';
import type { ContainerView } from './containers.js';
import { shortId } from './ids.js';

export interface Sample {
  /** Container CPU time (clock ticks). */
  cpu: number;
  /** Host CPU time (clock ticks, all CPUs). */
  system: number;
  onlineCpus: number;
  memUsage: number;
  memLimit: number;
  netRx: number;
  netTx: number;
  blkRead: number;
  blkWrite: number;
  pids: number;
}

export interface StatsRow {
  ID: string;
  Container: string;
  Name: string;
  CPUPerc: string;
  MemUsage: string;
  MemPerc: string;
  NetIO: string;
  BlockIO: string;
  PIDs: string;
}

export const STATS_DEFAULT_FORMAT = 'table {{.ID}}\\t{{.Name}}\\t{{.CPUPerc}}\\t{{.MemUsage}}\\t{{.MemPerc}}\\t{{.NetIO}}\\t{{.BlockIO}}\\t{{.PIDs}}';

export const STATS_HEADERS: Record<string, string> = {
  ID: 'CONTAINER ID',
  Container: 'CONTAINER',
  Name: 'NAME',
  CPUPerc: 'CPU %',
  MemUsage: 'MEM USAGE / LIMIT',
  MemPerc: 'MEM %',
  NetIO: 'NET I/O',
  BlockIO: 'BLOCK I/O',
  PIDs: 'PIDS',
};

const read = (p: string) => {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return '';
  }
};

/** The group directory among the container's groups that has FILE. */
function groupFile(c: ContainerView, file: string): string | undefined {
  for (const dir of c.state.Cgroups ?? []) {
    const text = read(join(dir, file));
    if (text) return text;
  }
  return undefined;
}

/** One sample of a running container (undefined: not running). */
export function sample(c: ContainerView): Sample | undefined {
  if (!c.state.Running) return undefined;
  const procs = (groupFile(c, 'cgroup.procs') ?? String(c.state.Pid)).split('\n').filter(Boolean).map(Number);
  let cpu = 0;
  let blkRead = 0;
  let blkWrite = 0;
  for (const pid of procs) {
    const stat = read(`/proc/${pid}/stat`);
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields 14-17 (utime stime cutime cstime), counted from field 3 (state) at index 0
    for (let i = 11; i <= 14; i++) cpu += Number(f[i] ?? 0);
    const io = read(`/proc/${pid}/io`);
    blkRead += Number(/^read_bytes: (\d+)/m.exec(io)?.[1] ?? 0);
    blkWrite += Number(/^write_bytes: (\d+)/m.exec(io)?.[1] ?? 0);
  }
  const cpuLine = read('/proc/stat').split('\n')[0] ?? '';
  const system = cpuLine.split(/\s+/).slice(1, 9).reduce((a, b) => a + Number(b || 0), 0);
  const onlineCpus = (read('/proc/stat').match(/^cpu\d+ /gm) ?? []).length || 1;
  const memStat = groupFile(c, 'memory.stat') ?? '';
  const usage = Number(groupFile(c, 'memory.usage_in_bytes') ?? groupFile(c, 'memory.current') ?? 0);
  const inactive = Number(/^total_inactive_file (\d+)/m.exec(memStat)?.[1] ?? /^inactive_file (\d+)/m.exec(memStat)?.[1] ?? 0);
  const limitText = (groupFile(c, 'memory.limit_in_bytes') ?? groupFile(c, 'memory.max') ?? '').trim();
  const host = totalmem();
  const limit = limitText === '' || limitText === 'max' ? host : Math.min(Number(limitText), host);
  let netRx = 0;
  let netTx = 0;
  for (const line of read(`/proc/${c.state.Pid}/net/dev`).split('\n').slice(2)) {
    const m = /^\s*([^:]+):\s*(.*)$/.exec(line);
    if (!m || m[1] === 'lo') continue;
    const v = m[2]!.trim().split(/\s+/).map(Number);
    netRx += v[0] ?? 0;
    netTx += v[8] ?? 0;
  }
  return {
    cpu,
    system,
    onlineCpus,
    memUsage: usage > inactive ? usage - inactive : usage,
    memLimit: limit,
    netRx,
    netTx,
    blkRead,
    blkWrite,
    pids: Number((groupFile(c, 'pids.current') ?? String(procs.length)).trim()),
  };
}

/** go-units BytesSize: binary units, `%.4g`. */
export function bytesSize(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${Number(v.toPrecision(4))}${units[i]}`;
}

/** A row from two samples (BEFORE may be missing: CPU 0). */
export function statsRow(c: ContainerView, before: Sample | undefined, after: Sample | undefined, noTrunc = false): StatsRow {
  const id = noTrunc ? c.record.Id : shortId(c.record.Id);
  if (!after) {
    return { ID: id, Container: id, Name: c.record.Name, CPUPerc: '0.00%', MemUsage: '0B / 0B', MemPerc: '0.00%', NetIO: '0B / 0B', BlockIO: '0B / 0B', PIDs: '0' };
  }
  const dCpu = before ? after.cpu - before.cpu : 0;
  const dSys = before ? after.system - before.system : 0;
  const cpu = dCpu > 0 && dSys > 0 ? (dCpu / dSys) * after.onlineCpus * 100 : 0;
  const mem = after.memLimit > 0 ? (after.memUsage / after.memLimit) * 100 : 0;
  return {
    ID: id,
    Container: id,
    Name: c.record.Name,
    CPUPerc: `${cpu.toFixed(2)}%`,
    MemUsage: `${bytesSize(after.memUsage)} / ${bytesSize(after.memLimit)}`,
    MemPerc: `${mem.toFixed(2)}%`,
    NetIO: `${humanSize(after.netRx)} / ${humanSize(after.netTx)}`,
    BlockIO: `${humanSize(after.blkRead)} / ${humanSize(after.blkWrite)}`,
    PIDs: String(after.pids),
  };
}
