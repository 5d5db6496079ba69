/**
 * Published-port benchmark (numbers only, no assertions), issue 12's goal: throughput through
 * `-p 127.0.0.1:P:80` at least 90 % of the same transfer to the container's address directly.
 * A busybox httpd in a tsbuild container (the installed `bin/tsbuild`, after `npm run build`)
 * serves a large file from a tmpfs; curl fetches it to /dev/null
 *   a. through the published port 127.0.0.1:P (nftables DNAT in output, masquerade onto the bridge)
 *   b. from the container's bridge address directly
 *   c. from the same busybox httpd on the host's loopback (no container, no bridge)
 * interleaved run by run (the order rotates); then connection latency: `ab -n N -c 1` (a new TCP
 * connection per request) for a small file on each of the three paths.
 * Traffic goes only to 127.0.0.1 and the container's address. The load average is printed.
 * Usage: npm run build && node --import tsx bench/ports.ts [--runs N] [--mb M] [--requests N]
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeBaseStore } from '../test/helpers/build.js';
import { projectRoot } from '../test/helpers/cli.js';
import { freePort } from '../test/containers/leftovers.js';

const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const RUNS = arg('--runs', 7);
const MB = arg('--mb', 512);
const REQUESTS = arg('--requests', 500);
if (!existsSync(join(projectRoot, 'dist', 'bundle', 'tsbuild.cjs'))) throw new Error('run `npm run build` first');
for (const tool of ['curl', 'ab', 'busybox']) {
  if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) throw new Error(`${tool} is needed (curl, apache2-utils, busybox-static)`);
}

const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
const median = (xs: number[]) => sorted(xs)[Math.floor(xs.length / 2)]!;
const fmt = (xs: number[], unit: string, digits: number) =>
  `${median(xs).toFixed(digits)}${unit} [${sorted(xs)[0]!.toFixed(digits)}–${sorted(xs).at(-1)!.toFixed(digits)}]`;

function sh(argv: string[]): string {
  const r = spawnSync(argv[0]!, argv.slice(1), { cwd: projectRoot, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${argv.join(' ')}: exit ${r.status}: ${r.stderr.trim()}`);
  return r.stdout;
}

/** MiB/s of one download of URL to /dev/null (curl's own measure, from its first byte of work). */
function download(url: string): number {
  const out = sh(['curl', '-sS', '--fail', '--noproxy', '*', '-o', '/dev/null', '-w', '%{size_download} %{speed_download}', url]);
  const [size, speed] = out.trim().split(' ').map(Number);
  if (size !== MB << 20) throw new Error(`${url}: ${size} bytes`);
  return speed! / 2 ** 20;
}

/** ab's mean time per request (ms) and requests/s over N sequential new connections. */
function latency(url: string): { ms: number; rps: number } {
  const out = sh(['ab', '-q', '-n', String(REQUESTS), '-c', '1', url]);
  const failed = Number(/Failed requests:\s+(\d+)/.exec(out)?.[1]);
  if (failed) throw new Error(`${url}: ${failed} failed requests`);
  return { ms: Number(/Time per request:\s+([\d.]+) \[ms\] \(mean\)/.exec(out)![1]), rps: Number(/Requests per second:\s+([\d.]+)/.exec(out)![1]) };
}

async function waitReady(url: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (spawnSync('curl', ['-sS', '--fail', '--noproxy', '*', '-o', '/dev/null', '--max-time', '2', url]).status === 0) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} never answered`);
}

const load0 = loadavg();
const base = await makeBaseStore();
const bin = join(projectRoot, 'bin', 'tsbuild');
const tsb = (...args: string[]) => sh([bin, '--root', base.root, ...args]);
const hostWww = mkdtempSync(join(tmpdir(), 'tsbuild-bench-ports-'));
let hostHttpd: ReturnType<typeof spawn> | undefined;
try {
  const pub = await freePort();
  const make = `head -c ${MB << 20} /dev/zero > /www/big && echo hi > /www/small && exec httpd -f -p 80 -h /www`;
  const id = tsb('run', '-d', '--tmpfs', '/www', '-p', `127.0.0.1:${pub}:80`, 'busybox', 'sh', '-c', make).trim();
  const ip = tsb('inspect', '--format', '{{.NetworkSettings.IPAddress}}', id).trim();
  // the same server and file on the host's loopback: the path without any container
  const lo = await freePort();
  writeFileSync(join(hostWww, 'small'), 'hi\n');
  sh(['sh', '-c', `head -c ${MB << 20} /dev/zero > ${join(hostWww, 'big')}`]);
  hostHttpd = spawn('busybox', ['httpd', '-f', '-p', `127.0.0.1:${lo}`, '-h', hostWww], { stdio: 'ignore' });
  const paths = [
    ['published 127.0.0.1:P', `http://127.0.0.1:${pub}`],
    ['container address', `http://${ip}:80`],
    ['host loopback', `http://127.0.0.1:${lo}`],
  ] as const;
  for (const [, url] of paths) await waitReady(`${url}/small`);
  console.log(`${MB} MiB per download, ${RUNS} runs, ${REQUESTS} requests per latency run; load average at start ${load0.map((l) => l.toFixed(1)).join(' ')}`);

  const speeds = paths.map(() => [] as number[]);
  for (const [, url] of paths) download(`${url}/big`); // warm-up
  for (let i = 0; i < RUNS; i++) {
    for (let k = 0; k < paths.length; k++) {
      const j = (i + k) % paths.length;
      speeds[j]!.push(download(`${paths[j]![1]}/big`));
    }
  }
  const ratio = (a: number[], b: number[]) => fmt(a.map((v, i) => v / b[i]!), 'x', 2);
  for (const [j, [name]] of paths.entries()) console.log(`throughput, ${name}: ${fmt(speeds[j]!, ' MiB/s', 0)}`);
  console.log(`published / direct: ${ratio(speeds[0]!, speeds[1]!)} (goal >= 0.90); published / loopback: ${ratio(speeds[0]!, speeds[2]!)}`);

  const lat = paths.map(() => [] as { ms: number; rps: number }[]);
  for (let i = 0; i < Math.max(3, Math.ceil(RUNS / 2)); i++) {
    for (let k = 0; k < paths.length; k++) {
      const j = (i + k) % paths.length;
      lat[j]!.push(latency(`${paths[j]![1]}/small`));
    }
  }
  for (const [j, [name]] of paths.entries()) {
    console.log(`connect + GET + close, ${name}: ${fmt(lat[j]!.map((x) => x.ms), ' ms', 3)}, ${fmt(lat[j]!.map((x) => x.rps), ' req/s', 0)}`);
  }
  tsb('rm', '-f', id);
} finally {
  hostHttpd?.kill();
  const ids = sh([bin, '--root', base.root, 'ps', '-aq', '--no-trunc']).split('\n').filter(Boolean);
  if (ids.length) spawnSync(bin, ['--root', base.root, 'rm', '-f', ...ids]);
  base.cleanup();
  rmSync(hostWww, { recursive: true, force: true });
  console.log(`load average at end ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
}
