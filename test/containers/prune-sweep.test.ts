/**
 * `container prune` also removes runtime dirs nobody will remove (as each monitor does for its
 * siblings, test/containers/orphans.test.ts): a dir whose `record` names a record that is gone and
 * whose monitor is dead; one whose record exists, whose monitor lives, or without a record file
 * is left alone.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { useContainerStore } from '../helpers/containers.js';
import { processIdentity } from '../../src/runtime/proc-stat.js';
import { RUN_ROOT } from './leftovers.js';

const base = useContainerStore();

test('container prune removes runtime dirs whose record is gone and whose monitor is dead, and no other', { timeout: 60_000 }, async () => {
  const elsewhere = mkdtempSync(join(tmpdir(), 'tsb-prune-sweep-'));
  const made: string[] = [];
  const runDir = (record: string | undefined, monitor: string | undefined) => {
    const id = randomBytes(32).toString('hex');
    const rd = join(RUN_ROOT, id);
    mkdirSync(rd, { recursive: true, mode: 0o700 });
    made.push(rd);
    if (record !== undefined) writeFileSync(join(rd, 'record'), `${record.replace('ID', id)}\n`);
    if (monitor !== undefined) writeFileSync(join(rd, 'monitor'), monitor);
    return rd;
  };
  try {
    const dead = '4194301 12345 0 0';
    const orphan = runDir(join(elsewhere, 'deleted-store', 'containers', 'ID'), dead);
    const noMonitor = runDir(join(elsewhere, 'deleted-store', 'containers', 'ID'), undefined);
    const recordKept = runDir(join(elsewhere, 'containers', 'ID'), dead);
    mkdirSync(join(elsewhere, 'containers', recordKept.slice(-64)), { recursive: true });
    const live = runDir(join(elsewhere, 'deleted-store', 'containers', 'ID'), `${processIdentity(process.pid)} 0 0`);
    const unjudged = runDir(undefined, dead);
    const otherName = runDir(join(elsewhere, 'deleted-store', 'containers', 'not-its-id'), dead);

    await base.ok('container', 'prune', '-f');
    assert.equal(existsSync(orphan), false, 'record gone, monitor dead: removed');
    assert.equal(existsSync(noMonitor), false, 'record gone, never a monitor: removed');
    assert.ok(existsSync(recordKept), 'its record exists');
    assert.ok(existsSync(live), 'its monitor lives');
    assert.ok(existsSync(unjudged), 'no record file: not judged');
    assert.ok(existsSync(otherName), 'a record not named after the dir: not judged');
  } finally {
    for (const d of made) rmSync(d, { recursive: true, force: true });
    rmSync(elsewhere, { recursive: true, force: true });
  }
});
