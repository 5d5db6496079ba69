/**
 * Image store benchmarks, each against a reference measured in the same run:
 *  - layer writer (tree -> deterministic tar -> blob store, digest on the way) vs `tar -c`
 *  - digest speed of a stored layer (GB/s)
 *  - `tsbuild save` (docker-archive) of the image vs `tar -c` of the same files; peak RSS
 *  - `tsbuild load` of that archive vs `tar -x` of it; peak RSS
 * Usage: npm run build && node --import tsx bench/image-save.ts   (BENCH_MB=1024, BENCH_DIR=/tmp/tsb-bench)
 *   --load: the load part only, as BENCH_RUNS (default 7) interleaved rounds of `tar -x`, `tar -x && sync` and `load`
 *   (medians, [min–max], the paired ratio, CPU = user + sys); the archive is made once and kept in
 *   BENCH_DIR (delete it to remake). BENCH_BIN=a/tsbuild.cjs,b/tsbuild.cjs times these bundles instead,
 *   each in turn after the same `tar -x` (a before/after comparison).
 */
import { existsSync, mkdirSync, rmSync, readdirSync, lstatSync, createReadStream, statSync, renameSync, writeFileSync } from 'node:fs';
import { execFileSync, spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { join, relative } from 'node:path';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { MB, makeTree, timeCmd, timeWithRss, dropFile, fmt, best } from './image-fixture.js';
import { ImageStore, writeLayer, emptyConfig, type LayerEntry } from '../src/image/index.js';

const base = process.env.BENCH_DIR ?? '/tmp/tsb-bench';
const tree = join(base, `tree-${MB}`);
const root = join(base, 'store');
const root2 = join(base, 'store2');
const mainTs = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));
// The installed command (launcher + bundle, after `npm run build`) as a user runs it; through tsx
// only when there is no bundle (tsx's start-up, ~1 s under load, then weighs on every ratio).
const bin = fileURLToPath(new URL('../bin/tsbuild', import.meta.url));
const bundled = existsSync(fileURLToPath(new URL('../dist/bundle/tsbuild.cjs', import.meta.url)));
const cli = (...a: string[]) => (bundled ? ([bin, a] as const) : ([process.execPath, ['--import', 'tsx', mainTs, ...a]] as const));

function* walk(dir: string): Generator<LayerEntry> {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const st = lstatSync(p);
    const path = relative(tree, p);
    if (st.isDirectory()) {
      yield { path, type: 'dir', mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, size: 0, mtimeMs: st.mtimeMs };
      yield* walk(p);
    } else if (st.isFile()) {
      yield { path, type: 'file', mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, size: st.size, mtimeMs: st.mtimeMs, sourcePath: p };
    }
  }
}

