/**
 * COPY/ADD through the builder (the copy semantics themselves are tested in copy*.test.ts), and the
 * hostile inputs: context symlinks pointing out of the context, `/etc/passwd` symlinked to a host
 * path (CVE-2024-9676), `COPY --from` through a symlink to `/` (CVE-2024-1753).
 * Expected values are what Docker (BuildKit) produced for the same builds.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pack } from 'tar-stream';
import { ImageStore, type Digest } from '../../src/image/index.js';
import { readTar } from '../../src/image/tar-format.js';
import { allPaths, buildFails, buildFiles, buildIn, imageEntry, imageFile, makeBaseStore, makeContext, ranSteps, writeContext, type Built, type TempStore } from '../helpers/build.js';

let s: TempStore;
before(async () => {
  s = await makeBaseStore();
});
after(() => s?.cleanup());

test('COPY: a file, a dir\'s contents, relative dest from WORKDIR, --chown by name, --chmod; ADD of a local file', async () => {
  const b = await buildFiles(
    s.root,
    `FROM busybox
WORKDIR /app
COPY a.txt .
COPY dir sub/
COPY --chown=user:staff a.txt /owned
COPY --chown=nobody:nogroup --chmod=600 a.txt rel/
COPY --chmod=755 a.txt /x.sh
ADD a.txt added
`,
    { 'a.txt': 'hello\n', 'dir/x': 'x', 'dir/deep/y': 'y' },
  );
  assert.equal(imageFile(b, 'app/a.txt'), 'hello\n');
  assert.equal(imageFile(b, 'app/sub/x'), 'x');
  assert.equal(imageFile(b, 'app/sub/deep/y'), 'y');
  assert.equal(imageEntry(b, 'app/sub/dir'), undefined, 'the dir itself is not copied, only its contents');
  const owned = imageEntry(b, 'owned')!;
  assert.deepEqual([owned.uid, owned.gid, owned.mode], [1000, 50, 0o644]);
  const rel = imageEntry(b, 'app/rel/a.txt')!;
  assert.deepEqual([rel.uid, rel.gid, rel.mode], [65534, 65534, 0o600]);
  assert.equal(imageEntry(b, 'x.sh')!.mode, 0o755);
  assert.equal(imageFile(b, 'app/added'), 'hello\n');
  assert.deepEqual(
    b.history.slice(2).map((h) => h.created_by),
    [
      'COPY a.txt . # buildkit',
      'COPY dir sub/ # buildkit',
      'COPY a.txt /owned # buildkit',
      'COPY a.txt rel/ # buildkit',
      'COPY a.txt /x.sh # buildkit',
      'ADD a.txt added # buildkit',
    ],
  );
});

test('COPY --chmod: symbolic modes as BuildKit takes them (several actions, copying a class), decided at parse time', async () => {
  // `u+x-w` passed the parser but failed in its step, after the RUN had run; `g=u` was refused
  // by the parser though the step knew it. One grammar now: both build.
  const b = await buildFiles(s.root, 'FROM busybox\nRUN echo ran > /canary\nCOPY --chmod=u+x-w a.txt /m1\nCOPY --chmod=g=u,o-r a.txt /m2\nCOPY --chmod=a=rX d /d\n', {
    'a.txt': { content: 'a', mode: 0o644 },
    'd/f': { content: 'f', mode: 0o600 },
  });
  assert.equal(imageEntry(b, 'm1')!.mode, 0o544);
  assert.equal(imageEntry(b, 'm2')!.mode, 0o660);
  assert.equal(imageEntry(b, 'd/f')!.mode, 0o444);
  const bad = await buildFails(s.root, 'FROM busybox\nRUN echo ran > /canary\nCOPY --chmod=u+x-q a.txt /m1\n', { 'a.txt': 'a' });
  assert.match(bad.error.message, /invalid chmod parameter: 'u\+x-q'/);
  assert.deepEqual(bad.steps, [], 'no step ran');
});

test('COPY: .dockerignore\'d files never reach a layer or the cache key', async () => {
  const ctx = makeContext({ '.dockerignore': 'ignored.txt\n*.log\n!keep.log\n', 'ignored.txt': 'secret1', 'a.log': 'log', 'keep.log': 'keep', 'f': 'f' });
  try {
    const df = 'FROM busybox\nCOPY . /ctx/\nRUN ls -a /ctx > /listing\n';
    const one = await buildIn(s.root, ctx, df);
    const paths = allPaths(one.newLayers);
    assert.ok(paths.includes('ctx/f') && paths.includes('ctx/keep.log'), paths.join(' '));
    assert.ok(!paths.includes('ctx/ignored.txt') && !paths.includes('ctx/a.log'), paths.join(' '));
    assert.ok(!one.newLayers.flat().some((e) => e.content === 'secret1'));
    assert.doesNotMatch(imageFile(one, 'listing')!, /ignored\.txt|a\.log/);
    writeContext(ctx, { 'ignored.txt': 'secret2', 'a.log': 'log2' });
    const two = await buildIn(s.root, ctx, df);
    assert.deepEqual(ranSteps(two), []);
    writeContext(ctx, { 'keep.log': 'keep2' });
    const three = await buildIn(s.root, ctx, df);
    assert.deepEqual(ranSteps(three), ['[2/3] COPY . /ctx/', '[3/3] RUN ls -a /ctx > /listing']);
  } finally {
    rmSync(ctx, { recursive: true, force: true });
  }
});

test('COPY: a context symlink pointing out of the context copies the link, never the host file', async () => {
  const hostFile = `/tmp/tsb-host-secret-${process.pid}`;
  writeFileSync(hostFile, 'HOST-SECRET');
  try {
    const b = await buildFiles(s.root, `FROM busybox\nCOPY . /ctx/\nCOPY dir /d2/\nCOPY out /o\n`, {
      'etc/passwd': 'ctxpasswd\n',
      out: { symlink: '/etc/passwd' },
      'dir/inner': { symlink: hostFile },
      'dir/up': { symlink: '../../../../../../..' + hostFile },
      'dir/x': 'x',
    });
    assert.ok(!b.newLayers.flat().some((e) => e.content?.includes('HOST-SECRET')), 'a host file reached a layer');
    assert.deepEqual([imageEntry(b, 'ctx/out')!.type, imageEntry(b, 'ctx/out')!.linkname], ['symlink', '/etc/passwd']);
    assert.deepEqual([imageEntry(b, 'd2/inner')!.type, imageEntry(b, 'd2/inner')!.linkname], ['symlink', hostFile]);
    assert.equal(imageEntry(b, 'd2/up')!.type, 'symlink');
    // a top-level source symlink is followed, inside the context (Docker: /o = the context's etc/passwd)
    assert.equal(imageFile(b, 'o'), 'ctxpasswd\n');
  } finally {
    rmSync(hostFile, { force: true });
  }
});

test('hostile: USER and --chown names resolve in the image even when /etc/passwd is a symlink to a host path (CVE-2024-9676)', async () => {
  const hostPw = `/tmp/tsb-hostpw-${process.pid}`;
  const hostGr = `/tmp/tsb-hostgr-${process.pid}`;
  writeFileSync(hostPw, 'evil:x:4242:4242::/:/bin/sh\n');
  writeFileSync(hostGr, 'evil:x:4243:\n');
  try {
    const b = await buildFiles(
      s.root,
      `FROM busybox
RUN echo 'evil:x:1111:1111::/:/bin/sh' > ${hostPw} && echo 'evil:x:1112:' > ${hostGr} && rm /etc/passwd /etc/group && ln -s ${hostPw} /etc/passwd && ln -s ../${hostGr.slice(1)} /etc/group
USER evil
RUN id -u > /tmp/uid; id -g >> /tmp/uid
USER 0
COPY --chown=evil:evil a /a
WORKDIR /w
`,
      { a: 'a' },
    );
    assert.equal(imageFile(b, 'tmp/uid'), '1111\n1111\n');
    const a = imageEntry(b, 'a')!;
    assert.deepEqual([a.uid, a.gid], [1111, 1112]);
    // a name only the host file knows is not found in the image: root, as for any unknown name
    writeFileSync(hostPw, 'evil:x:4242:4242::/:/bin/sh\nhostonly:x:4444:4444::/:/bin/sh\n');
    const f = await buildFiles(s.root, `FROM busybox\nRUN rm /etc/passwd && ln -s ${hostPw} /etc/passwd\nCOPY --chown=hostonly a /a\n`, { a: 'a' });
    assert.deepEqual([imageEntry(f, 'a')!.uid, imageEntry(f, 'a')!.gid], [0, 0]);
  } finally {
    rmSync(hostPw, { force: true });
    rmSync(hostGr, { force: true });
  }
});

test('hostile: COPY --from a stage path that is a symlink to / stays inside that stage (CVE-2024-1753)', async () => {
  const hostFile = `/tmp/tsb-host-only-${process.pid}`;
  writeFileSync(hostFile, 'HOST-ONLY');
  try {
    const df = `FROM busybox AS a\nRUN ln -s / /rootlink && ln -s ../../../../.. /uplink && echo stage > /stagefile\nFROM busybox\nCOPY --from=a /rootlink/stagefile /s1\nCOPY --from=a /uplink/stagefile /s2\n`;
    const b = await buildFiles(s.root, df);
    assert.equal(imageFile(b, 's1'), 'stage\n');
    assert.equal(imageFile(b, 's2'), 'stage\n');
    const f = await buildFails(s.root, `FROM busybox AS a\nRUN ln -s / /rootlink\nFROM busybox\nCOPY --from=a /rootlink${hostFile} /h\n`);
    assert.doesNotMatch(f.error.message, /HOST-ONLY/);
    const g = await buildFails(s.root, `FROM busybox AS a\nRUN ln -s / /rootlink\nFROM busybox\nCOPY --from=a /rootlink/../../..${hostFile} /h\n`);
    assert.ok(g.error);
  } finally {
    rmSync(hostFile, { force: true });
  }
});

test('COPY ignores USER; --chown with a uid only or a user only uses it as the group too; ONBUILD COPY reads the child\'s context', async () => {
  const base = await buildFiles(
    s.root,
    `FROM busybox
USER user
COPY a /plain
COPY --chown=1234 a /n1
COPY --chown=daemon a /n2
COPY --chown=1234:staff a /n3
ONBUILD COPY a /onb
ONBUILD RUN cat /onb > /tmp/onb2
`,
    { a: 'base-a\n' },
    { tags: ['onbcopy:1'] },
  );
  const own = (p: string) => {
    const e = base.layers.flat().find((x) => x.path === p)!;
    return `${e.uid}:${e.gid}`;
  };
  assert.deepEqual([own('plain'), own('n1'), own('n2'), own('n3')], ['0:0', '1234:1234', '1:1', '1234:50']);
  const child = await buildFiles(s.root, 'FROM onbcopy:1\nRUN cat /onb\n', { a: 'child-a\n' });
  assert.equal(imageFile(child, 'onb'), 'child-a\n');
  assert.equal(imageFile(child, 'tmp/onb2'), 'child-a\n');
  assert.equal(imageEntry(child, 'tmp/onb2')!.uid, 1000, 'the trigger RUN runs as the inherited USER');
  assert.deepEqual(
    child.history.slice(-3).map((h) => h.created_by),
    ['COPY a /onb # buildkit', 'RUN /bin/sh -c cat /onb > /tmp/onb2 # buildkit', 'RUN /bin/sh -c cat /onb # buildkit'],
  );
});

test('--chown NAME gets its primary group; unknown names (--chown, WORKDIR under USER) leave root, as Docker does', async () => {
  const b = await buildFiles(
    s.root,
    `FROM busybox
RUN echo 'lp:x:4:7:lp:/var/spool/lpd:/bin/sh' >> /etc/passwd && echo 'lp:x:7:' >> /etc/group
COPY --chown=lp f /f-lp
COPY --chown=lp:staff f /f-lp-staff
COPY --chown=ghost f /f-ghost
COPY --chown=lp:ghostgroup f /f-lp-ghostgroup
USER ghost
WORKDIR /wd/sub
USER lp
WORKDIR /wd2
`,
    { f: 'f\n' },
  );
  const own = (p: string) => {
    const e = imageEntry(b, p)!;
    return `${e.uid}:${e.gid}`;
  };
  // what Docker's image holds for the same Dockerfile
  assert.deepEqual(
    ['f-lp', 'f-lp-staff', 'f-ghost', 'f-lp-ghostgroup', 'wd', 'wd/sub', 'wd2'].map(own),
    ['4:7', '4:50', '0:0', '4:7', '0:0', '0:0', '4:7'],
  );
  assert.equal(b.config.config?.User, 'lp');
});

/** A tar with entries written exactly as given (what `tar` on a real tree could not make). */
async function tarOf(items: Array<{ name: string; symlink?: string; content?: string; pax?: Record<string, string> }>): Promise<Buffer> {
  const p = pack();
  const chunks: Buffer[] = [];
  p.on('data', (c: unknown) => {
    chunks.push(c as Buffer);
  });
  const ended = new Promise<void>((r) => p.on('end', () => r()));
  for (const it of items) {
    await new Promise<void>((resolve, reject) => {
      const done = (e?: Error | null) => (e ? reject(e) : resolve());
      if (it.symlink !== undefined) p.entry({ name: it.name, type: 'symlink', linkname: it.symlink }, done);
      else p.entry({ name: it.name, mode: 0o644, ...(it.pax ? { pax: it.pax } : {}) }, it.content ?? '', done);
    });
  }
  p.finalize();
  await ended;
  return Buffer.concat(chunks);
}

