/**
 * Builder benchmarks (numbers only). Runs the installed CLI (`node bin/tsbuild.js`, after
 * `npm run build`) as a user would, and — when a Docker engine is reachable (DOCKER_HOST or
 * /run/ref-docker.sock) — BuildKit on the same Dockerfile, context and base image, interleaved.
 *   1. no-op rebuild with a 5,000-file / ~51 MB context (median of N)
 *   2. rebuild after changing one file
 *   3. a 60-instruction Dockerfile: cold (--no-cache) and cached
 *   4. COPY of a 1 GiB / 1,000-file context: throughput and tsbuild's peak RSS
 * Usage: npm run build && node --import tsx bench/build.ts [--runs N] [--big-mb M] [--skip-big]
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { busyboxRootfsTar } from '../test/helpers/fixtures.js';

const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const RUNS = arg('--runs', 5);
const BIG_MB = arg('--big-mb', 1024);
const SKIP_BIG = process.argv.includes('--skip-big');
const root = join(import.meta.dirname, '..');
const cli = join(root, 'bin', 'tsbuild.js');
if (!existsSync(join(root, 'dist', 'cli', 'main.js'))) throw new Error('run `npm run build` first');

const dockerHost = process.env.DOCKER_HOST ?? (existsSync('/run/ref-docker.sock') ? 'unix:///run/ref-docker.sock' : undefined);
const dockerBin = existsSync('/usr/bin/docker') ? '/usr/bin/docker' : 'docker';
const docker = dockerHost && spawnSync(dockerBin, ['version'], { env: { ...process.env, DOCKER_HOST: dockerHost } }).status === 0 ? dockerHost : undefined;

const work = mkdtempSync(join(tmpdir(), 'tsbuild-bench-build-'));
const store = join(work, 'store');
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function time(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  return Number(process.hrtime.bigint() - t0) / 1e9;
}
const tsbuild = (ctx: string, extra: string[] = []) => time(process.execPath, [cli, 'build', '--root', store, '-q', '--network', 'none', ...extra, ctx]);
const buildkit = (ctx: string, extra: string[] = []) =>
  time(dockerBin, ['build', '-q', '--network=none', ...extra, ctx], { DOCKER_HOST: docker!, DOCKER_BUILDKIT: '1' });

function row(name: string, ts: number, bk?: number) {
  const ratio = bk ? ` | ${bk.toFixed(3)} s | ${(ts / bk).toFixed(2)}x` : ' | - | -';
  console.log(`| ${name} | ${ts.toFixed(3)} s${ratio} |`);
}

function makeContext(dir: string, files: number, bytesEach: number, dockerfile: string) {
  mkdirSync(dir, { recursive: true });
  for (let i = 0; i < files; i++) {
    const sub = join(dir, `d${i % 50}`, `e${i % 7}`);
    mkdirSync(sub, { recursive: true });
    writeFileSync(join(sub, `f${i}.bin`), randomBytes(bytesEach));
  }
  writeFileSync(join(dir, 'Dockerfile'), dockerfile);
}

try {
  // the same busybox base in both engines
  execFileSync(process.execPath, [cli, 'import', '--root', store, busyboxRootfsTar(), 'benchbase:1'], { stdio: 'ignore' });
  if (docker) execFileSync(dockerBin, ['import', busyboxRootfsTar(), 'benchbase:1'], { env: { ...process.env, DOCKER_HOST: docker }, stdio: 'ignore' });
  console.log(`BuildKit reference: ${docker ? `yes (${docker})` : 'no Docker engine reachable'}`);
  console.log('| scenario | tsbuild | BuildKit | ratio |\n| --- | --- | --- | --- |');

  // 1 + 2: 5,000 files / ~51 MB
  const ctx = join(work, 'ctx5k');
  makeContext(ctx, 5000, 10_240, 'FROM benchbase:1\nCOPY . /app\nRUN ls -R /app | wc -l > /count\n');
  tsbuild(ctx);
  if (docker) buildkit(ctx);
  const noop: number[] = [], noopBk: number[] = [], one: number[] = [], oneBk: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    noop.push(tsbuild(ctx));
    if (docker) noopBk.push(buildkit(ctx));
  }
  row('no-op rebuild, 5,000 files / 51 MB context', median(noop), docker ? median(noopBk) : undefined);
  for (let i = 0; i < RUNS; i++) {
    writeFileSync(join(ctx, 'd0', 'e0', 'f0.bin'), randomBytes(10_240));
    one.push(tsbuild(ctx));
    writeFileSync(join(ctx, 'd0', 'e0', 'f0.bin'), randomBytes(10_240));
    if (docker) oneBk.push(buildkit(ctx));
  }
  row('one-file change rebuild', median(one), docker ? median(oneBk) : undefined);

  // 3: 60 instructions
  const ctx60 = join(work, 'ctx60');
  mkdirSync(ctx60);
  const lines = ['FROM benchbase:1'];
  for (let i = 0; i < 59; i++) {
    const k = i % 6;
    if (k === 0) lines.push(`RUN echo step${i} > /tmp/s${i}`);
    else if (k === 1) lines.push(`ENV V${i}=value${i}`);
    else if (k === 2) (writeFileSync(join(ctx60, `f${i}`), `file ${i}\n`), lines.push(`COPY f${i} /files/`));
    else if (k === 3) lines.push(`LABEL l${i}=v${i}`);
    else if (k === 4) lines.push(`WORKDIR /w${i}`);
    else lines.push(`RUN mkdir -p /d${i} && echo $V${i - 4} > /d${i}/x`);
  }
  writeFileSync(join(ctx60, 'Dockerfile'), lines.join('\n') + '\n');
  const cold: number[] = [], coldBk: number[] = [], warm: number[] = [], warmBk: number[] = [];
  for (let i = 0; i < Math.max(1, Math.ceil(RUNS / 2)); i++) {
    cold.push(tsbuild(ctx60, ['--no-cache']));
    if (docker) coldBk.push(buildkit(ctx60, ['--no-cache']));
    warm.push(tsbuild(ctx60));
    if (docker) warmBk.push(buildkit(ctx60));
  }
  row('cold 60-instruction Dockerfile (--no-cache)', median(cold), docker ? median(coldBk) : undefined);
  row('cached 60-instruction Dockerfile', median(warm), docker ? median(warmBk) : undefined);

  // 4: COPY of 1 GiB / 1,000 files, with tsbuild's peak RSS from GNU time
  if (!SKIP_BIG) {
    const big = join(work, 'big');
    makeContext(big, 1000, Math.floor((BIG_MB * 1024 * 1024) / 1000), 'FROM benchbase:1\nCOPY . /data\n');
    const t0 = process.hrtime.bigint();
    const r = spawnSync('/usr/bin/time', ['-f', '%M', process.execPath, cli, 'build', '--root', store, '-q', '--no-cache', big], { encoding: 'utf8' });
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    if (r.status !== 0) throw new Error(`big COPY failed: ${r.stderr}`);
    const rssMb = Number(r.stderr.trim().split('\n').pop()) / 1024;
    const bk = docker ? buildkit(big, ['--no-cache']) : undefined;
    row(`COPY ${BIG_MB} MiB / 1,000 files (${(BIG_MB / secs).toFixed(0)} MB/s, peak RSS ${rssMb.toFixed(0)} MB)`, secs, bk);
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
