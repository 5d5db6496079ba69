import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, constants, linkSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RootfsView } from '../../src/image/rootfs-view.js';
import { buildCopyLayer, copyInputsDigest, type CopyRequest } from '../../src/builder/steps/copy.js';
import { TsbuildError } from '../../src/errors.js';
import type { LayerEntry } from '../../src/image/layer-entry.js';
import { fsx } from '../../src/native/fsx.js';

const NOW = Date.UTC(2030, 0, 1);
const OLD = Date.UTC(2019, 1, 2);

/** A two-layer source stage (owners, setuid, links to `/` and out of the root, a whiteout) and an
 *  empty target image. */
function fixture() {
  const d = mkdtempSync(join(tmpdir(), 'copy-from-'));
  const base = join(d, 'base');
  const top = join(d, 'top');
  mkdirSync(join(base, 'home', 'bob'), { recursive: true });
  chownSync(join(base, 'home', 'bob'), 1234, 1234);
  writeFileSync(join(base, 'home', 'bob', 'f'), 'hi');
  chownSync(join(base, 'home', 'bob', 'f'), 1234, 77);
  writeFileSync(join(base, 'home', 'bob', 'deleted'), 'gone');
  writeFileSync(join(base, 'home', 'bob', 'tool'), 'suid');
  chmodSync(join(base, 'home', 'bob', 'tool'), 0o4711);
  utimesSync(join(base, 'home', 'bob', 'tool'), OLD / 1000, OLD / 1000);
  linkSync(join(base, 'home', 'bob', 'f'), join(base, 'home', 'bob', 'f2'));
  fsx().lsetxattr(join(base, 'home', 'bob', 'tool'), 'user.note', Buffer.from([1, 0, 0, 2]));
  fsx().lsetxattr(join(base, 'home', 'bob', 'tool'), 'trusted.overlay.origin', Buffer.from('overlay bookkeeping'));
  mkdirSync(join(base, 'etc'));
  writeFileSync(join(base, 'etc', 'passwd'), 'root:x:0:0:stage passwd:/root:/bin/sh\n');
  symlinkSync('/', join(base, 'rootlink'));
  symlinkSync('../../../../../../../..', join(base, 'uplink'));
  symlinkSync('/etc/passwd', join(base, 'pwlink'));
  mkdirSync(join(top, 'home', 'bob'), { recursive: true });
  chownSync(join(top, 'home', 'bob'), 1234, 1234);
  fsx().mknod(join(top, 'home', 'bob', 'deleted'), constants.S_IFCHR, 0, 0);
  writeFileSync(join(top, 'home', 'bob', 'later.txt'), 'later');
  const tgt = join(d, 'target');
  mkdirSync(tgt);
  return { d, stage: new RootfsView([top, base]), target: new RootfsView([tgt]), scratch: join(d, 'scratch'), base, top };
}

type Fx = ReturnType<typeof fixture>;

function req(f: Fx, over: Partial<CopyRequest>): CopyRequest {
  return { isAdd: false, sources: [], dest: '/', workdir: '/', from: { kind: 'image', view: f.stage }, nowMs: NOW, ...over };
}

function summary(entries: LayerEntry[]): string[] {
  return entries.map((e) => {
    let s = `${e.path} ${e.type} ${e.mode.toString(8)} ${e.uid}:${e.gid}`;
    if (e.linkname !== undefined) s += ` -> ${e.linkname}`;
    return s;
  });
}

test('copy --from: owners, modes (setuid), mtimes and hard links are kept; whiteouts hide files', async () => {
  const f = fixture();
  try {
    const out = await buildCopyLayer(req(f, { sources: ['/home/bob'], dest: '/bobhome/' }), f.target, f.scratch);
    assert.deepEqual(summary(out), [
      'bobhome dir 755 0:0', // created dest dir (Docker: the source dir's own metadata is not applied)
      'bobhome/f file 644 1234:77',
      'bobhome/f2 hardlink 644 1234:77 -> bobhome/f',
      'bobhome/later.txt file 644 0:0',
      'bobhome/tool file 4711 0:0',
    ]);
    const tool = out.find((e) => e.path === 'bobhome/tool')!;
    assert.equal(tool.mtimeMs, OLD);
    assert.deepEqual(tool.xattrs, { 'user.note': Buffer.from([1, 0, 0, 2]) }, 'xattrs kept, overlay bookkeeping dropped');
    assert.equal(readFileSync(tool.sourcePath!, 'utf8'), 'suid');
    const chowned = await buildCopyLayer(req(f, { sources: ['home/bob/f'], dest: '/x', chown: { uid: 9, gid: 9 } }), f.target, f.scratch);
    assert.deepEqual(summary(chowned), ['x file 644 9:9']);
    await assert.rejects(
      buildCopyLayer(req(f, { sources: ['/home/bob/deleted'], dest: '/x' }), f.target, f.scratch),
      (e) => e instanceof TsbuildError && e.code === 'NOT_FOUND' && /deleted/.test(e.message),
    );
    const globbed = await buildCopyLayer(req(f, { sources: ['/home/*/l*.txt', '/home/bob/de*'], dest: '/g/' }), f.target, f.scratch);
    assert.deepEqual(summary(globbed), ['g dir 755 0:0', 'g/later.txt file 644 0:0']);
  } finally {
    rmSync(f.d, { recursive: true, force: true });
  }
});

test('copy --from: a source through a link to / stays inside the stage rootfs (CVE-2024-1753 class)', async () => {
  const f = fixture();
  try {
    for (const src of ['/rootlink/etc/passwd', '/uplink/etc/passwd', '/pwlink', '../../rootlink/../etc/passwd']) {
      const out = await buildCopyLayer(req(f, { sources: [src], dest: '/copied' }), f.target, f.scratch);
      assert.equal(out.length, 1, src);
      assert.equal(out[0]!.sourcePath, join(f.base, 'etc', 'passwd'), src);
      assert.match(readFileSync(out[0]!.sourcePath!, 'utf8'), /stage passwd/);
    }
    // The whole "root" through the link is the stage's root, not the host's.
    const all = await buildCopyLayer(req(f, { sources: ['/rootlink/'], dest: '/all/' }), f.target, f.scratch);
    assert.ok(all.some((e) => e.path === 'all/etc/passwd'));
    assert.ok(all.some((e) => e.path === 'all/rootlink' && e.type === 'symlink' && e.linkname === '/'), 'inner links stay links');
    for (const e of all) if (e.sourcePath) assert.ok(e.sourcePath.startsWith(f.d + '/'), e.sourcePath);
    assert.ok(!all.some((e) => e.path.startsWith('all/proc') || e.path.startsWith('all/usr')), 'nothing of the host root');
  } finally {
    rmSync(f.d, { recursive: true, force: true });
  }
});

test('copy --from: the inputs digest follows content, not mtimes', async () => {
  const f = fixture();
  try {
    const r = req(f, { sources: ['/home/bob'], dest: '/b/' });
    const d0 = await copyInputsDigest(r);
    utimesSync(join(f.top, 'home', 'bob', 'later.txt'), 5, 5);
    assert.equal(await copyInputsDigest(r), d0);
    writeFileSync(join(f.top, 'home', 'bob', 'later.txt'), 'LATER');
    assert.notEqual(await copyInputsDigest(r), d0);
  } finally {
    rmSync(f.d, { recursive: true, force: true });
  }
});
