import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { Readable, Writable } from 'node:stream';
import { spawnHelperProcess } from '../../src/runtime/helper-process.js';
import { processRunning } from '../../src/runtime/proc-stat.js';

const text = async (r: Readable) => {
  const parts: Buffer[] = [];
  for await (const c of r) parts.push(c as Buffer);
  return Buffer.concat(parts).toString();
};

test('helper process: pipes on the fds asked for, /dev/null on the others, an empty environment; close after its output, with its exit code, reaped', async () => {
  const c = spawnHelperProcess('/bin/sh', 'sh', ['r', 'w', 'w', 'null', 'w']);
  assert.ok(c.pid! > 0);
  const closed = once(c, 'close');
  (c.stdio[0] as Writable).end('env | grep -c -e ^HOME= -e ^PATH= -e ^TSBUILD; echo err >&2; echo four >&4; echo gone >&3 && echo wrote3; exit 3\n');
  const [out, err, four] = await Promise.all([text(c.stdio[1] as Readable), text(c.stdio[2] as Readable), text(c.stdio[4] as Readable)]);
  assert.deepEqual([out, err, four], ['0\nwrote3\n', 'err\n', 'four\n'], 'no variable of ours; fd 3 writes to /dev/null');
  assert.deepEqual(await closed, [3, null]);
  assert.equal(processRunning(c.pid!), false, 'reaped');
});

test('helper process: a signal ends it (named as Node names it); a missing binary is an error event', async () => {
  const d = spawnHelperProcess('/bin/sh', 'sh', ['r', 'w']);
  const dc = once(d, 'close');
  (d.stdio[0] as Writable).write('echo started; exec sleep 30\n');
  const first = await once(d.stdio[1] as Readable, 'data');
  assert.equal(String(first[0]), 'started\n');
  d.kill('SIGTERM');
  assert.deepEqual(await dc, [null, 'SIGTERM']);
  d.kill('SIGTERM'); // after it was reaped: nothing (its PID may be another process's by now)

  const e = spawnHelperProcess('/nonexistent/helper', 'x', ['null', 'w']);
  assert.equal(e.pid, undefined);
  const [err] = (await once(e, 'error')) as [NodeJS.ErrnoException];
  assert.match(err.message, /posix_spawn \/nonexistent\/helper/);
});
