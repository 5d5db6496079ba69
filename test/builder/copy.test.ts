import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, linkSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BuildContext } from '../../src/builder/context.js';
import { PatternMatcher } from '../../src/builder/dockerignore.js';
import { RootfsView } from '../../src/image/rootfs-view.js';
import { buildCopyLayer, copyInputsDigest, type CopyRequest } from '../../src/builder/steps/copy.js';
import { TsbuildError } from '../../src/errors.js';
import type { LayerEntry } from '../../src/image/layer-entry.js';

const NOW = Date.UTC(2030, 0, 1);
const OLD = Date.UTC(2020, 0, 2, 3, 4, 5);

/** A context with files, links, a hard link, a socket and an ignored file, plus a one-layer image
 *  (snapshot dir) with an existing dir, an existing file, and /usr/local2 -> /opt. */
async function fixture() {
  const d = mkdtempSync(join(tmpdir(), 'copy-'));
  const ctx = join(d, 'ctx');
  mkdirSync(join(ctx, 'dir', 'sub'), { recursive: true });
  writeFileSync(join(ctx, 'a.txt'), 'A');
  chmodSync(join(ctx, 'a.txt'), 0o4755);
  chownSync(join(ctx, 'a.txt'), 1000, 1000);
  chmodSync(join(ctx, 'a.txt'), 0o4755); // chown clears setuid
  utimesSync(join(ctx, 'a.txt'), OLD / 1000, OLD / 1000);
  writeFileSync(join(ctx, 'dir', 'b.txt'), 'B');
  linkSync(join(ctx, 'dir', 'b.txt'), join(ctx, 'dir', 'hard.txt'));
  symlinkSync('b.txt', join(ctx, 'dir', 'link'));
  writeFileSync(join(ctx, 'dir', 'sub', 'c.txt'), 'C');
  writeFileSync(join(ctx, 'dir', 'sub', 'secret.key'), 'S');
  symlinkSync('../../../outside', join(ctx, 'dir', 'sub', 'outlink'));
  symlinkSync('/etc/passwd', join(ctx, 'abslink'));
  symlinkSync('dir', join(ctx, 'dirlink'));
  symlinkSync('a.txt', join(ctx, 'alink'));
  writeFileSync(join(d, 'outside'), 'HOST FILE');
  await makeSocket(join(ctx, 'dir', 'sock'));
  assert.ok(lstatSync(join(ctx, 'dir', 'sock')).isSocket());

  const img = join(d, 'layer0');
  mkdirSync(join(img, 'opt', 'x'), { recursive: true });
  mkdirSync(join(img, 'usr'), { recursive: true });
  symlinkSync('/opt', join(img, 'usr', 'local2'));
  symlinkSync('../../../../../../tmp/escaped', join(img, 'escape'));
  mkdirSync(join(img, 'existing'));
  chmodSync(join(img, 'existing'), 0o700);
  chownSync(join(img, 'existing'), 5, 5);
  utimesSync(join(img, 'existing'), OLD / 1000, OLD / 1000);
  mkdirSync(join(img, 'clash', 'a.txt'), { recursive: true });
  mkdirSync(join(img, 'bin'));
  writeFileSync(join(img, 'bin', 'sh'), 'busybox');
  for (const dir of ['opt', 'opt/x', 'bin']) utimesSync(join(img, dir), OLD / 1000, OLD / 1000);
  const context = new BuildContext(ctx, { matcher: new PatternMatcher(['**/*.key']) });
  return { d, ctx, context, target: new RootfsView([img]), scratch: join(d, 'scratch'), img };
}

function makeSocket(path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    // Listening creates the socket file; closing the server would unlink it, so it stays open
    // until unref'd (the file is all the test needs).
    srv.listen(path, () => {
      srv.unref();
      resolve();
    });
  });
}

function req(f: Awaited<ReturnType<typeof fixture>>, over: Partial<CopyRequest>): CopyRequest {
  return { isAdd: false, sources: [], dest: '/', workdir: '/', from: { kind: 'context', context: f.context }, nowMs: NOW, ...over };
}

