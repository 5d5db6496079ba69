/**
 * Export compression: tsbuild's parallel gzip (chunked members on worker threads, compress.ts)
 * vs `pigz -1` and `gzip -1` on the same layer, same run. Targets: within 1.2x of pigz -1 and
 * at least 1.7x faster than gzip -1 on 2 cores.
 * Usage: node --import tsx bench/image-gzip.ts   (BENCH_MB=1024, BENCH_DIR=/tmp/tsb-bench)
 */
import { mkdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { availableParallelism } from 'node:os';
import { MB, makeTree, timeCmd, fmt } from './image-fixture.js';
import { GzipPool, gzipFile } from '../src/image/compress.js';

const base = process.env.BENCH_DIR ?? '/tmp/tsb-bench';

async function main(): Promise<void> {
  mkdirSync(base, { recursive: true });
  makeTree(join(base, `tree-${MB}`));
  const layer = join(base, 'gz-layer.tar');
  timeCmd('tar', ['-cf', layer, '-C', join(base, `tree-${MB}`), '.']);
  const size = statSync(layer).size;
  console.log(`# gzip export, ${fmt(size / 2 ** 20)} MiB layer, ${availableParallelism()} cores`);
  const sh = (c: string) => timeCmd('sh', ['-c', c]);
  timeCmd('cat', [layer]); // page cache
  const gz = sh(`gzip -1 -c '${layer}' > '${layer}.gz'`);
  const gzSize = statSync(`${layer}.gz`).size;
  const pz = sh(`pigz -1 -c '${layer}' > '${layer}.pz'`);
  const pool = new GzipPool();
  const t = process.hrtime.bigint();
  const r = await gzipFile(pool, layer, `${layer}.ts.gz`, { level: 1 });
  const ts = Number(process.hrtime.bigint() - t) / 1e9;
  await pool.close();
  timeCmd('gzip', ['-t', `${layer}.ts.gz`]); // valid gzip
  console.log(`gzip -1:          ${fmt(gz)} s  (${fmt(gzSize / 2 ** 20)} MiB)`);
  console.log(`pigz -1:          ${fmt(pz)} s  (${fmt(statSync(`${layer}.pz`).size / 2 ** 20)} MiB)`);
  console.log(`tsbuild gzip -1:  ${fmt(ts)} s  (${fmt(r.size / 2 ** 20)} MiB)  ratio to pigz ${fmt(ts / pz)}  speed-up vs gzip ${fmt(gz / ts)}x`);
  for (const f of [layer, `${layer}.gz`, `${layer}.pz`, `${layer}.ts.gz`]) rmSync(f, { force: true });
}

await main();
