/**
 * `--log-driver syslog` on real containers: the monitor sends each line to a UDP syslog receiver
 * of the test's own (127.0.0.1) in Docker's formats — the default `<PRI>Jan _2 15:04:05
 * TAG[PID]: MSG` with the 12-character ID as tag and facility daemon (stdout info 30, stderr
 * err 27), rfc5424 with a tag template and another facility — a last line without newline too;
 * `logs` still answers (Docker 20.10's dual logging); Docker's errors for bad options.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { hostname } from 'node:os';
import { useContainerStore } from '../helpers/containers.js';

const base = useContainerStore();
const run = base.run;

test('lines reach a syslog receiver in Docker\'s formats; logs still reads; bad options', { timeout: 180_000 }, async () => {
  const sock = createSocket('udp4');
  const got: string[] = [];
  sock.on('message', (m) => got.push(m.toString('utf8')));
  await new Promise<void>((res) => sock.bind(0, '127.0.0.1', () => res()));
  const address = `udp://127.0.0.1:${sock.address().port}`;
  const until = async (n: number) => {
    for (let i = 0; i < 400 && got.length < n; i++) await new Promise((r) => setTimeout(r, 25));
  };
  try {
    const r = await run('run', '-d', '--name', 'sl', '--network', 'none', '--log-driver', 'syslog', '--log-opt', `syslog-address=${address}`, 'busybox', 'sh', '-c', 'echo out; echo err >&2; printf last');
    assert.equal(r.code, 0, r.stderr);
    const id12 = r.stdout.trim().slice(0, 12);
    assert.equal((await run('wait', 'sl')).stdout, '0\n');
    await until(3);
    const line = (pri: number, msg: string) => new RegExp(`^<${pri}>[A-Z][a-z]{2} [ \\d]\\d \\d\\d:\\d\\d:\\d\\d ${id12}\\[\\d+\\]: ${msg}$`);
    assert.equal(got.length, 3, got.join('|'));
    assert.ok(got.some((g) => line(30, 'out').test(g)), got.join('|'));
    assert.ok(got.some((g) => line(27, 'err').test(g)), got.join('|'));
    assert.ok(got.some((g) => line(30, 'last').test(g)), got.join('|'));
    const logs = await run('logs', 'sl');
    assert.deepEqual([logs.code, logs.stdout, logs.stderr], [0, 'out\nlast', 'err\n']);
    assert.equal((await run('inspect', '--format', '{{.HostConfig.LogConfig.Type}}', 'sl')).stdout, 'syslog\n');

    got.length = 0;
    const r2 = await run('run', '--rm', '--name', 'sl2', '--network', 'none', '--log-driver', 'syslog', '--log-opt', `syslog-address=${address}`, '--log-opt', 'syslog-format=rfc5424', '--log-opt', 'syslog-facility=local0', '--log-opt', 'tag={{.Name}}-x', 'busybox', 'echo', 'hello');
    assert.deepEqual([r2.code, r2.stdout], [0, 'hello\n']);
    await until(1);
    assert.match(got[0] ?? '', new RegExp(`^<134>1 \\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d(Z|[+-]\\d\\d:\\d\\d) ${hostname()} sl2-x \\d+ sl2-x - hello$`));

    const unknown = await run('run', '--rm', '--log-driver', 'syslog', '--log-opt', 'foo=1', 'busybox', 'true');
    assert.deepEqual([unknown.code, unknown.stderr], [125, "tsbuild: unknown log opt 'foo' for syslog log driver\n"]);
    const addr = await run('run', '--rm', '--log-driver', 'syslog', '--log-opt', 'syslog-address=ftp://x', 'busybox', 'true');
    assert.deepEqual([addr.code, addr.stderr], [125, 'tsbuild: syslog-address should be in form proto://address, got ftp://x\n']);
    const fmt = await run('run', '--rm', '--log-driver', 'syslog', '--log-opt', 'syslog-format=x', 'busybox', 'true');
    assert.deepEqual([fmt.code, fmt.stderr], [125, 'tsbuild: Invalid syslog format\n']);
  } finally {
    sock.close();
  }
});