/** `path type mode uid:gid` lines, plus link targets: compact to assert on. */
function summary(entries: LayerEntry[]): string[] {
  return entries.map((e) => {
    let s = `${e.path} ${e.type} ${e.mode.toString(8)} ${e.uid}:${e.gid}`;
    if (e.linkname !== undefined) s += ` -> ${e.linkname}`;
    return s;
  });
}

const byPath = (entries: LayerEntry[], p: string) => {
  const e = entries.find((x) => x.path === p);
  assert.ok(e, `no entry ${p}`);
  return e;
};

const isErr = (code: string, re?: RegExp) => (e: unknown) => e instanceof TsbuildError && e.code === code && (!re || re.test(e.message));

test('copy: a file into missing parents — parents 0755 root with mtime now, file keeps mode and mtime, owner root', async () => {
  const f = await fixture();
  try {
    const out = await buildCopyLayer(req(f, { sources: ['a.txt'], dest: '/new/deep/' }), f.target, f.scratch);
    assert.deepEqual(summary(out), ['new dir 755 0:0', 'new/deep dir 755 0:0', 'new/deep/a.txt file 4755 0:0']);
    assert.equal(byPath(out, 'new').mtimeMs, NOW);
    const a = byPath(out, 'new/deep/a.txt');
    assert.equal(a.mtimeMs, OLD);
    assert.equal(a.size, 1);
    assert.equal(readFileSync(a.sourcePath!, 'utf8'), 'A');
  } finally {
    rmSync(f.d, { recursive: true, force: true });
  }
});

test('copy: --chown applies to created parents and copied files; --chmod only to what is copied', async () => {
  const f = await fixture();
  try {
    const chowned = await buildCopyLayer(req(f, { sources: ['a.txt'], dest: '/c/deep/', chown: { uid: 1234, gid: 99 } }), f.target, f.scratch);
    assert.deepEqual(summary(chowned), ['c dir 755 1234:99', 'c/deep dir 755 1234:99', 'c/deep/a.txt file 4755 1234:99']);
    const chmodded = await buildCopyLayer(req(f, { sources: ['dir'], dest: '/m/', chmod: '700' }), f.target, f.scratch);
    assert.deepEqual(summary(chmodded), [
      'm dir 755 0:0', // the destination dir is created, not copied: 0755 as in Docker
      'm/b.txt file 700 0:0',
      'm/hard.txt hardlink 700 0:0 -> m/b.txt',
      'm/link symlink 777 0:0 -> b.txt',
      'm/sub dir 700 0:0',
      'm/sub/c.txt file 700 0:0',
      'm/sub/outlink symlink 777 0:0 -> ../../../outside',
    ]);
    const symbolic = await buildCopyLayer(req(f, { sources: ['dir/sub/c.txt'], dest: '/s', chmod: 'u+x,go-r' }), f.target, f.scratch);
    assert.equal(byPath(symbolic, 's').mode, 0o700);
    await assert.rejects(buildCopyLayer(req(f, { sources: ['a.txt'], dest: '/x', chmod: '999' }), f.target, f.scratch), isErr('INVALID', /chmod/));
    await assert.rejects(copyInputsDigest(req(f, { sources: ['a.txt'], dest: '/x', chmod: 'u+q' })), isErr('INVALID', /chmod/));
  } finally {
    rmSync(f.d, { recursive: true, force: true });
  }
});

test('copy: a directory copies its contents; links kept, hard links kept, sockets and ignored files skipped', async () => {
  const f = await fixture();
  try {
    const out = await buildCopyLayer(req(f, { sources: ['dir'], dest: 'out/', workdir: '/work' }), f.target, f.scratch);
    assert.deepEqual(summary(out), [
      'work dir 755 0:0',
      'work/out dir 755 0:0',
      'work/out/b.txt file 644 0:0',
      'work/out/hard.txt hardlink 644 0:0 -> work/out/b.txt',
      'work/out/link symlink 777 0:0 -> b.txt',
      'work/out/sub dir 755 0:0',
      'work/out/sub/c.txt file 644 0:0',
      'work/out/sub/outlink symlink 777 0:0 -> ../../../outside',
    ]);
    assert.equal(readFileSync(byPath(out, 'work/out/b.txt').sourcePath!, 'utf8'), 'B');
    assert.equal(byPath(out, 'work/out/hard.txt').sourcePath, undefined);
  } finally {
    rmSync(f.d, { recursive: true, force: true });
  }
});

