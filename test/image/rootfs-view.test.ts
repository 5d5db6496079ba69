import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync, symlinkSync, rmSync, constants } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RootfsView } from '../../src/image/rootfs-view.js';
import { fsx } from '../../src/native/fsx.js';

function layers() {
  const d = mkdtempSync(join(tmpdir(), 'view-'));
  const base = join(d, 'base');
  const top = join(d, 'top');
  mkdirSync(join(base, 'etc'), { recursive: true });
  writeFileSync(join(base, 'etc', 'passwd'), 'root:x:0:0::/root:/bin/sh\n');
  writeFileSync(join(base, 'etc', 'gone'), 'x');
  mkdirSync(join(base, 'opq'));
  writeFileSync(join(base, 'opq', 'old'), 'old');
  mkdirSync(join(base, 'usr', 'lib'), { recursive: true });
  symlinkSync('usr/lib', join(base, 'lib'));
  symlinkSync('/etc/passwd', join(base, 'abs-link'));
  symlinkSync('../../../../../../etc/shadow', join(base, 'escape'));
  mkdirSync(join(top, 'etc'), { recursive: true });
  fsx().mknod(join(top, 'etc', 'gone'), constants.S_IFCHR, 0, 0);
  mkdirSync(join(top, 'opq'));
  fsx().lsetxattr(join(top, 'opq'), 'trusted.overlay.opaque', Buffer.from('y'));
  writeFileSync(join(top, 'opq', 'new'), 'new');
  return { d, view: new RootfsView([top, base]) };
}

test('rootfs view: merged lookups honour whiteouts and opaque dirs', () => {
  const { d, view } = layers();
  try {
    assert.ok(view.lookup('/etc/passwd'));
    assert.equal(view.lookup('/etc/gone'), null);
    assert.equal(view.lookup('/opq/old'), null);
    assert.ok(view.lookup('/opq/new'));
    assert.ok(view.lookup('/etc')?.stat.isDirectory());
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

test('rootfs view: symlinks resolve inside the root, never on the host', () => {
  const { d, view } = layers();
  try {
    assert.equal(view.resolve('/lib/x'), '/usr/lib/x');
    assert.equal(view.resolve('/abs-link'), '/etc/passwd');
    assert.equal(view.resolve('/escape'), '/etc/shadow');
    assert.equal(view.resolve('/../../etc/passwd'), '/etc/passwd');
    assert.equal(view.readFile('/abs-link')?.toString(), 'root:x:0:0::/root:/bin/sh\n');
    // the escape link points at /etc/shadow inside the root, which does not exist there
    assert.equal(view.readFile('/escape'), null);
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});
