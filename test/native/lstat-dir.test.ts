/**
 * fsx.lstatDir, the context walk's one-call-per-directory listing: every name but `.`/`..`, and
 * for each exactly the lstat fields Node reports (so checksum-cache keys made either way agree).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { constants, lstatSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { constants as os, tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { fsx, LSTAT_FIELDS, LstatField } from '../../src/native/fsx.js';

test('lstatDir lists every entry with the lstat fields Node reports', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsb-lstatdir-'));
  try {
    writeFileSync(join(dir, 'file'), 'x'.repeat(1234));
    mkdirSync(join(dir, 'sub'));
    symlinkSync('file', join(dir, 'link'));
    symlinkSync('/nowhere', join(dir, 'dangling'));
    execFileSync('mkfifo', [join(dir, 'fifo')]);
    fsx().mknod(join(dir, 'null'), constants.S_IFCHR | 0o666, 1, 3);
    for (let i = 0; i < 200; i++) writeFileSync(join(dir, `many-${i}`), String(i)); // past the first buffer size
    const { names, stats } = fsx().lstatDir(dir);
    assert.equal(stats.length, names.length * LSTAT_FIELDS);
    assert.deepEqual([...names].sort(), ['dangling', 'fifo', 'file', 'link', 'null', 'sub', ...Array.from({ length: 200 }, (_, i) => `many-${i}`)].sort());
    names.forEach((n, i) => {
      const st = lstatSync(join(dir, n), { bigint: true });
      const o = i * LSTAT_FIELDS;
      for (const [field, at] of Object.entries(LstatField)) {
        assert.equal(stats[o + at], st[field as keyof typeof LstatField], `${n}.${field}`);
      }
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('lstatDir errors carry E<errno> codes', () => {
  assert.throws(() => fsx().lstatDir('/nonexistent-tsbuild-dir'), (e: NodeJS.ErrnoException) => e.code === `E${os.errno.ENOENT}`);
  assert.throws(() => fsx().lstatDir('/etc/hostname'), (e: NodeJS.ErrnoException) => e.code === `E${os.errno.ENOTDIR}`);
});
