/**
 * The donor index file (snapshot-writer.ts DonorIndex): a log of groups. A save appends only the
 * files a snapshot wrote (a one-file rebuild appends one record), later lines override earlier
 * ones, a torn last line (a killed append) is skipped, an older whole-JSON file is still read and
 * is rewritten as a log, and a long log is rewritten whole.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DonorIndex, type DonorCopy } from '../../src/image/snapshot-writer.js';

const SNAP1 = 'a'.repeat(64), SNAP2 = 'b'.repeat(64), BLOB1 = 'c'.repeat(64), BLOB2 = 'd'.repeat(64);

function open(w: string): DonorIndex {
  let n = 0;
  return new DonorIndex((hex) => join(w, 'snaps', hex), join(w, 'meta'), join(w, 'ctx'), () => join(w, 'tmp', `t${n++}`), (hex) => join(w, 'blobs', hex));
}
const file = (w: string) => join(w, 'meta', 'copy-donors', readdirSync(join(w, 'meta', 'copy-donors'))[0]!);
const copy = (name: string, id: string, offset: number): DonorCopy => [`/W/ctx/${name}`, id, `app/${name}`, '10:420:0:0:1', offset];

test('a save appends what the snapshot wrote; later lines win; a torn line is skipped', () => {
  const w = mkdtempSync(join(tmpdir(), 'tsb-donors-'));
  try {
    mkdirSync(join(w, 'tmp'));
    const fix = (c: DonorCopy): DonorCopy => [c[0].replace('/W', w), c[1], c[2], c[3], c[4]];
    const first = open(w);
    first.save(['a', 'b', 'c'].map((n, i) => fix(copy(n, `id-${n}`, 512 * (i + 1)))), SNAP1, BLOB1);
    const lines1 = readFileSync(file(w), 'utf8').split('\n');
    assert.equal(lines1[0], 'tsbuild-donors 4');
    assert.equal(lines1.filter((l) => l !== '').length, 2, 'the head and one group');
    // a one-file change: only b was written again, into the second snapshot
    const second = open(w);
    assert.equal(second.find(join(w, 'ctx', 'b'), 'id-b', '10:420:0:0:1', 10)?.path, join(w, 'snaps', SNAP1, 'app', 'b'));
    const before = readFileSync(file(w), 'utf8');
    second.save([fix(copy('b', 'id-b2', 1024))], SNAP2, BLOB2);
    const text = readFileSync(file(w), 'utf8');
    assert.ok(text.startsWith(before), 'appended to, not rewritten');
    assert.equal(text.split('\n').filter((l) => l !== '').length, 3, 'one line appended');
    assert.ok(text.endsWith(`${JSON.stringify([SNAP2, BLOB2, ['b', 'id-b2', 'app/b', '10:420:0:0:1', 1024]])}\n`));
    appendFileSync(file(w), '["torn'); // a killed append
    const third = open(w);
    assert.equal(third.find(join(w, 'ctx', 'b'), 'id-b', '10:420:0:0:1', 10), undefined, 'the old identity is gone');
    assert.equal(third.find(join(w, 'ctx', 'b'), 'id-b2', '10:420:0:0:1', 10)?.path, join(w, 'snaps', SNAP2, 'app', 'b'));
    assert.equal(third.find(join(w, 'ctx', 'a'), 'id-a', '10:420:0:0:1', 10)?.path, join(w, 'snaps', SNAP1, 'app', 'a'), 'linked files keep their donor');
    third.close();
  } finally {
    rmSync(w, { recursive: true, force: true });
  }
});

test('an older whole-JSON index is read and rewritten as a log; a long log is rewritten whole', () => {
  const w = mkdtempSync(join(tmpdir(), 'tsb-donors-'));
  try {
    mkdirSync(join(w, 'tmp'));
    // make the file's name, then put a version-3 file there
    open(w).save([[join(w, 'ctx', 'x'), 'id-x', 'app/x', 'k', 0]], SNAP1, BLOB1);
    writeFileSync(file(w), JSON.stringify({ v: 3, groups: [[SNAP1, BLOB1, ['a', 'id-a', 'app/a', 'k', 512]]] }));
    const old = open(w);
    assert.equal(old.find(join(w, 'ctx', 'a'), 'id-a', 'k', 1)?.path, join(w, 'snaps', SNAP1, 'app', 'a'));
    old.save([[join(w, 'ctx', 'b'), 'id-b', 'app/b', 'k', 1024]], SNAP2, BLOB2);
    let lines = readFileSync(file(w), 'utf8').split('\n').filter((l) => l !== '');
    assert.deepEqual(lines, ['tsbuild-donors 4', JSON.stringify([SNAP1, BLOB1, ['a', 'id-a', 'app/a', 'k', 512]]), JSON.stringify([SNAP2, BLOB2, ['b', 'id-b', 'app/b', 'k', 1024]])]);
    const idx = open(w);
    for (let i = 0; i < 250; i++) idx.save([[join(w, 'ctx', `f${i % 3}`), `id-${i}`, `app/f${i % 3}`, 'k', i]], i % 2 ? SNAP1 : SNAP2, BLOB1);
    lines = readFileSync(file(w), 'utf8').split('\n').filter((l) => l !== '');
    assert.ok(lines.length < 100, `rewritten whole at some point (${lines.length} lines)`);
    const last = open(w);
    // the last records survive the rewrites: f0 last written at 249, f1 at 247 (odd: SNAP1)
    assert.equal(last.find(join(w, 'ctx', 'f0'), 'id-249', 'k', 1)?.path, join(w, 'snaps', SNAP1, 'app', 'f0'));
    assert.equal(last.find(join(w, 'ctx', 'f1'), 'id-247', 'k', 1)?.path, join(w, 'snaps', SNAP1, 'app', 'f1'));
    assert.equal(last.find(join(w, 'ctx', 'f1'), 'id-244', 'k', 1), undefined, 'an older identity is gone');
  } finally {
    rmSync(w, { recursive: true, force: true });
  }
});

test("a file's identity is the same from lstat and from a native listing's row; it changes with the content", async () => {
  const { identityOfRow, sourceIdentity } = await import('../../src/image/snapshot-writer.js');
  const { fsx, LSTAT_FIELDS } = await import('../../src/native/fsx.js');
  const w = mkdtempSync(join(tmpdir(), 'tsb-donors-'));
  try {
    writeFileSync(join(w, 'f'), 'one');
    const rowOf = () => {
      const { names, stats } = fsx().lstatDir(w);
      return identityOfRow(stats, names.indexOf('f') * LSTAT_FIELDS);
    };
    const before = sourceIdentity(join(w, 'f'));
    assert.ok(before && before.length > 40);
    assert.equal(rowOf(), before);
    writeFileSync(join(w, 'f'), 'three'); // (another size: a same-size rewrite may fall in the same timestamp tick)
    assert.notEqual(sourceIdentity(join(w, 'f')), before);
    assert.equal(rowOf(), sourceIdentity(join(w, 'f')));
  } finally {
    rmSync(w, { recursive: true, force: true });
  }
});
