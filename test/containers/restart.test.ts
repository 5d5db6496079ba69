/**
 * Restart policies on real containers, applied from the monitor's exit path (no daemon):
 * on-failure:N restarts N times and stays Exited, always restarts with Docker's back-off and shows
 * Restarting, a user stop ends it, --restart with --rm is refused (125); plus the pure policy and
 * back-off rules.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useContainerStore } from '../helpers/containers.js';
import { nextDelay, parseRestartPolicy, shouldRestart } from '../../src/containers/restart.js';

const base = useContainerStore();
const run = base.run;

test('policies and back-off as Docker', () => {
  assert.deepEqual(parseRestartPolicy('on-failure:3'), { Name: 'on-failure', MaximumRetryCount: 3 });
  assert.deepEqual(parseRestartPolicy('unless-stopped'), { Name: 'unless-stopped', MaximumRetryCount: 0 });
  assert.throws(() => parseRestartPolicy('always:2'), /maximum retry count cannot be used with restart policy 'always'/);
  assert.throws(() => parseRestartPolicy('sometimes'), /unknown policy 'sometimes'/);
  const s = (exitCode: number, restartCount = 0, manualStop = false) => ({ exitCode, restartCount, manualStop });
  assert.equal(shouldRestart({ Name: 'on-failure', MaximumRetryCount: 2 }, s(1, 1)), true);
  assert.equal(shouldRestart({ Name: 'on-failure', MaximumRetryCount: 2 }, s(1, 2)), false);
  assert.equal(shouldRestart({ Name: 'on-failure', MaximumRetryCount: 0 }, s(0)), false);
  assert.equal(shouldRestart({ Name: 'always', MaximumRetryCount: 0 }, s(0)), true);
  assert.equal(shouldRestart({ Name: 'always', MaximumRetryCount: 0 }, s(0, 0, true)), false);
  assert.deepEqual([nextDelay(undefined, 0), nextDelay(100, 50), nextDelay(40_000, 50), nextDelay(3200, 10_000)], [100, 200, 60_000, 100]);
});

test('on-failure:N, always with its back-off, a user stop ends restarts, --restart --rm refused', { timeout: 120_000 }, async () => {
  const rm = await run('run', '--rm', '--restart', 'always', 'busybox', 'true');
  assert.deepEqual([rm.code, rm.stderr], [125, 'tsbuild: Conflicting options: --restart and --rm\n']);
  assert.equal((await run('run', '-d', '--name', 'fail', '--restart', 'on-failure:2', '--network', 'none', 'busybox', 'sh', '-c', 'exit 3')).code, 0);
  assert.equal((await run('run', '-d', '--name', 'alw', '--restart', 'always', '--network', 'none', 'busybox', 'true')).code, 0);
  // on-failure:2 → 2 restarts at 100 and 200 ms, then it stays Exited (3)
  const until = Date.now() + 30_000;
  let fail = '';
  while (Date.now() < until) {
    fail = (await run('inspect', '--format', '{{.RestartCount}} {{.State.Status}} {{.State.ExitCode}}', 'fail')).stdout;
    if (fail === '2 exited 3\n') break;
  }
  assert.equal(fail, '2 exited 3\n');
  // each restart goes through a cleanup process (a Node start): count on at least two
  let alw = '';
  for (const end = Date.now() + 30_000; Date.now() < end; ) {
    alw = (await run('inspect', '--format', '{{.RestartCount}} {{json .HostConfig.RestartPolicy}}', 'alw')).stdout;
    if (Number(alw.split(' ')[0]) >= 2) break;
  }
  assert.ok(Number(alw.split(' ')[0]) >= 2, alw);
  assert.match(alw, / \{"Name":"always","MaximumRetryCount":0\}\n$/);
  assert.equal((await run('stop', 'alw')).code, 0);
  const stopped = (await run('inspect', '--format', '{{.RestartCount}} {{.State.Status}} {{.State.Restarting}}', 'alw')).stdout.split(' ');
  assert.deepEqual(stopped.slice(1), ['exited', 'false\n']);
  // no more restarts: the back-off (at least 800 ms by now) has passed and the count stayed
  await new Promise((r) => setTimeout(r, 4000));
  assert.equal((await run('inspect', '--format', '{{.RestartCount}} {{.State.Status}}', 'alw')).stdout, `${stopped[0]} exited\n`);
});
