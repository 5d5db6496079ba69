import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, linkSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { BuildContext, compileGlobSegment, hasWildcards, normalizeSourcePath, type ContextEntry } from '../../src/builder/context.js';
import { PatternMatcher, parseDockerignore } from '../../src/builder/dockerignore.js';
import { ChecksumCache, RACY_WINDOW_NS } from '../../src/builder/checksum-cache.js';
import { fsContentReader, type ContentReader } from '../../src/builder/file-digest.js';
import { fsx } from '../../src/native/fsx.js';
import { buildCopyLayer, type CopyRequest } from '../../src/builder/steps/copy.js';
import { RootfsView } from '../../src/image/rootfs-view.js';
import { TsbuildError } from '../../src/errors.js';

/** Makes a temp dir, hands it to fn, removes it afterwards. */
async function withTmp(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tsb-ctx-'));
  try {
    await fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function write(root: string, rel: string, content: string | Buffer = rel): void {
  const p = join(root, rel);
  mkdirSync(join(p, '..'), { recursive: true });
  writeFileSync(p, content);
}

async function collect(ctx: BuildContext, under?: string): Promise<ContextEntry[]> {
  const out: ContextEntry[] = [];
  for await (const e of ctx.walk(under ? { under } : {})) out.push(e);
  return out;
}

/** Counts how many times file content is read (and how big the chunks are). */
function countingReader(): ContentReader & { reads: string[]; maxChunk: number; chunks: number } {
  const r = {
    reads: [] as string[],
    maxChunk: 0,
    chunks: 0,
    async *read(p: string) {
      r.reads.push(p);
      for await (const c of fsContentReader.read(p)) {
        r.chunks++;
        r.maxChunk = Math.max(r.maxChunk, c.length);
        yield c;
      }
    },
  };
  return r;
}

const notFound = (e: unknown) => e instanceof TsbuildError && e.code === 'NOT_FOUND';

test('walk: sorted, parents first, symlinks kept as links (even pointing outside), special files', async () => {
  await withTmp(async (dir) => {
    const ctx = join(dir, 'ctx');
    write(ctx, 'b.txt', 'bee');
    write(ctx, 'a/z.txt');
    write(ctx, 'a/b/c.txt');
    write(ctx, 'é.txt');
    write(dir, 'outside/secret', 'host secret');
    symlinkSync('/etc/passwd', join(ctx, 'passwd-link'));
    symlinkSync('../outside', join(ctx, 'out-dir-link'));
    symlinkSync('b.txt', join(ctx, 'rel-link'));
    symlinkSync('does-not-exist', join(ctx, 'dangling'));
    execFileSync('mkfifo', [join(ctx, 'fifo')]);
    fsx().mknod(join(ctx, 'null-dev'), 0o20644, 1, 3);
    chmodSync(join(ctx, 'b.txt'), 0o4751);
    const entries = await collect(new BuildContext(ctx));
    assert.deepEqual(
      entries.map((e) => `${e.relPath}:${e.type}`),
      ['a:dir', 'a/b:dir', 'a/b/c.txt:file', 'a/z.txt:file', 'b.txt:file', 'dangling:symlink', 'fifo:fifo', 'null-dev:char', 'out-dir-link:symlink', 'passwd-link:symlink', 'rel-link:symlink', 'é.txt:file'],
    );
    const by = new Map(entries.map((e) => [e.relPath, e]));
    assert.equal(by.get('passwd-link')!.linkname, '/etc/passwd');
    assert.equal(by.get('passwd-link')!.size, 0);
    assert.equal(by.get('out-dir-link')!.linkname, '../outside');
    assert.equal(by.get('b.txt')!.size, 3);
    assert.equal(by.get('b.txt')!.mode, 0o4751);
    assert.equal(by.get('b.txt')!.hostPath, join(ctx, 'b.txt'));
    assert.equal(by.get('null-dev')!.devmajor, 1);
    assert.equal(by.get('null-dev')!.devminor, 3);
    // Nothing from outside the context ever shows up.
    assert.ok(!entries.some((e) => e.relPath.includes('secret')));
    assert.deepEqual((await collect(new BuildContext(ctx), 'a')).map((e) => e.relPath), ['a/b', 'a/b/c.txt', 'a/z.txt']);
    // Hard links: later paths point at the first one walked.
    linkSync(join(ctx, 'a/z.txt'), join(ctx, 'hard'));
    const again = new Map((await collect(new BuildContext(ctx))).map((e) => [e.relPath, e]));
    assert.equal(again.get('a/z.txt')!.hardlinkTo, undefined);
    assert.equal(again.get('hard')!.hardlinkTo, 'a/z.txt');
    assert.equal(again.get('hard')!.nlink, 2);
    assert.equal(again.get('b.txt')!.hardlinkTo, undefined);
  });
});

test('walk honours .dockerignore, prunes excluded dirs, shows parents of re-included entries', async () => {
  await withTmp(async (ctx) => {
    for (let i = 0; i < 20; i++) write(ctx, `node_modules/p${i}/index.js`);
    write(ctx, 'src/main.ts');
    write(ctx, 'src/main.test.ts');
    write(ctx, 'logs/a.log');
    write(ctx, 'logs/keep/important.log');
    write(ctx, 'x.log');
    write(ctx, '.git/HEAD');
    const matcher = new PatternMatcher(parseDockerignore('node_modules\n.git\n**/*.test.ts\nlogs\n!logs/keep/important.log\n*.log\n'));
    const c = new BuildContext(ctx, { matcher });
    const entries = await collect(c);
    assert.deepEqual(entries.map((e) => e.relPath), ['logs', 'logs/keep', 'logs/keep/important.log', 'src', 'src/main.ts']);
    // node_modules and .git were never opened: root, logs, logs/keep, src (4 directories).
    assert.equal(c.counters.dirsRead, 4);
    assert.ok(c.counters.entriesStatted < 15, `statted ${c.counters.entriesStatted}`);
  });
});

test('.dockerignore exceptions inside excluded directories: what BuildKit\'s walker sends', async () => {
  // Each expectation is what fsutil's walker (BuildKit's context transfer) gives for the same tree.
  const tree = ['ab/b/f', 'ab/b.txt', 'c/x/f', 'c/y', 'keep/debug.log', 'keep/k.txt', 'subdir/other.txt', 'subdir/sub1.txt', 'volume/x/oneline.txt', 'volume/y.txt'];
  const cases: Array<[string, string[]]> = [
    ['ab/b\n!ab\n', ['ab', 'ab/b.txt']],
    ['*/x\n!c\n', ['c', 'c/y']],
    ['**/*.log\n!keep\n', ['keep', 'keep/k.txt']],
    ['subdir\n!*/sub1*\n', ['subdir', 'subdir/sub1.txt']],
    ['volume/\n!**/oneline.txt\n', ['volume', 'volume/x', 'volume/x/oneline.txt']],
  ];
  for (const [ignore, wantKept] of cases) {
    await withTmp(async (ctx) => {
      for (const f of tree) write(ctx, f);
      write(ctx, '.dockerignore', ignore);
      const c = await BuildContext.open(ctx);
      const got = (await collect(c)).map((e) => e.relPath).filter((p) => p !== '.dockerignore');
      const top = new Set(wantKept.map((p) => p.split('/')[0]));
      assert.deepEqual(got.filter((p) => top.has(p.split('/')[0]!)), wantKept, ignore);
      // a COPY source (or a bind mount) sees the same: what the walk leaves out is not found
      for (const f of tree.filter((p) => top.has(p.split('/')[0]!) && !wantKept.includes(p))) {
        assert.equal(await c.stat(f), undefined, `${JSON.stringify(ignore)}: ${f}`);
        await assert.rejects(c.digest(f), notFound);
      }
    });
  }
  await withTmp(async (ctx) => {
    write(ctx, 'ab/b/f');
    write(ctx, '.dockerignore', 'ab/b\n!ab\n');
    await assert.rejects((await BuildContext.open(ctx)).resolveSources('ab/b'), notFound);
  });
});

test('BuildContext.open picks <Dockerfile>.dockerignore over .dockerignore', async () => {
  await withTmp(async (ctx) => {
    write(ctx, 'a');
    write(ctx, 'b');
    write(ctx, '.dockerignore', 'a\n');
    write(ctx, 'build/Dockerfile', 'FROM scratch\n');
    write(ctx, 'build/Dockerfile.dockerignore', 'b\nbuild\n');
    const withDf = await collect(await BuildContext.open(ctx, { dockerfile: join(ctx, 'build/Dockerfile') }));
    assert.deepEqual(withDf.map((e) => e.relPath), ['.dockerignore', 'a']);
    const plain = await collect(await BuildContext.open(ctx));
    assert.deepEqual(plain.map((e) => e.relPath), ['.dockerignore', 'b', 'build', 'build/Dockerfile', 'build/Dockerfile.dockerignore']);
    await assert.rejects(BuildContext.open(join(ctx, 'nope')), notFound);
  });
});

test('COPY sources: cleaned into the context, wildcards per segment, escapes, not-found rules', async () => {
  await withTmp(async (dir) => {
    const ctx = join(dir, 'ctx');
    write(ctx, 'a.txt');
    write(ctx, 'b.txt');
    write(ctx, 'c.md');
    write(ctx, 'arr[0].txt');
    write(ctx, 'src/one/f.go');
    write(ctx, 'src/two/f.go');
    write(ctx, 'src/two/g.go');
    write(ctx, 'secret.txt');
    write(dir, 'outside.txt');
    const c = new BuildContext(ctx, { matcher: new PatternMatcher(['secret.txt']) });
    const paths = async (s: string) => (await c.resolveSources(s)).map((x) => x.path);
    assert.deepEqual(await paths('a.txt'), ['a.txt']);
    assert.deepEqual(await paths('../a.txt'), ['a.txt']);
    assert.deepEqual(await paths('/a.txt'), ['a.txt']);
    assert.deepEqual(await paths('../../../a.txt'), ['a.txt']);
    assert.deepEqual(await paths('./src/'), ['src']);
    assert.deepEqual(await paths('.'), ['']);
    assert.deepEqual(await paths('*.txt'), ['a.txt', 'arr[0].txt', 'b.txt'], 'ignored secret.txt is not matched');
    assert.deepEqual(await paths('[ab].txt'), ['a.txt', 'b.txt']);
    assert.deepEqual(await paths('[^a].txt'), ['b.txt']);
    assert.deepEqual(await paths('arr[[]0].txt'), ['arr[0].txt']);
    assert.deepEqual(await paths('src/*/f.go'), ['src/one/f.go', 'src/two/f.go']);
    assert.deepEqual(await paths('src/t?o/*'), ['src/two/f.go', 'src/two/g.go']);
    assert.deepEqual(await paths('nomatch*'), [], 'an empty wildcard match is allowed');
    assert.deepEqual(await paths('../*.txt'), ['a.txt', 'arr[0].txt', 'b.txt']);
    await assert.rejects(c.resolveSources('missing.txt'), notFound);
    await assert.rejects(c.resolveSources('secret.txt'), notFound, 'ignored files do not exist for the build');
    await assert.rejects(c.resolveSources('../outside.txt'), notFound, '.. cannot leave the context');
    await assert.rejects(c.resolveSources('a.txt/x'), notFound);
    await assert.rejects(c.resolveSources('[z-a]'), (e) => e instanceof TsbuildError && e.code === 'INVALID');
    const [src] = await c.resolveSources('src');
    assert.equal(src!.entry.type, 'dir');
    assert.deepEqual((await collect(c, src!.entry.relPath)).map((e) => e.relPath), ['src/one', 'src/one/f.go', 'src/two', 'src/two/f.go', 'src/two/g.go']);
  });
});

test('COPY sources: symlinks stay links, or are followed only inside the context', async () => {
  await withTmp(async (dir) => {
    const ctx = join(dir, 'ctx');
    write(ctx, 'real/file.txt', 'inside');
    write(ctx, 'etc/passwd', 'context passwd');
    write(dir, 'outside/file.txt', 'host file');
    symlinkSync('/etc/passwd', join(ctx, 'abs-link'));
    symlinkSync('real', join(ctx, 'dir-link'));
    symlinkSync('../outside/file.txt', join(ctx, 'escape-link'));
    symlinkSync('/nonexistent', join(ctx, 'dangling'));
    symlinkSync('loop2', join(ctx, 'loop1'));
    symlinkSync('loop1', join(ctx, 'loop2'));
    const c = new BuildContext(ctx);
    const [asLink] = await c.resolveSources('abs-link');
    assert.equal(asLink!.entry.type, 'symlink');
    assert.equal(asLink!.entry.linkname, '/etc/passwd');
    // Followed: /etc/passwd means <context>/etc/passwd, never the host's.
    const [followed] = await c.resolveSources('abs-link', { followSymlinks: true });
    assert.equal(followed!.path, 'abs-link');
    assert.equal(followed!.entry.relPath, 'etc/passwd');
    assert.equal(followed!.entry.hostPath, join(ctx, 'etc/passwd'));
    // ../outside/file.txt is clamped at the context root: <context>/outside/file.txt does not exist.
    await assert.rejects(c.resolveSources('escape-link', { followSymlinks: true }), notFound);
    assert.equal((await c.resolveSources('escape-link'))[0]!.entry.type, 'symlink');
    await assert.rejects(c.resolveSources('dangling', { followSymlinks: true }), notFound);
    await assert.rejects(c.resolveSources('loop1', { followSymlinks: true }), notFound);
    // Links in the middle of a path are resolved inside the context.
    const [mid] = await c.resolveSources('dir-link/file.txt');
    assert.equal(mid!.path, 'dir-link/file.txt');
    assert.equal(mid!.entry.relPath, 'real/file.txt');
    assert.deepEqual((await c.resolveSources('dir-link/*.txt')).map((s) => [s.path, s.entry.relPath]), [['dir-link/file.txt', 'real/file.txt']]);
    // Paths given to stat/digest/walk never go through a link to the host either.
    await assert.rejects(c.digest('escape-link/../outside/file.txt'), notFound);
    symlinkSync('../outside', join(ctx, 'out-dir'));
    await assert.rejects(c.digest('out-dir/file.txt'), notFound);
    assert.equal(await c.stat('out-dir/file.txt'), undefined);
    assert.deepEqual(await collect(c, 'out-dir'), []);
    assert.deepEqual((await collect(c, 'dir-link')).map((e) => e.relPath), ['real/file.txt']);
    assert.equal((await c.stat('dir-link/file.txt'))!.relPath, 'real/file.txt');
    assert.equal((await c.stat('dir-link'))!.type, 'symlink');
    // Never hashing host files through links either.
    const d1 = await c.digest('escape-link');
    writeFileSync(join(dir, 'outside/file.txt'), 'changed host file');
    assert.equal(await c.digest('escape-link'), d1);
  });
});

test('digests: content, mode and names count; mtime does not', async () => {
  await withTmp(async (ctx) => {
    write(ctx, 'd/a.txt', 'hello');
    write(ctx, 'd/b.txt', 'world');
    write(ctx, 'ignored.log', 'x');
    symlinkSync('a.txt', join(ctx, 'd/link'));
    const fresh = () => new BuildContext(ctx, { matcher: new PatternMatcher(['*.log']) });
    const base = { a: await fresh().digest('d/a.txt'), d: await fresh().digest('d'), root: await fresh().digest('') };
    assert.match(base.a, /^sha256:[0-9a-f]{64}$/);
    assert.notEqual(base.a, await fresh().digest('d/b.txt'));

    utimesSync(join(ctx, 'd/a.txt'), new Date(2001, 1, 1), new Date(2001, 1, 1));
    assert.equal(await fresh().digest('d/a.txt'), base.a, 'touch keeps the digest');
    assert.equal(await fresh().digest(''), base.root);

    writeFileSync(join(ctx, 'ignored.log'), 'changed but ignored');
    assert.equal(await fresh().digest(''), base.root, 'ignored files do not count');

    writeFileSync(join(ctx, 'd/a.txt'), 'hellO');
    const changed = await fresh().digest('d/a.txt');
    assert.notEqual(changed, base.a, 'content change');
    assert.notEqual(await fresh().digest('d'), base.d, 'directory follows its children');
    writeFileSync(join(ctx, 'd/a.txt'), 'hello');
    assert.equal(await fresh().digest('d/a.txt'), base.a, 'same bytes, same digest');

    chmodSync(join(ctx, 'd/a.txt'), 0o600);
    assert.notEqual(await fresh().digest('d/a.txt'), base.a, 'mode change');
    chmodSync(join(ctx, 'd/a.txt'), 0o644);
    assert.equal(await fresh().digest('d'), base.d);

    renameSync(join(ctx, 'd/b.txt'), join(ctx, 'd/c.txt'));
    assert.notEqual(await fresh().digest('d'), base.d, 'rename changes the directory');
    renameSync(join(ctx, 'd/c.txt'), join(ctx, 'd/b.txt'));
    assert.equal(await fresh().digest('d'), base.d);

    const link1 = await fresh().digest('d/link');
    rmSync(join(ctx, 'd/link'));
    symlinkSync('b.txt', join(ctx, 'd/link'));
    assert.notEqual(await fresh().digest('d/link'), link1, 'link target counts');
    await assert.rejects(fresh().digest('ignored.log'), notFound);
  });
});

test('xattrs take part in digests when read', async () => {
  await withTmp(async (ctx) => {
    write(ctx, 'f', 'data');
    const d0 = await new BuildContext(ctx, { readXattrs: true }).digest('f');
    fsx().lsetxattr(join(ctx, 'f'), 'user.test', Buffer.from('v1'));
    const c = new BuildContext(ctx, { readXattrs: true });
    const e = (await c.resolveSources('f'))[0]!.entry;
    assert.deepEqual(e.xattrs, { 'user.test': Buffer.from('v1') });
    const d1 = await c.digest('f');
    assert.notEqual(d1, d0);
    fsx().lsetxattr(join(ctx, 'f'), 'user.test', Buffer.from('v2'));
    assert.notEqual(await new BuildContext(ctx, { readXattrs: true }).digest('f'), d1);
    assert.equal(await new BuildContext(ctx).digest('f'), d0, 'ignored unless asked for');
  });
});

test('checksum cache: a no-op rebuild reads no file; a changed file is re-read alone', async () => {
  await withTmp(async (dir) => {
    const ctx = join(dir, 'ctx');
    for (let i = 0; i < 30; i++) write(ctx, `pkg${i % 3}/f${i}.txt`, `content ${i}`);
    const cacheFile = join(dir, 'state', 'checksums.json');
    // Let the files age past the racy window so their checksums may be trusted.
    await sleep(Number(RACY_WINDOW_NS / 1_000_000n) + 50);

    const r1 = countingReader();
    const c1 = await BuildContext.open(ctx, { reader: r1, checksumCacheFile: cacheFile });
    const root1 = await c1.digest('');
    assert.equal(r1.reads.length, 30);
    assert.equal(await c1.digest(''), root1);
    assert.equal(r1.reads.length, 30, 'memoized within a build');
    await c1.saveCache();
    assert.ok(existsSync(cacheFile));
    assert.deepEqual(readdirSync(join(dir, 'state')).sort(), ['checksums.files-0.json', 'checksums.json'], 'the head and one shard, no temp file left behind');

    const r2 = countingReader();
    const c2 = await BuildContext.open(ctx, { reader: r2, checksumCacheFile: cacheFile });
    assert.equal(await c2.digest(''), root1);
    assert.equal(r2.reads.length, 0, 'nothing re-read');
    assert.equal(c2.cache.stats.dirHits, 1, 'the unchanged root answered by its directory entry');
    assert.equal(c2.cache.stats.hits + c2.cache.stats.misses, 0, 'no file looked up');

    writeFileSync(join(ctx, 'pkg1/f4.txt'), 'edited!!!');
    utimesSync(join(ctx, 'pkg2/f5.txt'), new Date(), new Date(2000, 0, 1)); // mtime-only change
    await sleep(Number(RACY_WINDOW_NS / 1_000_000n) + 50);
    const r3 = countingReader();
    const c3 = await BuildContext.open(ctx, { reader: r3, checksumCacheFile: cacheFile });
    const root3 = await c3.digest('');
    assert.notEqual(root3, root1);
    assert.deepEqual(r3.reads.sort(), [join(ctx, 'pkg1/f4.txt'), join(ctx, 'pkg2/f5.txt')]);
    assert.equal(c3.cache.stats.dirHits, 1, 'pkg0 unchanged: answered whole');
    assert.equal(c3.cache.stats.hits, 18, 'the other files of the changed directories from their entries');
    await c3.saveCache();

    // Touched file: re-read once (stat changed), digest unchanged; then cached again.
    const r4 = countingReader();
    const c4 = await BuildContext.open(ctx, { reader: r4, checksumCacheFile: cacheFile });
    assert.equal(await c4.digest(''), root3);
    assert.equal(r4.reads.length, 0);

    // A file created, removed or renamed changes its directory's key (and so every parent's).
    write(ctx, 'pkg0/new.txt', 'new');
    await sleep(Number(RACY_WINDOW_NS / 1_000_000n) + 50);
    const withNew = await new BuildContext(ctx).digest('');
    const r6 = countingReader();
    const c6 = await BuildContext.open(ctx, { reader: r6, checksumCacheFile: cacheFile });
    assert.equal(await c6.digest(''), withNew);
    assert.deepEqual(r6.reads, [join(ctx, 'pkg0/new.txt')]);
    await c6.saveCache();
    renameSync(join(ctx, 'pkg0/new.txt'), join(ctx, 'pkg0/renamed.txt'));
    const renamed = await new BuildContext(ctx).digest('');
    assert.notEqual(renamed, withNew);
    assert.equal(await (await BuildContext.open(ctx, { checksumCacheFile: cacheFile })).digest(''), renamed);
    rmSync(join(ctx, 'pkg0/renamed.txt'));
    assert.equal(await (await BuildContext.open(ctx, { checksumCacheFile: cacheFile })).digest(''), root3);

    // A damaged or foreign cache file is ignored, never trusted.
    const head = readFileSync(cacheFile, 'utf8');
    writeFileSync(cacheFile, '{not json');
    const r5 = countingReader();
    assert.equal(await (await BuildContext.open(ctx, { reader: r5, checksumCacheFile: cacheFile })).digest(''), root3);
    assert.equal(r5.reads.length, 30);
    writeFileSync(cacheFile, head.replace(/"digestVersion":"[^"]*"/, '"digestVersion":"other"'));
    const r7 = countingReader();
    assert.equal(await (await BuildContext.open(ctx, { reader: r7, checksumCacheFile: cacheFile })).digest(''), root3);
    assert.equal(r7.reads.length, 30);
  });
});

test('checksum cache: racy entries (changed within the timestamp window) are not stored', async () => {
  await withTmp(async (ctx) => {
    write(ctx, 'fresh.txt', 'just written');
    const r = countingReader();
    const cache = ChecksumCache.inMemory();
    await new BuildContext(ctx, { reader: r, cache }).digest('fresh.txt');
    assert.equal(cache.stats.racy, 1);
    await new BuildContext(ctx, { reader: r, cache }).digest('fresh.txt');
    assert.equal(r.reads.length, 2, 'a racy checksum is recomputed');
  });
});

test('content is streamed in bounded chunks', async () => {
  await withTmp(async (ctx) => {
    const big = Buffer.alloc(5 * 1024 * 1024 + 7, 7);
    write(ctx, 'big.bin', big);
    const r = countingReader();
    const d = await new BuildContext(ctx, { reader: r }).digest('big.bin');
    assert.match(d, /^sha256:/);
    assert.ok(r.chunks >= 5, `chunks ${r.chunks}`);
    assert.ok(r.maxChunk <= 1024 * 1024, `max chunk ${r.maxChunk}`);
  });
});

test('helpers: source cleaning, wildcard detection, Go filepath.Match segments', () => {
  assert.equal(normalizeSourcePath('../../x/./y/'), 'x/y');
  assert.equal(normalizeSourcePath('/'), '');
  assert.equal(normalizeSourcePath('..'), '');
  assert.equal(hasWildcards('a\\*b'), false);
  assert.equal(hasWildcards('a[b]'), true);
  const m = (p: string, s: string) => compileGlobSegment(p).test(s);
  assert.equal(m('*.go', 'main.go'), true);
  assert.equal(m('*.go', '.go'), true);
  assert.equal(m('a?c', 'abc'), true);
  assert.equal(m('a?c', 'ac'), false);
  assert.equal(m('[a-c]x', 'bx'), true);
  assert.equal(m('[^a-c]x', 'bx'), false);
  assert.equal(m('[\\]]', ']'), true);
  assert.equal(m('a\\*', 'a*'), true);
  assert.equal(m('a\\*', 'ab'), false);
  assert.equal(m('(x)+.{1}', '(x)+.{1}'), true);
  assert.equal(m('?', '😀'), true);
  for (const bad of ['[', '[]', 'a\\', '[a-', '[z-a]', '[-a]']) {
    assert.throws(() => compileGlobSegment(bad), (e) => e instanceof TsbuildError && e.code === 'INVALID', bad);
  }
});

test('checksum cache file: scope, LRU bound, atomic rewrite only when changed', async () => {
  await withTmp(async (dir) => {
    const file = join(dir, 'c.json');
    const st = (ino: number) => ({ dev: 1n, ino: BigInt(ino), size: 3n, mtimeNs: 1n, ctimeNs: 1n, mode: 0o100644n, uid: 0n, gid: 0n });
    const later = 10n ** 18n;
    const c = await ChecksumCache.load(file, { scope: '/ctx/a', max: 3 });
    for (let i = 1; i <= 4; i++) c.set(`f${i}`, st(i), `sha256:${i}`, later);
    assert.equal(c.size, 3, 'bounded');
    await c.save();
    const again = await ChecksumCache.load(file, { scope: '/ctx/a', max: 3 });
    assert.equal(again.get('f1', st(1)), undefined, 'least recently used was evicted');
    assert.equal(again.get('f4', st(4)), 'sha256:4');
    assert.equal(again.get('f4', st(5)), undefined, 'another inode is another file');
    assert.equal((await ChecksumCache.load(file, { scope: '/ctx/b' })).size, 0, 'another context never shares');
    const before = readdirSync(dir);
    writeFileSync(file, 'sentinel');
    await again.save(); // nothing changed: no write
    assert.equal(readFileSync(file, 'utf8'), 'sentinel');
    assert.deepEqual(readdirSync(dir), before);
  });
});

test('checksum cache shards: a one-file change reads and rewrites one shard; a damaged, foreign or missing shard only costs re-hashing', async () => {
  await withTmp(async (dir) => {
    const ctx = join(dir, 'ctx');
    // enough files for several shards (256 entries each at most, about): 20 dirs of 30
    for (let i = 0; i < 600; i++) write(ctx, `d${i % 20}/f${i}.txt`, `content ${i}`);
    const cacheFile = join(dir, 'state', 'c.json');
    await sleep(Number(RACY_WINDOW_NS / 1_000_000n) + 50);
    const c1 = await BuildContext.open(ctx, { checksumCacheFile: cacheFile });
    const root1 = await c1.digest('');
    await c1.saveCache();
    const shards = () => readdirSync(join(dir, 'state')).filter((n) => n.startsWith('c.files-')).sort();
    const n = shards().length;
    assert.ok(n >= 4, `${n} shards`);
    const mtimes = () => new Map(shards().map((s) => [s, statSync(join(dir, 'state', s)).mtimeMs]));
    const before = mtimes();

    writeFileSync(join(ctx, 'd7/f7.txt'), 'edited');
    await sleep(Number(RACY_WINDOW_NS / 1_000_000n) + 50);
    await sleep(20); // (a coarse mtime clock: a rewritten shard shows a newer one)
    const r2 = countingReader();
    const c2 = await BuildContext.open(ctx, { reader: r2, checksumCacheFile: cacheFile });
    const root2 = await c2.digest('');
    assert.equal(root2, await new BuildContext(ctx).digest(''));
    assert.deepEqual(r2.reads, [join(ctx, 'd7/f7.txt')]);
    assert.equal(c2.cache.stats.shardsRead, 1, "only the shard of d7's files is read");
    assert.equal(c2.cache.stats.hits, 29);
    await c2.saveCache();
    const after = mtimes();
    assert.equal([...after].filter(([s, t]) => before.get(s) !== t).length, 1, 'only that shard is rewritten');
    assert.equal((await ChecksumCache.load(cacheFile, { scope: resolve(ctx) })).size, 600);

    // every shard damaged, of another context, of another layout, or gone: every file hashed again
    // (a wrong digest never comes out of it), and the shards are written anew
    const [s0, s1, s2, s3] = shards();
    const scoped = (s: string) => JSON.parse(readFileSync(join(dir, 'state', s), 'utf8')) as Record<string, unknown>;
    writeFileSync(join(dir, 'state', s0!), '{"format":2,');
    writeFileSync(join(dir, 'state', s1!), JSON.stringify({ ...scoped(s1!), scope: '/elsewhere' }));
    writeFileSync(join(dir, 'state', s2!), JSON.stringify({ ...scoped(s2!), shards: 2 * n }));
    rmSync(join(dir, 'state', s3!));
    for (const s of shards().slice(3)) writeFileSync(join(dir, 'state', s), JSON.stringify({ ...scoped(s), entries: 'x' }));
    // (without directory entries, so that every file is looked up)
    const noDirs = () => writeFileSync(cacheFile, JSON.stringify({ ...(JSON.parse(readFileSync(cacheFile, 'utf8')) as object), dirs: [] }));
    noDirs();
    const r3 = countingReader();
    const c3 = await BuildContext.open(ctx, { reader: r3, checksumCacheFile: cacheFile });
    assert.equal(await c3.digest(''), root2);
    assert.equal(r3.reads.length, 600);
    await c3.saveCache();
    assert.equal(shards().length, n);
    noDirs();
    const r4 = countingReader();
    const c4 = await BuildContext.open(ctx, { reader: r4, checksumCacheFile: cacheFile });
    assert.equal(await c4.digest(''), root2);
    assert.notEqual(root2, root1);
    assert.equal(r4.reads.length, 0, 'all cached again');
    assert.equal(c4.cache.stats.shardsRead, n);
  });
});

test('checksum cache: a directory entry answers only the same ignore rules and the same stat data below it', async () => {
  await withTmp(async (dir) => {
    const ctx = join(dir, 'ctx');
    for (let i = 0; i < 6; i++) write(ctx, `a/b${i % 2}/f${i}.txt`, `content ${i}`);
    write(ctx, 'a/skip.log', 'log');
    const cacheFile = join(dir, 'state', 'checksums.json');
    await sleep(Number(RACY_WINDOW_NS / 1_000_000n) + 50);
    const open = async (patterns: string[] = []) => {
      const c = await BuildContext.open(ctx, { checksumCacheFile: cacheFile });
      return patterns.length ? new BuildContext(ctx, { cache: c.cache, matcher: new PatternMatcher(patterns) }) : c;
    };
    const c1 = await open();
    const all = await c1.digest('a');
    await c1.saveCache();
    const ignoring = await open(['a/*.log']);
    const fresh = await new BuildContext(ctx, { matcher: new PatternMatcher(['a/*.log']) }).digest('a');
    assert.notEqual(fresh, all);
    assert.equal(await ignoring.digest('a'), fresh, 'another .dockerignore is another key');
    assert.equal(ignoring.cache.stats.dirHits, 0);

    chmodSync(join(ctx, 'a/b1/f3.txt'), 0o600); // header change two levels down
    const c2 = await open();
    const chmodded = await c2.digest('a');
    assert.notEqual(chmodded, all);
    assert.equal(chmodded, await new BuildContext(ctx).digest('a'));
    assert.equal(c2.cache.stats.dirHits, 1, 'only a/b0 answered from its entry');
  });
});

test('a walk after a digest lists the tree as the digest saw it (the same lstat calls: no second pass), and only then', async () => {
  await withTmp(async (ctx) => {
    write(ctx, 'd/a.txt', 'aaaa');
    write(ctx, 'd/e/b.txt', 'bb');
    const c = new BuildContext(ctx);
    await c.digest('.');
    // changed after the digest: the walk still gives the state the digest (the cache key) was made of
    write(ctx, 'd/a.txt', 'a much longer content');
    const walked = await collect(c);
    assert.equal(walked.find((e) => e.relPath === 'd/a.txt')?.size, 4);
    assert.equal(walked.find((e) => e.relPath === 'd/e/b.txt')?.size, 2);
    // a context that took no digest lists the tree as it is now
    const fresh = await collect(new BuildContext(ctx));
    assert.equal(fresh.find((e) => e.relPath === 'd/a.txt')?.size, 21);
  });
});

test('names sort in UTF-8 byte order, in a walk and in a COPY layer (code units differ from bytes for surrogate pairs)', async () => {
  await withTmp(async (ctx) => {
    // bytes: a 61, a-c 61 2d, b 62, é c3 a9, Ａ ef bc a1, 😀 f0 9f 98 80 (code units put 😀, d83d, before Ａ, ff21)
    for (const n of ['😀', 'Ａ', 'é', 'b', 'a-c', 'a/x']) write(ctx, `mixed/${n}`);
    for (const n of ['Ａ', 'b', 'é']) write(ctx, `plain/${n}`);
    const c = new BuildContext(ctx);
    await c.digest(''); // (the listings the tree key took, as a COPY walks them)
    const rels = (await collect(c)).map((e) => e.relPath);
    const want = ['mixed', 'mixed/a', 'mixed/a/x', 'mixed/a-c', 'mixed/b', 'mixed/é', 'mixed/Ａ', 'mixed/😀', 'plain', 'plain/b', 'plain/é', 'plain/Ａ'];
    assert.deepEqual(rels, want);
    assert.deepEqual((await collect(new BuildContext(ctx))).map((e) => e.relPath), want, 'the same without the tree key');
    const req: CopyRequest = { isAdd: false, sources: ['.'], dest: '/app', workdir: '/', from: { kind: 'context', context: c }, nowMs: 0 };
    const layer = await buildCopyLayer(req, new RootfsView([]), join(ctx, '..', `${basename(ctx)}-scratch`));
    rmSync(join(ctx, '..', `${basename(ctx)}-scratch`), { recursive: true, force: true });
    // whole paths: `a-c` (2d) before `a/x` (2f)
    const paths = layer.map((e) => e.path);
    assert.deepEqual(paths, ['app', ...want.map((p) => `app/${p}`)].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y))));
    assert.ok(paths.indexOf('app/mixed/a-c') < paths.indexOf('app/mixed/a/x'));
  });
});

