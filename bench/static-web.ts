/**
 * The tutorial's static_web build (issue 13): a Debian base, `RUN apt-get update`,
 * `RUN apt-get install -y nginx`, host network, `--no-cache` — the installed `bin/tsbuild` (after
 * `npm run build`) against Docker 20.10's BuildKit (the reference dockerd), interleaved run by run.
 * The base is the debootstrap rootfs the nginx tutorial test uses (fixtures/.cache), imported into
 * both engines once and used by one unmeasured build on each side first. Per side: wall (medians, [min–max]), CPU time (user + sys: tsbuild's own from
 * its children's rusage; BuildKit's as the client's plus dockerd's and its children's delta in
 * /proc/PID/stat: anything else that dockerd does meanwhile counts too), tsbuild's peak RSS;
 * the median of the paired wall ratios. Needs Debian's archive (apt-get). The load average is printed.
 * Usage: npm run build && node --import tsx bench/static-web.ts [--runs N] [--keep-base]
 *   --keep-base leaves the base image (tag tsbuild-bench/debian-base) in the reference dockerd.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { debianRootfsTar } from '../test/helpers/fixtures.js';

const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const RUNS = arg('--runs', 5);
const KEEP_BASE = process.argv.includes('--keep-base');
const root = join(import.meta.dirname, '..');
const cli = join(root, 'bin', 'tsbuild');
if (!existsSync(join(root, 'dist', 'bundle', 'tsbuild.cjs'))) throw new Error('run `npm run build` first');

const dockerHost = process.env.DOCKER_HOST ?? (existsSync('/run/ref-docker.sock') ? 'unix:///run/ref-docker.sock' : undefined);
const dockerBin = existsSync('/usr/bin/docker') ? '/usr/bin/docker' : 'docker';
const dockerEnv = { ...process.env, DOCKER_HOST: dockerHost ?? '' };
const docker = dockerHost && spawnSync(dockerBin, ['version'], { env: dockerEnv }).status === 0;

const BASE = 'tsbuild-bench/debian-base:latest';
const DOCKERFILE = `FROM ${BASE}\nRUN apt-get update\nRUN apt-get install -y nginx\n`;

interface Sample {
  secs: number;
  cpu: number;
  rssMb?: number;
}

const TICK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/** utime + stime + cutime + cstime of a process, in seconds (its reaped children included). */
function procCpu(pid: number): number {
  const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / TICK;
}

/** CPU of the reference dockerd and everything under it now (containerd, shims, runc, the RUN's processes). */
function daemonTreeCpu(pid: number): number {
  const kids = new Map<number, number[]>();
  for (const n of readdirSync('/proc')) {
    if (!/^\d+$/.test(n)) continue;
    try {
      const s = readFileSync(`/proc/${n}/stat`, 'utf8');
      const ppid = Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[1]);
      kids.set(ppid, [...(kids.get(ppid) ?? []), Number(n)]);
    } catch {
      /* gone */
    }
  }
  let total = 0;
  const stack = [pid];
  while (stack.length) {
    const p = stack.pop()!;
    try {
      total += procCpu(p);
    } catch {
      /* gone */
    }
    stack.push(...(kids.get(p) ?? []));
  }
  return total;
}

