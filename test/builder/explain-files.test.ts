/**
 * The file list a COPY records for explained misses (explain-files.ts) walks the context only as
 * deep as the list needs, through the context walk's depth limit: both give exactly what a whole
 * walk gives at those depths (re-included entries below ignored directories included), and the
 * list is the shallowest MAX_PATHS paths in walk order, as a whole walk would make it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BuildContext, type ContextEntry } from '../../src/builder/context.js';
import { contextSourceTree } from '../../src/builder/copy-source.js';
import { MAX_PATHS, SourceFilesCollector, type SourceFiles } from '../../src/builder/explain-files.js';

function write(root: string, rel: string): void {
  mkdirSync(join(root, rel, '..'), { recursive: true });
  writeFileSync(join(root, rel), rel);
}

async function walk(c: BuildContext, opts: { under?: string; maxDepth?: number } = {}): Promise<ContextEntry[]> {
  const out: ContextEntry[] = [];
  for await (const e of c.walk(opts)) out.push(e);
  return out;
}

const depth = (p: string) => (p === '' || p === '.' ? 0 : p.split('/').length);

async function withContext(files: string[], fn: (ctx: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tsb-explain-files-'));
  try {
    for (const f of files) write(dir, f);
    await fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const TREE = [
  ...Array.from({ length: 30 }, (_, i) => `wide/f${i}`),
  'a/b/c/d/e/f/deep.txt',
  'a/top.txt',
  'logs/a.log',
  'logs/keep/important.log',
  'logs/keep/deeper/more/x.log',
  'node_modules/p/index.js',
  'only/ignored/inside.tmp',
  'z.txt',
];
const IGNORE = 'node_modules\nlogs\n!logs/keep/important.log\n!logs/keep/deeper/more/x.log\n**/*.tmp\n';

test('walk maxDepth: exactly the whole walk\'s entries at those depths, in its order; deeper dirs are not listed', async () => {
  await withContext([...TREE, '.dockerignore'], async (dir) => {
    writeFileSync(join(dir, '.dockerignore'), IGNORE);
    const c = await BuildContext.open(dir);
    for (const under of ['', 'a', 'logs']) {
      const whole = (await walk(c, under ? { under } : {})).map((e) => e.relPath);
      const base = depth(under);
      for (const maxDepth of [0, 1, 2, 3, 4, 7]) {
        const got = (await walk(c, { ...(under ? { under } : {}), maxDepth })).map((e) => e.relPath);
        assert.deepEqual(got, whole.filter((p) => depth(p) - base <= maxDepth), `under ${JSON.stringify(under)}, maxDepth ${maxDepth}`);
      }
    }
    // the ignored dir that holds only re-included entries deeper than the limit still shows
    assert.deepEqual((await walk(c, { maxDepth: 1 })).map((e) => e.relPath), ['.dockerignore', 'a', 'logs', 'only', 'wide', 'z.txt']);
    const fresh = await BuildContext.open(dir);
    await walk(fresh, { maxDepth: 1 });
    const shallow = fresh.counters.dirsRead;
    const whole = await BuildContext.open(dir);
    await walk(whole);
    assert.ok(shallow < whole.counters.dirsRead, `${shallow} dirs read for one level, ${whole.counters.dirsRead} for all`);
  });
});

/** The list by its definition: every path of a whole walk, stably by depth, the first MAX_PATHS. */
async function expected(c: BuildContext, sources: string[]): Promise<SourceFiles> {
  const all: Array<{ path: string; dir: 0 | 1; digest: string }> = [];
  for (const src of sources) {
    for (const item of await contextSourceTree(c).resolve(src)) {
      all.push({ path: item.path, dir: item.root.type === 'dir' ? 1 : 0, digest: await item.digest() });
      for await (const e of item.entries()) {
        if (e.rel === '') continue;
        all.push({ path: item.path === '.' || item.path === '' ? e.rel : `${item.path}/${e.rel}`, dir: e.type === 'dir' ? 1 : 0, digest: await item.entryDigest(e) });
      }
    }
  }
  const sorted = all.map((x, i) => ({ x, i })).sort((p, q) => depth(p.x.path) - depth(q.x.path) || p.i - q.i).map((p) => p.x);
  const kept = sorted.slice(0, MAX_PATHS);
  const cut = sorted.length > MAX_PATHS;
  return { paths: kept.map((k) => [k.path, k.digest, k.dir]), complete: cut ? depth(kept[kept.length - 1]!.path) - 1 : null };
}

async function recorded(c: BuildContext, sources: string[]): Promise<SourceFiles> {
  const files = new SourceFilesCollector();
  for (const src of sources) for (const item of await contextSourceTree(c).resolve(src)) files.add(item, await item.digest());
  return files.files();
}

test('file list: the shallowest MAX_PATHS paths as a whole walk gives them, for big and small contexts, several sources, ignore rules', async () => {
  // the bench's shape, smaller: 10 top dirs x 30 subdirs x 2 files (the cut goes through level 2)
  const wide = [...TREE];
  for (let i = 0; i < 600; i++) wide.push(`d${i % 10}/e${Math.floor(i / 10) % 30}/f${i}.bin`);
  // 5 x 7 subdirs x 12 files: the cut goes through level 3
  const deep = [...TREE];
  for (let i = 0; i < 420; i++) deep.push(`d${i % 5}/e${i % 7}/f${i}.bin`);
  for (const [files, cut] of [[wide, 1], [deep, 2]] as const) {
    await withContext([...files, '.dockerignore'], async (dir) => {
      writeFileSync(join(dir, '.dockerignore'), IGNORE);
      for (const sources of [['.'], ['d1', 'a', 'z.txt'], ['a'], ['logs'], ['d*']]) {
        const want = await expected(await BuildContext.open(dir), sources);
        assert.deepEqual(await recorded(await BuildContext.open(dir), sources), want, sources.join(' '));
      }
      const want = await expected(await BuildContext.open(dir), ['.']);
      assert.equal(want.paths.length, MAX_PATHS);
      assert.equal(want.complete, cut);
    });
  }
  // the list of the wide tree reads its top two levels, not its 300 leaf dirs (the digests, which
  // the COPY's cache key needed first, are answered by the context's memo)
  await withContext(wide, async (dir) => {
    const c = await BuildContext.open(dir);
    const files = new SourceFilesCollector();
    for (const item of await contextSourceTree(c).resolve('.')) files.add(item, await item.digest());
    const before = c.counters.dirsRead;
    await files.files();
    const listRead = c.counters.dirsRead - before;
    assert.ok(listRead < 30, `${listRead} dirs read for the list (the tree has over 300)`);
  });
  await withContext(TREE, async (dir) => {
    const want = await expected(await BuildContext.open(dir), ['.']);
    assert.equal(want.complete, null, 'small: every path');
    assert.deepEqual(await recorded(await BuildContext.open(dir), ['.']), want);
  });
});
