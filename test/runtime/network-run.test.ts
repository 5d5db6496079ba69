/**
 * RUN's default network as the sandbox gives it (network 'private'): a namespace of its own with
 * eth0 on a bridge. Host-side decoys prove what a step cannot reach: a TCP canary on the host's
 * 127.0.0.1 and an abstract unix socket canary, both reachable from network 'host' (so the checks
 * mean something) and not from 'private'. The bridge, tables and state are the test's own.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BridgeNetwork, createRuntime, type RunSpec } from '../../src/runtime/index.js';
import { scratch, sink } from './rootfs-fixture.js';

const tag = String(process.pid % 100000);
const stateDir = mkdtempSync(join(tmpdir(), 'tsbuild-netrun-test-'));
const net = new BridgeNetwork({ bridge: `tsbr${tag}`, table: `tsbuild_r${tag}`, stateDir, candidates: ["10.202.0.0/24"] });
const s = scratch();
const rt = createRuntime({ tmpDir: s.mkdir('runs'), network: net });

/** A canary on the host's loopback: counts connections, answers with a token. */
const connections: string[] = [];
const canary: Server = createServer((c) => {
  connections.push(String(c.remoteAddress));
  c.end('canary-token\n');
});
await new Promise<void>((r) => canary.listen(0, '127.0.0.1', r));
const port = (canary.address() as AddressInfo).port;
/** An abstract unix socket of the host (Linux: a leading NUL). */
const abstractName = `tsbuild-canary-${tag}`;
const abstract = createServer((c) => c.end('abstract-token\n'));
await new Promise<void>((r) => abstract.listen(`\0${abstractName}`, r));

after(async () => {
  canary.close();
  abstract.close();
  s.cleanup();
  await net.remove();
  rmSync(stateDir, { recursive: true, force: true });
});

async function sh(script: string, network: RunSpec['network']) {
  const fs = await rt.prepare(s.mounts([s.busybox]));
  const out = sink();
  try {
    const r = await rt.run(fs, { args: ['/bin/sh', '-c', script], env: [], network, stdout: out.fn, stderr: out.fn });
    return { ...r, out: out.text() };
  } finally {
    await rt.release(fs);
  }
}

test("the host's 127.0.0.1 services answer on network 'host' only", async () => {
  const probe = `nc -w 3 127.0.0.1 ${port} </dev/null`;
  const host = await sh(probe, 'host');
  assert.equal(host.exitCode, 0, host.out);
  assert.match(host.out, /canary-token/);
  const seen = connections.length;
  const priv = await sh(`${probe} && echo REACHED`, 'private');
  assert.doesNotMatch(priv.out, /canary-token|REACHED/);
  assert.equal(connections.length, seen, 'no connection reached the canary from a private namespace');
});

test("the host's abstract unix sockets exist on network 'host' only", async () => {
  // abstract sockets belong to a network namespace; /proc/net/unix lists the reader's namespace's
  const host = await sh('cat /proc/net/unix', 'host');
  assert.match(host.out, new RegExp(`@${abstractName}`));
  const priv = await sh('cat /proc/net/unix', 'private');
  assert.equal(priv.exitCode, 0, priv.out);
  assert.doesNotMatch(priv.out, new RegExp(abstractName));
});

test("network 'private': eth0 on tsbuild's subnet, a default route to the gateway that answers", async () => {
  const info = await net.ensure();
  const r = await sh(`ip -4 addr show eth0; ip route; ping -c1 -W3 ${info.gateway}; cat /sys/class/net/eth0/iflink; cat /etc/resolv.conf`, 'private');
  assert.equal(r.exitCode, 0, r.out);
  assert.match(r.out, /inet 10\.202\.0\.(\d+)\/24/);
  assert.match(r.out, /default via 10\.202\.0\.1 dev eth0/);
  assert.match(r.out, /1 packets received/);
  assert.doesNotMatch(r.out, /nameserver (127\.|::1)/);
  // nothing left: the address is free again, the host end of the veth goes with the namespace
  assert.deepEqual(net.addressesInUse(), []);
  const peer = r.out.split('\n').find((l) => /^\d+$/.test(l))!;
  const hostIf = () => readdirSync('/sys/class/net').filter((n) => existsSync(`/sys/class/net/${n}/ifindex`) && readIfindex(n) === peer);
  const end = Date.now() + 3000;
  while (hostIf().length > 0 && Date.now() < end) await new Promise((res) => setTimeout(res, 20));
  assert.deepEqual(hostIf(), []);
});

test("network 'none' has only lo", async () => {
  const r = await sh('ls /sys/class/net', 'none');
  assert.equal(r.out.trim(), 'lo');
});

function readIfindex(name: string): string {
  try {
    return readFileSync(`/sys/class/net/${name}/ifindex`, 'utf8').trim();
  } catch {
    return '';
  }
}
