import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';
import { BuildContext } from '../../src/builder/context.js';
import { RootfsView } from '../../src/image/rootfs-view.js';
import { detectArchive } from '../../src/builder/steps/add-archive.js';
import { buildCopyLayer, copyInputsDigest, type CopyRequest } from '../../src/builder/steps/copy.js';
import { TsbuildError } from '../../src/errors.js';
import type { LayerEntry } from '../../src/image/layer-entry.js';

const NOW = Date.UTC(2030, 0, 1);
const T = new Date(Date.UTC(2021, 5, 6, 7, 8, 9));

interface TarItem {
  name: string;
  type?: 'file' | 'directory' | 'symlink' | 'link';
  content?: string;
  linkname?: string;
  mode?: number;
  uid?: number;
  gid?: number;
}

/** A tar archive built with tar-stream (names written exactly as given). */
async function makeTar(items: TarItem[]): Promise<Buffer> {
  const p = pack();
  const chunks: Buffer[] = [];
  p.on('data', (c: unknown) => {
    chunks.push(c as Buffer);
  });
  const ended = new Promise<void>((r) => p.on('end', () => r()));
  for (const it of items) {
    const type = it.type ?? 'file';
    const header = { name: it.name, type, mode: it.mode ?? (type === 'directory' ? 0o755 : 0o644), uid: it.uid ?? 0, gid: it.gid ?? 0, mtime: T, linkname: it.linkname };
    await new Promise<void>((resolve, reject) => {
      const done = (e?: Error | null) => (e ? reject(e) : resolve());
      if (type === 'file') p.entry(header, it.content ?? '', done);
      else p.entry(header, done);
    });
  }
  p.finalize();
  await ended;
  return Buffer.concat(chunks);
}

const SAMPLE: TarItem[] = [
  { name: 'd/', type: 'directory', uid: 42, gid: 43 },
  { name: 'd/f', content: 'FILE', mode: 0o640, uid: 42, gid: 43 },
  { name: 'd/h', type: 'link', linkname: 'd/f', uid: 42, gid: 43 },
  { name: 'd/s', type: 'symlink', linkname: '/etc/passwd' },
];

async function fixture() {
  const d = mkdtempSync(join(tmpdir(), 'copy-add-'));
  const ctx = join(d, 'ctx');
  mkdirSync(ctx);
  const tar = await makeTar(SAMPLE);
  writeFileSync(join(ctx, 'plain.bin'), tar); // extension says nothing
  writeFileSync(join(ctx, 'a.tgz'), gzipSync(tar));
  writeFileSync(join(ctx, 'b.data'), execFileSync('bzip2', ['-c'], { input: tar }));
  writeFileSync(join(ctx, 'c.data'), execFileSync('xz', ['-c'], { input: tar }));
  writeFileSync(join(ctx, 'd.data'), execFileSync('zstd', ['-c', '-q'], { input: tar }));
  writeFileSync(join(ctx, 'empty.tar.gz'), '');
  writeFileSync(join(ctx, 'notar.gz'), gzipSync('just some text, not a tar archive'));
  writeFileSync(join(ctx, 'text.tar'), 'not a tar either');
  const img = join(d, 'img');
  mkdirSync(img);
  return { d, ctx, context: new BuildContext(ctx), target: new RootfsView([img]), scratch: join(d, 'scratch') };
}

type Fx = Awaited<ReturnType<typeof fixture>>;

function req(f: Fx, over: Partial<CopyRequest>): CopyRequest {
  return { isAdd: true, sources: [], dest: '/', workdir: '/', from: { kind: 'context', context: f.context }, nowMs: NOW, ...over };
}

function summary(entries: LayerEntry[]): string[] {
  return entries.map((e) => {
    let s = `${e.path} ${e.type} ${e.mode.toString(8)} ${e.uid}:${e.gid}`;
    if (e.linkname !== undefined) s += ` -> ${e.linkname}`;
    return s;
  });
}

const isErr = (code: string, re?: RegExp) => (e: unknown) => e instanceof TsbuildError && e.code === code && (!re || re.test(e.message));

