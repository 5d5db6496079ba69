/**
 * User-defined networks on real busybox containers: `network create|ls|inspect|rm|prune` with
 * Docker's output and errors; containers on one network reach each other by name, short ID and
 * `--network-alias` (through their /etc/hosts) while the default bridge neither resolves nor
 * reaches them; `rm` is refused while a container is attached (also one whose interface is on the
 * bridge before its state says so), and an attach after `rm` finds the network gone; `connect`/`disconnect` of a
 * running container; an unknown network makes nothing; removal leaves no bridge, nft table,
 * state file or address. Traffic stays between namespaces the tests make.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Networks } from '../../src/containers/networks.js';
import { useContainerStore } from '../helpers/containers.js';
import { networkLeftovers } from './leftovers.js';

const base = useContainerStore();
const run = base.run;
const ok = base.ok;

/** Removes containers and networks even when the test failed midway. */
async function cleanup(containers: string[], networks: string[]): Promise<void> {
  await run('rm', '-f', ...containers);
  for (const n of networks) await run('network', 'rm', n);
}

test('network create, ls, inspect, rm, prune: Docker output and errors', async () => {
  try {
    const id = await ok('network', 'create', '--label', 'tier=front', 'front');
    assert.match(id, /^[0-9a-f]{64}$/);
    const again = await run('network', 'create', 'front');
    assert.equal(again.code, 1);
    assert.equal(again.stderr.trim(), 'tsbuild: network with name front already exists');

    const ls = (await ok('network', 'ls')).split('\n');
    assert.match(ls[0]!, /^NETWORK ID +NAME +DRIVER +SCOPE$/);
    assert.deepEqual(
      ls.slice(1).map((l) => l.split(/ +/).slice(1)),
      [['bridge', 'bridge', 'local'], ['front', 'bridge', 'local'], ['host', 'host', 'local'], ['none', 'null', 'local']],
    );
    assert.equal(await ok('network', 'ls', '-q', '--filter', 'name=fro'), id.slice(0, 12));
    assert.equal(await ok('network', 'ls', '--filter', 'label=tier=front', '--format', '{{.Name}} {{.Driver}} {{.Labels}}'), 'front bridge tier=front');

    const [obj] = JSON.parse(await ok('network', 'inspect', 'front')) as Record<string, any>[];
    assert.equal(obj!.Name, 'front');
    assert.equal(obj!.Id, id);
    assert.equal(obj!.Driver, 'bridge');
    assert.deepEqual(obj!.Containers, {});
    assert.deepEqual(obj!.Labels, { 'tier': 'front' });
    const { Subnet, Gateway } = obj!.IPAM.Config[0];
    assert.match(Subnet, /^\d+\.\d+\.\d+\.0\/\d+$/);
    assert.equal(Gateway, Subnet.replace(/\.0\/\d+$/, '.1'));
    assert.equal(await ok('network', 'inspect', '-f', '{{.Name}} {{.Internal}}', id.slice(0, 10)), 'front false');

    // the subnet is taken: Docker's words, nothing made
    const clash = await run('network', 'create', '--subnet', Subnet, 'clash');
    assert.equal(clash.code, 1);
    assert.match(clash.stderr, /Pool overlaps with other one on this address space/);
    const own = await ok('network', 'create', '--subnet', '10.250.3.0/24', '--internal', 'back');
    assert.equal(await ok('network', 'inspect', '-f', '{{(index .IPAM.Config 0).Subnet}} {{(index .IPAM.Config 0).Gateway}} {{.Internal}}', 'back'), '10.250.3.0/24 10.250.3.1 true');

    for (const [args, text] of [
      [['network', 'rm', 'nope'], 'network nope not found'],
      [['network', 'inspect', 'nope'], 'network nope not found'],
      [['network', 'rm', 'host'], 'host is a pre-defined network and cannot be removed'],
      [['network', 'create', 'bridge'], 'network with name bridge already exists'],
    ] as const) {
      const r = await run(...args);
      assert.equal(r.code, 1, args.join(' '));
      assert.equal(r.stderr.trim().split('\n').pop(), `tsbuild: ${text}`);
    }
    assert.equal(await ok('network', 'prune', '-f'), 'Deleted Networks:\nback\nfront');
    assert.deepEqual(readdirSync(join(base.root, 'networks')).filter((n) => n.endsWith('.json')), []);
    assert.deepEqual([...networkLeftovers(id), ...networkLeftovers(own)], []);
  } finally {
    await cleanup([], ['front', 'back']);
  }
});

