/**
 * Who removes a `--rm` container and when (issue 11's `run --rm` cost, Docker's synchronous rm -f):
 * a foreground `run --rm` CLI removes the container itself once it ended (the monitor's exit command
 * is only the fallback, for a CLI that died or detached), `rm -f` answers only once the
 * container's monitor is gone, with no exit command started behind it, and an `rm -f` killed on the
 * way leaves the removal to the next command that lists or finds the container.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { useContainerStore } from '../helpers/containers.js';
import { projectRoot, runCli } from '../helpers/cli.js';
import { RUN_ROOT, assertNothingLeft, freePort, holdings, processAlive, rulesFor } from './leftovers.js';

const base = useContainerStore();
const run = base.run;
const tsx = pathToFileURL(join(projectRoot, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;

/** Processes running `tsbuild ... container cleanup` on our store. */
function cleanupProcesses(): number[] {
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        const argv = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
        return argv.includes(base.root) && argv.includes('cleanup');
      } catch {
        return false;
      }
    })
    .map(Number);
}

test('foreground run --rm with a published port: output, code, then nothing left when it returns', { timeout: 120_000 }, async () => {
  const port = await freePort();
  const r = await run('run', '--rm', '-p', `127.0.0.1:${port}:80`, 'busybox', 'sh', '-c', 'echo out; echo err >&2; exit 3');
  assert.deepEqual([r.code, r.stdout, r.stderr], [3, 'out\n', 'err\n']);
  assert.equal((await run('ps', '-aq')).stdout, '');
  assert.deepEqual(rulesFor(port), []);
  assert.deepEqual(cleanupProcesses(), []);
});

test('a run --rm CLI killed while the container runs: the monitor removes it when it ends', { timeout: 120_000 }, async () => {
  const child = spawn(process.execPath, ['--import', tsx, join(projectRoot, 'src/cli/main.ts'), '--root', base.root, 'run', '--rm', '--name', 'rmkilled', 'busybox', 'sh', '-c', 'echo up; sleep 2'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const closed = new Promise((res) => child.on('close', res));
  await new Promise<void>((res) => child.stdout.on('data', (d: Buffer) => d.toString().includes('up') && res()));
  const id = readdirSync(join(base.root, 'containers')).find((n) => /^[0-9a-f]{64}$/.test(n))!;
  const h = holdings(base.root, id);
  child.kill('SIGKILL');
  await closed;
  for (let i = 0; i < 600 && existsSync(join(base.root, 'containers', id)); i++) await new Promise((res) => setTimeout(res, 100));
  await assertNothingLeft(base.root, h);
  assert.equal((await run('ps', '-aq')).stdout, '');
});

test('rm -f returns once the monitor is gone: no exit command left running (--rm, ports)', { timeout: 120_000 }, async () => {
  const port = await freePort();
  const r = await run('run', '-d', '--rm', '-p', `127.0.0.1:${port}:80`, 'busybox', 'sleep', '60');
  assert.equal(r.code, 0, r.stderr);
  const id = r.stdout.trim();
  const h = holdings(base.root, id);
  assert.equal((await run('rm', '-f', id)).code, 0);
  // no waiting here: Docker's rm -f is synchronous
  assert.equal(processAlive(h.monitorPid), false, 'monitor gone when rm -f returns');
  assert.deepEqual(cleanupProcesses(), []);
  assert.equal(existsSync(join(RUN_ROOT, id)), false);
  assert.deepEqual(rulesFor(port), []);
  await assertNothingLeft(base.root, h);
});

test('rm -f killed on the way (the container still running): the next ps finishes the removal, as a daemon would', { timeout: 120_000 }, async () => {
  const r = await run('run', '-d', '--name', 'rmhalf', 'busybox', 'sleep', '60');
  assert.equal(r.code, 0, r.stderr);
  const id = r.stdout.trim();
  const h = holdings(base.root, id);
  // an rm -f that stops after marking the container (a test hook), killed there
  const child = spawn(process.execPath, ['--import', tsx, join(projectRoot, 'src/cli/main.ts'), '--root', base.root, 'rm', '-f', id], {
    stdio: 'ignore',
    env: { ...process.env, TSBUILD_TEST_RM_PAUSE_MS: '60000' },
  });
  const closed = new Promise((res) => child.on('close', res));
  const state = () => JSON.parse(readFileSync(join(base.root, 'containers', id, 'state.json'), 'utf8')) as { Removing?: boolean };
  for (let i = 0; i < 300 && !state().Removing; i++) await new Promise((res) => setTimeout(res, 100));
  assert.equal(state().Removing, true);
  child.kill('SIGKILL');
  await closed;
  assert.equal(processAlive(h.monitorPid), true, 'the container still runs: rm died before stopping it');
  const ps = await run('ps', '-a');
  assert.equal(ps.code, 0, ps.stderr);
  assert.doesNotMatch(ps.stdout, /rmhalf/);
  assert.equal(existsSync(join(base.root, 'containers', id)), false);
  assert.equal((await run('inspect', 'rmhalf')).code, 1);
  await assertNothingLeft(base.root, h);
});

test('start -a of an --rm container: its output and code, and it is gone when start returns, removed in-process (no exit command waited for)', { timeout: 120_000 }, async () => {
  const id = await base.ok('create', '--rm', '--network', 'none', 'busybox', 'sh', '-c', 'echo out; echo err >&2; exit 4');
  // an exit command would wait this long before removing (a test hook): start -a must not wait for it
  const t0 = Date.now();
  const r = await runCli(['--root', base.root, 'start', '-a', id], { env: { TSBUILD_TEST_CLEANUP_DELAY_MS: '8000' } });
  const ms = Date.now() - t0;
  assert.deepEqual([r.code, r.stdout, r.stderr], [4, 'out\n', 'err\n']);
  assert.equal(existsSync(join(base.root, 'containers', id)), false, 'gone when start -a returns, as with Docker');
  assert.ok(ms < 7000, `start -a took ${ms} ms: it waited for the exit command`);
  assert.equal((await run('ps', '-aq')).stdout, '');
  assert.deepEqual(cleanupProcesses(), []);
});