test('add: archives are recognised by content, not by name', async () => {
  const f = await fixture();
  try {
    const kinds: Record<string, string | null> = {};
    for (const n of ['plain.bin', 'a.tgz', 'b.data', 'c.data', 'd.data', 'empty.tar.gz', 'notar.gz', 'text.tar']) kinds[n] = await detectArchive(join(f.ctx, n));
    assert.deepEqual(kinds, { 'plain.bin': 'tar', 'a.tgz': 'gzip', 'b.data': 'bzip2', 'c.data': 'xz', 'd.data': 'zstd', 'empty.tar.gz': null, 'notar.gz': null, 'text.tar': null });
  } finally {
    rmSync(f.d, { recursive: true, force: true });
  }
});

test('add: local archives are extracted into the dest dir keeping their owners (--chown only on created dirs)', async () => {
  const f = await fixture();
  try {
    for (const src of ['plain.bin', 'a.tgz', 'b.data', 'c.data', 'd.data']) {
      const out = await buildCopyLayer(req(f, { sources: [src], dest: '/u', chown: { uid: 5, gid: 6 }, chmod: '700' }), f.target, join(f.scratch, src));
      assert.deepEqual(
        summary(out),
        ['u dir 755 5:6', 'u/d dir 755 42:43', 'u/d/f file 640 42:43', 'u/d/h hardlink 644 42:43 -> u/d/f', 'u/d/s symlink 777 0:0 -> /etc/passwd'],
        src,
      );
      const file = out.find((e) => e.path === 'u/d/f')!;
      assert.equal(readFileSync(file.sourcePath!, 'utf8'), 'FILE');
      assert.equal(file.mtimeMs, T.getTime());
      assert.ok(file.sourcePath!.startsWith(f.scratch + '/'));
    }
    // Not archives: copied as files (an empty x.tar.gz too, as in Docker).
    const files = await buildCopyLayer(req(f, { sources: ['empty.tar.gz', 'notar.gz', 'text.tar'], dest: '/f/' }), f.target, f.scratch);
    assert.deepEqual(summary(files), ['f dir 755 0:0', 'f/empty.tar.gz file 644 0:0', 'f/notar.gz file 644 0:0', 'f/text.tar file 644 0:0']);
    // COPY never extracts; --unpack=false neither.
    const copied = await buildCopyLayer(req(f, { isAdd: false, sources: ['a.tgz'], dest: '/c/' }), f.target, f.scratch);
    assert.deepEqual(summary(copied), ['c dir 755 0:0', 'c/a.tgz file 644 0:0']);
    const kept = await buildCopyLayer(req(f, { unpack: false, sources: ['a.tgz'], dest: '/c/' }), f.target, f.scratch);
    assert.deepEqual(summary(kept), ['c dir 755 0:0', 'c/a.tgz file 644 0:0']);
  } finally {
    rmSync(f.d, { recursive: true, force: true });
  }
});

test('add: unsafe archive entries are rejected', async () => {
  const f = await fixture();
  try {
    const cases: Array<[string, TarItem[], RegExp]> = [
      ['dotdot', [{ name: '../escape.txt', content: 'E' }], /leaves the destination/],
      ['deepdotdot', [{ name: 'a/../../escape.txt', content: 'E' }], /leaves the destination/],
      ['absolute', [{ name: '/abs.txt', content: 'A' }], /absolute/],
      ['hardlink-out', [{ name: 'h', type: 'link', linkname: '../../etc/passwd' }], /leaves the destination/],
      ['hardlink-missing', [{ name: 'h', type: 'link', linkname: 'etc/passwd' }], /not a file earlier in the archive/],
    ];
    for (const [name, items, re] of cases) {
      writeFileSync(join(f.ctx, `${name}.tar`), await makeTar(items));
      await assert.rejects(buildCopyLayer(req(f, { sources: [`${name}.tar`], dest: '/w/' }), f.target, f.scratch), isErr('UNSAFE', re), name);
    }
    // A damaged compressed archive is reported as such.
    const big = gzipSync(await makeTar([{ name: 'f', content: 'x'.repeat(100_000) }, { name: 'g', content: 'y' }]));
    writeFileSync(join(f.ctx, 'cut.tgz'), big.subarray(0, big.length - 40));
    await assert.rejects(buildCopyLayer(req(f, { sources: ['cut.tgz'], dest: '/w/' }), f.target, f.scratch), isErr('CORRUPT', /cut\.tgz/));
    // Harmless `..` inside the archive root is fine.
    writeFileSync(join(f.ctx, 'inner.tar'), await makeTar([{ name: 'a/../b.txt', content: 'B' }]));
    const out = await buildCopyLayer(req(f, { sources: ['inner.tar'], dest: '/w/' }), f.target, f.scratch);
    assert.deepEqual(summary(out), ['w dir 755 0:0', 'w/b.txt file 644 0:0']);
  } finally {
    rmSync(f.d, { recursive: true, force: true });
  }
});

