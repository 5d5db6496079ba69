/**
 * `top` and `diff` on a real busybox container: top keeps the host's ps rows of the container's
 * processes (exec'd ones too) with Docker's columns; diff lists A/C/D from the writable layer.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useContainerStore } from '../helpers/containers.js';

const base = useContainerStore();
const run = base.run;

test('top: host ps -ef rows of the container only; diff: A/C/D as docker diff', { timeout: 120_000 }, async () => {
  await run('run', '-d', '--name', 'td', 'busybox', 'sh', '-c', 'mkdir -p /tmp/new; echo x > /tmp/new/f; echo y >> /etc/passwd; rm /bin/vi; touch /ready; exec sleep 300');
  await run('exec', '-d', 'td', 'sleep', '222');
  const pid = Number((await run('inspect', '--format', '{{.State.Pid}}', 'td')).stdout);
  // the writes are done once /ready exists
  for (let i = 0; i < 50 && (await run('exec', 'td', 'test', '-e', '/ready')).code !== 0; i++) await new Promise((r) => setTimeout(r, 200));
  const t = await run('top', 'td');
  assert.equal(t.code, 0, t.stderr);
  const lines = t.stdout.trimEnd().split('\n');
  assert.deepEqual(lines[0]!.trim().split(/\s+/), ['UID', 'PID', 'PPID', 'C', 'STIME', 'TTY', 'TIME', 'CMD']);
  assert.equal(lines.length, 3, t.stdout);
  assert.match(lines[1]!, new RegExp(`^root\\s+${pid}\\s+\\d+\\s.*sleep 300$`));
  assert.match(lines[2]!, new RegExp(`^root\\s+\\d+\\s+${pid}\\s.*sleep 222$`));
  const custom = await run('top', 'td', '-o', 'pid,comm');
  assert.match(custom.stdout, new RegExp(`^PID\\s+COMMAND\\n${pid}\\s+sleep\\n\\d+\\s+sleep\\n$`));
  const d = await run('diff', 'td');
  assert.equal(d.stdout, 'C /bin\nD /bin/vi\nC /etc\nC /etc/passwd\nA /ready\nC /tmp\nA /tmp/new\nA /tmp/new/f\n');
  await run('stop', '-t', '0', 'td');
  assert.equal((await run('top', 'td')).code, 1);
  // the changes stay with the stopped container
  assert.equal((await run('diff', 'td')).stdout, d.stdout);
});
