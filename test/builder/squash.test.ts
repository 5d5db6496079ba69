import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { buildIn, makeBaseStore, makeContext, saveToFile, type TempStore } from '../helpers/build.js';
import { ImageStore } from '../../src/image/store.js';
import { squashEntries } from '../../src/image/squash.js';

let s: TempStore;
let ctx: string;
before(async () => {
  s = await makeBaseStore();
  ctx = makeContext({ 'f.txt': 'copied\n' });
});
after(() => {
  s.cleanup();
  rmSync(ctx, { recursive: true, force: true });
});

const DF = [
  'FROM busybox',
  'RUN echo a > /a && echo temp > /tmp.txt && mkdir -p /d/e && echo x > /d/e/x && echo old > /over',
  'COPY f.txt /f.txt',
  'RUN rm /tmp.txt /linuxrc && rm -rf /d /home/user && echo new > /over && ln /a /a-link',
].join('\n');

test('--squash: base layers unchanged + one layer; created-then-deleted files vanish, deleted base files stay whiteouts', async () => {
  const plain = await buildIn(s.root, ctx, DF);
  const b = await buildIn(s.root, ctx, DF, { squash: true });
  assert.equal(plain.layers.length, 4);
  assert.equal(b.layers.length, 2);
  assert.equal(b.image.manifest.layers[0]!.digest, plain.image.manifest.layers[0]!.digest, 'the base layer is shared');
  const top = b.layers[1]!;
  const paths = top.map((f) => f.path).sort();
  const at = (p: string) => top.find((f) => f.path === p);
  assert.equal(at('a')?.content, 'a\n');
  assert.equal(at('f.txt')?.content, 'copied\n');
  assert.equal(at('over')?.content, 'new\n');
  assert.ok(at('a-link'), 'the hard link is there');
  for (const gone of ['tmp.txt', '.wh.tmp.txt', 'd', 'd/e', 'd/e/x', '.wh.d']) assert.equal(paths.includes(gone), false, `${gone} absent`);
  assert.ok(paths.includes('.wh.linuxrc'), 'a base file deleted by the build stays a whiteout');
  assert.ok(paths.includes('home/.wh.user'), 'a base dir deleted by the build stays a whiteout');
  // history: every step's entry kept but empty, one entry for the merged layer
  const h = b.history;
  assert.equal(h.filter((e) => !e.empty_layer).length, 2);
  assert.equal(h.length, plain.history.length + 1);
  assert.ok(h.slice(1, -1).every((e) => e.empty_layer === true));
  assert.deepEqual(h.slice(1, -1).map((e) => e.created_by), plain.history.slice(1).map((e) => e.created_by));
  const last = h[h.length - 1]!;
  assert.equal(last.created_by, undefined);
  assert.equal(last.comment, `merge ${s.baseId} to ${plain.imageId}`);
});

test('--squash keeps the per-step cache: a rebuild hits every step and gives the same image', async () => {
  const first = await buildIn(s.root, ctx, DF, { squash: true });
  const again = await buildIn(s.root, ctx, DF, { squash: true });
  assert.equal(again.imageId, first.imageId);
  assert.ok(again.steps.filter((st) => /RUN|COPY|squash/.test(st.name)).every((st) => st.cached));
  const unsquashed = await buildIn(s.root, ctx, DF);
  assert.ok(unsquashed.steps.filter((st) => /RUN|COPY/.test(st.name)).every((st) => st.cached), 'the unsquashed build reuses the steps');
  assert.equal(unsquashed.layers.length, 4);
});

test('squashEntries: a dir deleted then re-created becomes opaque; a file replaced after being hard-linked is copied', async () => {
  const work = mkdtempSync(join(tmpdir(), 'tsb-squash-'));
  try {
    const store = await ImageStore.open(s.root);
    try {
      const b = await buildIn(s.root, ctx, ['FROM busybox', 'RUN echo 1 > /one && ln /one /two', 'RUN rm -rf /home && mkdir /home && echo 2 > /one'].join('\n'));
      const [l1, l2] = b.image.manifest.layers.slice(1);
      const dirs = await store.snapshots.mounts(b.image);
      const entries = squashEntries(
        [
          { blobPath: store.blobPath(l1!.digest), root: dirs[1]! },
          { blobPath: store.blobPath(l2!.digest), root: dirs[2]! },
        ],
        (p) => ['home', 'home/user'].includes(p),
      );
      const byPath = new Map(entries.map((e) => [e.path, e]));
      assert.ok(byPath.has('home/.wh..wh..opq'), 'the re-created dir hides the base contents');
      assert.equal(byPath.get('one')?.size, 2);
      assert.equal(byPath.get('two')?.type, 'file', 'the link became a copy of what it pointed at');
      assert.equal(byPath.get('two')?.sourcePath, join(dirs[1]!, 'one'));
    } finally {
      await store.close();
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});

const REF_SOCK = '/run/ref-docker.sock';
test('Docker loads and runs a squashed image', { skip: !existsSync(REF_SOCK) && 'no reference Docker engine' }, async () => {
  const b = await buildIn(s.root, ctx, DF, { squash: true, tags: ['tsbuild-squash-test:1'] });
  const work = mkdtempSync(join(tmpdir(), 'tsb-squash-docker-'));
  const docker = (...args: string[]) => execFileSync('docker', ['-H', `unix://${REF_SOCK}`, ...args], { encoding: 'utf8' });
  try {
    const tar = join(work, 'img.tar');
    await saveToFile(s.root, ['tsbuild-squash-test:1'], tar, 'docker');
    docker('load', '-i', tar);
    assert.equal(docker('run', '--rm', '--network', 'none', 'tsbuild-squash-test:1', 'cat', '/a', '/f.txt', '/over'), 'a\ncopied\nnew\n');
    assert.equal(docker('run', '--rm', '--network', 'none', 'tsbuild-squash-test:1', 'sh', '-c', 'ls /tmp.txt /linuxrc /d /home/user 2>/dev/null | wc -l').trim(), '0');
    assert.equal(docker('inspect', '-f', '{{.Id}}', 'tsbuild-squash-test:1').trim(), b.imageId);
  } finally {
    try {
      docker('rmi', '-f', 'tsbuild-squash-test:1');
    } catch {
      /* already gone */
    }
    rmSync(work, { recursive: true, force: true });
  }
});

test('--squash: no wasted-space hint for bytes the squash dropped', async () => {
  const df = ['FROM busybox', 'RUN head -c 12000000 /dev/zero > /big', 'RUN rm /big && echo done > /done'].join('\n');
  const plain = await buildIn(s.root, ctx, df);
  assert.ok(plain.warnings.some((w) => w.includes('history --wasted')), 'the unsquashed image wastes 12 MB');
  const b = await buildIn(s.root, ctx, df, { squash: true, noCache: true });
  assert.equal(b.warnings.some((w) => w.includes('history --wasted')), false);
  assert.equal(b.layers[1]!.some((f) => f.path === 'big'), false);
});
