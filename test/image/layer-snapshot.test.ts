/**
 * A layer written together with its snapshot (COPY's one pass): the snapshot is what unpacking the
 * blob would give, appears only after its blob, and a writer killed at any moment leaves nothing
 * half-made that a later build would take (a snapshot dir without its blob, or an incomplete one).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createHash, randomBytes } from 'node:crypto';
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ImageStore, chainIds, ensureSnapshot, writeLayer, type Digest, type LayerEntry } from '../../src/image/index.js';
import { topChainId, writeLayerWithSnapshot } from '../../src/image/layer-writer.js';

const isRoot = process.getuid?.() === 0;

/** Every path below `dir` with its type, mode, owner, mtime and content (or link target). */
function tree(dir: string, rel = '', nlink = true): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(dir, rel)).sort()) {
    const r = rel === '' ? name : `${rel}/${name}`;
    const p = join(dir, r);
    const st = lstatSync(p);
    const what = st.isSymbolicLink() ? `-> ${readlinkSync(p)}` : st.isFile() ? createHash('sha256').update(readFileSync(p)).digest('hex') : st.isDirectory() ? 'dir' : 'other';
    out.push(`${r} ${st.mode.toString(8)} ${st.uid}:${st.gid} ${Math.floor(st.mtimeMs / 1000)} nlink=${st.isDirectory() || !nlink ? '-' : st.nlink} ${what}`);
    if (st.isDirectory()) out.push(...tree(dir, r, nlink));
  }
  return out;
}

test('a layer written with its snapshot: same blob as writeLayer, and the snapshot an unpack of the blob gives', { skip: !isRoot && 'needs root (owners)' }, async () => {
  const w = mkdtempSync(join(tmpdir(), 'tsb-laysnap-'));
  try {
    const src = join(w, 'src');
    mkdirSync(src);
    writeFileSync(join(src, 'small'), 'hello\n');
    writeFileSync(join(src, 'big'), randomBytes(3 * 1024 * 1024 + 17)); // several tar chunks
    const e = (x: Partial<LayerEntry> & { path: string; type: LayerEntry['type'] }): LayerEntry => ({ mode: 0o644, uid: 0, gid: 0, size: 0, mtimeMs: 1_600_000_000_000, ...x });
    const entries = (): LayerEntry[] => [
      e({ path: 'app', type: 'dir', mode: 0o750, uid: 5, gid: 6 }),
      e({ path: 'app/small', type: 'file', mode: 0o600, uid: 7, gid: 8, size: 6, sourcePath: join(src, 'small') }),
      e({ path: 'app/big', type: 'file', mode: 0o755, size: 3 * 1024 * 1024 + 17, sourcePath: join(src, 'big') }),
      e({ path: 'app/link', type: 'symlink', linkname: 'small', mode: 0o777 }),
      e({ path: 'app/hard', type: 'hardlink', linkname: 'app/small' }),
      e({ path: 'app/sub', type: 'dir', mode: 0o755, mtimeMs: 1_500_000_000_000 }),
      // owners the writer need not set (root's, as ours) and those it must: in a setgid dir what is
      // made takes the dir's group, also below a missing parent made there
      e({ path: 'g', type: 'dir', mode: 0o2775, gid: 1234 }),
      e({ path: 'g/f', type: 'file', size: 6, sourcePath: join(src, 'small') }),
      e({ path: 'g/missing/deep', type: 'file', size: 6, sourcePath: join(src, 'small') }),
      e({ path: 'g/sub', type: 'dir', mode: 0o755 }),
      e({ path: 'g/sub/f', type: 'file', size: 6, sourcePath: join(src, 'small') }),
      e({ path: 'g/sym', type: 'symlink', linkname: 'f', mode: 0o777 }),
      e({ path: 'plain', type: 'dir', mode: 0o755 }),
      e({ path: 'plain/f', type: 'file', size: 6, sourcePath: join(src, 'small') }),
      // modes mkdir alone does not give (the umask's bits, sticky) and one it does
      e({ path: 'tmp', type: 'dir', mode: 0o1777 }),
      e({ path: 'wide', type: 'dir', mode: 0o777 }),
      e({ path: 'x', type: 'dir', mode: 0o711 }),
    ];
    const s = await ImageStore.open(join(w, 'store'));
    const base = await writeLayer(s, [e({ path: 'base', type: 'file', size: 6, sourcePath: join(src, 'small') })]);
    const info = await writeLayerWithSnapshot(s, s.snapshots, entries(), topChainId([base.digest]));

    // the reference: the same entries written the old way, then unpacked from the blob
    const ref = await ImageStore.open(join(w, 'ref'));
    const refBase = await writeLayer(ref, [e({ path: 'base', type: 'file', size: 6, sourcePath: join(src, 'small') })]);
    const refInfo = await writeLayer(ref, entries());
    assert.deepEqual(info, refInfo, 'the same blob');
    assert.ok(s.hasBlob(info.digest));
    const chain = chainIds([base.digest, info.digest]);
    const refDir = await ensureSnapshot(ref, chainIds([refBase.digest, refInfo.digest])[1]!, refInfo.digest);
    const dir = s.snapshotDir(chain[1]!);
    // (g/missing has no entry: both make it "now", a second apart at times)
    const nowless = (t: string[]) => t.map((l) => (l.startsWith('g/missing ') ? l.replace(/ \d+ nlink/, ' <now> nlink') : l));
    assert.deepEqual(nowless(tree(dir)), nowless(tree(refDir)), 'the snapshot is what an unpack of the blob gives');
    assert.equal(await ensureSnapshot(s, chain[1]!, info.digest), dir, 'found, not unpacked again');
    assert.deepEqual(readdirSync(join(w, 'store', 'tmp')), [], 'no temp dir left');

    // a source that shrank after it was listed: an error, and neither blob nor snapshot nor temp
    truncateSync(join(src, 'big'), 100);
    const before = readdirSync(join(w, 'store', 'blobs', 'sha256')).sort();
    await assert.rejects(writeLayerWithSnapshot(s, s.snapshots, entries(), topChainId([base.digest, info.digest])), /changed size/);
    assert.deepEqual(readdirSync(join(w, 'store', 'blobs', 'sha256')).sort(), before);
    assert.deepEqual(readdirSync(join(w, 'store', 'snapshots')).sort(), [chain[1]!.slice(7)]);
    assert.deepEqual(readdirSync(join(w, 'store', 'tmp')), []);
    await s.close();
    await ref.close();
  } finally {
    rmSync(w, { recursive: true, force: true });
  }
});