test('copy: top-level links are followed inside the context; wildcard matches are separate items', async () => {
  const f = await fixture();
  try {
    const viaLink = await buildCopyLayer(req(f, { sources: ['dirlink'], dest: '/dl/' }), f.target, f.scratch);
    assert.ok(viaLink.some((e) => e.path === 'dl/sub/c.txt'));
    const fileLink = await buildCopyLayer(req(f, { sources: ['alink'], dest: '/al' }), f.target, f.scratch);
    assert.deepEqual(summary(fileLink), ['al file 4755 0:0']);
    assert.equal(readFileSync(fileLink[0]!.sourcePath!, 'utf8'), 'A');
    // /etc/passwd means <context>/etc/passwd: absent, so not found (never the host's file).
    await assert.rejects(buildCopyLayer(req(f, { sources: ['abslink'], dest: '/p' }), f.target, f.scratch), isErr('NOT_FOUND', /abslink/));
    // dir/* : `link` is a top-level match (followed), hard.txt no longer links to b.txt.
    const globbed = await buildCopyLayer(req(f, { sources: ['dir/*'], dest: '/g/' }), f.target, f.scratch);
    assert.deepEqual(summary(globbed), [
      'g dir 755 0:0',
      'g/b.txt file 644 0:0',
      'g/c.txt file 644 0:0',
      'g/hard.txt file 644 0:0',
      'g/link file 644 0:0',
      'g/outlink symlink 777 0:0 -> ../../../outside',
    ]);
    for (const e of globbed) if (e.sourcePath) assert.ok(e.sourcePath.startsWith(f.ctx + '/'), e.sourcePath);
  } finally {
    rmSync(f.d, { recursive: true, force: true });
  }
});

test('copy: missing sources, empty wildcards, several sources onto a file dest', async () => {
  const f = await fixture();
  try {
    await assert.rejects(buildCopyLayer(req(f, { sources: ['nope.txt'], dest: '/x/' }), f.target, f.scratch), isErr('NOT_FOUND', /nope\.txt/));
    await assert.rejects(buildCopyLayer(req(f, { sources: ['dir/sub/secret.key'], dest: '/x/' }), f.target, f.scratch), isErr('NOT_FOUND'));
    // `../x` and `/x` are cleaned into the context: never the file beside it.
    for (const src of ['../a.txt', '/a.txt', '../../dir/../a.txt']) {
      const [e] = await buildCopyLayer(req(f, { sources: [src], dest: '/cleaned' }), f.target, f.scratch);
      assert.equal(e!.sourcePath, join(f.ctx, 'a.txt'), src);
    }
    await assert.rejects(buildCopyLayer(req(f, { sources: ['../outside'], dest: '/x' }), f.target, f.scratch), isErr('NOT_FOUND', /outside/));
    assert.deepEqual(await buildCopyLayer(req(f, { sources: ['nomatch*'], dest: '/x/' }), f.target, f.scratch), []);
    const one = await buildCopyLayer(req(f, { sources: ['a.txt', 'nomatch*'], dest: '/x/' }), f.target, f.scratch);
    assert.deepEqual(summary(one), ['x dir 755 0:0', 'x/a.txt file 4755 0:0']);
    // several files into a destination without `/`: copied one after the other, the last one wins (BuildKit)
    const two = await buildCopyLayer(req(f, { sources: ['a.txt', 'dir/b.txt'], dest: '/nodir' }), f.target, f.scratch);
    assert.deepEqual(two.map((e) => [e.path, e.type, e.sourcePath]), [['nodir', 'file', join(f.ctx, 'dir/b.txt')]]);
  } finally {
    rmSync(f.d, { recursive: true, force: true });
  }
});