test('ADD of an archive that writes through a symlink it made (symldir1 -> .., then symldir1/file): extracted inside the destination, as Docker does', async () => {
  const b = await buildFiles(
    s.root,
    'FROM busybox\nADD app.tar /dest/sub/\nRUN cat /dest/sub/file > /seen\n',
    { 'app.tar': await tarOf([{ name: 'symldir1', symlink: '..' }, { name: 'symldir1/file', content: 'through the link\n' }]) },
  );
  assert.equal(imageFile(b, 'dest/sub/file'), 'through the link\n');
  assert.equal(imageEntry(b, 'dest/sub/symldir1')!.linkname, '..');
  assert.equal(imageEntry(b, 'dest/file'), undefined, 'the link is followed with the destination as root, as Docker\'s chroot');
  assert.equal(imageFile(b, 'seen'), 'through the link\n');
});

/** The xattr names each entry of the image's top layer records. */
async function collectLayerXattrs(b: Built): Promise<Record<string, string[]>> {
  const store = await ImageStore.open(s.root);
  try {
    const out: Record<string, string[]> = {};
    for await (const { header, body } of readTar(store.openBlob(b.image.manifest.layers.at(-1)!.digest as Digest))) {
      for await (const _ of body) void _;
      if (header.type === 'file') out[header.name] = Object.keys(header.xattrs ?? {});
    }
    return out;
  } finally {
    await store.close();
  }
}