function dockerdPid(): number | undefined {
  const sock = (dockerHost ?? '').replace(/^unix:\/\//, '');
  for (const n of readdirSync('/proc')) {
    if (!/^\d+$/.test(n)) continue;
    try {
      const argv = readFileSync(`/proc/${n}/cmdline`, 'utf8').split('\0');
      if (argv[0]?.endsWith('dockerd') && argv.some((a) => a.includes(sock))) return Number(n);
    } catch {
      /* gone */
    }
  }
  return undefined;
}
/** containerd started by that dockerd is its child; a system containerd would not be counted. */
const dpid = docker ? dockerdPid() : undefined;

/** One run under GNU time: wall, the command's CPU (user + sys, children included) and peak RSS. */
function time(cmd: string, args: string[], env: NodeJS.ProcessEnv, daemon?: number): Sample {
  const d0 = daemon ? daemonTreeCpu(daemon) : 0;
  const t0 = process.hrtime.bigint();
  const r = spawnSync('/usr/bin/time', ['-f', '%U %S %M', cmd, ...args], { env, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8', maxBuffer: 64 << 20 });
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr.slice(-4000)}`);
  const [u, s, m] = r.stderr.trim().split('\n').pop()!.split(' ').map(Number);
  const cpu = u! + s! + (daemon ? daemonTreeCpu(daemon) - d0 : 0);
  return daemon ? { secs, cpu } : { secs, cpu, rssMb: m! / 1024 };
}

const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
const median = (xs: number[]) => sorted(xs)[Math.floor(xs.length / 2)]!;
const range = (xs: number[], digits = 2) => `${sorted(xs)[0]!.toFixed(digits)}–${sorted(xs)[xs.length - 1]!.toFixed(digits)}`;
const stat = (xs: number[], digits = 2) => `${median(xs).toFixed(digits)} [${range(xs, digits)}]`;

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'tsbuild-bench-static-web-'));
  const store = join(work, 'store');
  const ctx = join(work, 'ctx');
  try {
    const rootfs = debianRootfsTar();
    execFileSync('mkdir', ['-p', ctx]);
    writeFileSync(join(ctx, 'Dockerfile'), DOCKERFILE);
    execFileSync(cli, ['--root', store, 'import', rootfs, BASE], { stdio: ['ignore', 'ignore', 'inherit'] });
    if (docker) execFileSync(dockerBin, ['import', rootfs, BASE], { env: dockerEnv, stdio: ['ignore', 'ignore', 'inherit'] });
    // Unmeasured warm-up on both sides: tsbuild unpacks an imported base's snapshot on its first
    // use (1.6 s of its CPU for this base), Docker already at `docker import`.
    writeFileSync(join(ctx, 'Dockerfile'), `FROM ${BASE}\nRUN true\n`);
    execFileSync(cli, ['--root', store, 'build', '-q', '--no-cache', ctx], { stdio: 'ignore' });
    if (docker) execFileSync(dockerBin, ['build', '-q', '--no-cache', '--network', 'host', '-t', 'tsbuild-bench/static-web:warm', ctx], { env: { ...dockerEnv, DOCKER_BUILDKIT: '1' }, stdio: 'ignore' });
    writeFileSync(join(ctx, 'Dockerfile'), DOCKERFILE);
    console.log(`# static_web: ${RUNS} runs each, interleaved, --no-cache, host network; load average at start ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
    if (!docker) console.log('(no reference Docker engine reachable: tsbuild alone)');
    if (docker && !dpid) console.log('(dockerd not found in /proc: BuildKit CPU is the client only)');
    const ts: Sample[] = [];
    const bk: Sample[] = [];
    const ratios: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      // alternate which engine goes first, so a drift in the load weighs on both
      const one = () => time(cli, ['--root', store, 'build', '-q', '--no-cache', '--network', 'host', '--allow', 'network.host', '-t', `static-web:${i}`, ctx], process.env);
      const two = () =>
        time(dockerBin, ['build', '-q', '--no-cache', '--network', 'host', '-t', `tsbuild-bench/static-web:${i}`, ctx], { ...dockerEnv, DOCKER_BUILDKIT: '1' }, dpid);
      let a: Sample;
      let b: Sample | undefined;
      if (i % 2 === 0 || !docker) {
        a = one();
        b = docker ? two() : undefined;
      } else {
        b = two();
        a = one();
      }
      ts.push(a);
      if (b) {
        bk.push(b);
        ratios.push(a.secs / b.secs);
      }
      console.log(
        `run ${i + 1}: tsbuild ${a.secs.toFixed(2)} s (CPU ${a.cpu.toFixed(2)} s, RSS ${a.rssMb!.toFixed(0)} MB)` +
          (b ? `, BuildKit ${b.secs.toFixed(2)} s (CPU ${b.cpu.toFixed(2)} s), ratio ${(a.secs / b.secs).toFixed(2)}` : '') +
          `, load ${loadavg()[0]!.toFixed(1)}`,
      );
    }
    console.log('| scenario | tsbuild | BuildKit | ratio |');
    console.log(
      `| static_web (apt-get update; apt-get install -y nginx; --network host, --no-cache) | ${stat(ts.map((s) => s.secs))} s, CPU ${stat(ts.map((s) => s.cpu))} s, RSS ${median(ts.map((s) => s.rssMb!)).toFixed(0)} MB | ` +
        (docker ? `${stat(bk.map((s) => s.secs))} s, CPU ${stat(bk.map((s) => s.cpu))} s | ${stat(ratios)}x |` : '— | — |'),
    );
    console.log(`load average at end ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
  } finally {
    if (docker) {
      const tags = ['warm', ...Array.from({ length: RUNS }, (_, i) => String(i))].map((t) => `tsbuild-bench/static-web:${t}`);
      spawnSync(dockerBin, ['rmi', '-f', ...tags, ...(KEEP_BASE ? [] : [BASE])], { env: dockerEnv, stdio: 'ignore' });
    }
    rmSync(work, { recursive: true, force: true, maxRetries: 3 });
  }
}

await main();