test('a layer+snapshot writer SIGKILLed at random moments leaves no snapshot without its blob and none incomplete', { skip: !isRoot && 'needs root (owners)' }, async () => {
  const w = mkdtempSync(join(tmpdir(), 'tsb-laysnap-kill-'));
  try {
    const src = join(w, 'src');
    mkdirSync(src);
    for (let i = 0; i < 40; i++) writeFileSync(join(src, `f${i}`), randomBytes(256 * 1024));
    const root = join(w, 'store');
    await ImageStore.open(root);
    for (let round = 0; round < 5; round++) {
      const c = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'layer-snapshot-child.ts'), root, src], { stdio: ['ignore', 'pipe', 'inherit'] });
      await once(c.stdout!, 'data');
      await new Promise((r) => setTimeout(r, 50 + Math.random() * 600));
      c.kill('SIGKILL');
      await once(c, 'close');
    }
    // every snapshot's layer: the blob whose chain ID names it; the snapshot equals its unpack
    const s = await ImageStore.open(root);
    const blobs = readdirSync(join(root, 'blobs', 'sha256')).map((h) => `sha256:${h}` as Digest);
    const byChain = new Map<string, Digest>();
    for (const b of blobs) byChain.set(b, b); // first layers: chain ID = diff ID
    // layers of one child stack up; find each snapshot's blob by trying every (parent, blob) pair
    const snaps = readdirSync(join(root, 'snapshots'));
    assert.ok(snaps.length > 0, 'some layers were written');
    let grew = true;
    while (grew) {
      grew = false;
      for (const parent of [...byChain.keys()]) {
        for (const b of blobs) {
          const c = chainIds([parent as Digest, b])[1]!;
          if (!byChain.has(c) && snaps.includes(c.slice(7))) (byChain.set(c, b), (grew = true));
        }
      }
    }
    const ref = await ImageStore.open(join(w, 'ref'));
    for (const hex of snaps) {
      const layer = byChain.get(`sha256:${hex}`);
      assert.ok(layer, `snapshot ${hex} has its blob in the store`);
      assert.equal(createHash('sha256').update(readFileSync(s.blobPath(layer))).digest('hex'), layer.slice(7), 'the blob is whole');
      await ref.putBlob(s.openBlob(layer));
      const refDir = await ensureSnapshot(ref, layer, layer);
      // (link counts aside: later layers link the files of earlier ones)
      assert.deepEqual(tree(join(root, 'snapshots', hex), '', false), tree(refDir, '', false), `snapshot ${hex} is whole`);
      rmSync(refDir, { recursive: true, force: true });
    }
    await s.prune();
    assert.deepEqual(readdirSync(join(root, 'tmp')), [], "dead writers' temp dirs are removed by prune");
    await s.close();
    await ref.close();
  } finally {
    rmSync(w, { recursive: true, force: true });
  }
});

