/**
 * Runtime benchmarks (numbers only, no assertions):
 *   1. `RUN true`: median wall time of runtime.run() -> exit status (target < 30 ms), and of the
 *      whole step (snapshotter prepare + runtime prepare + run + diff + release + abort), over
 *      busybox imported into a store of its own.
 *   2. Commit of a run that writes 10,000 small files + one 500 MB file: diff walk, diff + layer
 *      tar (src/image/layer-writer.ts) written to a file, vs `tar -c` of the same upper dir.
 * Usage: node --import tsx bench/runtime-run.ts [--runs N] [--big-mb M] [--net none|host] [--no-commit]
 */
import { execFileSync } from 'node:child_process';
import { createWriteStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { createRuntime } from '../src/runtime/index.js';
import { ImageStore } from '../src/image/store.js';
import { importRootfs } from '../src/image/import.js';
import { chainIds, type Digest } from '../src/image/digest.js';
import { layerTar } from '../src/image/layer-writer.js';
import { busyboxRootfsTar } from '../test/helpers/fixtures.js';

const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const RUNS = arg('--runs', 50);
const BIG_MB = arg('--big-mb', 500);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const ms = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e6;

const dir = mkdtempSync(join(tmpdir(), 'tsbuild-bench-rt-'));
try {
  const store = await ImageStore.open(join(dir, 'store'));
  const image = await importRootfs(store, busyboxRootfsTar(), { tag: 'busybox:bench' });
  await store.snapshots.mounts(image);
  const snapshots = store.snapshots;
  const parent = chainIds(image.config.rootfs.diff_ids as Digest[]);
  const rt = createRuntime({ tmpDir: join(dir, 'store', 'tmp') });
  const net: 'none' | 'host' = process.argv.includes('host') ? 'host' : 'none';
  const spec = { args: ['/bin/true'], env: [], network: net };

  // 1. RUN true
  const active = await snapshots.prepare(parent);
  const fs = await rt.prepare(active);
  for (let i = 0; i < 5; i++) await rt.run(fs, spec); // warm-up
  const runTimes: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = process.hrtime.bigint();
    const r = await rt.run(fs, spec);
    runTimes.push(ms(t0));
    if (r.exitCode !== 0) throw new Error(`exit ${r.exitCode}`);
  }
  await rt.release(fs);
  await snapshots.abort(active);
  const stepTimes: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = process.hrtime.bigint();
    const a = await snapshots.prepare(parent);
    const f = await rt.prepare(a);
    await rt.run(f, spec);
    await rt.diff(f);
    await rt.release(f);
    await snapshots.abort(a);
    stepTimes.push(ms(t0));
  }
  console.log(`RUN true (network ${net}), run() -> exit status: median ${median(runTimes).toFixed(1)} ms, min ${Math.min(...runTimes).toFixed(1)} ms (${RUNS} runs)`);
  console.log(`RUN true, prepare+run+diff+release+abort: median ${median(stepTimes).toFixed(1)} ms`);

  // 2. commit of a big change
  if (!process.argv.includes('--no-commit')) {
    const bigActive = await snapshots.prepare(parent);
    const big = await rt.prepare(bigActive);
    let t0 = process.hrtime.bigint();
    const r = await rt.run(big, {
      ...spec,
      args: [
        '/bin/sh',
        '-c',
        `mkdir -p /data && cd /data && for d in $(seq 0 99); do mkdir $d; for f in $(seq 0 99); do echo "file $d/$f" > $d/$f; done; done; ` +
          `head -c ${BIG_MB}m /dev/urandom > /big.bin`,
      ],
    });
    if (r.exitCode !== 0) throw new Error(`exit ${r.exitCode}`);
    console.log(`writing 10,000 files + ${BIG_MB} MB inside the sandbox: ${ms(t0).toFixed(0)} ms`);
    execFileSync('sync');

    t0 = process.hrtime.bigint();
    const entries = await rt.diff(big);
    const walk = ms(t0);
    console.log(`diff walk: ${walk.toFixed(0)} ms for ${entries.length} entries`);

    const ours = join(dir, 'ours.tar');
    t0 = process.hrtime.bigint();
    const again = await rt.diff(big);
    await pipeline(Readable.from(layerTar(again)), createWriteStream(ours));
    const oursMs = ms(t0);
    console.log(`diff + layer tar (layer-writer) to a file: ${oursMs.toFixed(0)} ms, ${(statSync(ours).size / 1e6).toFixed(1)} MB`);
    rmSync(ours);

    const theirs = join(dir, 'gnu.tar');
    t0 = process.hrtime.bigint();
    execFileSync('tar', ['-C', big.upperDir, '-cf', theirs, '.']);
    const tarMs = ms(t0);
    console.log(`tar -c of the upper dir: ${tarMs.toFixed(0)} ms, ${(statSync(theirs).size / 1e6).toFixed(1)} MB`);
    rmSync(theirs);
    console.log(`ratio ours / tar -c: ${(oursMs / tarMs).toFixed(2)}`);
    await rt.release(big);
    await snapshots.abort(bigActive);
  }
  await store.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