/** Wall, CPU (user + sys) and peak RSS of a command, from GNU time. */
function timeCpu(cmd: string, args: string[]): { s: number; cpu: number; rssMB: number } {
  const t = process.hrtime.bigint();
  const r = spawnSync('/usr/bin/time', ['-f', '%U %S %M', cmd, ...args], { encoding: 'utf8' });
  const s = Number(process.hrtime.bigint() - t) / 1e9;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  const [u, sys, kb] = r.stderr.trim().split('\n').pop()!.split(' ').map(Number);
  return { s, cpu: u! + sys!, rssMB: kb! / 1024 };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const range = (xs: number[]) => `${fmt(median(xs))} [${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))}]`;

async function loadOnly(): Promise<void> {
  mkdirSync(base, { recursive: true });
  const out = join(base, 'save.tar');
  if (!existsSync(out)) {
    makeTree(tree);
    rmSync(root, { recursive: true, force: true });
    const store = await ImageStore.open(root);
    const layer = await writeLayer(store, walk(tree));
    await store.putImage({ config: emptyConfig('2024-01-01T00:00:00Z'), layers: [layer], tags: ['bench:1'] });
    await store.close();
    const [node, args] = cli('save', '-o', `${out}.part`, 'bench:1', '--root', root);
    timeCmd(node, [...args]);
    renameSync(`${out}.part`, out);
    rmSync(root, { recursive: true, force: true });
  }
  const runs = Number(process.env.BENCH_RUNS ?? 7);
  // BENCH_BIN=a.cjs,b.cjs: each bundle in turn after the same `tar -x` (before/after comparisons)
  const loads = (process.env.BENCH_BIN?.split(',') ?? ['']).map((b) => ({
    name: b ? relative(process.cwd(), b) : 'tsbuild load',
    cmd: b ? ([process.execPath, [runner(b), 'load', '-i', out, '--root', root2]] as const) : cli('load', '-i', out, '--root', root2),
    s: [] as number[],
    cpu: [] as number[],
    rss: [] as number[],
    ratio: [] as number[],
    ratioSync: [] as number[],
  }));
  const xdir = join(base, 'x');
  const tx: number[] = [], cx: number[] = [], txs: number[] = [];
  console.log(`# load of ${(statSync(out).size / 2 ** 30).toFixed(2)} GiB, ${runs} rounds, ${new Date().toISOString()}, load average ${loadavg()[0]!.toFixed(1)}`);
  for (let i = 0; i < runs; i++) {
    execFileSync('sync');
    mkdirSync(xdir);
    const x = timeCpu('tar', ['-xf', out, '-C', xdir]);
    rmSync(xdir, { recursive: true, force: true });
    tx.push(x.s), cx.push(x.cpu);
    // the fair reference for a durable load: the same bytes on the disk before it returns
    execFileSync('sync');
    mkdirSync(xdir);
    txs.push(timeCmd('sh', ['-c', `tar -xf '${out}' -C '${xdir}' && sync`]));
    rmSync(xdir, { recursive: true, force: true });
    // alternate the order, so neither runs always right after tar -x
    for (const l of i % 2 ? [...loads].reverse() : loads) {
      execFileSync('sync');
      const r = timeCpu(l.cmd[0], [...l.cmd[1]]);
      rmSync(root2, { recursive: true, force: true });
      l.s.push(r.s), l.cpu.push(r.cpu), l.rss.push(r.rssMB), l.ratio.push(r.s / x.s), l.ratioSync.push(r.s / txs[i]!);
    }
  }
  console.log(`tar -x: ${range(tx)} s  CPU ${range(cx)} s;  tar -x && sync: ${range(txs)} s`);
  for (const l of loads) {
    console.log(`${l.name}: ${range(l.s)} s  CPU ${range(l.cpu)} s  peak RSS ${range(l.rss)} MB  paired ratio to tar -x ${range(l.ratio)}, to tar -x && sync ${range(l.ratioSync)}`);
  }
  console.log(`(load average now ${loadavg()[0]!.toFixed(1)})`);
}

/** A script that runs a bundle's main() as bin/tsbuild.js does (without its code cache). */
function runner(bundle: string): string {
  const p = join(base, 'run-bundle.cjs');
  writeFileSync(p, `require(${JSON.stringify(bundle)}).main(process.argv).then((c) => { process.exitCode = c; });\n`);
  return p;
}

async function main(): Promise<void> {
  mkdirSync(base, { recursive: true });
  console.log(`# image benchmarks, ${MB} MiB, ${new Date().toISOString()}`);
  makeTree(tree);
  for (const r of [root, root2]) rmSync(r, { recursive: true, force: true });
  const ref = join(base, 'ref.tar');
  timeCmd('tar', ['-cf', ref, '-C', tree, '.']); // warm the page cache
  const bytes = statSync(ref).size;
  dropFile(ref);
  const tarC = best(3, () => ({ s: timeCmd('tar', ['-cf', ref, '-C', tree, '.']) }), () => dropFile(ref)).s;
  console.log(`tar -c of the tree:                 ${fmt(tarC)} s  (${fmt(bytes / tarC / 1e9)} GB/s)`);

  const store = await ImageStore.open(root);
  let t = process.hrtime.bigint();
  const layer = await writeLayer(store, walk(tree));
  const tw = Number(process.hrtime.bigint() - t) / 1e9;
  console.log(`layer writer (tar+sha256+fsync):    ${fmt(tw)} s  (${fmt(layer.size / tw / 1e9)} GB/s)  ratio to tar -c ${fmt(tw / tarC)}`);
  await store.putImage({ config: emptyConfig('2024-01-01T00:00:00Z'), layers: [layer], tags: ['bench:1'] });
  await store.close();

  t = process.hrtime.bigint();
  const h = createHash('sha256');
  for await (const c of createReadStream(store.blobPath(layer.digest), { highWaterMark: 1 << 20 })) h.update(c as Buffer);
  h.digest();
  const td = Number(process.hrtime.bigint() - t) / 1e9;
  console.log(`digest of a stored layer:           ${fmt(td)} s  (${fmt(layer.size / td / 1e9)} GB/s)`);

  const out = join(base, 'save.tar');
  const [node, args] = cli('save', '-o', out, 'bench:1', '--root', root);
  const save = best(3, () => timeWithRss(node, [...args]), () => dropFile(out));
  timeWithRss(node, [...args]);
  console.log(`tsbuild save (docker-archive):      ${fmt(save.s)} s  ratio to tar -c ${fmt(save.s / tarC)}  peak RSS ${fmt(save.rssMB ?? NaN)} MB`);

  const xdir = join(base, 'x');
  const tarX = best(
    3,
    () => {
      mkdirSync(xdir);
      return { s: timeCmd('tar', ['-xf', out, '-C', xdir]) };
    },
    () => rmSync(xdir, { recursive: true, force: true }),
  ).s;
  // load fsyncs every blob (durability is part of its contract); tar -x leaves dirty pages
  const tarXSync = best(
    3,
    () => {
      mkdirSync(xdir);
      return { s: timeCmd('sh', ['-c', `tar -xf '${out}' -C '${xdir}' && sync`]) };
    },
    () => rmSync(xdir, { recursive: true, force: true }),
  ).s;
  const [node2, args2] = cli('load', '-i', out, '--root', root2);
  const load = best(3, () => timeWithRss(node2, [...args2]), () => rmSync(root2, { recursive: true, force: true }));
  console.log(`tar -x of the archive:              ${fmt(tarX)} s`);
  console.log(`tar -x && sync:                     ${fmt(tarXSync)} s`);
  console.log(`tsbuild load (sha256+check+fsync):  ${fmt(load.s)} s  ratio to tar -x ${fmt(load.s / tarX)}, to tar -x && sync ${fmt(load.s / tarXSync)}  peak RSS ${fmt(load.rssMB ?? NaN)} MB`);
  const [node3, args3] = cli('images', '--root', root);
  const idle = timeWithRss(node3, [...args3]);
  console.log(`(CLI start-up + 'images' for scale: ${fmt(idle.s)} s, ${fmt(idle.rssMB ?? NaN)} MB)`);
  dropFile(out);
  for (const r of [root, root2]) rmSync(r, { recursive: true, force: true });
}

await (process.argv.includes('--load') ? loadOnly() : main());
