/**
 * `stop` and `restart` as Docker's: each prints the name it was given; restart stops the
 * container and starts it again (a new StartedAt), stop leaves it Exited. And the program's one
 * `--root` reaches the container commands before or after the command name (`--root DIR ps`,
 * `ps --root DIR`).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useContainerStore } from '../helpers/containers.js';
import { runCli } from '../helpers/cli.js';

const base = useContainerStore();
const run = base.run;

test('restart starts a stopped container again, stop leaves it exited; --root before or after ps', { timeout: 120_000 }, async () => {
  assert.equal((await run('run', '-d', '--name', 'sr', '--network', 'none', 'busybox', 'sleep', '600')).code, 0);
  const state = async () => (await run('inspect', '--format', '{{.State.Status}} {{.State.StartedAt}}', 'sr')).stdout.trim().split(' ');
  const [status1, started1] = await state();
  assert.equal(status1, 'running');
  const restart = await run('restart', '-t', '0', 'sr');
  assert.deepEqual([restart.code, restart.stdout, restart.stderr], [0, 'sr\n', '']);
  const [status2, started2] = await state();
  assert.equal(status2, 'running');
  assert.notEqual(started2, started1);
  const stop = await run('stop', '-t', '0', 'sr');
  assert.deepEqual([stop.code, stop.stdout, stop.stderr], [0, 'sr\n', '']);
  assert.equal((await state())[0], 'exited');
  for (const args of [['--root', base.root, 'ps', '-a', '--format', '{{.Names}}'], ['ps', '-a', '--format', '{{.Names}}', '--root', base.root]]) {
    const ps = await runCli(args, { env: { TSBUILD_ROOT: '' } });
    assert.deepEqual([ps.code, ps.stdout, ps.stderr], [0, 'sr\n', ''], args.join(' '));
  }
});
