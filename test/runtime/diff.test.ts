import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRuntime, diffUpperDir } from '../../src/runtime/index.js';
import type { LayerEntry } from '../../src/image/layer-entry.js';
import { fsx } from '../../src/native/fsx.js';
import { isTsbuildError } from '../../src/errors.js';
import { layerTar } from '../../src/image/layer-writer.js';
import { extractLayer } from '../../src/image/layer-reader.js';
import { removeTree } from '../../src/image/remove-tree.js';
import { scratch, sink } from './rootfs-fixture.js';

const s = scratch();
after(() => s.cleanup());
const rt = createRuntime({ tmpDir: s.mkdir('runs') });

// a second layer with content to delete, replace and modify
const extra = s.mkdir('extra');
mkdirSync(join(extra, 'opq/sub'), { recursive: true });
writeFileSync(join(extra, 'opq/old1'), 'old');
writeFileSync(join(extra, 'opq/sub/old2'), 'old');
writeFileSync(join(extra, 'lowerfile'), 'lower');

async function runAndDiff(script: string): Promise<{ diff: LayerEntry[]; upper: string; release(): Promise<void> }> {
  const fs = await rt.prepare(s.mounts([s.busybox, extra]));
  const err = sink();
  const r = await rt.run(fs, { args: ['/bin/sh', '-c', script], env: [], network: 'none', stderr: err.fn });
  assert.equal(r.exitCode, 0, err.text());
  return { diff: await rt.diff(fs), upper: fs.upperDir, release: () => rt.release(fs) };
}

const byPath = (d: LayerEntry[]) => new Map(d.map((e) => [e.path, e]));

test('create, modify, delete, opaque dir, special bits, links and nodes', async () => {
  const run = await runAndDiff(`
    echo new > /newfile && chown 1000:50 /newfile
    echo changed >> /etc/passwd
    rm /etc/group
    cat /etc/hosts /bin/busybox /lowerfile > /dev/null; ls -la /home /usr/bin > /dev/null
    rm -rf /opq && mkdir /opq && echo fresh > /opq/fresh
    chmod u+s /lowerfile
    mkdir /sticky && chmod 1777 /sticky && mkdir /sgid && chmod 2750 /sgid
    ln /newfile /hardlink
    ln -s /etc/passwd /symlink
    mknod /mynull c 1 3
    mkfifo /fifo
  `);
  try {
    const d = run.diff;
    const m = byPath(d);
    // parents come before children
    for (const e of d) {
      const parent = e.path.includes('/') ? e.path.slice(0, e.path.lastIndexOf('/')) : '';
      if (parent) assert.ok(d.findIndex((x) => x.path === parent) < d.indexOf(e), `${parent} before ${e.path}`);
    }
    // created (with owner), modified (full new content), deleted (whiteout)
    const hl = [m.get('hardlink')!, m.get('newfile')!];
    assert.deepEqual(hl.map((e) => e.type).sort(), ['file', 'hardlink']);
    const file = hl.find((e) => e.type === 'file')!;
    const link = hl.find((e) => e.type === 'hardlink')!;
    assert.equal(link.linkname, file.path);
    assert.equal(readFileSync(file.sourcePath!, 'utf8'), 'new\n');
    assert.deepEqual([file.uid, file.gid, file.size], [1000, 50, 4]);
    assert.ok(readFileSync(m.get('etc/passwd')!.sourcePath!, 'utf8').endsWith('changed\n'));
    assert.equal(m.get('etc')?.type, 'dir');
    assert.deepEqual(m.get('etc/.wh.group'), { ...m.get('etc/.wh.group')!, type: 'file', size: 0 });
    assert.ok(!m.has('etc/group'));
    // only read: absent
    for (const p of ['etc/hosts', 'bin/busybox', 'bin', 'home', 'usr', 'usr/bin']) assert.ok(!m.has(p), `${p} in diff`);
    // rm -rf d; mkdir d -> opaque, without the old content
    assert.equal(m.get('opq')?.type, 'dir');
    assert.ok(m.has('opq/.wh..wh..opq'));
    assert.ok(m.has('opq/fresh'));
    assert.ok(!m.has('opq/old1') && !m.has('opq/sub'));
    // special bits
    assert.equal(m.get('lowerfile')!.mode, 0o4644);
    assert.equal(m.get('sticky')!.mode, 0o1777);
    assert.equal(m.get('sgid')!.mode, 0o2750);
    // symlink, device node, fifo
    assert.deepEqual([m.get('symlink')!.type, m.get('symlink')!.linkname], ['symlink', '/etc/passwd']);
    const node = m.get('mynull')!;
    assert.deepEqual([node.type, node.devmajor, node.devminor], ['char', 1, 3]);
    assert.equal(m.get('fifo')!.type, 'fifo');
    // overlayfs's bookkeeping never leaks
    for (const e of d) for (const x of Object.keys(e.xattrs ?? {})) assert.ok(!x.startsWith('trusted.overlay.'), `${e.path} ${x}`);
    // nothing else
    assert.deepEqual(
      d.map((e) => e.path).sort(),
      [
        'etc', 'etc/.wh.group', 'etc/passwd', 'fifo', 'hardlink', 'lowerfile', 'mynull', 'newfile', 'opq',
        'opq/.wh..wh..opq', 'opq/fresh', 'sgid', 'sticky', 'symlink',
      ].sort(),
    );
  } finally {
    await run.release();
  }
});

