import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { constants } from 'node:fs';
import { join } from 'node:path';
import { resolveChown, resolveUser } from '../../src/runtime/index.js';
import { RootfsView } from '../../src/image/rootfs-view.js';

// The runtime lists layers lowest first; the view wants them topmost first.
const view = (lowerDirs: string[]) => new RootfsView([...lowerDirs].reverse());
const readFileInRoot = async (lowerDirs: string[], path: string) => view(lowerDirs).readFile(path);
const lookupInRoot = async (lowerDirs: string[], path: string) => {
  const v = view(lowerDirs);
  const e = v.lookup(v.resolve(path));
  return e && { hostPath: e.hostPath, stats: e.stat };
};
import { fsx } from '../../src/native/fsx.js';
import { isTsbuildError } from '../../src/errors.js';
import { scratch } from './rootfs-fixture.js';

const s = scratch();
after(() => s.cleanup());
const bb = [s.busybox];

/** A layer dir with files given as path -> content (or ['symlink', target] / 'whiteout' / 'opaque'). */
function layer(name: string, files: Record<string, string | ['symlink', string] | 'whiteout' | 'opaque-dir'>): string {
  const d = s.mkdir(name);
  for (const [p, c] of Object.entries(files)) {
    const host = join(d, p);
    mkdirSync(join(host, '..'), { recursive: true });
    if (c === 'whiteout') fsx().mknod(host, constants.S_IFCHR | 0o000, 0, 0);
    else if (c === 'opaque-dir') {
      mkdirSync(host, { recursive: true });
      fsx().lsetxattr(host, 'trusted.overlay.opaque', Buffer.from('y'));
    } else if (Array.isArray(c)) symlinkSync(c[1], host);
    else writeFileSync(host, c);
  }
  return d;
}

const notFound = (e: unknown) => isTsbuildError(e) && e.code === 'NOT_FOUND';

test('USER by name, uid, name:group, uid:gid (busybox /etc/passwd and /etc/group)', async () => {
  assert.deepEqual(await resolveUser(bb, 'user'), { uid: 1000, gid: 1000, groups: [10, 50], name: 'user', home: '/home/user' });
  assert.deepEqual(await resolveUser(bb, '1000'), { uid: 1000, gid: 1000, groups: [10, 50], name: 'user', home: '/home/user' });
  // an explicit group: no supplementary groups (as runc)
  assert.deepEqual(await resolveUser(bb, 'user:staff'), { uid: 1000, gid: 50, groups: [], name: 'user', home: '/home/user' });
  assert.deepEqual((await resolveUser(bb, 'nobody:7')).gid, 7);
  assert.deepEqual(await resolveUser(bb, 'root'), { uid: 0, gid: 0, groups: [], name: 'root', home: '/root' });
  // numeric ids need no entry
  assert.deepEqual(await resolveUser(bb, '4242'), { uid: 4242, gid: 0, groups: [] });
  assert.deepEqual(await resolveUser(bb, '4242:4343'), { uid: 4242, gid: 4343, groups: [] });
});

test('unknown names are NOT_FOUND, malformed specs INVALID', async () => {
  await assert.rejects(resolveUser(bb, 'nosuch'), (e: unknown) => notFound(e) && /unable to find user nosuch/.test((e as Error).message));
  await assert.rejects(resolveUser(bb, 'user:nosuch'), notFound);
  await assert.rejects(resolveUser(bb, 'user:'), (e: unknown) => isTsbuildError(e) && e.code === 'INVALID');
  await assert.rejects(resolveUser([s.mkdir('empty-root')], 'user'), notFound);
});

test('COPY --chown: a lone id is also the gid; a lone name gets its primary group; names resolve in the image', async () => {
  assert.deepEqual(await resolveChown(bb, 'user'), { uid: 1000, gid: 1000 });
  assert.deepEqual(await resolveChown(bb, 'daemon'), { uid: 1, gid: 1 });
  assert.deepEqual(await resolveChown(bb, '10:11'), { uid: 10, gid: 11 });
  assert.deepEqual(await resolveChown(bb, 'user:wheel'), { uid: 1000, gid: 10 });
  assert.deepEqual(await resolveChown([s.mkdir('no-etc')], '5'), { uid: 5, gid: 5 });
  // a user whose primary group is not its uid (Alpine's lp is 4:7)
  const lp = [s.busybox, layer('lp', { 'etc/passwd': 'root:x:0:0::/root:/bin/sh\nlp:x:4:7:lp:/var/spool/lpd:/bin/sh\n', 'etc/group': 'root:x:0:\nlp:x:7:\nstaff:x:50:\n' })];
  assert.deepEqual(await resolveChown(lp, 'lp'), { uid: 4, gid: 7 }, 'the primary group from /etc/passwd, not gid = uid');
  assert.deepEqual(await resolveChown(lp, '4'), { uid: 4, gid: 4 }, 'a lone id is both');
  assert.deepEqual(await resolveChown(lp, 'lp:staff'), { uid: 4, gid: 50 });
  assert.deepEqual(await resolveChown(lp, 'root:lp'), { uid: 0, gid: 7 });
});

