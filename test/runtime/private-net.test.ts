/**
 * network 'private' (issue 9, finding 1): the run's own network namespace gets an eth0 from the
 * caller's netAttach (here a veth pair of the test's own, addresses in 10.253.X.0/30 only), the
 * host's loopback services stay out of reach, and nothing is left once the run is over.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { createRuntime, type RunSpec } from '../../src/runtime/index.js';
import { runSandbox, type NetAttachment } from '../../src/runtime/sandbox.js';
import { isTsbuildError } from '../../src/errors.js';
import { scratch, sink } from './rootfs-fixture.js';

const s = scratch();
after(() => s.cleanup());
const rt = createRuntime({ tmpDir: s.mkdir('runs') });
const x = 20 + (process.pid % 200);
const hostAddr = `10.253.${x}.1`;
const innerAddr = `10.253.${x}.2`;
const hostIf = `tsbpn${process.pid % 100000}`;

const linkExists = (name: string) => spawnSync('ip', ['link', 'show', name], { stdio: 'ignore' }).status === 0;
after(() => {
  if (linkExists(hostIf)) execFileSync('ip', ['link', 'del', hostIf]);
});

/** netAttach of the test's own: a veth pair, the inner end created right in the run's namespace. */
function veth(calls: number[]): (pid: number) => Promise<NetAttachment> {
  return async (pid) => {
    calls.push(pid);
    execFileSync('ip', ['link', 'add', hostIf, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', String(pid)]);
    execFileSync('ip', ['addr', 'add', `${hostAddr}/30`, 'dev', hostIf]);
    execFileSync('ip', ['link', 'set', hostIf, 'up']);
    return { address: innerAddr, prefixLength: 30, gateway: hostAddr, mtu: 1400 };
  };
}

async function sh(script: string, extra: Partial<RunSpec>) {
  const fs = await rt.prepare(s.mounts([s.busybox]));
  const out = sink();
  const err = sink();
  try {
    const r = await rt.run(fs, { args: ['/bin/sh', '-c', script], env: [], network: 'private', stdout: out.fn, stderr: err.fn, timeoutMs: 30_000, ...extra });
    return { ...r, stdout: out.text(), stderr: err.text() };
  } finally {
    await rt.release(fs);
  }
}

test("network 'private': eth0 is configured before the command starts; the host's loopback stays out of reach", async () => {
  // a canary service on the host's 127.0.0.1
  const accepted: Socket[] = [];
  const canary = createServer((c) => {
    accepted.push(c);
    c.end('canary\n');
  });
  await new Promise<void>((r) => canary.listen(0, '127.0.0.1', r));
  const port = (canary.address() as { port: number }).port;
  const calls: number[] = [];
  let released = 0;
  const attach = veth(calls);
  try {
    const r = await sh(
      `ip -4 addr show eth0 2>/dev/null | grep -o "inet [0-9./]*"; grep -c eth0: /proc/net/dev; cat /sys/class/net/eth0/mtu; ` +
        `ip route 2>/dev/null | grep default; ping -c1 -W2 ${hostAddr} >/dev/null && echo ping=ok; ` +
        `nc -w 1 127.0.0.1 ${port} </dev/null; echo lo=$?; nc -w 1 ${hostAddr} ${port} </dev/null; echo hostaddr=$?`,
      { netAttach: async (pid) => ({ ...(await attach(pid)), release: () => void released++ }) },
    );
    assert.equal(r.exitCode, 0, r.stderr);
    assert.equal(calls.length, 1);
    const lines = r.stdout.split('\n');
    assert.equal(lines[0], `inet ${innerAddr}/30`);
    assert.equal(lines[1], '1');
    assert.equal(lines[2], '1400');
    assert.match(r.stdout, new RegExp(`default via ${hostAddr.replace(/\./g, '\\.')} dev eth0`));
    assert.match(r.stdout, /^ping=ok$/m);
    assert.match(r.stdout, /^lo=[1-9]/m);
    assert.match(r.stdout, /^hostaddr=[1-9]/m);
    assert.doesNotMatch(r.stdout, /canary/);
    assert.equal(accepted.length, 0);
    assert.equal(released, 1);
  } finally {
    canary.close();
  }
  // the veth pair died with the run's namespace
  assert.equal(linkExists(hostIf), false);
});

test('a failing netAttach fails the run before the command starts, with its reason; nothing is left', async () => {
  const marker = s.mkdir('net-fail-marker');
  const attach = veth([]);
  await assert.rejects(
    sh('touch /m/started', {
      mounts: [{ type: 'bind', source: marker, target: '/m', readonly: false }],
      netAttach: async (pid) => {
        await attach(pid); // half-way: the interface exists when it gives up
        throw new Error('no address left in 10.253.0.0/16');
      },
    }),
    (e) => isTsbuildError(e) && e.code === 'RUNTIME' && /network: no address left in 10\.253\.0\.0\/16/.test(e.message),
  );
  assert.equal(linkExists(hostIf), false);
  assert.equal(existsSync(join(marker, 'started')), false);
});

test("runSandbox: network 'private' needs netAttach", async () => {
  const fs = await rt.prepare(s.mounts([s.busybox]));
  try {
    const spec = { lowerDirs: [...fs.lowerDirs], upperDir: fs.upperDir, workDir: fs.workDir, mountPoint: fs.mountPoint };
    await assert.rejects(
      runSandbox({ ...spec, args: ['true'], env: [], network: 'private' }),
      (e) => isTsbuildError(e) && e.code === 'INVALID',
    );
  } finally {
    await rt.release(fs);
  }
});