test('entries made from a native listing have the fields lstat gives (times before 1970 and sub-ms, sizes above 4 GiB)', async () => {
  await withTmp(async (ctx) => {
    const times = [-1_234_567.891, -0.0005, 0, 0.0009, 1.5, 999_999.9999, 1_700_000_000.123456, 4_102_444_800.999];
    times.forEach((t, i) => {
      write(ctx, `t/f${i}`, 'x'.repeat(i));
      utimesSync(join(ctx, `t/f${i}`), t, t);
    });
    write(ctx, 't/big', '');
    execFileSync('truncate', ['-s', String(5 * 2 ** 30 + 3), join(ctx, 't/big')]); // sparse
    linkSync(join(ctx, 't/f1'), join(ctx, 't/hard'));
    chmodSync(join(ctx, 't/f2'), 0o4751);
    symlinkSync('f1', join(ctx, 't/link'));
    const c = new BuildContext(ctx);
    await c.digest('');
    const listed = await collect(c, 't');
    assert.equal(listed.length, times.length + 3);
    const { fingerprint } = await import('../../src/builder/checksum-cache.js');
    for (const e of listed) {
      const one = (await new BuildContext(ctx).stat(e.relPath))!;
      const fields = (x: ContextEntry) => ({ type: x.type, mode: x.mode, uid: x.uid, gid: x.gid, size: x.size, mtimeMs: x.mtimeMs, nlink: x.nlink, linkname: x.linkname, fp: fingerprint(x.stat) });
      assert.deepEqual(fields(e), fields(one), e.relPath);
    }
    assert.equal(listed.find((e) => e.relPath === 't/big')!.size, 5 * 2 ** 30 + 3);
  });
});
