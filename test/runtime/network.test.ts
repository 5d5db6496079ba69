/**
 * tsbuild's bridge network, driven directly with namespaces the test makes (`unshare --net`) and a
 * bridge, nftables tables and state directory of its own, all removed at the end. Traffic goes only
 * to the bridge's gateway and to a namespace the test creates as "the outside world".
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BridgeNetwork } from '../../src/runtime/network.js';
import { filterResolvConf } from '../../src/runtime/network-resolv.js';
import { overlaps, parseCidr } from '../../src/runtime/network-ipam.js';

const tag = String(process.pid % 100000);
const bridge = `tsbt${tag}`;
const table = `tsbuild_t${tag}`;
const stateDir = mkdtempSync(join(tmpdir(), 'tsbuild-net-test-'));
// the first candidate is taken by a route the test adds: set-up must skip it
const blackhole = '10.201.0.0/24';
const candidates = [blackhole, '10.201.1.0/24'];
const outside = { ns: `tsbt-out-${tag}`, hostIf: `tsbto${tag}`, host: '10.201.9.1', peer: '10.201.9.2' };
const opts = { bridge, table, stateDir, candidates };
const children: ChildProcess[] = [];
/** Host ends of every veth the tests made: all must be gone at the end. */
const veths: string[] = [];

const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
const quiet = (f: () => unknown) => {
  try {
    f();
  } catch {
    /* already gone */
  }
};

ip('route', 'add', 'blackhole', blackhole);
after(async () => {
  for (const c of children) c.kill('SIGKILL');
  quiet(() => ip('route', 'del', 'blackhole', blackhole));
  quiet(() => ip('netns', 'del', outside.ns));
  quiet(() => ip('link', 'del', outside.hostIf));
  await new BridgeNetwork(opts).remove().catch(() => {});
  rmSync(stateDir, { recursive: true, force: true });
  await until('every veth to disappear', () => veths.every((v) => !existsSync(`/sys/class/net/${v}`)));
});

/** A process in a new network namespace of its own, until killed. */
async function namespace(): Promise<ChildProcess> {
  const c = spawn('unshare', ['--net', 'sleep', '60'], { stdio: 'ignore' });
  children.push(c);
  // unshare execs sleep in the same process: wait until the namespace differs from ours
  const mine = readlinkNs(process.pid);
  for (let i = 0; i < 200 && readlinkNs(c.pid!) === mine; i++) await new Promise((r) => setTimeout(r, 5));
  return c;
}

function readlinkNs(pid: number): string {
  try {
    return execFileSync('readlink', [`/proc/${pid}/ns/net`]).toString();
  } catch {
    return '';
  }
}

function inNs(pid: number, script: string, timeout = 10_000): string {
  return execFileSync('nsenter', ['-t', String(pid), '-n', 'sh', '-c', script], { stdio: ['ignore', 'pipe', 'pipe'], timeout }).toString();
}

async function gone(c: ChildProcess): Promise<void> {
  if (c.exitCode === null && c.signalCode === null) {
    c.kill('SIGKILL');
    await new Promise((r) => c.once('close', r));
  }
}

/** BridgeNetwork.attach, recording the veth. */
async function attach(net: BridgeNetwork, pid: number) {
  const a = await net.attach(pid);
  veths.push(a.hostInterface);
  return a;
}

