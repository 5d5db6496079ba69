import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, symlinkSync, lstatSync, rmSync, constants, readFileSync, statSync, existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fsx } from '../../src/native/fsx.js';

test('fsx: xattrs round-trip on a file and stay off a symlink target', () => {
  const d = mkdtempSync(join(tmpdir(), 'fsx-'));
  try {
    const f = join(d, 'f');
    writeFileSync(f, 'x');
    symlinkSync('f', join(d, 'l'));
    fsx().lsetxattr(f, 'user.k', Buffer.from('v1'));
    assert.deepEqual(fsx().llistxattr(f), ['user.k']);
    assert.equal(fsx().lgetxattr(f, 'user.k')?.toString(), 'v1');
    assert.equal(fsx().lgetxattr(join(d, 'l'), 'user.k'), null);
    fsx().lremovexattr(f, 'user.k');
    fsx().lremovexattr(f, 'user.k');
    assert.deepEqual(fsx().llistxattr(f), []);
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

test('fsx: mknod makes an overlay whiteout (char 0/0) and reports errors by syscall and path', () => {
  const d = mkdtempSync(join(tmpdir(), 'fsx-'));
  try {
    const w = join(d, 'gone');
    fsx().mknod(w, constants.S_IFCHR | 0o000, 0, 0);
    const st = lstatSync(w);
    assert.ok(st.isCharacterDevice());
    assert.equal(st.rdev, 0);
    assert.throws(() => fsx().mknod(join(d, 'no', 'x'), constants.S_IFCHR, 0, 0), /mknod .*no\/x: No such file/);
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

test('fsx: syncfs writes what the filesystem holds to its disk, on the thread pool; errors name the path', async () => {
  const d = mkdtempSync(join(tmpdir(), 'fsx-'));
  try {
    // the disk's sectors written (field 7 of /sys/dev/block/M:m/stat) grow by at least what was
    // written and not yet flushed (other writers only add to it)
    const dev = statSync(d).dev;
    const stat = `/sys/dev/block/${Math.floor(dev / 256) & 0xfff}:${(dev & 0xff) | ((dev >> 12) & 0xfff00)}/stat`;
    const sectors = () => Number(readFileSync(stat, 'utf8').trim().split(/\s+/)[6]);
    const bytes = 16 << 20;
    // counted before the write: another test's sync (or the kernel's writeback) may flush the file
    // before this one's syncfs starts; what matters is that it is on disk once the promise settles
    const before = existsSync(stat) ? sectors() : undefined;
    writeFileSync(join(d, 'f'), randomBytes(bytes));
    const p = fsx().syncfs(d);
    assert.ok(p instanceof Promise, 'a promise: the sync runs off the main thread');
    await p;
    if (before !== undefined) assert.ok((sectors() - before) * 512 >= bytes, 'the written file reached the disk');
    assert.throws(() => fsx().syncfs(join(d, 'missing')), (e: NodeJS.ErrnoException) => e.code === 'E2' && /open .*missing/.test(e.message));
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

test('fs-ops: ops run in order on their thread; a failed soft link is reported, a hard failure stops the queue and is thrown', async () => {
  const { FsOps } = await import('../../src/native/fs-ops.js');
  const d = mkdtempSync(join(tmpdir(), 'fsx-'));
  try {
    writeFileSync(join(d, 'src'), 'x');
    const ops = new FsOps();
    // a dir, then what goes in it, then its metadata: only order makes this work
    ops.mkdir(join(d, 'a'), 0o700);
    ops.link(join(d, 'src'), join(d, 'a', 'l'));
    ops.symlink('l', join(d, 'a', 's'));
    ops.lutimes(join(d, 'a', 's'), 1_000_000);
    ops.file(join(d, 'a', 'f'), Buffer.from('bytes'), 0o640, { uid: 1, gid: 2 }, 3_000_000);
    ops.file(join(d, 'a', 'empty'), Buffer.alloc(0), 0o600, undefined, 4_000_000);
    ops.chmod(join(d, 'a'), 0o751);
    ops.lutimes(join(d, 'a'), 2_000_000);
    ops.link(join(d, 'gone'), join(d, 'b-soft'), true);
    assert.deepEqual(ops.drain(), [join(d, 'b-soft')]);
    const f = lstatSync(join(d, 'a', 'f'));
    assert.deepEqual([readFileSync(join(d, 'a', 'f'), 'utf8'), f.mode & 0o7777, f.uid, f.gid, f.mtimeMs], ['bytes', 0o640, 1, 2, 3_000_000_000]);
    assert.deepEqual([lstatSync(join(d, 'a', 'empty')).size, lstatSync(join(d, 'a', 'empty')).uid], [0, process.getuid!()]);
    assert.equal(lstatSync(join(d, 'a', 'l')).ino, lstatSync(join(d, 'src')).ino);
    assert.equal(lstatSync(join(d, 'a', 's')).mtimeMs, 1_000_000_000);
    assert.equal(lstatSync(join(d, 'a')).mode & 0o7777, 0o751);
    assert.equal(lstatSync(join(d, 'a')).mtimeMs, 2_000_000_000);
    assert.deepEqual(ops.drain(), [], 'reported once');
    ops.file(join(d, 'a', 'f'), Buffer.from('again'), 0o644, undefined, 0);
    assert.throws(() => ops.drain(), (e: NodeJS.ErrnoException) => e.code === 'E17' && /write .*a\/f: File exists/.test(e.message));
    const ops2 = new FsOps();
    ops2.mkdir(join(d, 'no', 'b'), 0o755);
    ops2.mkdir(join(d, 'c'), 0o755); // skipped: it came after a failure
    assert.throws(() => ops2.drain(), (e: NodeJS.ErrnoException) => e.code === 'E2' && /mkdir .*no\/b: No such file/.test(e.message));
    assert.equal(existsSync(join(d, 'c')), false);
    ops.close();
    ops.close();
    assert.throws(() => ops.mkdir(join(d, 'late'), 0o755), /opPush: the queue is closed/);
    ops2.close();
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});
