/**
 * Removing a directory tree whatever its depth. Node's recursive rm names every entry by its full
 * path, so a tree deeper than PATH_MAX (a RUN can make one: `mkdir -p` in a loop with `cd`) fails
 * with ENAMETOOLONG and stays behind. Then `rm -rf` finishes the job: coreutils walks by directory
 * fd (fts), so depth does not matter; `--one-file-system` keeps it off anything mounted below.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';

export async function removeTree(path: string): Promise<void> {
  try {
    await rm(path, { recursive: true, force: true, maxRetries: 3 });
    return;
  } catch (e) {
    if (!existsSync(path)) return;
    await new Promise<void>((resolve, reject) => {
      const child = spawn('rm', ['-rf', '--one-file-system', '--', path], { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      child.on('error', () => reject(e));
      child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`cannot remove ${path}: ${err.trim() || (e as Error).message}`))));
    });
  }
}

/** The same, synchronously (for exit handlers). */
export function removeTreeSync(path: string): void {
  try {
    rmSync(path, { recursive: true, force: true });
  } catch (e) {
    if (!existsSync(path)) return;
    const r = spawnSync('rm', ['-rf', '--one-file-system', '--', path], { stdio: 'ignore' });
    if (r.status !== 0) throw e;
  }
}
