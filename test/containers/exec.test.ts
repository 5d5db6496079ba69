/**
 * `exec` in real containers on the busybox base: the container's namespaces, user, env, working
 * dir, capabilities and cgroup; exit codes as Docker's (own code, 126 for a command that cannot be
 * started, 1 for a stopped container or a missing argument, 125 for a bad flag); -i, -d; -t under a
 * real pseudo-terminal (python3's pty module): /dev/pts/0, the window size and its change, the
 * detach keys.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useContainerStore } from '../helpers/containers.js';
import { runCli } from '../helpers/cli.js';

const base = useContainerStore();
const run = base.run;

const underPty = base.underPty;

test('exec joins the running container: namespaces, user, env, cwd, caps, cgroup; exit codes', { timeout: 180_000 }, async () => {
  const id = (await run('run', '-d', '--name', 'ex', '-e', 'FROMRUN=1', '-w', '/srv', '--hostname', 'exbox', 'busybox', 'sh', '-c', 'echo pid1 > /tmp/mark; sleep 300')).stdout.trim();
  assert.match(id, /^[0-9a-f]{64}$/);
  // (run -d returns once the command started, maybe before it wrote its mark: wait for it here)
  const r = await run('exec', '-e', 'X=y', 'ex', 'sh', '-c', 'until [ -s /tmp/mark ]; do usleep 20000; done; echo $$ $(hostname) $(pwd) $FROMRUN $X $HOME; cat /tmp/mark; id -u; grep CapEff /proc/self/status; cut -d: -f3 /proc/self/cgroup | sort -u; ps -o pid,comm | grep -c sleep; exit 5');
  assert.equal(r.code, 5, r.stderr);
  const lines = r.stdout.split('\n');
  // PID ns: not PID 1 (sleep is); UTS: the container's hostname; WorkingDir; run's and exec's env
  assert.match(lines[0]!, /^\d+ exbox \/srv 1 y \/root$/);
  assert.notEqual(lines[0]!.split(' ')[0], '1');
  assert.equal(lines[1], 'pid1'); // the container's writable layer (mount ns)
  assert.equal(lines[2], '0');
  assert.equal(lines[3], 'CapEff:\t00000000a80425fb'); // Docker's default capabilities
  assert.equal(lines[4], '/'); // the container's cgroup namespace root, i.e. its cgroup
  assert.equal(lines[5], '1');
  const user = await run('exec', '-u', '1000:1000', '-w', '/tmp', 'ex', 'sh', '-c', 'id -u; id -g; pwd; grep CapEff /proc/self/status');
  assert.deepEqual([user.code, user.stdout], [0, '1000\n1000\n/tmp\nCapEff:\t0000000000000000\n']);
  // -i: stdin reaches the process, its end too
  const cat = await runCli(['--root', base.root, 'exec', '-i', 'ex', 'cat'], { input: 'through\n' });
  assert.deepEqual([cat.code, cat.stdout], [0, 'through\n']);
  // Docker's words (printed as they are, no prefix: measured on Docker 20.10) and code for a
  // process that cannot be started: 126, also when the command is missing
  const oci = 'OCI runtime exec failed: exec failed: ';
  const refused = async (...args: string[]) => run('exec', ...args).then((x) => [x.code, x.stdout, x.stderr]);
  assert.deepEqual(await refused('ex', 'nosuchcmd'), [126, '', `${oci}unable to start container process: exec: "nosuchcmd": executable file not found in $PATH: unknown\n`]);
  assert.deepEqual(await refused('ex', '/etc'), [126, '', `${oci}unable to start container process: exec: "/etc": permission denied: unknown\n`]);
  assert.deepEqual(await refused('-u', 'nouser', 'ex', 'true'), [126, '', 'unable to find user nouser: no matching entries in passwd file\n']);
  assert.deepEqual(await refused('-w', 'rel', 'ex', 'true'), [126, '', `${oci}Cwd must be an absolute path: unknown\n`]);
  assert.deepEqual(await refused('-w', '/nonexist', 'ex', 'true'), [
    126,
    '',
    `${oci}unable to start container process: chdir to cwd ("/nonexist") set in config.json failed: no such file or directory: unknown\n`,
  ]);
  assert.deepEqual(await refused('-w', '/etc/passwd', 'ex', 'true'), [
    126,
    '',
    `${oci}unable to start container process: chdir to cwd ("/etc/passwd") set in config.json failed: not a directory: unknown: Are you trying to mount a directory onto a file (or vice-versa)? Check if the specified host path exists and is the expected type\n`,
  ]);
  // -it needs a terminal on stdin (the CLI's check, after the container's existence; runCli's stdin is a pipe)
  assert.deepEqual(await refused('-it', 'ex', 'true'), [1, '', 'the input device is not a TTY\n']);
  assert.deepEqual(await refused('-it', 'nosuch', 'true'), [1, '', 'tsbuild: No such container: nosuch\n']);
  assert.deepEqual(await refused('-dit', 'ex', 'true'), [0, '', '']);
  // -d: the same failures are the daemon's answer to the start request (its prefix, exit 1)
  assert.deepEqual(await refused('-d', 'ex', 'nosuchcmd'), [1, '', `tsbuild: ${oci}unable to start container process: exec: "nosuchcmd": executable file not found in $PATH: unknown\n`]);
  assert.deepEqual(await refused('-d', '-u', 'nouser', 'ex', 'true'), [1, '', 'tsbuild: unable to find user nouser: no matching entries in passwd file\n']);
  assert.deepEqual(await refused('-d', '-w', 'rel', 'ex', 'true'), [1, '', `tsbuild: ${oci}Cwd must be an absolute path: unknown\n`]);
  // -d returns at once; the process runs on, a child of the container's PID 1
  const d = await run('exec', '-d', 'ex', 'sh', '-c', 'sleep 1; echo late > /tmp/late; sleep 200');
  assert.deepEqual([d.code, d.stdout], [0, '']);
  const ps = await run('exec', 'ex', 'sh', '-c', 'sleep 2; cat /tmp/late; ps -o ppid,args | grep "sleep 200" | grep -v grep');
  assert.match(ps.stdout, /^late\n\s*1 sleep 200\n$/);
  // misuse: a missing argument is 1, an unknown flag 125
  const noCmd = await run('exec', 'ex');
  assert.equal(noCmd.code, 1);
  assert.match(noCmd.stderr, /"tsbuild exec" requires at least 2 arguments/);
  const flag = await run('exec', '--foo', 'ex', 'true');
  assert.equal(flag.code, 125);
  assert.match(flag.stderr, /unknown flag: --foo/);
  // a stopped container
  await run('stop', '-t', '0', 'ex');
  assert.deepEqual(await refused('ex', 'true'), [1, '', `tsbuild: Container ${id} is not running\n`]);
  assert.deepEqual(await refused('ex', 'nosuchcmd'), [1, '', `tsbuild: Container ${id} is not running\n`]);
  assert.deepEqual(await refused('nosuch', 'true'), [1, '', 'tsbuild: No such container: nosuch\n']);
});

test('exec -it: a pty of the container (tty is /dev/pts/0), window size and SIGWINCH', { timeout: 120_000 }, async () => {
  await run('run', '-d', '--name', 'tty1', 'busybox', 'sleep', '300');
  const r = await underPty(33, 111, ['exec', '-it', 'tty1', 'sh', '-c', 'tty; stty size; echo READY; read x; stty size; exit 4'], [
    'wait READY',
    'sleep 0.3',
    'resize 40 120',
    'sleep 0.5',
    'send \\n',
  ]);
  assert.equal(r.code, 4, r.out);
  assert.equal(r.out, '/dev/pts/0\r\n33 111\r\nREADY\r\n\r\n40 120\r\n');
  // the detach keys (ctrl-p ctrl-q) leave the process running; a lone ctrl-p before them passes
  const d = await underPty(24, 80, ['exec', '-it', 'tty1', 'sh', '-c', 'echo READY; read x; echo "$x" > /tmp/typed; sleep 200'], ['wait READY', 'sleep 0.5', 'send a\\x10b\\r\\x10\\x11']);
  assert.equal(d.code, 0, d.out);
  const after = await run('exec', 'tty1', 'sh', '-c', 'sleep 1; od -An -c /tmp/typed; ps -o args | grep -c "^sleep 200"');
  assert.match(after.stdout, /^\s+a 020\s+b\s+\\n\n1\n$/);
  await run('rm', '-f', 'tty1');
});