test('copy: destinations resolve inside the image — existing dirs keep metadata, links followed in the rootfs', async () => {
  const f = await fixture();
  try {
    const intoExisting = await buildCopyLayer(req(f, { sources: ['a.txt'], dest: '/existing' }), f.target, f.scratch);
    assert.deepEqual(summary(intoExisting), ['existing dir 700 5:5', 'existing/a.txt file 4755 0:0']);
    assert.equal(byPath(intoExisting, 'existing').mtimeMs, NOW, 'writing into an existing dir modifies it (as in Docker)');
    const viaLink = await buildCopyLayer(req(f, { sources: ['a.txt'], dest: '/usr/local2/x/', chown: { uid: 7, gid: 7 } }), f.target, f.scratch);
    // /opt and /opt/x exist in the image: kept as they are (not chowned).
    assert.deepEqual(summary(viaLink), ['opt dir 755 0:0', 'opt/x dir 755 0:0', 'opt/x/a.txt file 4755 7:7']);
    assert.equal(byPath(viaLink, 'opt').mtimeMs, OLD, 'an existing ancestor not written into keeps its mtime');
    assert.equal(byPath(viaLink, 'opt/x').mtimeMs, NOW);
    const replaced = await buildCopyLayer(req(f, { sources: ['a.txt'], dest: '/bin/sh' }), f.target, f.scratch);
    assert.deepEqual(summary(replaced), ['bin dir 755 0:0', 'bin/sh file 4755 0:0']);
    assert.equal(byPath(replaced, 'bin').mtimeMs, NOW, 'replacing a file modifies its dir too (as in Docker)');
    // A link in the image that climbs out of the root is clamped at the image's root.
    const escaped = await buildCopyLayer(req(f, { sources: ['a.txt'], dest: '/escape/' }), f.target, f.scratch);
    assert.deepEqual(summary(escaped), ['tmp dir 755 0:0', 'tmp/escaped dir 755 0:0', 'tmp/escaped/a.txt file 4755 0:0']);
    const renamed = await buildCopyLayer(req(f, { sources: ['a.txt'], dest: 'renamed', workdir: '/opt' }), f.target, f.scratch);
    assert.deepEqual(summary(renamed).slice(-1), ['opt/renamed file 4755 0:0']);
    await assert.rejects(buildCopyLayer(req(f, { sources: ['dir'], dest: '/bin/sh' }), f.target, f.scratch), isErr('INVALID', /non-directory: \/bin\/sh/));
    // A file onto a directory of its name is an error; onto the named dir itself, it goes inside.
    await assert.rejects(buildCopyLayer(req(f, { sources: ['a.txt'], dest: '/clash/' }), f.target, f.scratch), isErr('INVALID', /cannot replace directory \/clash\/a\.txt with a file/));
    const inside = await buildCopyLayer(req(f, { sources: ['a.txt'], dest: '/clash/a.txt' }), f.target, f.scratch);
    assert.deepEqual(summary(inside), ['clash dir 755 0:0', 'clash/a.txt dir 755 0:0', 'clash/a.txt/a.txt file 4755 0:0']);
    await assert.rejects(buildCopyLayer(req(f, { sources: ['a.txt'], dest: '/bin/sh/' }), f.target, f.scratch), isErr('INVALID', /non-directory/));
    // --link: the image is not looked at, so /existing is a plain new file path.
    const linked = await buildCopyLayer(req(f, { sources: ['a.txt'], dest: '/existing', link: true }), f.target, f.scratch);
    assert.deepEqual(summary(linked), ['existing file 4755 0:0']);
    const linkedViaSymlink = await buildCopyLayer(req(f, { sources: ['a.txt'], dest: '/usr/local2/x/', link: true }), f.target, f.scratch);
    assert.deepEqual(summary(linkedViaSymlink), ['usr dir 755 0:0', 'usr/local2 dir 755 0:0', 'usr/local2/x dir 755 0:0', 'usr/local2/x/a.txt file 4755 0:0']);
  } finally {
    rmSync(f.d, { recursive: true, force: true });
  }
});

