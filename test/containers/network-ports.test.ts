/**
 * Published ports of a container on a user-defined network (`docker network create app && docker
 * run -d --network app -p 127.0.0.1:8080:80 nginx`): the host's loopback reaches busybox httpd
 * through the DNAT map of the network's own nftables table, `-p CTRPORT` and `-P` too, a peer on
 * the network reaches the host's port through the bridge (hairpin), `port` and ps PORTS show the
 * ports; containers of another user network and of the default bridge still cannot reach it by
 * its address (the isolation rule lets only DNATed traffic in); the rules go with stop, with a
 * killed monitor at the next `ps` (which also takes its name from its peers' /etc/hosts), and with
 * `rm -f`, leaving nothing; a dead container's rule for
 * the same host port in the default bridge's table is swept (it would win the DNAT). Traffic goes only to
 * 127.0.0.1 and to the bridges of the networks the test makes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { useContainerStore } from '../helpers/containers.js';
import { assertNothingLeft, freePort, holdings, networkLeftovers, processAlive, RUN_ROOT, rulesFor } from './leftovers.js';
import { httpGet } from './http-get.js';

const base = useContainerStore();
const run = base.run;
const ok = base.ok;

async function waitFor(fn: () => Promise<boolean> | boolean, ms = 15_000): Promise<void> {
  for (const until = Date.now() + ms; Date.now() < until; await new Promise((r) => setTimeout(r, 100))) if (await fn()) return;
  assert.fail('timed out');
}

const HTTPD = 'mkdir -p /www && echo hello > /www/index.html && exec httpd -f -p 80 -h /www';

test('-p and -P on a user network: served to the host and through the bridge, isolated from other networks, rules gone with the container', { timeout: 170_000 }, async () => {
  const names = ['web', 'peer', 'stranger', 'plain'];
  try {
    const appId = await ok('network', 'create', 'app');
    const otherId = await ok('network', 'create', 'other');
    const table = `tsb_${appId.slice(0, 12)}`;
    const port = await freePort();
    // a dead container's rule for the port in another network's table would win the DNAT: swept
    await ok('run', '-d', '--name', 'plain', base.baseId, 'sleep', '300');
    const ghost = spawnSync('nft', ['add', 'element', 'ip', 'tsbuild', 'pub_ip', `{ 127.0.0.1 . tcp . ${port} comment "999999999 1" : 10.89.0.250 . 80 }`], { encoding: 'utf8' });
    assert.equal(ghost.status, 0, ghost.stderr);
    const id = await ok('run', '-d', '--name', 'web', '--network', 'app', '-p', `127.0.0.1:${port}:80`, '-p', '80', '--expose', '81', '-P', base.baseId, 'sh', '-c', HTTPD);
    await waitFor(async () => (await httpGet(port, '/index.html').catch(() => '')) === '200 hello\n');

    // port and ps show every binding; the rules are in the network's own table, not the default's
    const lines = (await ok('port', 'web')).split('\n').sort();
    assert.equal(lines.length, 3, lines.join('\n'));
    assert.match(lines[0]!, /^80\/tcp -> 0\.0\.0\.0:\d+$/);
    assert.equal(lines[1], `80/tcp -> 127.0.0.1:${port}`);
    assert.match(lines[2]!, /^81\/tcp -> 0\.0\.0\.0:\d+$/);
    const anyPort = Number(lines[0]!.split(':')[1]);
    const ps = await ok('ps', '--filter', 'name=web', '--format', '{{.Ports}}');
    for (const p of [`127.0.0.1:${port}->80/tcp`, `0.0.0.0:${anyPort}->80/tcp`, '->81/tcp']) assert.ok(ps.includes(p), ps);
    assert.equal(rulesFor(port, table).length, 1);
    assert.equal(rulesFor(anyPort, table).length, 1);
    assert.deepEqual(rulesFor(port), [], 'the ghost is gone');
    assert.equal(readFileSync(`/proc/sys/net/ipv4/conf/tsb-${appId.slice(0, 11)}/route_localnet`, 'utf8').trim(), '1');

    const ip = await ok('inspect', '-f', '{{(index .NetworkSettings.Networks "app").IPAddress}}', 'web');
    const gateway = await ok('network', 'inspect', '-f', '{{(index .IPAM.Config 0).Gateway}}', 'app');
    await ok('run', '-d', '--name', 'peer', '--network', 'app', base.baseId, 'sleep', '300');
    await ok('run', '-d', '--name', 'stranger', '--network', 'other', base.baseId, 'sleep', '300');
    const fetch = (from: string, url: string) => run('exec', from, 'timeout', '5', 'wget', '-q', '-O', '-', url);
    // a peer on the network reaches it by address, and through the host's port (hairpin NAT);
    // (busybox wget -T crashes here: the time limit is timeout's)
    assert.equal((await fetch('peer', `http://${ip}/index.html`)).stdout, 'hello\n');
    assert.equal((await fetch('peer', `http://${gateway}:${anyPort}/index.html`)).stdout, 'hello\n');
    // another user network and the default bridge do not reach its address (isolation kept)
    for (const from of ['stranger', 'plain']) {
      const r = await fetch(from, `http://${ip}/index.html`);
      assert.notEqual(r.code, 0, `${from} reached ${ip}: ${r.stdout}`);
    }

    // stop takes the rules away, start puts them back
    await ok('stop', '-t', '1', 'web');
    assert.deepEqual([...rulesFor(port, table), ...rulesFor(anyPort, table)], []);
    await ok('start', 'web');
    await waitFor(async () => (await httpGet(port, '/index.html').catch(() => '')) === '200 hello\n');
    assert.equal(rulesFor(port, table).length, 1);

    // a killed monitor runs no exit command: the next command that looks removes its rules, and
    // its name from its peers' /etc/hosts
    await waitFor(async () => /\tweb\b/.test(await ok('exec', 'peer', 'cat', '/etc/hosts')));
    const mon = Number(readFileSync(join(RUN_ROOT, id, 'monitor'), 'utf8').split(' ')[0]);
    process.kill(mon, 'SIGKILL');
    await waitFor(() => !processAlive(mon));
    assert.match(await ok('ps', '-a', '--filter', 'name=web', '--format', '{{.Status}}'), /^Exited/);
    assert.deepEqual([...rulesFor(port, table), ...rulesFor(anyPort, table)], []);
    assert.doesNotMatch(await ok('exec', 'peer', 'cat', '/etc/hosts'), /\tweb\b/);

    await ok('start', 'web');
    await waitFor(async () => (await httpGet(port, '/index.html').catch(() => '')) === '200 hello\n');
    const held = holdings(base.root, id);
    await ok('rm', '-f', ...names);
    assert.deepEqual([...rulesFor(port, table), ...rulesFor(anyPort, table)], [], 'rm -f removes the rules');
    await assertNothingLeft(base.root, held);
    await ok('network', 'rm', 'app', 'other');
    assert.deepEqual([...networkLeftovers(appId), ...networkLeftovers(otherId)], []);
  } finally {
    await run('rm', '-f', ...names);
    await run('network', 'rm', 'app', 'other');
  }
});
