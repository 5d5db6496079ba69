/**
 * fsx.statDirKey, the fingerprint of a directory's listing that keys a directory's content digest
 * in the checksum cache: it must change with every entry created, removed, renamed, rewritten,
 * chmod-ed or touched, and not with the readdir order or with anything deeper than the listing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { constants as os, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fsx } from '../../src/native/fsx.js';

const lanes = (dir: string) => {
  const { key } = fsx().statDirKey(dir);
  return `${key[0]}:${key[1]}`;
};

test('statDirKey changes with any entry of the listing, and names the subdirectories', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsb-statdirkey-'));
  try {
    for (let i = 0; i < 50; i++) writeFileSync(join(dir, `f${i}`), String(i));
    mkdirSync(join(dir, 'sub'));
    mkdirSync(join(dir, 'sub2'));
    const r = fsx().statDirKey(dir);
    assert.deepEqual([...r.subdirs].sort(), ['sub', 'sub2']);
    assert.equal(r.key[3], 52n, 'entry count');
    const newest = [...Array(50).keys()].map((i) => statSync(join(dir, `f${i}`), { bigint: true })).reduce((a, s) => (s.ctimeNs > a ? s.ctimeNs : a), 0n);
    assert.ok(r.key[2]! >= newest, 'newest mtime/ctime covers every entry');
    const seen = new Set([lanes(dir)]);
    assert.equal(lanes(dir), lanes(dir), 'stable');
    const changed = (what: string) => {
      const k = lanes(dir);
      assert.ok(!seen.has(k), what);
      seen.add(k);
    };
    writeFileSync(join(dir, 'sub', 'deep'), 'x'); // changes sub's own mtime, so the listing too
    changed('entry added in a subdirectory');
    writeFileSync(join(dir, 'f1'), '1'); // same size, same bytes: new mtime
    changed('rewritten');
    chmodSync(join(dir, 'f2'), 0o600);
    changed('chmod');
    utimesSync(join(dir, 'f3'), new Date(2000, 0, 1), new Date(2000, 0, 1));
    changed('touched');
    renameSync(join(dir, 'f4'), join(dir, 'g4'));
    changed('renamed');
    writeFileSync(join(dir, 'new'), '');
    changed('created');
    rmSync(join(dir, 'f5'));
    changed('removed');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('statDirKey errors carry E<errno> codes', () => {
  assert.throws(() => fsx().statDirKey('/nonexistent-tsbuild-dir'), (e: NodeJS.ErrnoException) => e.code === `E${os.errno.ENOENT}`);
  assert.throws(() => fsx().statDirKey('/etc/hostname'), (e: NodeJS.ErrnoException) => e.code === `E${os.errno.ENOTDIR}`);
});

test('statDirKey with the listing: the same key, and names and lstat rows as lstatDir gives them (names NUL-terminated, UTF-8)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsb-statdirkey-'));
  try {
    for (let i = 0; i < 300; i++) writeFileSync(join(dir, `file-${i}-${'x'.repeat(i % 40)}`), String(i));
    writeFileSync(join(dir, 'naïve-ünïcode'), 'u');
    mkdirSync(join(dir, 'sub'));
    const plain = fsx().statDirKey(dir);
    const listed = fsx().statDirKey(dir, true);
    const lst = fsx().lstatDir(dir);
    assert.deepEqual([...listed.key], [...plain.key]);
    assert.deepEqual(listed.subdirs, ['sub']);
    const names = listed.names.toString('utf8').split('\0');
    assert.equal(names.pop(), '', 'every name NUL-terminated');
    assert.deepEqual(names, lst.names);
    assert.equal(names.length, 302);
    assert.deepEqual([...listed.stats], [...lst.stats]);
    assert.equal(fsx().statDirKey(join(dir, 'sub'), true).names.length, 0, 'an empty dir: an empty buffer');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
