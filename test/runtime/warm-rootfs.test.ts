/**
 * A run's dir and /etc files made ahead (runtime.warm, rootfs.ts): the next run takes them as they
 * are when they say what it needs, and writes its own /etc files when its network differs; what no
 * run took is removed by dropWarm.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRuntime, type RunSpec } from '../../src/runtime/index.js';
import { dropSpare } from '../../src/runtime/sandbox.js';
import { scratch, sink } from './rootfs-fixture.js';

const s = scratch();
after(() => {
  dropSpare();
  s.cleanup();
});
const runs = s.mkdir('runs');
const rt = createRuntime({ tmpDir: runs });

async function cat(network: RunSpec['network'], hostname?: string): Promise<{ dir: string; out: string }> {
  const fs = await rt.prepare(s.mounts([s.busybox]));
  const out = sink();
  try {
    const r = await rt.run(fs, { args: ['/bin/sh', '-c', 'cat /etc/hostname /etc/hosts /etc/resolv.conf'], env: [], network, stdout: out.fn, ...(hostname ? { hostname } : {}) });
    assert.equal(r.exitCode, 0);
    return { dir: fs.dir, out: out.text() };
  } finally {
    await rt.release(fs);
  }
}

const hosts = 'tsbuild\n127.0.0.1\tlocalhost tsbuild\n::1\tlocalhost ip6-localhost ip6-loopback\n';

test('warm: the next run takes the dir and /etc files made ahead; another network writes its own, as does another hostname; dropWarm removes an untaken one', async () => {
  rt.warm!(undefined, { network: 'none' });
  const [made] = readdirSync(runs);
  assert.ok(made !== undefined && made.startsWith(`${process.pid}-tsbuild-run-`));
  assert.deepEqual(readdirSync(join(runs, made, 'etc')).sort(), ['hostname', 'hosts', 'resolv.conf']);
  rt.warm!(undefined, { network: 'none' });
  assert.deepEqual(readdirSync(runs), [made], 'one made ahead at a time');

  const none = await cat('none');
  assert.equal(none.dir, join(runs, made), 'the run took the dir made ahead');
  assert.equal(none.out, hosts, 'no nameserver on network none');

  // made ahead for network none, taken by a run on the host's network: the host's resolv.conf
  rt.warm!(undefined, { network: 'none' });
  const host = await cat('host');
  assert.equal(host.out, hosts + readFileSync('/etc/resolv.conf', 'utf8'));
  // made ahead for the default hostname, taken by a run named otherwise (whatever the host's
  // resolv.conf holds, these files differ)
  rt.warm!(undefined, { network: 'none' });
  assert.equal((await cat('none', 'other')).out, 'other\n127.0.0.1\tlocalhost other\n::1\tlocalhost ip6-localhost ip6-loopback\n');
  assert.deepEqual(readdirSync(runs), [], 'released runs leave nothing');

  rt.warm!(undefined, { network: 'host' });
  assert.equal(readdirSync(runs).length, 1);
  await rt.dropWarm!();
  assert.deepEqual(readdirSync(runs), [], 'what no run took is removed');
});
