/**
 * Container benchmarks (numbers only, no assertions): the installed command (`bin/tsbuild`, after
 * `npm run build`) against Docker 20.10 (the reference dockerd, `--network none`: it runs with
 * `--bridge=none --iptables=false`) and Debian's podman (runc, its own temporary --root/--runroot,
 * a containers.conf of its own: lower default ulimits, as this VM lacks CAP_SYS_RESOURCE, network
 * none, k8s-file logs), all on the same busybox rootfs, interleaved run by run (the order rotates):
 *   0. the CLI's own start (`--version`), which every tsbuild number includes
 *   1. `run --rm --network none IMG true`, wall
 *   2. `exec CTR true`, wall, on a running container
 *   3. `ps -a` with 100 containers (made beforehand; Docker's list also holds whatever other users
 *      of the reference engine have there: the row count is printed); then tsbuild's alone,
 *      interleaved with a bare Node start (`node -e 0` without NODE_EXTRA_CA_CERTS), and the
 *      paired difference: what tsbuild adds to Node's own start, the part a load inflates least
 *   4. log throughput: a container writes M MiB of 73-byte lines, `logs` reads them back (counted,
 *      not kept)
 *   5. memory per running container outside it: tsbuild's monitor, Docker's containerd-shim
 *      (runc has exited by then), podman's conmon (VmRSS)
 * Each row: median and [min–max] per engine, and the median of the paired ratios tsbuild/other.
 * The load average is printed at the start and the end (other work may share the machine).
 * Usage: npm run build && node --import tsx bench/containers.ts [--runs N] [--log-mb M] [--engines tsbuild,docker,podman]
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Containers } from '../src/containers/containers.js';
import { readMonitorInfo } from '../src/containers/monitor-files.js';
import { runDir } from '../src/containers/record.js';
import { ImageStore } from '../src/image/store.js';
import { makeBaseStore } from '../test/helpers/build.js';
import { busyboxRootfsTar } from '../test/helpers/fixtures.js';
import { projectRoot } from '../test/helpers/cli.js';

const arg = (name: string, def: string) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1]! : def;
};
const RUNS = Number(arg('--runs', '7'));
const LOG_MB = Number(arg('--log-mb', '64'));
const WANT = arg('--engines', 'tsbuild,docker,podman').split(',');
const N_PS = 100;
if (!existsSync(join(projectRoot, 'dist', 'bundle', 'tsbuild.cjs'))) throw new Error('run `npm run build` first');

interface Timed {
  ms: number;
  out: string;
  bytes: number;
}

/** Runs ARGV; wall time, stdout (first 64 KiB kept, all of it counted). */
function timed(argv: string[], env: NodeJS.ProcessEnv = {}): Promise<Timed> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(argv[0]!, argv.slice(1), { cwd: projectRoot, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let bytes = 0;
    child.stdout.on('data', (d: Buffer) => {
      bytes += d.length;
      if (out.length < 65536) out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (code !== 0) reject(new Error(`${argv.join(' ')}: exit ${code}: ${err.trim()}`));
      else resolve({ ms, out, bytes });
    });
  });
}

/** One engine as a user runs it. */
interface Engine {
  name: string;
  image: string;
  cli(...args: string[]): Promise<Timed>;
  /** Makes N more stopped containers for the `ps` row. */
  createMany(n: number): Promise<void>;
  /** RSS (KiB) of what runs outside a running container on its behalf. */
  keeperRssKb(id: string): number | undefined;
  cleanup(): Promise<void>;
}

const rssKb = (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN);
/** The PID of the process whose command line holds every one of WORDS (a shim or conmon). */
function pidByCmdline(words: string[]): number | undefined {
  for (const n of readdirSync('/proc')) {
    if (!/^\d+$/.test(n)) continue;
    try {
      const argv = readFileSync(`/proc/${n}/cmdline`, 'utf8').split('\0');
      if (words.every((w, i) => (i === 0 ? argv[0]!.endsWith(w) : argv.includes(w)))) return Number(n);
    } catch {
      /* gone */
    }
  }
  return undefined;
}
async function inBatches(n: number, width: number, one: () => Promise<unknown>) {
  for (let done = 0; done < n; done += width) await Promise.all(Array.from({ length: Math.min(width, n - done) }, one));
}

