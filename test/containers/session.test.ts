/**
 * Real containers on the busybox base through the CLI: the tutorial's daemon_dave session, and
 * what is left after a killed monitor or a killed CLI (nothing half-made, nothing leaked).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { useContainerStore } from '../helpers/containers.js';
import { projectRoot } from '../helpers/cli.js';
import { RUN_ROOT, assertNothingLeft, cgroupDirsOf, holdings, processAlive } from './leftovers.js';

const base = useContainerStore();
const run = base.run;
const tsx = pathToFileURL(join(projectRoot, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;

test("the tutorial's daemon_dave session: run -d, ps, logs, logs -f, stop, start, inspect, rm -f", { timeout: 120_000 }, async () => {
  const r = await run('run', '-d', '--name', 'daemon_dave', 'busybox', 'sh', '-c', 'while true; do echo hello world; sleep 1; done');
  assert.equal(r.code, 0, r.stderr);
  const id = r.stdout.trim();
  assert.match(id, /^[0-9a-f]{64}$/);
  const ps = await run('ps');
  assert.match(ps.stdout, /^CONTAINER ID +IMAGE +COMMAND +CREATED +STATUS +PORTS +NAMES\n/);
  assert.match(ps.stdout, new RegExp(`${id.slice(0, 12)} +busybox +"sh -c 'while true; …" +.* ago +Up .* +daemon_dave\\n`));
  const insp = await run('inspect', '--format', '{{.State.Running}} {{.State.Pid}} {{.NetworkSettings.IPAddress}} {{.NetworkSettings.Networks.bridge.IPAddress}}', 'daemon_dave');
  const [running, pid, ip, ip2] = insp.stdout.trim().split(' ');
  assert.equal(running, 'true');
  assert.ok(Number(pid) > 1);
  assert.match(ip!, /^\d+\.\d+\.\d+\.\d+$/);
  assert.equal(ip2, ip);
  // PID 1 of its own namespace is the command itself, as in Docker
  assert.match(readFileSync(`/proc/${pid}/cmdline`, 'utf8'), /^sh\0-c\0while true/);
  assert.equal(readFileSync(`/proc/${pid}/status`, 'utf8').match(/^NSpid:\s+\d+\s+(\d+)$/m)?.[1], '1');
  const logDir = join(base.root, 'containers', id);
  assert.equal(readdirSync(logDir).includes(`${id}-json.log`), true);
  assert.equal(statSync(logDir).mode & 0o777, 0o700);
  assert.equal(statSync(join(logDir, `${id}-json.log`)).mode & 0o777, 0o600);
  await new Promise((res) => setTimeout(res, 300));
  const logs = await run('logs', 'daemon_dave');
  assert.match(logs.stdout, /^(hello world\n)+$/);
  const logsT = await run('logs', '-t', '--tail', '1', 'daemon_dave');
  assert.match(logsT.stdout, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z hello world\n$/);

  // logs -f follows, and ends when the container stops
  const follower = spawn(process.execPath, ['--import', tsx, join(projectRoot, 'src/cli/main.ts'), '--root', base.root, 'logs', '-f', 'daemon_dave'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let followed = '';
  follower.stdout.on('data', (d: Buffer) => (followed += d.toString()));
  const followerDone = new Promise<number | null>((res) => follower.on('close', (c) => res(c)));
  while (followed.split('\n').length < 4) await new Promise((res) => setTimeout(res, 100));

  const held = holdings(base.root, id);
  const t0 = Date.now();
  const stop = await run('stop', '-t', '1', 'daemon_dave');
  const took = Date.now() - t0;
  assert.equal(stop.code, 0, stop.stderr);
  assert.equal(stop.stdout, 'daemon_dave\n');
  // busybox sh as PID 1 has no TERM handler: the kernel ignores TERM for it, so stop waits -t 1 and kills
  assert.ok(took >= 1000 && took < 8000, `stop took ${took} ms`);
  assert.equal(await followerDone, 0);
  assert.match(followed, /^(hello world\n)+$/);
  assert.equal(processAlive(held.monitorPid), false);
  const exited = await run('ps', '-a', '--format', '{{.Names}} {{.Status}}');
  assert.match(exited.stdout, /^daemon_dave Exited \(137\) .* ago\n$/);
  assert.equal((await run('ps', '-q')).stdout, '');
  assert.deepEqual(cgroupDirsOf(id), []);

  // start again: the same container, its writable layer kept
  const start = await run('start', 'daemon_dave');
  assert.equal(start.code, 0, start.stderr);
  assert.equal((await run('inspect', '--format', '{{.State.Running}}', 'daemon_dave')).stdout, 'true\n');
  // kill, then wait gives the code (a wait racing rm -f may start after the record is gone)
  assert.equal((await run('kill', 'daemon_dave')).code, 0);
  assert.equal((await run('wait', 'daemon_dave')).stdout, '137\n');
  assert.equal((await run('start', 'daemon_dave')).code, 0);
  const held2 = holdings(base.root, id);
  const rm = await run('rm', '-f', 'daemon_dave');
  assert.equal(rm.code, 0, rm.stderr);
  assert.equal(rm.stdout, 'daemon_dave\n');
  await assertNothingLeft(base.root, held2);
  const gone = await run('inspect', 'daemon_dave');
  assert.equal(gone.code, 1);
  assert.match(gone.stderr, /No such object: daemon_dave/);
});

test('a killed monitor reads as Exited, never a stuck Up; rm then leaves nothing', { timeout: 60_000 }, async () => {
  const r = await run('run', '-d', 'busybox', 'sleep', '60');
  const id = r.stdout.trim();
  const h = holdings(base.root, id);
  const pid = Number((await run('inspect', '--format', '{{.State.Pid}}', id)).stdout);
  process.kill(h.monitorPid, 'SIGKILL');
  // monitor alive <=> container alive
  for (let i = 0; i < 100 && processAlive(pid); i++) await new Promise((res) => setTimeout(res, 20));
  assert.equal(processAlive(pid), false);
  const ps = await run('ps', '-a', '--format', '{{.ID}} {{.Status}}');
  assert.match(ps.stdout, new RegExp(`^${id.slice(0, 12)} Exited \\(255\\) .* ago\\n$`));
  assert.equal((await run('rm', id)).code, 0);
  await assertNothingLeft(base.root, h);
});

test('a CLI killed during run -d leaves no half-made record', { timeout: 90_000 }, async () => {
  for (const delay of [300, 700, 1100, 1500]) {
    const child = spawn(process.execPath, ['--import', tsx, join(projectRoot, 'src/cli/main.ts'), '--root', base.root, 'run', '-d', 'busybox', 'sleep', '30'], { stdio: 'ignore' });
    const closed = new Promise((res) => child.on('close', res));
    await new Promise((res) => setTimeout(res, delay));
    child.kill('SIGKILL');
    await closed;
  }
  const ps = await run('ps', '-a', '--no-trunc', '--format', '{{.ID}} {{.State}}');
  assert.equal(ps.code, 0, ps.stderr);
  const rows = ps.stdout.split('\n').filter(Boolean);
  for (const row of rows) assert.match(row, /^[0-9a-f]{64} (created|running|exited)$/);
  // only whole records: no temp dirs of the killed CLIs stay
  assert.deepEqual(readdirSync(join(base.root, 'containers')).filter((n) => !/^[0-9a-f]{64}$/.test(n)), []);
  const ids = rows.map((x) => x.split(' ')[0]!);
  const held = ids.filter((id) => existsSync(join(RUN_ROOT, id, 'monitor'))).map((id) => holdings(base.root, id));
  if (ids.length) assert.equal((await run('rm', '-f', ...ids)).code, 0);
  for (const h of held) await assertNothingLeft(base.root, h);
});
