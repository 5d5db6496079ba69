/**
 * Builder benchmarks (numbers only). Runs the installed command (`bin/tsbuild`, after
 * `npm run build`: the launcher, the one-file bundle and its code cache) as a user would, and —
 * when a Docker engine is reachable (DOCKER_HOST or /run/ref-docker.sock) — BuildKit on the same
 * Dockerfile, context and base image, interleaved run by run. Each row: medians and [min–max] of
 * the wall times, the median of the paired ratios with its range, and tsbuild's peak RSS.
 *   1. no-op rebuild with a 5,000-file / ~51 MB context
 *   2. rebuild after changing one file (`COPY . /app`)
 *   3. a 60-instruction Dockerfile: cold (--no-cache) and cached
 *   4. cold 5 RUN + 2 COPY
 *   5. RUN-heavy cold build: one RUN writing 20,000 files / 200 MB (a package install's shape)
 *   6. COPY of a 1 GiB / 1,000-file context: throughput
 * No scenario needs a network. The machine's load average is printed with the results.
 * Usage: npm run build && node --import tsx bench/build.ts [--runs N] [--big-mb M] [--skip-big]
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { loadavg, tmpdir } from 'node:os';
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
const cli = join(root, 'bin', 'tsbuild');
if (!existsSync(join(root, 'dist', 'bundle', 'tsbuild.cjs'))) throw new Error('run `npm run build` first');

const dockerHost = process.env.DOCKER_HOST ?? (existsSync('/run/ref-docker.sock') ? 'unix:///run/ref-docker.sock' : undefined);
const dockerBin = existsSync('/usr/bin/docker') ? '/usr/bin/docker' : 'docker';
const docker = dockerHost && spawnSync(dockerBin, ['version'], { env: { ...process.env, DOCKER_HOST: dockerHost } }).status === 0 ? dockerHost : undefined;

const work = mkdtempSync(join(tmpdir(), 'tsbuild-bench-build-'));
const store = join(work, 'store');

interface Sample {
  secs: number;
  rssMb: number;
}

/** One run under GNU time: wall seconds and peak RSS of the command. */
function time(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Sample {
  const t0 = process.hrtime.bigint();
  const r = spawnSync('/usr/bin/time', ['-f', '%M', cmd, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  return { secs, rssMb: Number(r.stderr.trim().split('\n').pop()) / 1024 };
}
const tsbuild = (ctx: string, extra: string[] = []) => time(cli, ['build', '--root', store, '-q', '--network', 'none', ...extra, ctx]);
const buildkit = (ctx: string, extra: string[] = []) =>
  time(dockerBin, ['build', '-q', '--network=none', ...extra, ctx], { DOCKER_HOST: docker!, DOCKER_BUILDKIT: '1' });

const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
const median = (xs: number[]) => sorted(xs)[Math.floor(xs.length / 2)]!;
const range = (xs: number[], digits = 3) => `${sorted(xs)[0]!.toFixed(digits)}–${sorted(xs)[xs.length - 1]!.toFixed(digits)}`;

/** Runs `before` then tsbuild and BuildKit alternately, `runs` times; prints one table row. */
function scenario(name: string, runs: number, ts: () => Sample, bk: () => Sample, before: () => void = () => {}) {
  const t: Sample[] = [];
  const b: Sample[] = [];
  for (let i = 0; i < runs; i++) {
    before();
    t.push(ts());
    if (docker) {
      before();
      b.push(bk());
    }
  }
  const tw = t.map((s) => s.secs);
  const rss = t.map((s) => s.rssMb);
  const cols = [`${median(tw).toFixed(3)} s [${range(tw)}]`];
  if (docker) {
    const bw = b.map((s) => s.secs);
    const ratios = tw.map((v, i) => v / bw[i]!);
    cols.push(`${median(bw).toFixed(3)} s [${range(bw)}]`, `${median(ratios).toFixed(2)}x [${range(ratios, 2)}]`);
  } else cols.push('-', '-');
  cols.push(`${median(rss).toFixed(0)} MB`);
  console.log(`| ${name} | ${cols.join(' | ')} |`);
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
  execFileSync(cli, ['import', '--root', store, busyboxRootfsTar(), 'benchbase:1'], { stdio: 'ignore' });
  if (docker) execFileSync(dockerBin, ['import', busyboxRootfsTar(), 'benchbase:1'], { env: { ...process.env, DOCKER_HOST: docker }, stdio: 'ignore' });
  console.log(`BuildKit reference: ${docker ? `yes (${docker})` : 'no Docker engine reachable'}; ${RUNS} runs each, interleaved`);
  console.log(`load average at start: ${loadavg().map((v) => v.toFixed(1)).join(' ')} (${process.env.NODE_EXTRA_CA_CERTS ? 'NODE_EXTRA_CA_CERTS set' : 'no NODE_EXTRA_CA_CERTS'})`);
  console.log('| scenario | tsbuild | BuildKit | ratio (paired) | tsbuild peak RSS |\n| --- | --- | --- | --- | --- |');

  // 1 + 2: 5,000 files / ~51 MB
  const ctx = join(work, 'ctx5k');
  makeContext(ctx, 5000, 10_240, 'FROM benchbase:1\nCOPY . /app\nRUN ls -R /app | wc -l > /count\n');
  tsbuild(ctx);
  if (docker) buildkit(ctx);
  scenario('no-op rebuild, 5,000 files / 51 MB context', RUNS, () => tsbuild(ctx), () => buildkit(ctx));
  scenario('one-file change rebuild', RUNS, () => tsbuild(ctx), () => buildkit(ctx), () => writeFileSync(join(ctx, 'd0', 'e0', 'f0.bin'), randomBytes(10_240)));

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
  const half = Math.max(1, Math.ceil(RUNS / 2));
  scenario('cold 60-instruction Dockerfile (--no-cache)', half, () => tsbuild(ctx60, ['--no-cache']), () => buildkit(ctx60, ['--no-cache']));
  scenario('cached 60-instruction Dockerfile', RUNS, () => tsbuild(ctx60), () => buildkit(ctx60));

  // 4: cold 5 RUN + 2 COPY
  const ctx7 = join(work, 'ctx7');
  makeContext(ctx7, 200, 4096, '');
  writeFileSync(
    join(ctx7, 'Dockerfile'),
    'FROM benchbase:1\nRUN mkdir -p /opt/a && echo a > /opt/a/x\nCOPY d0 /src/d0\nRUN ls /src/d0 > /opt/list\n' +
      'RUN echo app:x:1000:1000::/home/app:/bin/sh >> /etc/passwd && mkdir -p /home/app\nCOPY . /app\nRUN du -s /app > /opt/du\nRUN sha256sum /opt/list > /opt/sum\n',
  );
  scenario('cold 5 RUN + 2 COPY (--no-cache)', RUNS, () => tsbuild(ctx7, ['--no-cache']), () => buildkit(ctx7, ['--no-cache']));

  // 5: a RUN writing 20,000 files / 200 MB
  const ctxRun = join(work, 'ctxrun');
  mkdirSync(ctxRun);
  writeFileSync(
    join(ctxRun, 'Dockerfile'),
    // one awk process writes 200 dirs x 100 files of 10 KiB (busybox has no split)
    'FROM benchbase:1\nRUN mkdir /pkg && awk \'BEGIN { s = "x"; while (length(s) < 10240) s = s s; s = substr(s, 1, 10230); ' +
      'for (d = 0; d < 200; d++) system("mkdir /pkg/d" d); ' +
      'for (i = 0; i < 20000; i++) { f = "/pkg/d" (i % 200) "/f" i; print i s > f; close(f) } }\' && ls -R /pkg | wc -l > /count\n',
  );
  scenario('RUN writing 20,000 files / 200 MB (--no-cache)', half, () => tsbuild(ctxRun, ['--no-cache']), () => buildkit(ctxRun, ['--no-cache']));

  // 6: COPY of 1 GiB / 1,000 files
  if (!SKIP_BIG) {
    const big = join(work, 'big');
    makeContext(big, 1000, Math.floor((BIG_MB * 1024 * 1024) / 1000), 'FROM benchbase:1\nCOPY . /data\n');
    scenario(`COPY ${BIG_MB} MiB / 1,000 files (--no-cache)`, 1, () => tsbuild(big, ['--no-cache']), () => buildkit(big, ['--no-cache']));
  }
  console.log(`load average at end: ${loadavg().map((v) => v.toFixed(1)).join(' ')}`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
