import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, symlinkSync, lstatSync, rmSync, constants } from 'node:fs';
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