test('unchanged source files are linked from the snapshot an earlier layer wrote, changed or re-moded ones are written', { skip: !isRoot && 'needs root (owners)' }, async () => {
  const w = mkdtempSync(join(tmpdir(), 'tsb-laysnap-donor-'));
  try {
    const src = join(w, 'ctx');
    mkdirSync(src);
    for (const n of ['a', 'b', 'c', 'd']) writeFileSync(join(src, n), `content of ${n}\n`);
    const e = (x: Partial<LayerEntry> & { path: string; type: LayerEntry['type'] }): LayerEntry => ({ mode: 0o644, uid: 0, gid: 0, size: 0, mtimeMs: 1_600_000_000_000, ...x });
    const file = (n: string, mode = 0o644): LayerEntry => e({ path: `app/${n}`, type: 'file', mode, size: statSize(join(src, n)), sourcePath: join(src, n) });
    const layer = (modeOfD = 0o644): LayerEntry[] => [e({ path: 'app', type: 'dir', mode: 0o755 }), file('a'), file('b'), file('c'), file('d', modeOfD), e({ path: 'app/hard', type: 'hardlink', linkname: 'app/a' })];
    const s = await ImageStore.open(join(w, 'store'));
    const opts = { donorRoot: src };
    const first = await writeLayerWithSnapshot(s, s.snapshots, layer(), undefined, opts);
    const dir1 = s.snapshotDir(first.digest);
    writeFileSync(join(src, 'b'), 'content of B\n'); // same size, new content
    const second = await writeLayerWithSnapshot(s, s.snapshots, layer(0o600), undefined, opts);
    const dir2 = s.snapshotDir(second.digest);
    const ino = (d: string, n: string) => lstatSync(join(d, 'app', n)).ino;
    assert.equal(ino(dir2, 'a'), ino(dir1, 'a'), 'unchanged: linked');
    assert.equal(ino(dir2, 'c'), ino(dir1, 'c'), 'unchanged: linked');
    assert.equal(ino(dir2, 'hard'), ino(dir2, 'a'), 'the layer\'s own hard link joins the linked file');
    assert.notEqual(ino(dir2, 'b'), ino(dir1, 'b'), 'changed content: written');
    assert.equal(readFileSync(join(dir2, 'app', 'b'), 'utf8'), 'content of B\n');
    assert.notEqual(ino(dir2, 'd'), ino(dir1, 'd'), 'another mode: written');
    assert.equal(lstatSync(join(dir2, 'app', 'd')).mode & 0o7777, 0o600);
    // the snapshot is still what unpacking its blob gives (but for link counts)
    const ref = await ImageStore.open(join(w, 'ref'));
    await ref.putBlob(s.openBlob(second.digest));
    assert.deepEqual(tree(dir2, '', false), tree(await ensureSnapshot(ref, second.digest, second.digest), '', false));

    // a pruned donor costs only the write
    rmSync(dir1, { recursive: true, force: true });
    rmSync(dir2, { recursive: true, force: true });
    writeFileSync(join(src, 'c'), 'content of C\n');
    const third = await writeLayerWithSnapshot(s, s.snapshots, layer(), undefined, opts);
    assert.equal(readFileSync(join(s.snapshotDir(third.digest), 'app', 'a'), 'utf8'), 'content of a\n');
    assert.equal(lstatSync(join(s.snapshotDir(third.digest), 'app', 'c')).nlink, 1);
    // a layer the direct writer does not take (a file capability): unpacked from the tar, same tree
    const cap = Buffer.from('0100000200200000000000000000000000000000', 'hex');
    const capped = await writeLayerWithSnapshot(s, s.snapshots, [e({ path: 'ping', type: 'file', mode: 0o755, size: statSize(join(src, 'a')), sourcePath: join(src, 'a'), xattrs: { 'security.capability': cap } })], undefined, opts);
    await ref.putBlob(s.openBlob(capped.digest));
    assert.deepEqual(tree(s.snapshotDir(capped.digest)), tree(await ensureSnapshot(ref, capped.digest, capped.digest)));
    assert.deepEqual(readdirSync(join(w, 'store', 'tmp')), []);
    await s.close();
    await ref.close();
  } finally {
    rmSync(w, { recursive: true, force: true });
  }
});

function statSize(p: string): number {
  return lstatSync(p).size;
}
