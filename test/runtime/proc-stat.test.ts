/** /proc/PID/stat readings: a zombie (dead, not yet reaped) is not running and owns nothing. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { procStat, processIdentity, processRunning } from '../../src/runtime/proc-stat.js';

test('a running process has an identity; a zombie has none; a gone pid reads as undefined', async () => {
  assert.match(processIdentity(process.pid) ?? '', new RegExp(`^${process.pid} \\d+$`));
  assert.equal(procStat(process.pid)?.ppid, process.ppid);
  // `sleep 0` becomes a zombie: its parent exec's a sleep that never reaps it
  const sh = spawn('sh', ['-c', 'sleep 0 & echo $!; exec sleep 3'], { stdio: ['ignore', 'pipe', 'ignore'] });
  const zombie = Number(await new Promise<string>((res) => sh.stdout.once('data', (d: Buffer) => res(d.toString()))));
  for (let i = 0; i < 100 && procStat(zombie)?.state !== 'Z'; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(procStat(zombie)?.state, 'Z');
  assert.equal(processRunning(zombie), false);
  assert.equal(processIdentity(zombie), undefined);
  sh.kill('SIGKILL');
  await new Promise((r) => sh.on('close', r));
  assert.equal(procStat(0x3fffffff), undefined);
});