async function tsbuildEngine(): Promise<Engine> {
  const base = await makeBaseStore();
  const bin = join(projectRoot, 'bin', 'tsbuild');
  const cli = (...args: string[]) => timed([bin, '--root', base.root, ...args]);
  const c = new Containers(await ImageStore.open(base.root));
  return {
    name: 'tsbuild',
    image: 'busybox',
    cli,
    // through the library: only the listing is measured
    async createMany(n) {
      const img = (await c.store.getImage('busybox'))!;
      for (let i = 0; i < n; i++) {
        await c.create({ image: img, imageRef: 'busybox', cmd: ['true'], env: [], network: 'none', labels: {}, autoRemove: false, init: false, interactive: false, logDriver: 'json-file', logOpts: {} });
      }
    },
    keeperRssKb(id) {
      const mon = readMonitorInfo(runDir(c.paths, id));
      return mon ? rssKb(mon.pid) : undefined;
    },
    async cleanup() {
      const ids = (await cli('ps', '-aq', '--no-trunc')).out.split('\n').filter(Boolean);
      if (ids.length) await cli('rm', '-f', ...ids);
      base.cleanup();
    },
  };
}

async function dockerEngine(): Promise<Engine | undefined> {
  const env = { DOCKER_HOST: process.env.DOCKER_HOST ?? 'unix:///run/ref-docker.sock' };
  if (spawnSync('docker', ['version'], { env: { ...process.env, ...env }, stdio: 'ignore' }).status !== 0) return undefined;
  const image = 'tsbuild-bench/busybox:1';
  const cli = (...args: string[]) => timed(['docker', ...args], env);
  await timed(['docker', 'import', busyboxRootfsTar(), image], env);
  const mine: string[] = [];
  return {
    name: 'docker',
    image,
    async cli(...args) {
      const r = await cli(...args);
      if ((args[0] === 'run' && args.includes('-d')) || args[0] === 'create') mine.push(r.out.trim());
      return r;
    },
    async createMany(n) {
      await inBatches(n, 4, async () => mine.push((await cli('create', '--network', 'none', image, 'true')).out.trim()));
    },
    keeperRssKb(id) {
      const pid = pidByCmdline(['containerd-shim-runc-v2', id]);
      return pid ? rssKb(pid) : undefined;
    },
    async cleanup() {
      for (let i = 0; i < mine.length; i += 50) await cli('rm', '-f', ...mine.slice(i, i + 50)).catch(() => {});
    },
  };
}

async function podmanEngine(): Promise<Engine | undefined> {
  if (spawnSync('podman', ['--version'], { stdio: 'ignore' }).status !== 0) return undefined;
  const dir = mkdtempSync(join(tmpdir(), 'tsbuild-bench-podman-'));
  const conf = join(dir, 'containers.conf');
  // no CAP_SYS_RESOURCE on this VM: runc cannot raise nofile/nproc to podman's defaults
  writeFileSync(
    conf,
    [
      '[containers]',
      'default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]',
      'netns = "none"',
      'log_driver = "k8s-file"',
      '[engine]',
      'runtime = "runc"',
      'cgroup_manager = "cgroupfs"',
      'events_logger = "file"',
      `tmp_dir = "${join(dir, 'tmp')}"`,
      '',
    ].join('\n'),
  );
  const env = { CONTAINERS_CONF: conf };
  const hadLibpodCgroups = libpodCgroups().length > 0;
  const pre = ['podman', '--root', join(dir, 'root'), '--runroot', join(dir, 'runroot'), '--storage-driver', 'overlay'];
  const cli = (...args: string[]) => timed([...pre, ...args], env);
  const image = 'localhost/tsbuild-bench/busybox:1';
  await cli('import', busyboxRootfsTar(), image);
  return {
    name: 'podman',
    image,
    cli,
    async createMany(n) {
      await inBatches(n, 4, () => cli('create', '--network', 'none', image, 'true'));
    },
    keeperRssKb(id) {
      const pid = pidByCmdline(['conmon', id]);
      return pid ? rssKb(pid) : undefined;
    },
    async cleanup() {
      await cli('rm', '-af', '-t', '0').catch(() => {});
      await cli('system', 'reset', '-f').catch(() => {});
      rmSync(dir, { recursive: true, force: true });
      // conmon's cgroups (cgroupfs manager) stay behind, empty: removed when this run made them
      if (!hadLibpodCgroups) for (const d of libpodCgroups()) {
        try {
          rmdirSync(d);
        } catch {
          /* still in use */
        }
      }
    },
  };
}

/** podman's cgroup directories (cgroup v1 and v2), deepest first. */
function libpodCgroups(): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    if (!existsSync(d)) return;
    for (const e of readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) walk(join(d, e.name));
    out.push(d);
  };
  for (const ctrl of existsSync('/sys/fs/cgroup/cgroup.controllers') ? [''] : readdirSync('/sys/fs/cgroup')) walk(join('/sys/fs/cgroup', ctrl, 'libpod_parent'));
  return out;
}

const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
const median = (xs: number[]) => sorted(xs)[Math.floor(xs.length / 2)]!;
const fmt = (xs: number[], unit: string, digits: number) =>
  `${median(xs).toFixed(digits)}${unit} [${sorted(xs)[0]!.toFixed(digits)}–${sorted(xs).at(-1)!.toFixed(digits)}]`;

