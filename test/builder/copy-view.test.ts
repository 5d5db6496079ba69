import { test } from 'node:test';
import assert from 'node:assert/strict';
import { constants, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RootfsView } from '../../src/image/rootfs-view.js';
import { fsx } from '../../src/native/fsx.js';

/** Three layers: base, mid (whiteouts, opaque dir, a file over a dir), top (recreates things). */
function layers() {
  const d = mkdtempSync(join(tmpdir(), 'copy-view-'));
  const [base, mid, top] = ['base', 'mid', 'top'].map((n) => join(d, n)) as [string, string, string];
  mkdirSync(join(base, 'etc'), { recursive: true });
  for (const n of ['a', 'b', 'c']) writeFileSync(join(base, 'etc', n), n);
  mkdirSync(join(base, 'opq', 'deep'), { recursive: true });
  writeFileSync(join(base, 'opq', 'old'), 'old');
  mkdirSync(join(base, 'shadowed'));
  writeFileSync(join(base, 'shadowed', 'x'), 'x');
  mkdirSync(join(base, 'gone'));
  writeFileSync(join(base, 'gone', 'y'), 'y');
  symlinkSync('etc', join(base, 'etclink'));

  mkdirSync(join(mid, 'etc'), { recursive: true });
  fsx().mknod(join(mid, 'etc', 'b'), constants.S_IFCHR, 0, 0);
  writeFileSync(join(mid, 'etc', 'm'), 'm');
  mkdirSync(join(mid, 'opq'));
  fsx().lsetxattr(join(mid, 'opq'), 'trusted.overlay.opaque', Buffer.from('y'));
  writeFileSync(join(mid, 'opq', 'new'), 'new');
  writeFileSync(join(mid, 'shadowed'), 'now a file');
  fsx().mknod(join(mid, 'gone'), constants.S_IFCHR, 0, 0);

  mkdirSync(join(top, 'etc'), { recursive: true });
  writeFileSync(join(top, 'etc', 'b'), 'b again');
  mkdirSync(join(top, 'gone'));
  writeFileSync(join(top, 'gone', 'z'), 'z');
  return { d, view: new RootfsView([top, mid, base]) };
}

test('rootfs view readdir: merged names honour whiteouts, opaque dirs and shadowing files', () => {
  const { d, view } = layers();
  try {
    assert.deepEqual(view.readdir('/'), ['etc', 'etclink', 'gone', 'opq', 'shadowed']);
    assert.deepEqual(view.readdir('/etc'), ['a', 'b', 'c', 'm'], 'b whited out in mid, recreated in top');
    assert.equal(view.lookup('/etc/b') && view.readFile('/etc/b')?.toString(), 'b again');
    assert.deepEqual(view.readdir('/opq'), ['new'], 'opaque dir hides lower entries');
    assert.deepEqual(view.readdir('/gone'), ['z'], 'a dir deleted then recreated does not show old files');
    assert.equal(view.readdir('/shadowed'), null, 'a file over a dir is not a directory');
    assert.equal(view.readdir('/etc/a'), null);
    assert.equal(view.readdir('/missing'), null);
    assert.equal(view.readdir('/etclink'), null, 'readdir does not follow links; resolve() first');
    assert.deepEqual(view.readdir(view.resolve('/etclink')), ['a', 'b', 'c', 'm']);
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});