test('copy: --parents keeps the source structure (with the ./ pivot); --exclude drops matches', async () => {
  const f = await fixture();
  try {
    const kept = await buildCopyLayer(req(f, { sources: ['dir/sub/c.txt', 'a.txt'], dest: '/p/', parents: true }), f.target, f.scratch);
    assert.deepEqual(summary(kept), ['p dir 755 0:0', 'p/a.txt file 4755 0:0', 'p/dir dir 755 0:0', 'p/dir/sub dir 755 0:0', 'p/dir/sub/c.txt file 644 0:0']);
    const pivot = await buildCopyLayer(req(f, { sources: ['dir/./sub'], dest: '/q/', parents: true }), f.target, f.scratch);
    assert.deepEqual(summary(pivot), ['q dir 755 0:0', 'q/sub dir 755 0:0', 'q/sub/c.txt file 644 0:0', 'q/sub/outlink symlink 777 0:0 -> ../../../outside']);
    const excluded = await buildCopyLayer(req(f, { sources: ['dir', 'a.*'], dest: '/e/', excludes: ['*.txt', 'sub/outlink', 'link'] }), f.target, f.scratch);
    assert.deepEqual(summary(excluded), ['e dir 755 0:0', 'e/sub dir 755 0:0', 'e/sub/c.txt file 644 0:0']);
  } finally {
    rmSync(f.d, { recursive: true, force: true });
  }
});

test('copy: heredoc sources become 0644 files (chown/chmod apply)', async () => {
  const f = await fixture();
  try {
    const out = await buildCopyLayer(req(f, { heredocs: [{ name: 'EOF', content: 'hello\n' }], dest: '/etc/greeting' }), f.target, f.scratch);
    assert.deepEqual(summary(out), ['etc dir 755 0:0', 'etc/greeting file 644 0:0']);
    assert.equal(readFileSync(byPath(out, 'etc/greeting').sourcePath!, 'utf8'), 'hello\n');
    assert.equal(byPath(out, 'etc/greeting').mtimeMs, NOW);
    const two = await buildCopyLayer(
      req(f, { heredocs: [{ name: 'one', content: '1' }, { name: 'two', content: '22' }], dest: '/d/', chmod: '755', chown: { uid: 3, gid: 4 } }),
      f.target,
      f.scratch,
    );
    assert.deepEqual(summary(two), ['d dir 755 3:4', 'd/one file 755 3:4', 'd/two file 755 3:4']);
    assert.equal(byPath(two, 'd/two').size, 2);
  } finally {
    rmSync(f.d, { recursive: true, force: true });
  }
});

test('copy: the inputs digest ignores mtimes and excluded files, follows content, flags and dest', async () => {
  const f = await fixture();
  try {
    const r = req(f, { sources: ['dir'], dest: '/out/' });
    const d0 = await copyInputsDigest(r);
    assert.match(d0, /^sha256:[0-9a-f]{64}$/);
    utimesSync(join(f.ctx, 'dir', 'sub', 'c.txt'), 1, 1);
    const fresh = () => ({ ...r, from: { kind: 'context' as const, context: new BuildContext(f.ctx, { matcher: new PatternMatcher(['**/*.key']) }) } });
    assert.equal(await copyInputsDigest(fresh()), d0, 'touch does not change it');
    assert.notEqual(await copyInputsDigest({ ...fresh(), dest: '/other/' }), d0);
    assert.notEqual(await copyInputsDigest({ ...fresh(), chmod: '600' }), d0);
    const ex = { ...fresh(), excludes: ['sub/c.txt'] };
    const e0 = await copyInputsDigest(ex);
    writeFileSync(join(f.ctx, 'dir', 'sub', 'secret.key'), 'ignored anyway');
    writeFileSync(join(f.ctx, 'dir', 'sub', 'c.txt'), 'changed but excluded');
    assert.equal(await copyInputsDigest({ ...ex, from: fresh().from }), e0);
    assert.notEqual(await copyInputsDigest(fresh()), d0, 'content change is seen');
    const h1 = await copyInputsDigest(req(f, { heredocs: [{ name: 'EOF', content: 'a' }], dest: '/x' }));
    const h2 = await copyInputsDigest(req(f, { heredocs: [{ name: 'EOF', content: 'b' }], dest: '/x' }));
    assert.notEqual(h1, h2);
  } finally {
    rmSync(f.d, { recursive: true, force: true });
  }
});