test('COPY --chown / WORKDIR owner: unknown names leave root, as BuildKit (checked with Docker)', async () => {
  assert.deepEqual(await resolveChown(bb, 'ghost'), { uid: 0, gid: 0 });
  assert.deepEqual(await resolveChown(bb, 'user:ghostgroup'), { uid: 1000, gid: 1000 }, 'an unknown group keeps the user\'s gid');
  assert.deepEqual(await resolveChown(bb, '42:ghostgroup'), { uid: 42, gid: 42 });
  assert.deepEqual(await resolveChown([s.mkdir('no-etc-2')], 'ghost:ghostgroup'), { uid: 0, gid: 0 }, 'no passwd/group file at all');
  // `root` is 0 without a lookup (an image whose passwd lacks it still gets 0)
  assert.deepEqual(await resolveChown([s.mkdir('no-etc-3')], 'root:root'), { uid: 0, gid: 0 });
  await assert.rejects(resolveChown(bb, 'user:'), (e: unknown) => isTsbuildError(e) && e.code === 'INVALID');
});

test('/etc/passwd as a symlink to a host path resolves inside the rootfs (CVE-2024-9676)', async () => {
  const host = join(s.dir, 'host-passwd');
  writeFileSync(host, 'evil:x:7777:7777::/:/bin/sh\n');
  for (const target of [host, '../../../../../../../../..' + host]) {
    const top = layer(`evil-${target.length}`, { 'etc/passwd': ['symlink', target] });
    await assert.rejects(resolveUser([s.busybox, top], 'evil'), notFound);
    assert.equal(await readFileInRoot([s.busybox, top], '/etc/passwd'), null);
  }
  // a symlink that stays inside works, absolute targets meaning the image's root
  const inside = layer('inside', { 'etc/passwd': ['symlink', '/data/pw'], 'data/pw': 'in:x:12:13::/:/bin/sh\n' });
  assert.deepEqual((await resolveUser([s.busybox, inside], 'in')).uid, 12);
});

test('layers: whiteouts delete, opaque dirs hide the layers below', async () => {
  const wh = layer('wh', { 'etc/passwd': 'whiteout' });
  await assert.rejects(resolveUser([s.busybox, wh], 'user'), notFound);
  const opq = layer('opq', { etc: 'opaque-dir', 'etc/passwd': 'only:x:5:6::/:/bin/sh\n' });
  assert.equal((await resolveUser([s.busybox, opq], 'only')).uid, 5);
  // the group file of the lower layer is hidden by the opaque /etc
  assert.deepEqual((await resolveUser([s.busybox, opq], 'only')).groups, []);
  assert.equal(await readFileInRoot([s.busybox, opq], '/etc/group'), null);
  // and a later layer brings things back
  const back = layer('back', { 'etc/group': 'g:x:6:only\n' });
  assert.deepEqual((await resolveUser([s.busybox, opq, back], 'only')).groups, [6]);
});

test('lookups through directory symlinks, .. and link loops', async () => {
  const l = layer('links', { 'a/b/file': 'x', 'c': ['symlink', 'a/b'], 'loop1': ['symlink', '/loop2'], 'loop2': ['symlink', 'loop1'] });
  assert.equal((await readFileInRoot([s.busybox, l], '/c/file'))!.toString(), 'x');
  assert.equal((await readFileInRoot([s.busybox, l], '/../../a/./b/../b/file'))!.toString(), 'x');
  assert.equal((await lookupInRoot([s.busybox, l], '/c'))!.stats.isDirectory(), true);
  await assert.rejects(readFileInRoot([s.busybox, l], '/loop1'), (e: unknown) => isTsbuildError(e) && e.code === 'UNSAFE');
});