test('containers on a user network resolve each other by name, short ID and alias; other networks cannot reach them', async () => {
  try {
    const netId = await ok('network', 'create', 'apps');
    const web = await ok('run', '-d', '--name', 'web1', '--network', 'apps', '--network-alias', 'www', base.baseId, 'sleep', '300');
    await ok('run', '-d', '--name', 'client', '--network', 'apps', base.baseId, 'sleep', '300');
    await ok('run', '-d', '--name', 'outsider', base.baseId, 'sleep', '300');
    const ip = await ok('inspect', '-f', '{{(index .NetworkSettings.Networks "apps").IPAddress}}', 'web1');
    const subnet = await ok('network', 'inspect', '-f', '{{(index .IPAM.Config 0).Subnet}}', 'apps');
    assert.equal(ip.split('.').slice(0, 2).join('.'), subnet.split('.').slice(0, 2).join('.'));
    assert.equal(await ok('inspect', '-f', '{{.NetworkSettings.IPAddress}}|{{(index .NetworkSettings.Networks "apps").NetworkID}}|{{(index .NetworkSettings.Networks "apps").Aliases}}', 'web1'), `|${netId}|[www]`);

    for (const name of ['web1', 'www', web.slice(0, 12)]) {
      const r = await run('exec', 'client', 'ping', '-c1', '-W3', name);
      assert.equal(r.code, 0, `ping ${name}: ${r.stdout}${r.stderr}`);
      assert.match(r.stdout, new RegExp(`PING ${name} \\(${ip.replace(/\./g, '\\.')}\\)`));
    }
    // the default bridge resolves no names (Docker's) and is isolated from the user network
    assert.notEqual((await run('exec', 'outsider', 'ping', '-c1', '-W1', 'web1')).code, 0);
    assert.notEqual((await run('exec', 'outsider', 'ping', '-c1', '-W1', ip)).code, 0);

    const [obj] = JSON.parse(await ok('network', 'inspect', 'apps')) as Record<string, any>[];
    assert.deepEqual(Object.values(obj!.Containers).map((c: any) => c.Name).sort(), ['client', 'web1']);
    assert.equal(obj!.Containers[web].IPv4Address, `${ip}/${subnet.split('/')[1]}`);

    const busy = await run('network', 'rm', 'apps');
    assert.equal(busy.code, 1);
    assert.equal(busy.stderr.trim(), `tsbuild: error while removing network: network apps id ${netId} has active endpoints`);

    // a stopped container's name leaves its peers' /etc/hosts (its monitor's exit command)
    await ok('kill', 'web1');
    let hosts = '';
    for (let i = 0; i < 100; i++) {
      hosts = await ok('exec', 'client', 'cat', '/etc/hosts');
      if (!hosts.includes('web1')) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.doesNotMatch(hosts, /web1/);
    assert.match(hosts, /\tclient\b/);

    await ok('rm', '-f', 'web1', 'client', 'outsider');
    assert.equal(await ok('network', 'rm', 'apps'), 'apps');
    assert.deepEqual(networkLeftovers(netId), []);
  } finally {
    await cleanup(['web1', 'client', 'outsider'], ['apps']);
  }
});

test('network connect and disconnect a running container', async () => {
  try {
    const netId = await ok('network', 'create', 'side');
    await ok('run', '-d', '--name', 'a1', '--network', 'side', base.baseId, 'sleep', '300');
    await ok('run', '-d', '--name', 'b1', base.baseId, 'sleep', '300');
    // and the one that left forgets its peers
    assert.doesNotMatch(await ok('exec', 'b1', 'cat', '/etc/hosts'), /\ba1\b/);

    await ok('network', 'connect', '--alias', 'bee', 'side', 'b1');
    assert.match(await ok('exec', 'b1', 'ip', '-o', 'addr', 'show', 'eth1'), /inet \d+\.\d+\.\d+\.\d+\//);
    assert.equal((await run('exec', 'b1', 'ping', '-c1', '-W3', 'a1')).code, 0);
    assert.equal((await run('exec', 'a1', 'ping', '-c1', '-W3', 'bee')).code, 0);
    const nets = JSON.parse(await ok('inspect', '-f', '{{json .NetworkSettings.Networks}}', 'b1')) as Record<string, { IPAddress: string; NetworkID: string }>;
    assert.deepEqual(Object.keys(nets).sort(), ['bridge', 'side']);
    assert.equal(nets.side!.NetworkID, netId);
    assert.notEqual(nets.side!.IPAddress, '');
    const twice = await run('network', 'connect', 'side', 'b1');
    assert.equal(twice.code, 1);
    assert.match(twice.stderr, /endpoint with name b1 already exists in network side/);

    await ok('network', 'disconnect', 'side', 'b1');
    assert.notEqual((await run('exec', 'b1', 'ip', 'addr', 'show', 'eth1')).code, 0);
    assert.notEqual((await run('exec', 'a1', 'ping', '-c1', '-W1', 'bee')).code, 0);
    // and the one that left forgets its peers
    assert.doesNotMatch(await ok('exec', 'b1', 'cat', '/etc/hosts'), /\ba1\b/);
    assert.equal(existsSync(`/run/tsbuild/ipam/tsb-${netId.slice(0, 11)}/${nets.side!.IPAddress}`), false, 'address given back');

    // --ip: that address; one outside the subnet is refused
    const subnet = await ok('network', 'inspect', '-f', '{{(index .IPAM.Config 0).Subnet}}', 'side');
    const fixed = subnet.replace(/\.0\/\d+$/, '.77');
    await ok('run', '-d', '--name', 'c1', '--network', 'side', '--ip', fixed, base.baseId, 'sleep', '300');
    assert.equal(await ok('inspect', '-f', '{{(index .NetworkSettings.Networks "side").IPAddress}}', 'c1'), fixed);
    assert.equal((await run('exec', 'a1', 'ping', '-c1', '-W3', 'c1')).code, 0);
    const outside = await run('network', 'connect', '--ip', '192.0.2.7', 'side', 'b1');
    assert.equal(outside.code, 1);
    assert.match(outside.stderr, /no configured subnet or ip-range contain the IP address 192\.0\.2\.7/);

    await ok('rm', '-f', 'a1', 'b1', 'c1');
    await ok('network', 'rm', 'side');
    assert.deepEqual(networkLeftovers(netId), []);
  } finally {
    await cleanup(['a1', 'b1', 'c1'], ['side']);
  }
});

test('an unknown network or an alias on the default bridge: Docker words, exit 125, no container', async () => {
  const before = await ok('ps', '-aq');
  const r = await run('run', '--network', 'nope', base.baseId, 'true');
  assert.equal(r.code, 125);
  assert.equal(r.stderr.trim(), 'tsbuild: network nope not found');
  const alias = await run('run', '--network-alias', 'x', base.baseId, 'true');
  assert.equal(alias.code, 125);
  assert.match(alias.stderr, /network-scoped alias is supported only for containers in user defined networks/);
  const disc = await run('network', 'disconnect', 'nope', 'x');
  assert.equal(disc.code, 1);
  assert.equal(disc.stderr.trim(), 'tsbuild: network nope not found');
  assert.equal(await ok('ps', '-aq'), before);
});

test('network rm against an attach: one on the bridge first keeps the network, one after rm finds it gone', async () => {
  const root = mkdtempSync(join(tmpdir(), 'tsb-netrace-'));
  const ns = spawn('unshare', ['-n', 'sleep', '60'], { stdio: 'ignore' });
  const nets = new Networks(root);
  let id = '';
  try {
    const pid = ns.pid!;
    for (let i = 0; i < 100 && readlinkSync(`/proc/${pid}/ns/net`) === readlinkSync('/proc/self/ns/net'); i++) await new Promise((r) => setTimeout(r, 20));
    const n = await nets.create('racy');
    id = n.Id;
    const starting = nets.bridgeOf(n); // what a start looked up before the rm
    const a = await starting.attach(pid, { isolated: false });
    // no container's state names it yet, but its interface is on the bridge
    await assert.rejects(nets.remove(n, []), /network racy id [0-9a-f]{64} has active endpoints/);
    await starting.detach(a.hostInterface);
    a.release();
    await nets.remove(n, []);
    await assert.rejects(starting.attach(pid, { isolated: false }), /network racy not found/);
    assert.deepEqual(networkLeftovers(id), [], 'the attach after rm made nothing');
  } finally {
    ns.kill('SIGKILL');
    const left = nets.get('racy');
    if (left) await nets.remove(left, []).catch(() => undefined);
    rmSync(root, { recursive: true, force: true });
  }
});
