/**
 * Real containers on the busybox base through the CLI: Docker's exit codes and errors, foreground
 * output and stdin, and rmi of an image in use.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { useContainerStore } from '../helpers/containers.js';
import { projectRoot, runCli } from '../helpers/cli.js';
import { RUN_ROOT, assertNothingLeft, cgroupDirsOf, holdings, processAlive } from './leftovers.js';

const base = useContainerStore();
const run = base.run;
const tsx = pathToFileURL(join(projectRoot, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;

test("exit codes as Docker's: the command's own, 125, 126, 127; wait prints the code", { timeout: 120_000 }, async () => {
  const own = await run('run', '--rm', 'busybox', 'sh', '-c', 'echo out; echo err >&2; exit 3');
  assert.deepEqual([own.code, own.stdout, own.stderr], [3, 'out\n', 'err\n']);
  const notFound = await run('run', '--rm', 'busybox', 'nosuchcmd');
  assert.equal(notFound.code, 127);
  assert.match(notFound.stderr, /exec: "nosuchcmd": executable file not found in \$PATH/);
  const cannot = await run('run', '--rm', 'busybox', '/etc');
  assert.equal(cannot.code, 126);
  assert.match(cannot.stderr, /exec: "\/etc": permission denied/);
  // -d learns it before printing any ID; the container stays Created with the error, as Docker's
  const detached = await run('run', '-d', '--name', 'bad', 'busybox', 'nosuchcmd');
  assert.deepEqual([detached.code, detached.stdout], [127, '']);
  const bad = await run('inspect', '--format', '{{.State.Status}} {{.State.ExitCode}} {{.State.Error}}', 'bad');
  assert.match(bad.stdout, /^created 127 exec: "nosuchcmd": executable file not found in \$PATH\n$/);
  const flag = await run('run', '--foo', 'busybox', 'true');
  assert.equal(flag.code, 125);
  assert.match(flag.stderr, /unknown flag: --foo/);
  const taken = await run('run', '--name', 'bad', 'busybox', 'true');
  assert.equal(taken.code, 125);
  assert.match(taken.stderr, /Conflict\. The container name "\/bad" is already in use by container "[0-9a-f]{64}"/);
  assert.equal((await run('create', '--name', 'bad', 'busybox', 'true')).code, 1);
  const noImage = await run('run', '--rm', '127.0.0.1:1/nosuch', 'true');
  assert.equal(noImage.code, 125);
  assert.match(noImage.stderr, /Unable to find image '127\.0\.0\.1:1\/nosuch:latest' locally/);
  // only the failed `bad` is left: --rm removed the others, even when their start failed
  assert.equal((await run('ps', '-a', '--format', '{{.Names}}')).stdout, 'bad\n');

  const seven = await run('run', '-d', '--network', 'none', 'busybox', 'sh', '-c', 'exit 7');
  const w = await run('wait', seven.stdout.trim());
  assert.deepEqual([w.code, w.stdout], [0, '7\n']);
  assert.equal((await run('start', '-a', seven.stdout.trim())).code, 7);
  const missing = await run('stop', 'nosuch');
  assert.deepEqual([missing.code, missing.stderr], [1, 'tsbuild: No such container: nosuch\n']);
});

test('foreground run: -i feeds stdin (EOF reaches the command), -e/-w/-u/--hostname/--network none', { timeout: 90_000 }, async () => {
  const cat = await runCli(['--root', base.root, 'run', '-i', '--rm', 'busybox', 'cat'], { input: 'hi\n' });
  assert.deepEqual([cat.code, cat.stdout], [0, 'hi\n']);
  const r = await run('run', '--rm', '--network', 'none', '-e', 'A=1', '-w', '/tmp', '-u', '1000:1000', '--hostname', 'box', 'busybox', 'sh', '-c', 'echo $A $(pwd) $(id -u):$(id -g) $(hostname); ls /sys/class/net | tr "\\n" " "');
  assert.deepEqual([r.code, r.stdout, r.stderr], [0, '1 /tmp 1000:1000 box\nlo ', '']);
  });

test('rmi refuses an image a container uses (Docker words), prune keeps its layers', { timeout: 90_000 }, async () => {
  const c = (await run('create', '--name', 'user1', 'bbtest:1', 'true')).stdout.trim();
  const rmi = await run('rmi', 'bbtest:1');
  // bbtest:1 shares its image with busybox:latest: untagging one name is allowed
  assert.equal(rmi.code, 0, rmi.stderr);
  const last = await run('rmi', 'busybox:latest');
  assert.equal(last.code, 1);
  assert.match(last.stderr, /conflict: unable to remove repository reference "busybox:latest" \(must force\) - container [0-9a-f]{12} is using its referenced image [0-9a-f]{12}/);
  assert.equal((await run('prune', '-a')).code, 0);
  const started = await run('start', '-a', 'user1');
  assert.equal(started.code, 0, started.stderr);
  const img = await run('inspect', '--format', '{{.Id}}', 'busybox:latest');
  assert.equal(img.stdout.trim(), base.baseId);
  const pruned = (await run('container', 'prune', '-f')).stdout;
  assert.match(pruned, /^Deleted Containers:\n([0-9a-f]{64}\n)+\nTotal reclaimed space: 0B\n$/);
  assert.ok(pruned.includes(`${c}\n`));
  assert.equal((await run('ps', '-aq')).stdout, '');
  assert.equal(existsSync(join(base.root, 'pins', c)), false);
  await run('tag', 'busybox:latest', 'bbtest:1');
});