// ---------------------------------------------------------------------------------------------
// URLs

async function withServer(fn: (base: string, hits: string[]) => Promise<void>): Promise<void> {
  const tar = await makeTar(SAMPLE);
  const hits: string[] = [];
  const server: Server = createServer((rq, rs) => {
    hits.push(`${rq.method} ${rq.url}`);
    if (rq.url === '/files/tool.sh') {
      rs.writeHead(200, { 'Last-Modified': T.toUTCString(), ETag: '"v1"' });
      rs.end(rq.method === 'HEAD' ? undefined : '#!/bin/sh\necho hi\n');
    } else if (rq.url === '/truncated') {
      rs.writeHead(200, { 'Content-Length': '100' });
      rs.write('only ten b', () => rs.destroy());
    } else if (rq.url === '/redirect') {
      rs.writeHead(302, { Location: '/files/tool.sh' });
      rs.end();
    } else if (rq.url === '/archive.tar') {
      rs.writeHead(200);
      rs.end(rq.method === 'HEAD' ? undefined : tar);
    } else {
      rs.writeHead(404);
      rs.end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    await fn(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, hits);
  } finally {
    await new Promise((r) => server.close(r));
  }
}

test('add: http downloads — mode 0600, Last-Modified mtime, name from the URL, redirects, not extracted', async () => {
  const f = await fixture();
  try {
    await withServer(async (base) => {
      const out = await buildCopyLayer(req(f, { sources: [`${base}/files/tool.sh`], dest: '/opt/' }), f.target, f.scratch);
      assert.deepEqual(summary(out), ['opt dir 755 0:0', 'opt/tool.sh file 600 0:0']);
      assert.equal(out[1]!.mtimeMs, T.getTime());
      assert.equal(readFileSync(out[1]!.sourcePath!, 'utf8'), '#!/bin/sh\necho hi\n');
      const renamed = await buildCopyLayer(req(f, { sources: [`${base}/redirect`], dest: '/bin/tool', chmod: '755', chown: { uid: 1, gid: 2 } }), f.target, f.scratch);
      assert.deepEqual(summary(renamed), ['bin dir 755 1:2', 'bin/tool file 755 1:2']);
      const noDate = await buildCopyLayer(req(f, { sources: [`${base}/archive.tar`], dest: '/nodate' }), f.target, f.scratch);
      assert.equal(noDate[0]!.mtimeMs, 0, 'without Last-Modified the mtime is the epoch (as in Docker)');
      const tarball = await buildCopyLayer(req(f, { sources: [`${base}/archive.tar`], dest: '/t/' }), f.target, f.scratch);
      assert.deepEqual(summary(tarball), ['t dir 755 0:0', 't/archive.tar file 600 0:0'], 'remote archives are not unpacked by default');
      const unpacked = await buildCopyLayer(req(f, { sources: [`${base}/archive.tar`], dest: '/t/', unpack: true }), f.target, f.scratch);
      assert.equal(unpacked.find((e) => e.path === 't/d/f')?.type, 'file');
      await assert.rejects(buildCopyLayer(req(f, { sources: [`${base}/missing`], dest: '/t/' }), f.target, f.scratch), isErr('NOT_FOUND', /404/));
      await assert.rejects(buildCopyLayer(req(f, { sources: [`${base}/truncated`], dest: '/t/' }), f.target, f.scratch), isErr('CORRUPT', /interrupted/));
    });
  } finally {
    rmSync(f.d, { recursive: true, force: true });
  }
});

test('add: --checksum is verified; the URL and its checksum/ETag make the cache digest', async () => {
  const f = await fixture();
  try {
    await withServer(async (base, hits) => {
      const url = `${base}/files/tool.sh`;
      const good = 'sha256:' + createHash('sha256').update('#!/bin/sh\necho hi\n').digest('hex');
      const bad = 'sha256:' + '0'.repeat(64);
      const ok = await buildCopyLayer(req(f, { sources: [url], dest: '/x', checksum: good }), f.target, f.scratch);
      assert.deepEqual(summary(ok), ['x file 600 0:0']);
      await assert.rejects(buildCopyLayer(req(f, { sources: [url], dest: '/x', checksum: bad }), f.target, f.scratch), isErr('CORRUPT', /checksum mismatch/));
      await assert.rejects(buildCopyLayer(req(f, { sources: [url], dest: '/x', checksum: 'md5:abc' }), f.target, f.scratch), isErr('INVALID', /checksum/));
      await assert.rejects(buildCopyLayer(req(f, { sources: ['a.tgz'], dest: '/x', checksum: good }), f.target, f.scratch), isErr('INVALID', /URL/));

      hits.length = 0;
      const withSum = await copyInputsDigest(req(f, { sources: [url], dest: '/x', checksum: good }));
      assert.deepEqual(hits, [], 'a checksum needs no request');
      assert.notEqual(await copyInputsDigest(req(f, { sources: [url], dest: '/x', checksum: bad })), withSum);
      const viaEtag = await copyInputsDigest(req(f, { sources: [url], dest: '/x' }));
      assert.deepEqual(hits, ['HEAD /files/tool.sh'], 'the ETag answers without downloading');
      const noEtag = await copyInputsDigest(req(f, { sources: [`${base}/archive.tar`], dest: '/x' }));
      assert.notEqual(noEtag, viaEtag);
    });
  } finally {
    rmSync(f.d, { recursive: true, force: true });
  }
});

test('add/copy: git URLs only as the one source of an ADD (add-git.ts); COPY takes no URLs', async () => {
  const f = await fixture();
  try {
    await assert.rejects(buildCopyLayer(req(f, { sources: ['https://github.com/moby/buildkit.git#v0.1', 'a.txt'], dest: '/s/' }), f.target, f.scratch), isErr('INVALID', /git repository takes exactly one source/));
    await assert.rejects(copyInputsDigest(req(f, { isAdd: false, sources: ['git@github.com:moby/buildkit.git'], dest: '/s/' })), isErr('INVALID', /git URL for COPY/));
    await assert.rejects(buildCopyLayer(req(f, { isAdd: false, sources: ['http://127.0.0.1:1/x'], dest: '/s/' }), f.target, f.scratch), isErr('INVALID', /URL for COPY/));
  } finally {
    rmSync(f.d, { recursive: true, force: true });
  }
});

test('add: members written through symlinks the archive made land where Docker\'s chrooted extraction puts them: inside the destination', async () => {
  const f = await fixture();
  try {
    // each expectation is what Docker (20.10, and current BuildKit's chrootarchive) gives for `ADD x.tar /dest/sub/`
    const cases: Array<[string, TarItem[], string[]]> = [
      ['up', [{ name: 'symldir1', type: 'symlink', linkname: '..', mode: 0o644 }, { name: 'symldir1/file', content: 'U' }], ['dest/sub/file file', 'dest/sub/symldir1 symlink 777 -> ..']],
      ['upup', [{ name: 'symldir1', type: 'symlink', linkname: '../..' }, { name: 'symldir1/file2', content: 'U' }], ['dest/sub/file2 file', 'dest/sub/symldir1 symlink -> ../..']],
      ['abs', [{ name: 'a', type: 'symlink', linkname: '/' }, { name: 'a/abs-file', content: 'A' }], ['dest/sub/a symlink -> /', 'dest/sub/abs-file file']],
      ['dot', [{ name: 'd/', type: 'directory' }, { name: 'd/l', type: 'symlink', linkname: '.' }, { name: 'd/l/f', content: 'D' }], ['dest/sub/d dir', 'dest/sub/d/f file', 'dest/sub/d/l symlink -> .']],
      ['sib', [{ name: 'x/', type: 'directory' }, { name: 's', type: 'symlink', linkname: 'x' }, { name: 's/f', content: 'S' }], ['dest/sub/s symlink -> x', 'dest/sub/x dir', 'dest/sub/x/f file']],
      ['hardlink-via', [{ name: 'x/', type: 'directory' }, { name: 'x/f', content: 'F' }, { name: 's', type: 'symlink', linkname: 'x' }, { name: 'h', type: 'link', linkname: 's/f' }], ['dest/sub/h hardlink -> dest/sub/x/f', 'dest/sub/s symlink -> x', 'dest/sub/x dir', 'dest/sub/x/f file']],
    ];
    for (const [name, items, want] of cases) {
      writeFileSync(join(f.ctx, `${name}.tar`), await makeTar(items));
      const out = await buildCopyLayer(req(f, { sources: [`${name}.tar`], dest: '/dest/sub/' }), f.target, f.scratch);
      const got = out.filter((e) => e.path.startsWith('dest/sub/')).map((e) => `${e.path} ${e.type}${e.type === 'symlink' && name === 'up' ? ` ${e.mode.toString(8)}` : ''}${e.linkname !== undefined ? ` -> ${e.linkname}` : ''}`);
      assert.deepEqual(got, want, name);
    }
    // a link to what the destination lacks is an error (Docker: "open /lnk/evil: no such file or directory")
    writeFileSync(join(f.ctx, 'etc.tar'), await makeTar([{ name: 'lnk', type: 'symlink', linkname: '/etc' }, { name: 'lnk/evil', content: 'V' }]));
    await assert.rejects(buildCopyLayer(req(f, { sources: ['etc.tar'], dest: '/w/' }), f.target, f.scratch), isErr('NOT_FOUND', /lnk\/evil/));
    // a link loop is an error, not a hang
    writeFileSync(join(f.ctx, 'loop.tar'), await makeTar([{ name: 'l1', type: 'symlink', linkname: 'l2' }, { name: 'l2', type: 'symlink', linkname: 'l1' }, { name: 'l1/f', content: 'L' }]));
    await assert.rejects(buildCopyLayer(req(f, { sources: ['loop.tar'], dest: '/w/' }), f.target, f.scratch), isErr('UNSAFE', /symbolic links/));
  } finally {
    rmSync(f.d, { recursive: true, force: true });
  }
});

test('add: archive members follow the image symlinks on their way (within the destination, as Docker\'s chroot), unless the archive makes the dir itself', async () => {
  const f = await fixture();
  try {
    const img = join(f.d, 'opt-links');
    mkdirSync(join(img, 'opt', 'real'), { recursive: true });
    symlinkSync('/real', join(img, 'opt', 'abs'));
    symlinkSync('../real', join(img, 'opt', 'up'));
    writeFileSync(join(f.ctx, 'opt.tar'), await makeTar([{ name: 'abs/a', content: 'A' }, { name: 'up/b', content: 'B' }]));
    const out = await buildCopyLayer(req(f, { sources: ['opt.tar'], dest: '/opt/' }), new RootfsView([img]), f.scratch);
    // Docker: the image's /opt/abs -> /real is /opt/real inside the chroot, and ../real stops at /opt
    assert.deepEqual(summary(out), ['opt dir 755 0:0', 'opt/real dir 755 0:0', 'opt/real/a file 644 0:0', 'opt/real/b file 644 0:0']);
  } finally {
    rmSync(f.d, { recursive: true, force: true });
  }
});

test('add: archive members follow the image symlinks on their way, unless the archive makes the dir itself', async () => {
  const f = await fixture();
  try {
    const img = join(f.d, 'merged-usr');
    mkdirSync(join(img, 'usr', 'lib'), { recursive: true });
    symlinkSync('usr/lib', join(img, 'lib'));
    symlinkSync('usr/lib', join(img, 'lib2'));
    const target = new RootfsView([img]);
    writeFileSync(join(f.ctx, 'root.tar'), await makeTar([{ name: 'lib/a.so', content: 'A' }, { name: 'lib2/', type: 'directory' }, { name: 'lib2/b.so', content: 'B' }]));
    const out = await buildCopyLayer(req(f, { sources: ['root.tar'], dest: '/' }), target, f.scratch);
    assert.deepEqual(summary(out), ['lib2 dir 755 0:0', 'lib2/b.so file 644 0:0', 'usr dir 755 0:0', 'usr/lib dir 755 0:0', 'usr/lib/a.so file 644 0:0']);
  } finally {
    rmSync(f.d, { recursive: true, force: true });
  }
});
