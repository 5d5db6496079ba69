import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, existsSync, statSync, readFileSync, mkdirSync, createReadStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { ImageStore, writeLayer, snapshotChain, chainIds, emptyConfig, type LayerEntry } from '../../src/image/index.js';
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