test('ADD of an archive with xattrs: the layer keeps security.capability only, as Docker\'s layers do', async () => {
  const cap = String.fromCharCode(1, 0, 0, 2, 0, 0x20, ...new Array<number>(14).fill(0));
  const b = await buildFiles(s.root, 'FROM busybox\nADD x.tar /x/\n', {
    'x.tar': await tarOf([
      { name: 'userx', content: 'u', pax: { 'SCHILY.xattr.user.foo': 'bar' } },
      { name: 'capx', content: 'c', pax: { 'SCHILY.xattr.security.capability': cap, 'SCHILY.xattr.user.foo': 'bar' } },
      { name: 'trustedx', content: 't', pax: { 'SCHILY.xattr.trusted.t': 'v' } },
    ]),
  });
  const layer = await collectLayerXattrs(b);
  assert.deepEqual(layer, { 'x/capx': ['security.capability'], 'x/trustedx': [], 'x/userx': [] });
});

test('several sources or wildcard matches into a destination without /: copied one after the other, as Docker (BuildKit) does', async () => {
  const files = { 'a.txt': 'a\n', 'b.txt': 'b\n', 'c.txt': 'c\n', 'd1/one': '1\n', 'd2/two': '2\n' };
  const b = await buildFiles(s.root, 'FROM busybox\nCOPY *.txt /dest\nADD a.txt b.txt /added\nCOPY d1 d2 /app\nCOPY d* /app2\nCOPY d1 a.txt /mixed\n', files);
  // what Docker's image holds for the same Dockerfile
  assert.equal(imageFile(b, 'dest'), 'c\n', 'the last match wins');
  assert.equal(imageFile(b, 'added'), 'b\n');
  assert.deepEqual(['app/one', 'app/two', 'app2/one', 'app2/two', 'mixed/one', 'mixed/a.txt'].map((p) => imageFile(b, p)), ['1\n', '2\n', '1\n', '2\n', '1\n', 'a\n']);
  // a directory after a file: "cannot copy to non-directory", as in Docker
  const f = await buildFails(s.root, 'FROM busybox\nCOPY a.txt d1 /m2\n', files);
  assert.match(f.error.message, /non-directory/);
});

