/**
 * Published ports (-p, -P, port, ps PORTS, inspect) on real containers: traffic from the host's
 * loopback reaches busybox httpd through tsbuild's DNAT maps, a taken port fails with Docker's
 * words and leaves no record, the rules go with stop, rm and a killed monitor, and stop/start
 * publishes again. Traffic goes only to 127.0.0.1.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { useContainerStore } from '../helpers/containers.js';
import { parsePublish, displayPorts, portLines } from '../../src/containers/ports.js';
import { RUN_ROOT, freePort, rulesFor } from './leftovers.js';
import { httpGet } from './http-get.js';

const base = useContainerStore();
const run = base.run;

async function waitFor(fn: () => Promise<boolean>, ms = 10_000): Promise<void> {
  for (const until = Date.now() + ms; Date.now() < until; await new Promise((r) => setTimeout(r, 100))) if (await fn()) return;
  assert.fail('timed out');
}

test('-p parsing as nat.ParsePortSpec, ps PORTS and port lines', () => {
  assert.deepEqual(parsePublish(['127.0.0.1:8080:80', '53/udp', '9000-9001:90-91']), {
    exposed: ['80/tcp', '53/udp', '90/tcp', '91/tcp'],
    bindings: {
      '80/tcp': [{ HostIp: '127.0.0.1', HostPort: '8080' }],
      '53/udp': [{ HostIp: '', HostPort: '' }],
      '90/tcp': [{ HostIp: '', HostPort: '9000' }],
      '91/tcp': [{ HostIp: '', HostPort: '9001' }],
    },
  });
  for (const [spec, msg] of [
    ['abc', /invalid containerPort: abc/],
    ['x:80', /invalid hostPort: x/],
    ['1.2.3:8080:80', /invalid IP address: 1\.2\.3/],
    ['80/xtp', /invalid proto: xtp/],
    ['8080:', /no port specified: 8080:<empty>/],
  ] as const) {
    assert.throws(() => parsePublish([spec]), (e: Error & { exitCode?: number }) => msg.test(e.message) && e.exitCode === 125);
  }
  const pub = [{ proto: 'tcp' as const, hostIp: '0.0.0.0', hostPort: 8080, port: 80 }];
  assert.equal(displayPorts(['80/tcp', '443/tcp'], pub), '0.0.0.0:8080->80/tcp, 443/tcp');
  assert.deepEqual(portLines(pub), ['80/tcp -> 0.0.0.0:8080']);
  assert.deepEqual(portLines(pub, '80'), ['0.0.0.0:8080']);
  assert.equal(portLines(pub, '81/tcp'), undefined);
});

test('a published port serves the host, a second publish is refused, stop/start/rm keep the rules right', { timeout: 180_000 }, async () => {
  const port = await freePort();
  const web = await run('run', '-d', '--name', 'web', '-p', `127.0.0.1:${port}:80`, 'busybox', 'sh', '-c', 'mkdir -p /www && echo hello > /www/index.html && exec httpd -f -p 80 -h /www');
  assert.equal(web.code, 0, web.stderr);
  const id = web.stdout.trim();
  await waitFor(async () => (await httpGet(port, '/index.html').catch(() => '')) === '200 hello\n');
  assert.equal(rulesFor(port).length, 1);
  assert.equal(readFileSync('/proc/sys/net/ipv4/conf/tsbuild0/route_localnet', 'utf8').trim(), '1');

  const ps = await run('ps', '--format', '{{.Names}} {{.Ports}}');
  assert.match(ps.stdout, new RegExp(`^web 127\\.0\\.0\\.1:${port}->80/tcp$`, 'm'));
  assert.deepEqual((await run('port', 'web')).stdout, `80/tcp -> 127.0.0.1:${port}\n`);
  assert.deepEqual((await run('port', 'web', '80/tcp')).stdout, `127.0.0.1:${port}\n`);
  const none = await run('port', 'web', '81');
  assert.deepEqual([none.code, none.stderr], [1, "tsbuild: No public port '81/tcp' published for web\n"]);
  const insp = await run('inspect', '--format', '{{json .NetworkSettings.Ports}} {{json .HostConfig.PortBindings}}', 'web');
  assert.equal(insp.stdout, `{"80/tcp":[{"HostIp":"127.0.0.1","HostPort":"${port}"}]} {"80/tcp":[{"HostIp":"127.0.0.1","HostPort":"${port}"}]}\n`);

  // the port is held: Docker's message, exit 125, and no container left behind
  const again = await run('run', '-d', '--name', 'web2', '-p', `127.0.0.1:${port}:80`, 'busybox', 'true');
  assert.equal(again.code, 125);
  assert.match(again.stderr, new RegExp(`Bind for 127\\.0\\.0\\.1:${port} failed: port is already allocated`));
  assert.equal((await run('ps', '-a', '--format', '{{.Names}}')).stdout, 'web\n');
  assert.equal(rulesFor(port).length, 1);

  assert.equal((await run('stop', '-t', '1', 'web')).code, 0);
  assert.deepEqual(rulesFor(port), [], 'stop removes the rule');
  assert.equal((await run('ps', '-a', '--format', '{{.Ports}}|{{.Status}}')).stdout.split('|')[0], '');
  assert.equal((await run('start', 'web')).code, 0);
  await waitFor(async () => (await httpGet(port, '/index.html').catch(() => '')) === '200 hello\n');

  // the container ends on its own: the monitor's exit command takes the rule away
  const mon = Number(readFileSync(join(RUN_ROOT, id, 'monitor'), 'utf8').split(' ')[2]);
  process.kill(mon, 'SIGKILL');
  await waitFor(async () => rulesFor(port).length === 0, 30_000);
  assert.equal((await run('start', 'web')).code, 0);
  assert.equal(rulesFor(port).length, 1);
  assert.equal((await run('rm', '-f', 'web')).code, 0);
  assert.deepEqual(rulesFor(port), [], 'rm -f removes the rule');
});

test('-p CTRPORT and -P take free host ports; a killed monitor leaves rules the next command removes; bad -p is one line', { timeout: 120_000 }, async () => {
  // rules whose owner is gone (its store was deleted with its records): the next publish sweeps them
  const ghost = await freePort();
  const add = spawnSync('nft', ['add', 'element', 'ip', 'tsbuild', 'pub_any', `{ tcp . ${ghost} comment "999999999 1" : 10.89.0.250 . 80 }`], { encoding: 'utf8' });
  assert.equal(add.status, 0, add.stderr);
  assert.equal(rulesFor(ghost).length, 1);
  const c = await run('run', '-d', '--name', 'any', '--expose', '81', '-P', '-p', '53/udp', 'busybox', 'sleep', '60');
  assert.equal(c.code, 0, c.stderr);
  assert.deepEqual(rulesFor(ghost), []);
  const lines = (await run('port', 'any')).stdout.trim().split('\n').sort();
  assert.equal(lines.length, 2);
  assert.match(lines[0]!, /^53\/udp -> 0\.0\.0\.0:\d+$/);
  assert.match(lines[1]!, /^81\/tcp -> 0\.0\.0\.0:\d+$/);
  const ports = lines.map((l) => Number(l.split(':')[1]));
  for (const p of ports) assert.equal(rulesFor(p).length, 1);
  const mon = Number(readFileSync(join(RUN_ROOT, c.stdout.trim(), 'monitor'), 'utf8').split(' ')[0]);
  process.kill(mon, 'SIGKILL');
  await waitFor(async () => !existsPid(mon));
  // no exit command ran: the next command that looks finds the rules and removes them
  assert.match((await run('ps', '-a', '--format', '{{.Names}} {{.Status}}')).stdout, /^any Exited \(255\)/m);
  for (const p of ports) assert.deepEqual(rulesFor(p), []);
  assert.equal((await run('rm', 'any')).code, 0);

  const bad = await run('run', '-d', '-p', '80:abc', 'busybox', 'true');
  assert.deepEqual([bad.code, bad.stderr], [125, 'tsbuild: invalid containerPort: abc\n']);
  assert.equal((await run('ps', '-aq')).stdout, '');
});

function existsPid(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
