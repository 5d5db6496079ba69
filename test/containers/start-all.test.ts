/**
 * `start --all [--filter restart=...]` after a simulated reboot (each container's monitor killed,
 * so no exit command ran and the state reads Exited (255)): `always` comes back, `unless-stopped`
 * only when the user did not stop it, no policy and never-started containers stay as they are;
 * the filters narrow the choice.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useContainerStore } from '../helpers/containers.js';
import { holdings, processAlive } from './leftovers.js';
import { startsAtBoot } from '../../src/containers/restart.js';

const base = useContainerStore();
const run = base.run;

test('which policies come back at boot (dockerd restore)', () => {
  const s = (o: Partial<{ everStarted: boolean; exitCode: number; restartCount: number; manualStop: boolean }> = {}) => ({ everStarted: true, exitCode: 255, restartCount: 0, manualStop: false, ...o });
  assert.equal(startsAtBoot({ Name: 'always', MaximumRetryCount: 0 }, s({ manualStop: true })), true);
  assert.equal(startsAtBoot({ Name: 'unless-stopped', MaximumRetryCount: 0 }, s({ manualStop: true })), false);
  assert.equal(startsAtBoot({ Name: 'unless-stopped', MaximumRetryCount: 0 }, s()), true);
  assert.equal(startsAtBoot({ Name: 'on-failure', MaximumRetryCount: 2 }, s({ restartCount: 2 })), false);
  assert.equal(startsAtBoot({ Name: 'on-failure', MaximumRetryCount: 0 }, s({ exitCode: 0 })), false);
  assert.equal(startsAtBoot({ Name: 'always', MaximumRetryCount: 0 }, s({ everStarted: false })), false);
  assert.equal(startsAtBoot({ Name: 'no', MaximumRetryCount: 0 }, s()), false);
});

test('after a simulated reboot: always, then unless-stopped not stopped by the user', { timeout: 240_000 }, async () => {
  const ids: Record<string, string> = {};
  for (const [name, policy] of [['sa', 'always'], ['sb', 'unless-stopped'], ['sc', 'unless-stopped'], ['sd', 'no']] as const) {
    const r = await run('run', '-d', '--name', name, '--restart', policy, '--network', 'none', 'busybox', 'sleep', '600');
    assert.equal(r.code, 0, r.stderr);
    ids[name] = r.stdout.trim();
  }
  assert.equal((await run('create', '--name', 'sf', '--restart', 'always', '--network', 'none', 'busybox', 'sleep', '600')).code, 0);
  assert.equal((await run('stop', '-t', '0', 'sc')).code, 0);

  // the "reboot": monitors killed first (so no exit command applies a policy), then the commands
  for (const name of ['sa', 'sb', 'sd']) {
    const pid1 = Number((await run('inspect', '--format', '{{.State.Pid}}', name)).stdout);
    const mon = holdings(base.root, ids[name]!).monitorPid;
    process.kill(mon, 'SIGKILL');
    for (let i = 0; i < 200 && (processAlive(mon) || processAlive(pid1)); i++) await new Promise((r) => setTimeout(r, 25));
    assert.equal(processAlive(pid1), false);
  }
  const states = async () => (await run('ps', '-a', '--format', '{{.Names}} {{.State}}')).stdout.trim().split('\n').sort();
  assert.deepEqual(await states(), ['sa exited', 'sb exited', 'sc exited', 'sd exited', 'sf created']);
  assert.equal((await run('inspect', '--format', '{{.State.ExitCode}} {{.State.Running}}', 'sa')).stdout, '255 false\n');

  const always = await run('start', '--all', '--filter', 'restart=always');
  assert.deepEqual([always.code, always.stdout, always.stderr], [0, 'sa\n', '']);
  assert.deepEqual(await states(), ['sa running', 'sb exited', 'sc exited', 'sd exited', 'sf created']);

  const both = await run('start', '--all', '--filter', 'restart=always', '--filter', 'restart=unless-stopped');
  assert.deepEqual([both.code, both.stdout], [0, 'sb\n']);
  const rest = await run('start', '--all');
  assert.deepEqual([rest.code, rest.stdout], [0, '']);
  assert.deepEqual(await states(), ['sa running', 'sb running', 'sc exited', 'sd exited', 'sf created']);

  const bad = await run('start', '--all', '--filter', 'restart=sometimes');
  assert.deepEqual([bad.code, bad.stderr], [1, "tsbuild: Invalid filter 'restart=sometimes'\n"]);
  const mixed = await run('start', '--all', 'sd');
  assert.equal(mixed.code, 1);
  assert.equal((await run('inspect', '--format', '{{.State.Running}}', 'sd')).stdout, 'false\n');
});
