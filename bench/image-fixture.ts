/**
 * Shared by the image benchmarks: a directory of semi-compressible files (half random bytes, half
 * text, roughly what binaries and packages compress like) and an image made from it.
 * BENCH_MB sets the size (default 1024).
 */
import { mkdirSync, writeFileSync, existsSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';

export const MB = Number(process.env.BENCH_MB ?? 1024);

export function makeTree(dir: string): void {
  if (existsSync(join(dir, '.done'))) return;
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const words = 'lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore '.split(' ');
  for (let i = 0; i < MB; i++) {
    const sub = join(dir, `d${i % 32}`);
    mkdirSync(sub, { recursive: true });
    const text: string[] = [];
    let n = 0;
    while (n < 512 * 1024) {
      const line = `${words[(i * 7 + n) % words.length]} ${n} ${words[n % 13]} ${i}\n`;
      text.push(line);
      n += line.length;
    }
    writeFileSync(join(sub, `f${i}`), Buffer.concat([randomBytes(512 * 1024), Buffer.from(text.join('')).subarray(0, 512 * 1024)]));
  }
  writeFileSync(join(dir, '.done'), '');
}

/** The best of `n` runs (after `sync`, so earlier writes do not bill their writeback to this one). */
export function best<T extends { s: number }>(n: number, run: () => T, cleanup: () => void = () => {}): T {
  let bestRun: T | undefined;
  for (let i = 0; i < n; i++) {
    execFileSync('sync');
    const r = run();
    if (!bestRun || r.s < bestRun.s) bestRun = r;
    cleanup();
  }
  return bestRun!;
}

/** Wall time of a command, in seconds. */
export function timeCmd(cmd: string, args: string[], opts: { cwd?: string } = {}): number {
  const t = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'inherit'], ...opts });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed`);
  return Number(process.hrtime.bigint() - t) / 1e9;
}

/** Runs a command under GNU time when present, for peak RSS; else just times it. */
export function timeWithRss(cmd: string, args: string[]): { s: number; rssMB: number | undefined } {
  const t = process.hrtime.bigint();
  const r = spawnSync('/usr/bin/time', ['-f', '%M', cmd, ...args], { encoding: 'utf8' });
  const s = Number(process.hrtime.bigint() - t) / 1e9;
  if (r.error) return { s: timeCmd(cmd, args), rssMB: undefined };
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  const kb = Number(r.stderr.trim().split('\n').pop());
  return { s, rssMB: Number.isFinite(kb) ? kb / 1024 : undefined };
}

export function dropFile(p: string): void {
  rmSync(p, { force: true });
  execFileSync('sync');
}

export const fmt = (x: number) => x.toFixed(2);
