/**
 * `pause`/`unpause` and `commit`'s pause on real containers: the cgroup freezer stops every
 * process (a counter loop stands still), ps shows `Up ... (Paused)` and inspect `paused`, Docker's
 * errors; `commit` freezes a running container while it reads the layer and thaws it again,
 * also when the commit fails, not with `-p=false`; a paused container can be stopped and removed,
 * leaving nothing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { useContainerStore } from '../helpers/containers.js';
import { assertNothingLeft, holdings, layerDir } from './leftovers.js';
import { ImageStore } from '../../src/image/store.js';
import { Containers } from '../../src/containers/containers.js';
import { commitContainer } from '../../src/containers/commit.js';
import { isPaused } from '../../src/containers/pause.js';

const base = useContainerStore();
const run = base.run;

test('pause, unpause, commit frozen and thawed, stop and rm -f of a paused container', { timeout: 240_000 }, async () => {
  const r = await run('run', '-d', '--name', 'pz', '--network', 'none', 'busybox', 'sh', '-c', 'i=0; while true; do i=$((i+1)); printf "%08d\\n" $i 1<> /tmp/n; usleep 20000; done');
  assert.equal(r.code, 0, r.stderr);
  const id = r.stdout.trim();
  const counter = () => {
    try {
      return readFileSync(join(layerDir(base.root, id), 'upper', 'tmp', 'n'), 'utf8');
    } catch {
      return '';
    }
  };
  /** Resolves once the counter moved (the container runs). */
  const moves = async () => {
    const first = counter();
    for (let i = 0; i < 400; i++) {
      await new Promise((res) => setTimeout(res, 25));
      if (counter() !== first && counter() !== '') return true;
    }
    return false;
  };
  assert.equal(await moves(), true);

  assert.deepEqual(await run('pause', 'pz').then((x) => [x.code, x.stdout]), [0, 'pz\n']);
  assert.match((await run('ps', '--format', '{{.Names}} {{.Status}} {{.State}}')).stdout, /^pz Up .+ \(Paused\) paused\n$/);
  assert.equal((await run('inspect', '--format', '{{.State.Status}} {{.State.Paused}} {{.State.Running}}', 'pz')).stdout, 'paused true true\n');
  const still = counter();
  await new Promise((res) => setTimeout(res, 300));
  assert.equal(counter(), still, 'a frozen loop writes nothing');
  const frozenExec = await run('exec', 'pz', 'true');
  // the name as typed, as dockerd's
  assert.deepEqual([frozenExec.code, frozenExec.stderr], [1, 'tsbuild: Container pz is paused, unpause the container before exec\n']);
  const again = await run('pause', 'pz');
  assert.deepEqual([again.code, again.stderr], [1, `tsbuild: Container ${id} is already paused\n`]);
  assert.deepEqual(await run('unpause', 'pz').then((x) => [x.code, x.stdout]), [0, 'pz\n']);
  assert.equal(await moves(), true);
  const notPaused = await run('unpause', 'pz');
  assert.deepEqual([notPaused.code, notPaused.stderr], [1, `tsbuild: Container ${id} is not paused\n`]);

  // commit: frozen while the layer is read, running again after; a failure thaws it too. The loop
  // rewrites /tmp/n in place at one size: a file truncated while -p=false reads it would fail the
  // commit (Docker's tar writer fails alike), which is not what this test is about.
  const c = new Containers(await ImageStore.open(base.root));
  const frozenDuring: boolean[] = [];
  const look = async () => void frozenDuring.push(isPaused(await c.find('pz')));
  const img = await commitContainer(c, 'pz', { changes: [], beforeRead: look });
  assert.match(img.id, /^sha256:/);
  await commitContainer(c, 'pz', { changes: [], pause: false, beforeRead: look });
  await assert.rejects(commitContainer(c, 'pz', { changes: [], beforeRead: () => { throw new Error('reading failed'); } }), /reading failed/);
  assert.deepEqual(frozenDuring, [true, false]);
  assert.equal(isPaused(await c.find('pz')), false);
  assert.equal(await moves(), true);
  const cli = await run('commit', '-p=false', 'pz', 'pz-image:1');
  assert.equal(cli.code, 0, cli.stderr);
  assert.equal((await run('commit', '--pause=true', 'pz')).code, 0);

  // a paused container stops (thawed for its signal) and cannot be paused once stopped
  assert.equal((await run('pause', 'pz')).code, 0);
  assert.equal((await run('stop', '-t', '1', 'pz')).code, 0);
  assert.equal((await run('inspect', '--format', '{{.State.Status}} {{.State.Paused}}', 'pz')).stdout, 'exited false\n');
  const stopped = await run('pause', 'pz', 'nosuch');
  assert.deepEqual([stopped.code, stopped.stderr], [1, `tsbuild: Container ${id} is not running\ntsbuild: No such container: nosuch\n`]);

  // rm -f of a paused container leaves nothing
  for (const args of [['start', 'pz'], ['pause', 'pz']]) {
    const r = await run(...args);
    assert.equal(r.code, 0, r.stderr);
  }
  const h = holdings(base.root, id);
  const removed = await run('rm', '-f', 'pz');
  assert.equal(removed.code, 0, removed.stderr);
  await assertNothingLeft(base.root, h);
});