async function until(what: string, f: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!f()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('subnet parsing and overlap', () => {
  assert.deepEqual(parseCidr('10.89.3.4/16'), { base: 0x0a590000, prefixLength: 16 });
  assert.equal(parseCidr('10.89.0.0/33'), undefined);
  assert.equal(parseCidr('300.1.1.1/8'), undefined);
  assert.ok(overlaps(parseCidr('10.0.0.0/8')!, parseCidr('10.89.0.0/16')!));
  assert.ok(!overlaps(parseCidr('10.88.0.0/16')!, parseCidr('10.89.0.0/16')!));
  assert.ok(overlaps(parseCidr('10.89.255.255/32')!, parseCidr('10.89.0.0/16')!));
});

test("resolv.conf for a private network drops loopback and IPv6 nameservers, falling back to Docker's", () => {
  assert.equal(
    filterResolvConf('search example.org\nnameserver 127.0.0.53\nnameserver 10.255.255.53\nnameserver ::1\noptions edns0\n'),
    'search example.org\nnameserver 10.255.255.53\noptions edns0\n',
  );
  assert.equal(filterResolvConf('nameserver 127.0.0.1\nnameserver fd00::1\n'), 'nameserver 8.8.8.8\nnameserver 8.8.4.4\n');
  assert.equal(filterResolvConf(''), 'nameserver 8.8.8.8\nnameserver 8.8.4.4\n');
});

test('the bridge is set up once, on a subnet clear of the host routes, with NAT and route_localnet off', async () => {
  // two "processes" racing for the first set-up
  const [a, b] = await Promise.all([new BridgeNetwork(opts).ensure(), new BridgeNetwork(opts).ensure()]);
  assert.deepEqual(a, b);
  assert.equal(a.subnet, '10.201.1.0/24');
  assert.equal(a.gateway, '10.201.1.1');
  assert.match(ip('-4', 'addr', 'show', 'dev', bridge), /inet 10\.201\.1\.1\/24/);
  assert.equal(readFileSync(`/proc/sys/net/ipv4/conf/${bridge}/route_localnet`, 'utf8').trim(), '0');
  assert.equal(readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim(), '1');
  const rules = execFileSync('nft', ['list', 'table', 'ip', table]).toString();
  assert.match(rules, new RegExp(`ip saddr 10\\.201\\.1\\.0/24 oifname != "${bridge}" masquerade`));
  assert.deepEqual(JSON.parse(readFileSync(join(stateDir, `${bridge}.json`), 'utf8')).subnet, '10.201.1.0/24');

  // someone turns route_localnet on: the next process's set-up turns it off again
  writeFileSync(`/proc/sys/net/ipv4/conf/${bridge}/route_localnet`, '1');
  const again = await new BridgeNetwork(opts).ensure();
  assert.deepEqual(again, a);
  assert.equal(readFileSync(`/proc/sys/net/ipv4/conf/${bridge}/route_localnet`, 'utf8').trim(), '0');
});

test('an attached namespace gets eth0 on the bridge, reaches the gateway, and leaves nothing behind', async () => {
  const net = new BridgeNetwork(opts);
  const ns = await namespace();
  const a = await attach(net, ns.pid!);
  assert.equal(a.gateway, '10.201.1.1');
  assert.ok(overlaps(parseCidr(`${a.address}/32`)!, parseCidr('10.201.1.0/24')!), a.address);
  assert.match(ip('-d', 'link', 'show', 'dev', a.hostInterface), new RegExp(`master ${bridge} .*`));
  assert.match(ip('-d', 'link', 'show', 'dev', a.hostInterface), /isolated on/);
  inNs(ns.pid!, `ip link set lo up && ip addr add ${a.address}/${a.prefixLength} dev eth0 && ip link set eth0 up && ip route add default via ${a.gateway}`);
  assert.match(inNs(ns.pid!, `busybox ping -c1 -W2 ${a.gateway}`), /1 packets received/);
  assert.deepEqual(net.addressesInUse(), [a.address]);
  await gone(ns);
  a.release();
  assert.deepEqual(net.addressesInUse(), []);
  // the kernel tears the namespace down asynchronously; the veth goes with it
  await until('the veth to disappear', () => !existsSync(`/sys/class/net/${a.hostInterface}`));
});

test('traffic leaves through NAT: the outside sees the host address, and replies come back', async () => {
  // "the outside world": a namespace of the test's own, behind a veth on the host
  ip('netns', 'add', outside.ns);
  ip('link', 'add', outside.hostIf, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', outside.ns);
  ip('addr', 'add', `${outside.host}/30`, 'dev', outside.hostIf);
  ip('link', 'set', outside.hostIf, 'up');
  ip('-n', outside.ns, 'addr', 'add', `${outside.peer}/30`, 'dev', 'eth0');
  ip('-n', outside.ns, 'link', 'set', 'eth0', 'up');
  ip('-n', outside.ns, 'link', 'set', 'lo', 'up');
  // a server there that answers with the address it saw the client come from
  const server = spawn('ip', ['netns', 'exec', outside.ns, process.execPath, '-e', `require('net').createServer((s) => s.end(s.remoteAddress + '\\n')).listen(8080, '0.0.0.0', () => console.log('up'))`], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(server);
  await new Promise((r) => server.stdout!.once('data', r));

  const net = new BridgeNetwork(opts);
  const ns = await namespace();
  const a = await attach(net, ns.pid!);
  try {
    inNs(ns.pid!, `ip addr add ${a.address}/${a.prefixLength} dev eth0 && ip link set eth0 up && ip route add default via ${a.gateway}`);
    const seen = inNs(ns.pid!, `busybox nc -w 5 ${outside.peer} 8080 </dev/null`).trim();
    assert.equal(seen, outside.host, 'the source address is masqueraded to the host side of the outgoing link');
  } finally {
    await gone(ns);
    a.release();
    await gone(server);
  }
});

test('two namespaces get different addresses; isolated ports cannot reach each other', async () => {
  const net1 = new BridgeNetwork(opts);
  const net2 = new BridgeNetwork(opts);
  const [n1, n2] = await Promise.all([namespace(), namespace()]);
  const [a1, a2] = await Promise.all([attach(net1, n1.pid!), attach(net2, n2.pid!)]);
  try {
    assert.notEqual(a1.address, a2.address);
    for (const [n, a] of [[n1, a1], [n2, a2]] as const) {
      inNs(n.pid!, `ip addr add ${a.address}/${a.prefixLength} dev eth0 && ip link set eth0 up`);
    }
    assert.match(inNs(n1.pid!, `busybox ping -c1 -W2 ${a1.gateway}`), /1 packets received/);
    assert.throws(() => inNs(n1.pid!, `busybox ping -c1 -W1 ${a2.address}`, 2000), 'one step cannot reach another');
  } finally {
    await Promise.all([gone(n1), gone(n2)]);
    a1.release();
    a2.release();
  }
});

test('address entries of dead processes are reclaimed; a live owner keeps its entry', async () => {
  const dir = join(stateDir, 'ipam', bridge);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, '10.201.1.200'), '999999999 12345\n'); // no such PID
  writeFileSync(join(dir, '10.201.1.201'), `${process.pid} 1\n`); // our PID, but another start time: a reused PID
  const stat = readFileSync('/proc/self/stat', 'utf8');
  writeFileSync(join(dir, '10.201.1.202'), `${process.pid} ${stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]}\n`);
  await new BridgeNetwork(opts).ensure();
  assert.deepEqual(readdirSync(dir).filter((n) => n.startsWith('10.')).sort(), ['10.201.1.202']);
  rmSync(join(dir, '10.201.1.202'));
});

test('remove() takes the bridge, the tables and the state away', async () => {
  const net = new BridgeNetwork(opts);
  await net.ensure();
  await net.remove();
  assert.ok(!existsSync(`/sys/class/net/${bridge}`));
  assert.doesNotMatch(execFileSync('nft', ['list', 'tables']).toString(), new RegExp(`\\b${table}\\b`));
  assert.ok(!existsSync(join(stateDir, `${bridge}.json`)));
});