test('copy: `COPY . .` copies the whole visible context into WORKDIR', async () => {
  const f = await fixture();
  try {
    const out = await buildCopyLayer(req(f, { sources: ['.'], dest: '.', workdir: '/app' }), f.target, f.scratch);
    const paths = out.map((e) => e.path);
    assert.deepEqual(paths, [
      'app',
      'app/a.txt',
      'app/abslink',
      'app/alink',
      'app/dir',
      'app/dir/b.txt',
      'app/dir/hard.txt',
      'app/dir/link',
      'app/dir/sub',
      'app/dir/sub/c.txt',
      'app/dir/sub/outlink',
      'app/dirlink',
    ]);
    assert.deepEqual(summary(out.filter((e) => e.type === 'symlink')), [
      'app/abslink symlink 777 0:0 -> /etc/passwd', // inner links are never followed, wherever they point
      'app/alink symlink 777 0:0 -> a.txt',
      'app/dir/link symlink 777 0:0 -> b.txt',
      'app/dir/sub/outlink symlink 777 0:0 -> ../../../outside',
      'app/dirlink symlink 777 0:0 -> dir',
    ]);
  } finally {
    rmSync(f.d, { recursive: true, force: true });
  }
});

test('copy --parents: `**` matches any number of segments (only with --parents), in the context and in images', async () => {
  const f = await fixture();
  try {
    for (const p of ['src/x/y']) mkdirSync(join(f.ctx, p), { recursive: true });
    for (const p of ['src/a.txt', 'src/we[ird].txt', 'src/x/b.txt', 'src/x/y/c.txt', 'src/x/y/d.md']) writeFileSync(join(f.ctx, p), p);
    const txt = (out: LayerEntry[]) => out.filter((e) => e.type === 'file').map((e) => e.path);
    const kept = await buildCopyLayer(req(f, { sources: ['./src/**/*.txt'], dest: '/parents/', parents: true }), f.target, f.scratch);
    assert.deepEqual(txt(kept), ['parents/src/a.txt', 'parents/src/we[ird].txt', 'parents/src/x/b.txt', 'parents/src/x/y/c.txt']);
    assert.equal(readFileSync(kept.find((e) => e.path === 'parents/src/we[ird].txt')!.sourcePath!, 'utf8'), 'src/we[ird].txt');
    const pivot = await buildCopyLayer(req(f, { sources: ['src/./**/c.txt'], dest: '/p/', parents: true }), f.target, f.scratch);
    assert.deepEqual(summary(pivot), ['p dir 755 0:0', 'p/x dir 755 0:0', 'p/x/y dir 755 0:0', 'p/x/y/c.txt file 644 0:0']);
    // Without --parents, `**` is filepath.Match's `*`: one segment.
    const flat = await buildCopyLayer(req(f, { sources: ['src/**/*.txt'], dest: '/flat/' }), f.target, f.scratch);
    assert.deepEqual(txt(flat), ['flat/b.txt']);
    // The same from an image (the context dir used as a one-layer snapshot).
    const fromImage = await buildCopyLayer(
      req(f, { from: { kind: 'image', view: new RootfsView([f.ctx]) }, sources: ['/src/**/*.txt'], dest: '/i/', parents: true }),
      f.target,
      f.scratch,
    );
    assert.deepEqual(txt(fromImage), ['i/src/a.txt', 'i/src/we[ird].txt', 'i/src/x/b.txt', 'i/src/x/y/c.txt']);
  } finally {
    rmSync(f.d, { recursive: true, force: true });
  }
});

test('copy: the inputs digest sees the destination as it resolves, not how it was spelled', async () => {
  const f = await fixture();
  try {
    const d = (dest: string, workdir: string) => copyInputsDigest(req(f, { sources: ['a.txt'], dest, workdir }));
    assert.equal(await d('/app/', '/'), await d('/app/', '/elsewhere'));
    assert.equal(await d('/app/', '/'), await d('app/', '/'));
    assert.equal(await d('/app/', '/'), await d('../app/', '/srv'));
    assert.notEqual(await d('/app/', '/'), await d('/app', '/'), 'a trailing slash changes the meaning');
  } finally {
    rmSync(f.d, { recursive: true, force: true });
  }
});
