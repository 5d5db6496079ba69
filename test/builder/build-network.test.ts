/**
 * The build's network rules, as BuildKit applies them: RUN gets a private network namespace behind
 * tsbuild's bridge by default; `none` is only lo; `host` needs the network.host entitlement
 * (`--allow network.host`), refused before any step runs; `RUN --network=` narrows the build's
 * network, never widens it. Decoys on the host prove what a step reaches: a TCP canary on
 * 127.0.0.1 and an abstract unix socket canary.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { TsbuildError } from '../../src/errors.js';
import { BridgeNetwork, DEFAULT_BRIDGE } from '../../src/runtime/index.js';
import { parseCidr, overlaps } from '../../src/runtime/network-ipam.js';
import { stepNetwork } from '../../src/builder/network-policy.js';
import { buildFails, buildFiles, imageFile, makeBaseStore, makeContext, type TempStore } from '../helpers/build.js';
import { runCli } from '../helpers/cli.js';

let s: TempStore;
const connections: string[] = [];
const canary = createServer((c) => {
  connections.push(String(c.remoteAddress));
  c.end('canary-token\n');
});
const abstractName = `tsbuild-canary-b${process.pid}`;
const abstract = createServer((c) => c.end('abstract-token\n'));
let port = 0;

before(async () => {
  s = await makeBaseStore();
  await new Promise<void>((r) => canary.listen(0, '127.0.0.1', r));
  port = (canary.address() as AddressInfo).port;
  await new Promise<void>((r) => abstract.listen(`\0${abstractName}`, r));
});
after(() => {
  canary.close();
  abstract.close();
  s?.cleanup();
});

test('the network of a RUN: none wins, a Dockerfile cannot widen --network=none, default means the build', () => {
  const cases: [Parameters<typeof stepNetwork>[0], Parameters<typeof stepNetwork>[1], string][] = [
    ['default', undefined, 'default'],
    ['default', 'none', 'none'],
    ['default', 'host', 'host'],
    ['none', undefined, 'none'],
    ['none', 'default', 'none'],
    ['none', 'host', 'none'],
    ['host', undefined, 'host'],
    ['host', 'default', 'host'],
    ['host', 'none', 'none'],
  ];
  for (const [build, run, want] of cases) assert.equal(stepNetwork(build, run), want, `build ${build}, RUN ${run}`);
});

/** A RUN line that records whether the canary answered (and never fails itself). */
const probe = (file: string) => `if nc -w 3 127.0.0.1 ${port} </dev/null | grep -q canary-token; then echo reached; else echo unreachable; fi > /${file}`;

/** Address entries this process holds in tsbuild's IPAM directory. */
function ourIpamEntries(): string[] {
  const dir = join('/run/tsbuild/ipam', DEFAULT_BRIDGE);
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((n) => {
    try {
      return readFileSync(join(dir, n), 'utf8').startsWith(`${process.pid} `);
    } catch {
      return false;
    }
  });
}

test("a default RUN cannot reach the host's 127.0.0.1 or its abstract sockets; RUN --network=host with the entitlement can", async () => {
  const seen = connections.length;
  const b = await buildFiles(
    s.root,
    `FROM busybox
RUN ${probe('default')}; grep -c @${abstractName} /proc/net/unix > /abstract-default || true
RUN --network=host ${probe('host')}; grep -c @${abstractName} /proc/net/unix > /abstract-host || true
`,
    {},
    { allow: ['network.host'] },
  );
  assert.equal(imageFile(b, 'default'), 'unreachable\n');
  assert.equal(imageFile(b, 'abstract-default'), '0\n');
  assert.equal(imageFile(b, 'host'), 'reached\n', 'the canary check itself works');
  assert.equal(imageFile(b, 'abstract-host'), '1\n');
  assert.equal(connections.length, seen + 1, 'only the host-network step connected');
});

test("a default RUN has eth0 on tsbuild's subnet and reaches the gateway; nothing is left after the build", async () => {
  const info = await new BridgeNetwork().ensure();
  const b = await buildFiles(s.root, `FROM busybox\nRUN ip -4 -o addr show eth0 > /addr; ping -c1 -W3 ${info.gateway} > /ping; cat /sys/class/net/eth0/iflink > /iflink\n`);
  const addr = /inet (\d+\.\d+\.\d+\.\d+)\/(\d+)/.exec(imageFile(b, 'addr') ?? '');
  assert.ok(addr, imageFile(b, 'addr'));
  assert.ok(overlaps(parseCidr(`${addr[1]}/32`)!, parseCidr(info.subnet)!), `${addr[1]} in ${info.subnet}`);
  assert.equal(Number(addr[2]), info.prefixLength);
  assert.match(imageFile(b, 'ping') ?? '', /1 packets received/);
  assert.deepEqual(ourIpamEntries(), []);
  await vethGone(Number(imageFile(b, 'iflink')));
});