test('deleting a whole lower directory is one whiteout', async () => {
  const run = await runAndDiff('rm -rf /opq');
  try {
    assert.deepEqual(run.diff.map((e) => e.path), ['.wh.opq']);
  } finally {
    await run.release();
  }
});

test('xattrs such as security.capability written into the upper dir are kept', async () => {
  const run = await runAndDiff('echo x > /capfile');
  try {
    // VFS_CAP_REVISION_2 with CAP_NET_RAW (13) permitted and effective
    const cap = Buffer.alloc(20);
    cap.writeUInt32LE(0x02000001, 0);
    cap.writeUInt32LE(1 << 13, 4);
    fsx().lsetxattr(join(run.upper, 'capfile'), 'security.capability', cap);
    fsx().lsetxattr(join(run.upper, 'capfile'), 'user.note', Buffer.from('hello'));
    const d = await diffUpperDir(run.upper);
    const e = d.find((x) => x.path === 'capfile')!;
    assert.deepEqual(Object.keys(e.xattrs ?? {}).sort(), ['security.capability', 'user.note']);
    assert.deepEqual(e.xattrs!['security.capability'], cap);
    assert.equal(e.xattrs!['user.note']!.toString(), 'hello');
  } finally {
    await run.release();
  }
});

test('files named like whiteouts cannot be stored', async () => {
  const fs = await rt.prepare(s.mounts([s.busybox]));
  try {
    await rt.run(fs, { args: ['touch', '/.wh.sneaky'], env: [], network: 'none' });
    await assert.rejects(rt.diff(fs), (e: unknown) => isTsbuildError(e) && e.code === 'INVALID');
  } finally {
    await rt.release(fs);
  }
});

test('an empty upper dir diffs to nothing', async () => {
  assert.deepEqual(await diffUpperDir(s.mkdir('empty-upper')), []);
});

/* Every path of the merged rootfs with type, mode, owner, size, link target and content hash. */
const LISTING =
  "find / -xdev ! -path /etc/hosts ! -path /etc/resolv.conf ! -path /etc/hostname | sort | while read -r p; do " +
  "echo \"$(stat -c '%n %F %a %u %g %s %t:%T' \"$p\") $( [ -L \"$p\" ] && readlink \"$p\")" +
  " $( [ -f \"$p\" ] && [ ! -L \"$p\" ] && md5sum < \"$p\")\"; done";

test('round trip: lowers + the diff as a layer show exactly what the run left behind', async () => {
  const fs = await rt.prepare(s.mounts([s.busybox, extra]));
  const out = sink();
  const err = sink();
  try {
    const r = await rt.run(fs, {
      args: ['/bin/sh', '-c', `
        set -e
        echo new > /newfile; chown 1000:50 /newfile; ln /newfile /hardlink; ln -s ../etc/passwd /symlink
        echo changed >> /etc/passwd; rm /etc/group /bin/ls; rm -rf /opq; mkdir /opq; echo fresh > /opq/fresh
        chmod u+s /lowerfile; mkdir -p /a/b/c; chmod 700 /a/b; mknod /mynull c 1 3; mkfifo /fifo
        rm -rf /home/user; mkdir /home/user2
        ${LISTING}`],
      env: [],
      network: 'none',
      stdout: out.fn,
      stderr: err.fn,
    });
    assert.equal(r.exitCode, 0, err.text());
    // the diff, written as a layer tar and unpacked as a snapshot, stacked on the same lowers
    const layer = s.mkdir('roundtrip-layer');
    await extractLayer(layerTar(await rt.diff(fs)), layer, { mode: 'snapshot' });
    const fs2 = await rt.prepare(s.mounts([s.busybox, extra, layer]));
    const out2 = sink();
    try {
      const r2 = await rt.run(fs2, { args: ['/bin/sh', '-c', LISTING], env: [], network: 'none', stdout: out2.fn, stderr: err.fn });
      assert.equal(r2.exitCode, 0, err.text());
      assert.ok(out.text().split("\n").length > 200);
      assert.equal(out2.text(), out.text());
    } finally {
      await rt.release(fs2);
    }
  } finally {
    await rt.release(fs);
  }
});

test('a tree deeper than PATH_MAX is refused with a clear error, and release removes the run dir', async () => {
  const runs = s.mkdir('deep-runs');
  const deepRt = createRuntime({ tmpDir: runs });
  const mounts = s.mounts([s.busybox]);
  const fs = await deepRt.prepare(mounts);
  try {
    const name = 'd'.repeat(30);
    const r = await deepRt.run(fs, { args: ['/bin/sh', '-c', `mkdir /deep && cd /deep && n=0; while [ $n -lt 200 ]; do mkdir ${name} && cd ${name}; n=$((n+1)); done; echo x > f`], env: [], network: 'none' });
    assert.equal(r.exitCode, 0);
    await assert.rejects(deepRt.diff(fs), (e: unknown) => isTsbuildError(e) && e.code === 'INVALID' && /path of \d+ bytes \(\/deep\/d+\/.*up to 3840 bytes/.test(e.message));
  } finally {
    await deepRt.release(fs);
  }
  assert.deepEqual(readdirSync(runs), [], 'the run dir was left behind');
  assert.equal(existsSync(fs.dir), false);
  assert.equal(existsSync(fs.upperDir), true, "the snapshot's upper dir is the snapshotter's to remove (test/image/snapshots.test.ts)");
  await removeTree(mounts.dir);
});
