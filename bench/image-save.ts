/**
 * Image store benchmarks, each against a reference measured in the same run:
 *  - layer writer (tree -> deterministic tar -> blob store, digest on the way) vs `tar -c`
 *  - digest speed of a stored layer (GB/s)
 *  - `tsbuild save` (docker-archive) of the image vs `tar -c` of the same files; peak RSS
 *  - `tsbuild load` of that archive vs `tar -x` of it; peak RSS
 * Usage: npm run build && node --import tsx bench/image-save.ts   (BENCH_MB=1024, BENCH_DIR=/tmp/tsb-bench)
 */
import { existsSync, mkdirSync, rmSync, readdirSync, lstatSync, createReadStream, statSync } from 'node:fs';
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

await main();
