/**
 * Build-context benchmark: walk + digest a generated 5,000-file / ~50 MB context
 *   - cold: no persisted checksums (every byte hashed),
 *   - warm: checksums loaded from the file the cold run saved (a no-op rebuild),
 * and `tar -c | sha256sum` of the same directory as a reference for "read everything once".
 * "Cold" means no checksum cache; the OS page cache is warm for every run.
 * Usage: node --import tsx bench/context.ts [files=5000] [totalMB=50]
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { BuildContext } from '../src/builder/context.js';
import { RACY_WINDOW_NS } from '../src/builder/checksum-cache.js';

const files = Number(process.argv[2] ?? 5000);
const totalMB = Number(process.argv[3] ?? 50);

function generate(root: string): number {
  // Deterministic sizes around the mean, a few larger files, spread over 2-level directories.
  const mean = (totalMB * 1024 * 1024) / files;
  let seed = 42;
  const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  let bytes = 0;
  for (let i = 0; i < files; i++) {
    const dir = join(root, `d${i % 50}`, `s${i % 7}`);
    mkdirSync(dir, { recursive: true });
    const size = Math.floor(mean * 2 * rand());
    const buf = Buffer.alloc(size);
    for (let j = 0; j < size; j += 4096) buf[j] = (i + j) & 0xff;
    writeFileSync(join(dir, `f${i}.dat`), buf);
    bytes += size;
  }
  return bytes;
}

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t0 = performance.now();
  const r = await fn();
  return [r, performance.now() - t0];
}

const dir = mkdtempSync(join(tmpdir(), 'tsb-bench-ctx-'));
try {
  const ctxDir = join(dir, 'ctx');
  const cacheFile = join(dir, 'checksums.json');
  const bytes = generate(ctxDir);
  await sleep(Number(RACY_WINDOW_NS / 1_000_000n) + 100); // let files age past the racy window
  console.log(`context: ${files} files, ${(bytes / 1048576).toFixed(1)} MiB in ${ctxDir}`);

  const [n, walkMs] = await timed(async () => {
    let k = 0;
    for await (const _ of (await BuildContext.open(ctxDir)).walk()) k++;
    return k;
  });
  console.log(`walk only (${n} entries):            ${walkMs.toFixed(0)} ms`);

  const [cold, coldMs] = await timed(async () => {
    const c = await BuildContext.open(ctxDir, { checksumCacheFile: cacheFile });
    const d = await c.digest('');
    await c.saveCache();
    return { d, c };
  });
  const mbps = bytes / 1048576 / (coldMs / 1000);
  console.log(`cold walk+digest+save:                ${coldMs.toFixed(0)} ms  (${cold.c.counters.filesHashed} files hashed, ${mbps.toFixed(0)} MiB/s)`);

  for (let i = 1; i <= 3; i++) {
    const [warm, warmMs] = await timed(async () => {
      const c = await BuildContext.open(ctxDir, { checksumCacheFile: cacheFile });
      const d = await c.digest('');
      await c.saveCache();
      return { d, c };
    });
    if (warm.d !== cold.d) throw new Error('warm digest differs from cold digest');
    const st = warm.c.cache.stats;
    console.log(`warm walk+digest (run ${i}):           ${warmMs.toFixed(0)} ms  (${warm.c.counters.filesHashed} files hashed, ${st.dirHits} directory / ${st.hits} file cache hits)`);
  }

  // one file rewritten: its directories are listed again, every other one answered whole
  writeFileSync(join(ctxDir, 'd0', 's0', 'f0.dat'), 'changed');
  await sleep(Number(RACY_WINDOW_NS / 1_000_000n) + 50);
  const [one, oneMs] = await timed(async () => {
    const c = await BuildContext.open(ctxDir, { checksumCacheFile: cacheFile });
    await c.digest('');
    return c;
  });
  const st = one.cache.stats;
  console.log(`one file changed, walk+digest:        ${oneMs.toFixed(0)} ms  (${one.counters.filesHashed} files hashed, ${st.dirHits} directory / ${st.hits} file cache hits)`);

  const [, tarMs] = await timed(async () => {
    execFileSync('sh', ['-c', `tar -C "${ctxDir}" -cf - . | sha256sum`], { stdio: ['ignore', 'pipe', 'inherit'] });
  });
  console.log(`reference tar -c | sha256sum:         ${tarMs.toFixed(0)} ms`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
