/**
 * A container started again while its previous run's exit command (`tsbuild container cleanup ID`,
 * executed by the old monitor after it wrote its exit file) is still pending, then `rm -f` at once:
 * Docker's rm -f kills whatever runs, so no monitor, PID 1, runtime dir or rule may survive, and the
 * old run's late cleanup must not touch the new run. TSBUILD_TEST_CLEANUP_DELAY_MS holds the exit
 * command back (as a loaded machine does) so the race is hit every time.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { useContainerStore } from '../helpers/containers.js';
import { runCli } from '../helpers/cli.js';
import { RUN_ROOT, freePort, processAlive, rulesFor } from './leftovers.js';

const base = useContainerStore();
const DELAY = 2500;
const run = (...args: string[]) => runCli(['--root', base.root, ...args], { env: { TSBUILD_TEST_CLEANUP_DELAY_MS: String(DELAY) } });

async function until(fn: () => boolean, ms: number): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 25))) if (fn()) return true;
  return fn();
}

test('start while the previous run cleans up, then rm -f: nothing of the container survives', { timeout: 180_000 }, async () => {
  const port = await freePort();
  const c = await run('run', '-d', '--name', 'race', '-p', `127.0.0.1:${port}:80`, 'busybox', 'sleep', '600');
  assert.equal(c.code, 0, c.stderr);
  const id = c.stdout.trim();
  const rd = join(RUN_ROOT, id);
  const pids: number[] = [];
  let oldExit = '';
  for (let i = 0; i < 2; i++) {
    const [mon, , child] = readFileSync(join(rd, 'monitor'), 'utf8').split(' ').map(Number);
    pids.push(mon!, child!);
    process.kill(child!, 'SIGKILL');
    // the old monitor wrote its exit file and now runs its (held back) exit command: start again now
    assert.ok(await until(() => existsSync(join(rd, 'exit')), 30_000), 'the monitor writes its exit file');
    oldExit = readFileSync(join(rd, 'exit'), 'utf8');
    const s = await run('start', 'race');
    assert.equal(s.code, 0, s.stderr);
    const st = await run('inspect', '--format', '{{.State.Running}}', 'race');
    assert.equal(st.stdout, 'true\n', `run ${i + 2} is up`);
  }
  const [mon, , child] = readFileSync(join(rd, 'monitor'), 'utf8').split(' ').map(Number);
  pids.push(mon!, child!);
  // an exit file of an older run found in the new run's dir (what a late exit command of the old
  // run could leave) does not end the new run, and rm -f kills the run whatever it says
  writeFileSync(join(rd, 'exit'), oldExit);
  assert.equal((await run('inspect', '--format', '{{.State.Running}} {{.State.Pid}}', 'race')).stdout, `true ${child}\n`);
  const rm = await run('rm', '-f', 'race');
  assert.equal(rm.code, 0, rm.stderr);
  // the held-back cleanups finish; then nothing of any run is left
  assert.ok(await until(() => pids.every((p) => !processAlive(p)), DELAY * 4 + 20_000), `monitors or PID 1 alive: ${pids.filter(processAlive).join(' ')}`);
  assert.equal(existsSync(rd), false, `runtime dir left: ${existsSync(rd) ? spawnSync('ls', [rd], { encoding: 'utf8' }).stdout : ''}`);
  assert.deepEqual(rulesFor(port), []);
  assert.equal((await run('ps', '-aq')).stdout, '');
});
