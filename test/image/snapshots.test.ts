import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, existsSync, statSync, readFileSync, mkdirSync, createReadStream, readdirSync, lstatSync, openSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { ImageStore, writeLayer, snapshotChain, chainIds, emptyConfig, sha256, type Digest, type LayerEntry } from '../../src/image/index.js';
import { isTsbuildError } from '../../src/errors.js';
import { busyboxRootfsTar } from '../helpers/fixtures.js';

const isRoot = process.getuid?.() === 0;

test('snapshots: each layer unpacked once by chain ID, usable as overlay lower dirs; GC follows images', { skip: !isRoot && 'needs root (overlay, whiteout devices)' }, async () => {
  const w = mkdtempSync(join(tmpdir(), 'tsb-snap-'));
  const mnt = join(w, 'mnt');
  try {
    const root = join(w, 'store');
    const s = await ImageStore.open(root);
    const base = await s.putBlob(createReadStream(busyboxRootfsTar()));
    writeFileSync(join(w, 'new'), 'new file\n');
    const e = (x: Partial<LayerEntry> & { path: string; type: LayerEntry['type'] }): LayerEntry => ({ mode: 0o644, uid: 0, gid: 0, size: 0, mtimeMs: 0, ...x });
    const top = await writeLayer(s, [
      e({ path: 'etc', type: 'dir', mode: 0o755 }),
      e({ path: 'etc/.wh.group', type: 'file' }),
      e({ path: 'home', type: 'dir', mode: 0o755 }),
      e({ path: 'home/.wh..wh..opq', type: 'file' }),
      e({ path: 'new', type: 'file', size: 9, sourcePath: join(w, 'new') }),
    ]);
    const img = await s.putImage({ config: emptyConfig(), layers: [base, top], tags: ['snap'] });
    const dirs = await snapshotChain(s, img);
    const chain = chainIds([base.digest, top.digest]);
    assert.deepEqual(dirs, chain.map((c) => s.snapshotDir(c)));
    const ino = statSync(dirs[0]!).ino;
    assert.deepEqual(await snapshotChain(s, await s.resolve('snap')), dirs);
    assert.equal(statSync(dirs[0]!).ino, ino, 'reused, not unpacked again');

    mkdirSync(mnt);
    execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${[...dirs].reverse().join(':')}`, mnt]);
    try {
      assert.equal(existsSync(join(mnt, 'etc/group')), false, 'whited out');
      assert.match(readFileSync(join(mnt, 'etc/passwd'), 'utf8'), /^root:/);
      assert.equal(readFileSync(join(mnt, 'new'), 'utf8'), 'new file\n');
      assert.ok(existsSync(join(mnt, 'home')));
      assert.equal(existsSync(join(mnt, 'home/user')), false, 'opaque dir hides the lower content');
      assert.ok(statSync(join(mnt, 'bin/busybox')).size > 100_000);
    } finally {
      execFileSync('umount', [mnt]);
    }

    await s.close();
    assert.equal((await s.prune()).deletedSnapshots.length, 0, 'an image keeps its snapshots');
    await s.remove('snap');
    assert.equal(existsSync(dirs[0]!), false);
    assert.equal(existsSync(dirs[1]!), false);
  } finally {
    rmSync(w, { recursive: true, force: true });
  }
});

/** A store with busybox as its one image, its snapshot unpacked. */
async function busyboxStore(w: string): Promise<{ s: ImageStore; chain: Digest[] }> {
  const s = await ImageStore.open(join(w, 'store'));
  const base = await s.putBlob(createReadStream(busyboxRootfsTar()));
  const img = await s.putImage({ config: { ...emptyConfig(), rootfs: { type: 'layers', diff_ids: [base.digest] } }, layers: [base], tags: ['base'] });
  await s.snapshots.mounts(img);
  return { s, chain: chainIds([base.digest]) };
}

test('active snapshots: prepare makes upper and work dirs in the store over committed parents; an overlay of them commits as the next snapshot', { skip: !isRoot && 'needs root (overlay, whiteout devices)' }, async () => {
  const w = mkdtempSync(join(tmpdir(), 'tsb-active-'));
  const mnt = join(w, 'mnt');
  try {
    const { s, chain } = await busyboxStore(w);
    const tmp = join(s.root, 'tmp');
    const a = await s.snapshots.prepare(chain);
    assert.deepEqual(a.lowerDirs, s.snapshots.paths(chain));
    assert.deepEqual(readdirSync(a.upperDir), []);
    assert.deepEqual(readdirSync(a.workDir), []);
    assert.equal(statSync(a.upperDir).mode & 0o7777, 0o755, "the upper dir's mode is the rootfs' /");
    // on the store's filesystem, and inside the store (a rename into snapshots/ works)
    assert.equal(statSync(a.upperDir).dev, statSync(join(s.root, 'snapshots')).dev);
    assert.ok(a.upperDir.startsWith(s.root + '/') && a.workDir.startsWith(s.root + '/'));
    assert.deepEqual(readdirSync(tmp).length, 1);

    // what the runtime does with them: one overlay; a file made, one deleted (a whiteout)
    mkdirSync(mnt);
    execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${[...a.lowerDirs].reverse().join(':')},upperdir=${a.upperDir},workdir=${a.workDir}`, mnt]);
    try {
      writeFileSync(join(mnt, 'made'), 'made in the overlay\n');
      rmSync(join(mnt, 'etc/group'));
    } finally {
      execFileSync('umount', [mnt]);
    }
    const layer = sha256('a layer of this change');
    const next = chainIds([...chain, layer] as Digest[]).at(-1)! as Digest;
    const upperIno = statSync(a.upperDir).ino;
    await s.snapshots.commit(a, next);
    const dir = s.snapshots.paths([next])[0]!;
    assert.equal(statSync(dir).ino, upperIno, 'the upper dir itself became the snapshot (renamed, not copied)');
    assert.equal(readFileSync(join(dir, 'made'), 'utf8'), 'made in the overlay\n');
    assert.ok(lstatSync(join(dir, 'etc/group')).isCharacterDevice(), 'the whiteout overlayfs wrote is kept');
    assert.ok((await s.snapshots.list()).includes(next));
    assert.deepEqual(readdirSync(tmp), [], 'the rest of the active snapshot (work dir) is gone');

    // the same chain committed again (a concurrent build): the first stays, the second is dropped
    const b = await s.snapshots.prepare(chain);
    writeFileSync(join(b.upperDir, 'other'), 'x');
    await s.snapshots.commit(b, next);
    assert.equal(statSync(dir).ino, upperIno);
    assert.equal(existsSync(join(dir, 'other')), false);
    assert.deepEqual(readdirSync(tmp), []);
    await assert.rejects(s.snapshots.commit(b, next), (e: unknown) => isTsbuildError(e) && e.code === 'NOT_FOUND', 'an ended snapshot cannot be committed');

    // leased by this process: GC keeps what was committed until something references it
    assert.equal((await s.prune()).deletedSnapshots.includes(next), false);
    await s.close();
  } finally {
    rmSync(w, { recursive: true, force: true });
  }
});

