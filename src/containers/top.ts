/**
 * `top`: as Docker's (moby daemon/top_unix.go), the host's `ps` (default `-ef`) keeps only the rows
 * whose PID is a process of the container; columns and PIDs are the host's (UID PID PPID C STIME
 * TTY TIME CMD). A container's processes are those in its PID namespace (the namespace of its
 * PID 1, compared by /proc/N/ns/pid), which also covers `exec`'d ones.
 */
import { execFile } from 'node:child_process';
import { readdirSync, readlinkSync } from 'node:fs';
import { TsbuildError } from '../errors.js';
import type { Containers } from './containers.js';

export interface TopResult {
  titles: string[];
  rows: string[][];
}

/** Host PIDs of the processes in PID1's PID namespace. */
export function pidsInNamespaceOf(pid1: number): Set<number> {
  const ns = readlinkSync(`/proc/${pid1}/ns/pid`);
  const out = new Set<number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readlinkSync(`/proc/${name}/ns/pid`) === ns) out.add(Number(name));
    } catch {
      /* gone meanwhile, or a kernel thread */
    }
  }
  return out;
}

export async function top(c: Containers, word: string, psArgs: string[] = ['-ef']): Promise<TopResult> {
  const v = await c.find(word);
  if (!v.state.Running || !v.state.Pid) throw new TsbuildError('CONFLICT', `Container ${v.record.Id} is not running`, undefined, 1);
  const text = await new Promise<string>((resolve, reject) =>
    execFile('ps', psArgs, { maxBuffer: 64 << 20 }, (err, stdout, stderr) =>
      err ? reject(new TsbuildError('RUNTIME', `ps: ${stderr.trim() || err.message}`, undefined, 1)) : resolve(stdout),
    ),
  );
  const pids = pidsInNamespaceOf(v.state.Pid);
  const lines = text.split('\n').filter((l) => l.trim());
  const titles = (lines[0] ?? '').trim().split(/\s+/);
  const at = titles.indexOf('PID');
  if (at < 0) throw new TsbuildError('INVALID', `Couldn't find PID field in ps output`, undefined, 1);
  const rows: string[][] = [];
  for (const l of lines.slice(1)) {
    // the last column (CMD/COMMAND) may hold spaces: split into as many fields as there are titles
    const f = l.trim().split(/\s+/);
    const row = [...f.slice(0, titles.length - 1), f.slice(titles.length - 1).join(' ')];
    if (pids.has(Number(row[at]))) rows.push(row);
  }
  return { titles, rows };
}

/** docker's table (tabwriter minwidth 20, padding 3): each column as wide as its widest cell plus 3,
 *  at least 20. */
export function renderTop(r: TopResult): string {
  const all = [r.titles, ...r.rows];
  const widths = r.titles.map((_, i) => Math.max(...all.map((row) => (row[i] ?? '').length)));
  return all.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(Math.max(widths[i]! + 3, 20)))).join('') + '\n').join('');
}