test('COPY: <Dockerfile>.dockerignore beside the Dockerfile wins over .dockerignore', async () => {
  const ctx = makeContext({
    '.dockerignore': 'a.txt\n',
    'build.Dockerfile': 'FROM busybox\nCOPY . /ctx/\n',
    'build.Dockerfile.dockerignore': 'b.txt\n',
    'a.txt': 'a',
    'b.txt': 'b',
  });
  try {
    const b = await buildIn(s.root, ctx, undefined, { dockerfile: join(ctx, 'build.Dockerfile') });
    assert.equal(imageFile(b, 'ctx/a.txt'), 'a');
    assert.equal(imageFile(b, 'ctx/b.txt'), undefined);
  } finally {
    rmSync(ctx, { recursive: true, force: true });
  }
});

test('COPY . after one context file changed: the next RUN sees the new content and the unchanged files (linked from the last snapshot)', async () => {
  const ctx = makeContext({ 'keep.txt': 'kept\n', 'edit.txt': 'one\n', 'sub/deep.txt': 'deep\n' });
  try {
    const df = 'FROM busybox\nCOPY . /app\nRUN cat /app/keep.txt /app/edit.txt /app/sub/deep.txt > /seen && stat -c %h /app/keep.txt > /links\n';
    const one = await buildIn(s.root, ctx, df);
    assert.equal(imageFile(one, 'seen'), 'kept\none\ndeep\n');
    assert.equal(imageFile(one, 'links'), '1\n');
    writeFileSync(join(ctx, 'edit.txt'), 'two\n');
    const two = await buildIn(s.root, ctx, df);
    assert.equal(imageFile(two, 'seen'), 'kept\ntwo\ndeep\n');
    assert.equal(imageFile(two, 'links'), '2\n', 'keep.txt shares its inode with the first build\'s snapshot');
    assert.equal(imageFile(two, 'app/edit.txt'), 'two\n');
    // a RUN writing to a linked file copies it up: the snapshot it came from keeps its content
    await buildIn(s.root, ctx, 'FROM busybox\nCOPY . /app\nRUN echo more >> /app/keep.txt\n', { noCache: true });
    const three = await buildIn(s.root, ctx, df, { noCache: true });
    assert.equal(imageFile(three, 'seen'), 'kept\ntwo\ndeep\n');
  } finally {
    rmSync(ctx, { recursive: true, force: true });
  }
});