test('deferred commit: usable where it is until settled, in the store only after its sync; a kill before settle leaves no snapshot', { skip: !isRoot && 'needs root (overlay)' }, async () => {
  const w = mkdtempSync(join(tmpdir(), 'tsb-deferred-'));
  const mnt = join(w, 'mnt');
  try {
    const { s, chain } = await busyboxStore(w);
    const tmp = join(s.root, 'tmp');
    const a = await s.snapshots.prepare(chain);
    writeFileSync(join(a.upperDir, 'made'), 'made by a step\n');
    const layer = sha256('a layer of a RUN');
    const next = chainIds([...chain, layer] as Digest[]).at(-1)! as Digest;
    const final = join(s.root, 'snapshots', next.slice('sha256:'.length));
    s.snapshots.commitDeferred(a, next);
    // not in the store yet: this process names it where it is, and builds on it
    assert.equal(existsSync(final), false, 'not in sight before its sync and settle');
    assert.equal((await s.snapshots.list()).includes(next), false);
    assert.deepEqual(s.snapshots.paths([next]), [a.upperDir]);
    assert.equal(await s.snapshots.ensure(next, layer), a.upperDir, 'ensure does not unpack it');
    const b = await s.snapshots.prepare([...chain, next]);
    assert.deepEqual(b.lowerDirs, [...s.snapshots.paths(chain), a.upperDir]);
    mkdirSync(mnt);
    execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${[...b.lowerDirs].reverse().join(':')},upperdir=${b.upperDir},workdir=${b.workDir}`, mnt]);
    try {
      assert.equal(readFileSync(join(mnt, 'made'), 'utf8'), 'made by a step\n', 'an overlay over it sees its files');
    } finally {
      execFileSync('umount', [mnt]);
    }
    await s.snapshots.abort(b);
    // a commit of the same layer meanwhile (another stage) is dropped: the deferred one is kept
    const c = await s.snapshots.prepare(chain);
    writeFileSync(join(c.upperDir, 'other'), 'x');
    await s.snapshots.commit(c, next);
    assert.equal(existsSync(final), false);

    await s.snapshots.settle({ wait: true });
    assert.equal(readFileSync(join(final, 'made'), 'utf8'), 'made by a step\n', 'settled: renamed into the store');
    assert.equal(existsSync(join(final, 'other')), false);
    assert.deepEqual(s.snapshots.paths([next]), [final]);
    assert.ok((await s.snapshots.list()).includes(next));
    assert.deepEqual(readdirSync(tmp), [], 'nothing left in the temp area');
    await s.snapshots.settle({ wait: true }); // nothing left to do

    // a process killed before it settled: nothing in the store, its temp dir goes with prune
    const other = chainIds([...chain, sha256('another layer')] as Digest[]).at(-1)! as Digest;
    const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'snapshot-child.ts'), s.root, 'deferred', other], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const key = ((await once(child.stdout!, 'data'))[0] as Buffer).toString().trim();
      await new Promise((r) => setTimeout(r, 300)); // (its sync is most likely done by now)
      child.kill('SIGKILL');
      await once(child, 'close');
      assert.deepEqual(readdirSync(tmp), [key]);
      assert.equal(existsSync(join(s.root, 'snapshots', other.slice('sha256:'.length))), false, 'never settled: never in the store');
      await s.prune();
      assert.deepEqual(readdirSync(tmp), []);
    } finally {
      child.kill('SIGKILL');
    }
    await s.close();
  } finally {
    rmSync(w, { recursive: true, force: true });
  }
});

test('settle without wait: a synced deferred snapshot is in place when it returns, its work dir removed in the background; settle with wait leaves the temp area empty', { skip: !isRoot && 'needs root (overlay)' }, async () => {
  const w = mkdtempSync(join(tmpdir(), 'tsb-deferred-'));
  try {
    const { s, chain } = await busyboxStore(w);
    const a = await s.snapshots.prepare(chain);
    writeFileSync(join(a.upperDir, 'made'), 'made by a step\n');
    // a work dir with some depth, as overlayfs leaves one
    mkdirSync(join(a.workDir, 'work', 'incompat', 'volatile'), { recursive: true });
    writeFileSync(join(a.workDir, 'work', 'incompat', 'volatile', 'dirty'), '');
    const next = chainIds([...chain, sha256('a settled layer')] as Digest[]).at(-1)! as Digest;
    const final = join(s.root, 'snapshots', next.slice('sha256:'.length));
    let synced!: () => void;
    s.snapshots.commitDeferred(a, next, new Promise<void>((r) => (synced = r)));
    await s.snapshots.settle({ wait: false });
    assert.equal(existsSync(final), false, 'not settled before its sync');
    synced();
    await new Promise((r) => setTimeout(r, 200)); // (the store's syncfs)
    await s.snapshots.settle({ wait: false });
    assert.deepEqual(s.snapshots.paths([next]), [final], 'paths names the store dir at once');
    assert.equal(readFileSync(join(final, 'made'), 'utf8'), 'made by a step\n', 'renamed into place before settle returned');
    await s.snapshots.settle({ wait: true });
    assert.deepEqual(readdirSync(join(s.root, 'tmp')), [], 'the active dir is gone once settle waited');
    await s.close();
  } finally {
    rmSync(w, { recursive: true, force: true });
  }
});

test('active snapshots: FROM scratch gets one empty lower; abort removes any depth; a missing parent is NOT_FOUND', async () => {
  const w = mkdtempSync(join(tmpdir(), 'tsb-active-'));
  try {
    const s = await ImageStore.open(join(w, 'store'));
    const tmp = join(s.root, 'tmp');
    const a = await s.snapshots.prepare([]);
    assert.equal(a.lowerDirs.length, 1);
    assert.deepEqual(readdirSync(a.lowerDirs[0]!), []);
    assert.ok(a.lowerDirs[0]!.startsWith(s.root + '/'));
    // a tree deeper than PATH_MAX in the upper dir (a RUN can make one), built through dir fds
    let fd = openSync(a.upperDir, 'r');
    for (let i = 0; i < 200; i++) {
      mkdirSync(`/proc/self/fd/${fd}/${'d'.repeat(30)}`);
      const next = openSync(`/proc/self/fd/${fd}/${'d'.repeat(30)}`, 'r');
      closeSync(fd);
      fd = next;
    }
    closeSync(fd);
    await s.snapshots.abort(a);
    assert.deepEqual(readdirSync(tmp), []);
    await s.snapshots.abort(a); // twice: nothing more to do
    await assert.rejects(s.snapshots.commit(a, sha256('x')), (e: unknown) => isTsbuildError(e) && e.code === 'NOT_FOUND');
    assert.deepEqual(await s.snapshots.list(), [], 'nothing was committed');

    await assert.rejects(s.snapshots.prepare([sha256('never unpacked')]), (e: unknown) => isTsbuildError(e) && e.code === 'NOT_FOUND');
    assert.deepEqual(readdirSync(tmp), []);
    await s.close();
  } finally {
    rmSync(w, { recursive: true, force: true });
  }
});

test('warm: a prepare over parents takes the dirs made ahead, one over none makes its own; dropWarm removes what nobody took', async () => {
  const w = mkdtempSync(join(tmpdir(), 'tsb-warm-'));
  try {
    const s = await ImageStore.open(join(w, 'store'));
    const tmp = join(s.root, 'tmp');
    const base = await s.snapshots.prepare([]);
    const chain = sha256('base');
    await s.snapshots.commit(base, chain);
    assert.deepEqual(readdirSync(tmp), []);
    s.snapshots.warm!();
    s.snapshots.warm!();
    const made = readdirSync(tmp);
    assert.equal(made.length, 1, 'one made ahead at a time');
    assert.deepEqual(readdirSync(join(tmp, made[0]!)).sort(), ['upper', 'work']);
    const scratch = await s.snapshots.prepare([]);
    assert.equal(readdirSync(tmp).length, 2, 'FROM scratch makes its own (with its empty lower)');
    const a = await s.snapshots.prepare([chain]);
    assert.equal(a.upperDir, join(tmp, made[0]!, 'upper'), 'taken by the prepare over a parent');
    assert.deepEqual(a.lowerDirs, s.snapshots.paths([chain]));
    await s.snapshots.abort(a);
    await s.snapshots.abort(scratch);
    assert.deepEqual(readdirSync(tmp), []);
    s.snapshots.warm!();
    assert.equal(readdirSync(tmp).length, 1);
    await s.snapshots.dropWarm!();
    assert.deepEqual(readdirSync(tmp), [], 'dropWarm removes what no prepare took');
    await s.close();
  } finally {
    rmSync(w, { recursive: true, force: true });
  }
});

test("active snapshots of a killed process are removed by the next prune, a live one's are kept; exit removes them", async () => {
  const w = mkdtempSync(join(tmpdir(), 'tsb-active-kill-'));
  const child = (mode: string) => spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'snapshot-child.ts'), join(w, 'store'), mode], { stdio: ['ignore', 'pipe', 'inherit'] });
  const keyOf = async (c: ReturnType<typeof child>) => ((await once(c.stdout!, 'data'))[0] as Buffer).toString().trim();
  try {
    const s = await ImageStore.open(join(w, 'store'));
    const tmp = join(s.root, 'tmp');
    const killed = child('wait');
    const live = child('wait');
    try {
      const [dead, alive] = [await keyOf(killed), await keyOf(live)];
      assert.ok(dead.startsWith(`${killed.pid}-`) && alive.startsWith(`${live.pid}-`), 'named by the owner');
      killed.kill('SIGKILL');
      await once(killed, 'close');
      assert.deepEqual(readdirSync(tmp).sort(), [dead, alive].sort(), 'a SIGKILL leaves its active snapshot');
      await s.prune();
      assert.deepEqual(readdirSync(tmp), [alive], "prune removed the dead owner's, kept the live one's");
      live.kill('SIGTERM'); // nobody else listens: the snapshot goes, then the signal ends the process
      const [code, sig] = (await once(live, 'close')) as [number | null, string | null];
      assert.equal(sig ?? code, 'SIGTERM');
      assert.deepEqual(readdirSync(tmp), [], 'SIGTERM removed it');
    } finally {
      killed.kill('SIGKILL');
      live.kill('SIGKILL');
    }
    const leaving = child('exit');
    await keyOf(leaving);
    assert.equal((await once(leaving, 'close'))[0], 0);
    assert.deepEqual(readdirSync(tmp), [], 'an exit without commit or abort removes it');
    await s.close();
  } finally {
    rmSync(w, { recursive: true, force: true });
  }
});

test('keyed active snapshots (a container\'s writable layer) outlive their process, are found by key, kept while owned or their creator lives, and keep their parents from GC', async () => {
  const w = mkdtempSync(join(tmpdir(), 'tsb-keyed-'));
  const root = join(w, 'store');
  const child = (...args: string[]) => spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'snapshot-child.ts'), root, 'keyed', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const made = async (c: ReturnType<typeof child>) => ((await once(c.stdout!, 'data'))[0] as Buffer).toString().trim();
  const exited = async (...args: string[]) => {
    const c = child(...args);
    assert.equal((await once(c, 'close'))[0], 0);
  };
  let waiting: ReturnType<typeof child> | undefined;
  try {
    const s = await ImageStore.open(root);
    const tmp = join(s.root, 'tmp');
    // a committed parent, then nothing of ours holds it (our lease ends)
    const base = await s.snapshots.prepare([]);
    writeFileSync(join(base.upperDir, 'from-parent'), 'p');
    const chain = sha256('keyed-parent');
    await s.snapshots.commit(base, chain);
    await s.close();

    await exited('gone', chain);
    await exited('owned', '-');
    waiting = child('alive', '-', 'wait');
    assert.equal(await made(waiting), 'alive');
    assert.deepEqual(readdirSync(tmp), [], 'made whole, nothing left in the temp area');
    const a = s.snapshots.active('gone');
    assert.ok(a, 'it outlived the process that prepared it');
    assert.deepEqual(a.lowerDirs, [s.snapshotDir(chain)]);
    assert.equal(readFileSync(join(a.upperDir, 'half-made'), 'utf8').length, 4096, 'what was written into it is kept');
    assert.ok(statSync(a.workDir).isDirectory());
    assert.equal(statSync(a.upperDir).mode & 0o777, 0o755);
    assert.equal(s.snapshots.active('owned')!.lowerDirs.length, 1, 'no parent: one empty lower');
    assert.equal(s.snapshots.active('never'), undefined);
    await assert.rejects(s.snapshots.prepare([], { key: 'alive' }), (e: unknown) => isTsbuildError(e) && e.code === 'CONFLICT');
    await assert.rejects(s.snapshots.prepare([], { key: '../out' }), (e: unknown) => isTsbuildError(e) && e.code === 'INVALID');
    assert.deepEqual((await s.snapshots.listActive()).map((x) => x.key).sort(), ['alive', 'gone', 'owned']);

    // GC keeps a keyed active's parent (no image, lease or pin names it)
    const gc = await s.prune();
    assert.equal(gc.deletedSnapshots.length, 0, 'the parent stays while its keyed active exists');
    assert.ok(existsSync(s.snapshotDir(chain)));
    assert.ok(s.snapshots.active('gone'), 'GC leaves keyed actives alone');

    // the sweep: unowned and creator gone -> removed; owned, or creator alive -> kept
    const asked: string[] = [];
    const removed = await s.snapshots.sweepActive((k) => (asked.push(k), k === 'owned'));
    assert.deepEqual(removed, ['gone']);
    assert.equal(s.snapshots.active('gone'), undefined);
    assert.ok(s.snapshots.active('owned') && s.snapshots.active('alive'));
    assert.deepEqual(asked.filter((k) => k === 'gone').length, 2, 'owned is asked again once the creator is seen gone');
    waiting.kill('SIGKILL');
    await once(waiting, 'close');
    assert.deepEqual(await s.snapshots.sweepActive((k) => k === 'owned'), ['alive'], 'its creator killed: swept');
    assert.deepEqual(readdirSync(tmp), [], 'removal leaves nothing in the temp area');

    assert.equal((await s.prune()).deletedSnapshots.length, 1, 'the parent goes with its last keyed active');
    assert.equal(await s.snapshots.removeActive('owned'), true);
    assert.equal(await s.snapshots.removeActive('owned'), false, 'twice: nothing more');
    assert.deepEqual(await s.snapshots.listActive(), []);
    await s.close();
  } finally {
    waiting?.kill('SIGKILL');
    rmSync(w, { recursive: true, force: true });
  }
});
