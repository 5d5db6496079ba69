/**
 * `run -t` on a real busybox container under a real pseudo-terminal (python3's pty module): the
 * container's own pty (/dev/pts/0), our window size and its change (SIGWINCH -> the monitor's ctl),
 * typed input, the exit code, the detach keys (ctrl-p ctrl-q) leaving it running, and `-i` input
 * that arrives long after the start (the monitor's first process has exited by then); `attach`
 * to a detached container: its output (streams apart), its exit code, its terminal's input.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { useContainerStore } from '../helpers/containers.js';
import { projectRoot, runCli } from '../helpers/cli.js';

const base = useContainerStore();
const run = base.run;
const mainTs = join(projectRoot, 'src', 'cli', 'main.ts');

const underPty = base.underPty;

test('run -it: the container pty, window size and SIGWINCH, typed input, exit code; detach keys', { timeout: 180_000 }, async () => {
  const r = await underPty(33, 111, ['run', '-it', '--rm', 'busybox', 'sh', '-c', 'tty; stty size; echo READY; read x; echo got $x; stty size; exit 3'], [
    'wait READY',
    'sleep 0.5',
    'resize 40 120',
    'sleep 1',
    'send hello\\r',
  ]);
  assert.equal(r.code, 3, r.out);
  // the pty echoes the typed line; our terminal's output processing is off (no \r\r\n)
  assert.equal(r.out, '/dev/pts/0\r\n33 111\r\nREADY\r\nhello\r\ngot hello\r\n40 120\r\n');
  const logs = await run('ps', '-aq');
  assert.equal(logs.stdout, ''); // --rm

  const d = await underPty(24, 80, ['run', '-it', '--name', 'det', 'busybox', 'sh', '-c', 'echo READY; read x; echo got $x; sleep 300'], ['wait READY', 'sleep 0.5', 'send \\x10\\x11']);
  assert.equal(d.code, 0, d.out);
  assert.equal((await run('inspect', '--format', '{{.State.Running}} {{.Config.Tty}}', 'det')).stdout, 'true true\n');
  // -t output is logged as stdout, with the pty's \r\n
  assert.equal((await run('logs', 'det')).stdout, 'READY\r\n');
  await run('rm', '-f', 'det');
});

test('run -i: input typed long after the start still reaches the command', { timeout: 60_000 }, async () => {
  const child = spawn(process.execPath, ['--import', 'tsx', mainTs, '--root', base.root, 'run', '-i', '--rm', 'busybox', 'sh', '-c', 'echo READY; read a; echo got $a'], { cwd: projectRoot, stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    out += d;
    if (out === 'READY\n') setTimeout(() => child.stdin.write('late\n'), 1500);
  });
  const code = await new Promise<number>((r) => child.on('close', (c) => r(c ?? 1)));
  assert.deepEqual([code, out], [0, 'READY\ngot late\n']);
});

test('attach: output with stdout/stderr apart and the exit code; -dit then attach to its terminal', { timeout: 120_000 }, async () => {
  await run('run', '-d', '--name', 'at1', 'busybox', 'sh', '-c', 'sleep 4; echo out; echo err >&2; exit 4');
  const a = await run('attach', 'at1');
  assert.deepEqual([a.code, a.stdout, a.stderr], [4, 'out\n', 'err\n']);
  const stopped = await run('attach', 'at1');
  assert.equal(stopped.code, 1);
  assert.match(stopped.stderr, /You cannot attach to a stopped container, start it first/);

  await run('run', '-dit', '--name', 'at2', 'busybox', 'sh');
  const t = await underPty(30, 100, ['attach', 'at2'], ['sleep 4', 'send echo hi-$((1+2))\\r', 'wait hi-3', 'send exit 5\\r']);
  assert.equal(t.code, 5, t.out);
  assert.match(t.out, /echo hi-\$\(\(1\+2\)\)\r\nhi-3\r\n/);
  await run('rm', '-f', 'at1', 'at2');
});

test('run -di keeps stdin open: attach feeds it, after the start', { timeout: 60_000 }, async () => {
  await run('run', '-di', '--name', 'di', 'busybox', 'sh', '-c', 'read l; echo got $l; exit 2');
  const a = await runCli(['--root', base.root, 'attach', 'di'], { input: 'one\n' });
  assert.deepEqual([a.code, a.stdout], [2, 'got one\n']);
  await run('rm', '-f', 'di');
});
