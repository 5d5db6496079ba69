/**
 * Container benchmarks (numbers only, no assertions), tsbuild alone: the CLI as a user runs it
 * (node + tsx from source; the bundle in dist/ when --bundle and built):
 *   0. the CLI's own start (`--version`), which every number below includes
 *   1. `run --rm --network none busybox true` wall time (median)
 *   2. `exec CTR true` latency (median) on a running container
 *   3. `ps -a` with 100 containers (created through the library, not the CLI)
 *   4. log throughput: a container writes M MiB to stdout, `logs` reads it back to /dev/null
 *   5. the monitor's RSS per running container
 * Usage: node --import tsx bench/containers.ts [--runs N] [--log-mb M] [--bundle]
 * Docker 20.10 / podman are not compared here yet (see README).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Containers } from '../src/containers/containers.js';
import { readMonitorInfo } from '../src/containers/monitor-files.js';
import { runDir } from '../src/containers/record.js';
import { ImageStore } from '../src/image/store.js';
import { makeBaseStore } from '../test/helpers/build.js';
import { projectRoot } from '../test/helpers/cli.js';

const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const RUNS = arg('--runs', 5);
const LOG_MB = arg('--log-mb', 64);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const base = await makeBaseStore();
const cli = process.argv.includes('--bundle')
  ? [process.execPath, join(projectRoot, 'bin', 'tsbuild.js')]
  : [process.execPath, '--import', 'tsx', join(projectRoot, 'src', 'cli', 'main.ts')];
const tsb = (...args: string[]) => {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cli[0]!, [...cli.slice(1), '--root', base.root, ...args], { cwd: projectRoot, stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`tsbuild ${args.join(' ')}: ${r.status} ${r.stderr}`);
  return { ms: Number(process.hrtime.bigint() - t0) / 1e6, out: r.stdout.toString() };
};
try {
  const starts: number[] = [];
  for (let i = 0; i < RUNS; i++) starts.push(tsb('--version').ms);
  console.log(`CLI start (--version): median ${median(starts).toFixed(0)} ms over ${RUNS}`);
  tsb('run', '--rm', '--network', 'none', 'busybox', 'true'); // warm-up
  const runs: number[] = [];
  for (let i = 0; i < RUNS; i++) runs.push(tsb('run', '--rm', '--network', 'none', 'busybox', 'true').ms);
  console.log(`run --rm busybox true: median ${median(runs).toFixed(0)} ms over ${RUNS}`);

  const id = tsb('run', '-d', '--network', 'none', 'busybox', 'sleep', '600').out.trim();
  const execs: number[] = [];
  for (let i = 0; i < RUNS; i++) execs.push(tsb('exec', id, 'true').ms);
  console.log(`exec CTR true: median ${median(execs).toFixed(0)} ms over ${RUNS}`);

  const c = new Containers(await ImageStore.open(base.root));
  const mon = readMonitorInfo(runDir(c.paths, id));
  const rss = mon ? /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${mon.pid}/status`, 'utf8'))?.[1] : undefined;
  console.log(`monitor RSS: ${rss ? (Number(rss) / 1024).toFixed(2) : '?'} MiB`);

  const img = await c.store.getImage('busybox');
  for (let i = 0; i < 99; i++) {
    await c.create({ image: img!, imageRef: 'busybox', cmd: ['true'], env: [], network: 'none', labels: {}, autoRemove: false, init: false, interactive: false, logDriver: 'json-file', logOpts: {} });
  }
  const ps: number[] = [];
  for (let i = 0; i < RUNS; i++) ps.push(tsb('ps', '-a').ms);
  console.log(`ps -a with 100 containers: median ${median(ps).toFixed(0)} ms over ${RUNS}`);

  const logId = tsb('run', '-d', '--network', 'none', 'busybox', 'sh', '-c', `yes 0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz | head -c ${LOG_MB << 20}`).out.trim();
  tsb('wait', logId);
  const logs = tsb('logs', logId);
  console.log(`logs: ${LOG_MB} MiB in ${logs.ms.toFixed(0)} ms = ${(LOG_MB / (logs.ms / 1000)).toFixed(0)} MiB/s (got ${(logs.out.length / 2 ** 20).toFixed(1)} MiB)`);
  tsb('rm', '-f', id);
} finally {
  const ids = spawnSync(cli[0]!, [...cli.slice(1), '--root', base.root, 'ps', '-aq', '--no-trunc'], { cwd: projectRoot }).stdout.toString().split('\n').filter(Boolean);
  if (ids.length) spawnSync(cli[0]!, [...cli.slice(1), '--root', base.root, 'rm', '-f', ...ids], { cwd: projectRoot });
  base.cleanup();
}