test('--network=none: RUN --network=host and --network=default still get only lo', async () => {
  const seen = connections.length;
  const b = await buildFiles(
    s.root,
    `FROM busybox\nRUN --network=host ${probe('host')}; ls /sys/class/net > /ifs-host\nRUN --network=default ls /sys/class/net > /ifs-default\n`,
    {},
    { network: 'none', allow: ['network.host'] },
  );
  assert.equal(imageFile(b, 'host'), 'unreachable\n');
  assert.equal(imageFile(b, 'ifs-host'), 'lo\n');
  assert.equal(imageFile(b, 'ifs-default'), 'lo\n');
  assert.equal(connections.length, seen);
});

test('host networking without the entitlement fails before any step runs', async () => {
  for (const [dockerfile, opts] of [
    [`FROM busybox\nRUN echo first > /first\nRUN --network=host ${probe('x')}\n`, {}],
    [`FROM busybox\nRUN --network=host ${probe('x')}\n`, { network: 'none' as const }],
    [`FROM busybox\nRUN ${probe('y')}\n`, { network: 'host' as const }],
  ] as const) {
    const f = await buildFails(s.root, dockerfile, {}, opts);
    assert.ok(f.error instanceof TsbuildError, String(f.error));
    assert.match(f.error.message, /^network\.host is not allowed/);
    assert.deepEqual(f.steps, [], 'no step started');
  }
  const rf = await buildFails(s.root, `FROM busybox\nRUN --network=host true\n`, {}, {});
  assert.deepEqual((rf.error as TsbuildError).location?.line, 2, 'the RUN that asks is named');
});

test('CLI: --network host needs --allow network.host (exit 1, nothing run); with it the host network is used', async () => {
  const ctx = makeContext({ Dockerfile: `FROM busybox\nRUN ${probe('cli')} && cat /cli\n` });
  const seen = connections.length;
  const denied = await runCli(['build', '--root', s.root, '--progress', 'plain', '--network', 'host', ctx]);
  assert.equal(denied.code, 1, denied.stderr);
  assert.match(denied.stderr, /network\.host is not allowed/);
  assert.doesNotMatch(denied.stderr, /RUN/);
  assert.equal(connections.length, seen);
  const bad = await runCli(['build', '--root', s.root, '--allow', 'network.everything', ctx]);
  assert.equal(bad.code, 1, bad.stderr); // buildx checks --allow in the command: exit 1
  const ok = await runCli(['build', '--root', s.root, '--progress', 'plain', '--network', 'host', '--allow', 'network.host', ctx]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stderr, /reached/);
  assert.equal(connections.length, seen + 1);
});

test('two concurrent builds get different addresses, and give them back', async () => {
  // both steps wait in a shared cache mount until the other has started: they overlap for sure
  const id = `rendezvous-${process.pid}`;
  const step = (n: number) =>
    `FROM busybox\nRUN --mount=type=cache,id=${id},target=/c ip -4 -o addr show eth0 > /addr; cat /sys/class/net/eth0/iflink > /iflink; touch /c/${n}; ` +
    `i=0; while [ "$(ls /c | wc -l)" -lt 2 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done; ls /c | wc -l > /met\n`;
  const [a, b] = await Promise.all([buildFiles(s.root, step(1)), buildFiles(s.root, step(2))]);
  assert.equal(imageFile(a, 'met')!.trim(), '2');
  assert.equal(imageFile(b, 'met')!.trim(), '2');
  const ip = (x: typeof a) => /inet (\S+)\//.exec(imageFile(x, 'addr') ?? '')?.[1];
  assert.ok(ip(a) && ip(b), `${imageFile(a, 'addr')} ${imageFile(b, 'addr')}`);
  assert.notEqual(ip(a), ip(b));
  assert.deepEqual(ourIpamEntries(), []);
  await vethGone(Number(imageFile(a, 'iflink')));
  await vethGone(Number(imageFile(b, 'iflink')));
});

/** The host end of a step's veth (its ifindex as the step saw it) disappears with the namespace. */
async function vethGone(ifindex: number): Promise<void> {
  assert.ok(ifindex > 0);
  const present = () =>
    readdirSync('/sys/class/net').some((n) => {
      try {
        return Number(readFileSync(`/sys/class/net/${n}/ifindex`, 'utf8')) === ifindex;
      } catch {
        return false;
      }
    });
  const end = Date.now() + 3000;
  while (present() && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  assert.ok(!present(), `interface ${ifindex} is gone`);
}