/** Measures ONE on each engine, RUNS times, rotating the order; prints one row. */
async function row(name: string, engines: Engine[], one: (e: Engine) => Promise<number>, unit = ' ms', digits = 0) {
  const by = new Map<string, number[]>(engines.map((e) => [e.name, []]));
  for (let i = 0; i < RUNS; i++) {
    for (let k = 0; k < engines.length; k++) {
      const e = engines[(i + k) % engines.length]!;
      by.get(e.name)!.push(await one(e));
    }
  }
  const t = by.get('tsbuild')!;
  const cols = engines.map((e) => `${e.name} ${fmt(by.get(e.name)!, unit, digits)}`);
  const ratios = engines.slice(1).map((e) => {
    const r = t.map((v, i) => v / by.get(e.name)![i]!);
    return `tsbuild/${e.name} ${fmt(r, 'x', 2)}`;
  });
  console.log(`${name}: ${cols.join(', ')}${ratios.length ? `; ${ratios.join(', ')}` : ''}`);
}

const engines: Engine[] = [];
const load0 = loadavg();
try {
  for (const [n, make] of [['tsbuild', tsbuildEngine], ['docker', dockerEngine], ['podman', podmanEngine]] as const) {
    if (!WANT.includes(n)) continue;
    const e = await make();
    if (e) engines.push(e);
    else console.log(`${n}: not available, skipped`);
  }
  console.log(`engines: ${engines.map((e) => e.name).join(', ')}; ${RUNS} runs each; load average at start ${load0.map((l) => l.toFixed(1)).join(' ')}`);

  await row('CLI start (--version)', engines, async (e) => (await e.cli('--version')).ms);
  for (const e of engines) await e.cli('run', '--rm', '--network', 'none', e.image, 'true'); // warm-up
  await row('run --rm IMG true', engines, async (e) => (await e.cli('run', '--rm', '--network', 'none', e.image, 'true')).ms);

  const sleepers = new Map<string, string>();
  for (const e of engines) sleepers.set(e.name, (await e.cli('run', '-d', '--network', 'none', e.image, 'sleep', '600')).out.trim());
  await row('exec CTR true', engines, async (e) => (await e.cli('exec', sleepers.get(e.name)!, 'true')).ms);
  await row('keeper RSS per running container', engines, async (e) => (e.keeperRssKb(sleepers.get(e.name)!) ?? NaN) / 1024, ' MiB', 2);
  for (const e of engines) await e.cli('rm', '-f', sleepers.get(e.name)!);

  const lines = async (e: Engine) => (await e.cli('ps', '-aq')).out.split('\n').filter(Boolean).length;
  for (const e of engines) await e.createMany(Math.max(0, N_PS - (await lines(e))));
  console.log(`ps rows: ${(await Promise.all(engines.map(async (e) => `${e.name} ${await lines(e)}`))).join(', ')}`);
  await row(`ps -a with ${N_PS} containers`, engines, async (e) => (await e.cli('ps', '-a')).ms);
  const ts = engines.find((e) => e.name === 'tsbuild');
  if (ts) {
    const bare = { ...process.env, NODE_EXTRA_CA_CERTS: '' };
    const node: number[] = [];
    const ps: number[] = [];
    for (let i = 0; i < RUNS * 2; i++) {
      node.push((await timed([process.execPath, '-e', '0'], bare)).ms);
      ps.push((await ts.cli('ps', '-a')).ms);
    }
    const diff = ps.map((v, i) => v - node[i]!);
    console.log(`ps -a with ${N_PS} containers, tsbuild ${fmt(ps, ' ms', 0)}; node -e 0 ${fmt(node, ' ms', 0)}; difference ${fmt(diff, ' ms', 0)}`);
  }

  const writers = new Map<string, string>();
  const cmd = `yes 0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz | head -c ${LOG_MB << 20}`;
  for (const e of engines) {
    const id = (await e.cli('run', '-d', '--network', 'none', e.image, 'sh', '-c', cmd)).out.trim();
    await e.cli('wait', id);
    writers.set(e.name, id);
  }
  await row(`logs of ${LOG_MB} MiB, MiB/s`, engines, async (e) => {
    const r = await e.cli('logs', writers.get(e.name)!);
    if (r.bytes !== LOG_MB << 20) throw new Error(`${e.name} logs: ${r.bytes} bytes`);
    return LOG_MB / (r.ms / 1000);
  }, ' MiB/s', 1);
} finally {
  for (const e of engines) await e.cleanup().catch((err) => console.error(`${e.name} cleanup: ${(err as Error).message}`));
  console.log(`load average at end ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
}
