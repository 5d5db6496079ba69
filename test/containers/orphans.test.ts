/**
 * A store's root deleted while its containers and networks existed (several stores share the host:
 * --root): what they left on the host — runtime dirs under /run/tsbuild/containers, a user
 * network's bridge, nft tables, subnet reservation and addresses — is removed by the next container
 * start (runtime dirs: each monitor sweeps its siblings) and `network create`/`network prune`
 * (bridges), once the container that held it is gone; nothing of another, live store is touched.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { makeBaseStore } from '../helpers/build.js';
import { runCli } from '../helpers/cli.js';
import { processAlive, RUN_ROOT } from './leftovers.js';

const STATE = '/run/tsbuild';
const nftTable = (id: string) => spawnSync('nft', ['list', 'table', 'ip', `tsb_${id.slice(0, 12)}`]).status === 0;
const until = async (what: () => boolean, ms = 10_000) => {
  for (const end = Date.now() + ms; !what() && Date.now() < end; ) await new Promise((r) => setTimeout(r, 20));
  return what();
};

test("a deleted store's runtime dirs and network bridges are removed once their containers are gone; a live store's stay", { timeout: 240_000 }, async () => {
  const live = await makeBaseStore();
  const dead = await makeBaseStore();
  const L = (...a: string[]) => runCli(['--root', live.root, ...a]);
  const D = (...a: string[]) => runCli(['--root', dead.root, ...a]);
  const ok = async (p: Promise<{ code: number; stdout: string; stderr: string }>) => {
    const r = await p;
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.trim();
  };
  let child = 0;
  try {
    // the live store: a container that ended (its monitor is gone, its record stays) and a network
    const kept = await ok(L('run', '-d', 'busybox', 'true'));
    await ok(L('wait', kept));
    const liveNet = await ok(L('network', 'create', 'staying'));

    // the doomed store: a running container on its own network (the bridge is made), and a network
    // no container ever used (only its subnet is reserved)
    const doomedNet = await ok(D('network', 'create', 'doomed'));
    const unusedNet = await ok(D('network', 'create', 'unused'));
    const gone = await ok(D('run', '-d', '--network', 'doomed', 'busybox', 'sleep', '300'));
    const bridge = `tsb-${doomedNet.slice(0, 11)}`;
    const unusedBridge = `tsb-${unusedNet.slice(0, 11)}`;
    assert.ok(existsSync(`/sys/class/net/${bridge}`));
    assert.ok(existsSync(join(STATE, `${unusedBridge}.json`)));
    const [monitor, , pid1] = readFileSync(join(RUN_ROOT, gone, 'monitor'), 'utf8').trim().split(' ').map(Number);
    child = pid1!;
    assert.ok(processAlive(monitor!) && processAlive(child));

    dead.cleanup(); // the store's root goes while its container runs

    // a start in another store: the doomed container still runs, its runtime dir and bridge stay
    await ok(L('run', '--rm', 'busybox', 'true'));
    assert.ok(existsSync(join(RUN_ROOT, gone)));
    await ok(L('network', 'create', 'second'));
    assert.ok(existsSync(`/sys/class/net/${bridge}`), 'a bridge with a container on it stays');
    assert.ok(!existsSync(join(STATE, `${unusedBridge}.json`)), 'the unused network of the deleted store is swept');
    assert.ok(!existsSync(join(STATE, `${unusedBridge}.owner`)));
    assert.ok(!nftTable(unusedNet));

    // the container ends (nobody can stop it by name any more: its record is gone)
    process.kill(child, 'SIGKILL');
    assert.ok(await until(() => !processAlive(monitor!)), 'the monitor ends with its container');
    assert.ok(existsSync(join(RUN_ROOT, gone)), 'the exit file was written');

    // the next start anywhere removes the orphan runtime dir, never the live store's
    await ok(L('run', '--rm', 'busybox', 'true'));
    assert.ok(await until(() => !existsSync(join(RUN_ROOT, gone))), 'orphan runtime dir removed');
    assert.ok(existsSync(join(RUN_ROOT, kept)), "the live store's ended container keeps its runtime dir");
    const status = await ok(L('ps', '-a', '--filter', `id=${kept}`, '--format', '{{.Status}}'));
    assert.match(status, /^Exited \(0\) /);

    // network prune (as network create) removes the bridge once nothing is on it
    await ok(L('network', 'prune', '-f'));
    assert.ok(!existsSync(`/sys/class/net/${bridge}`), 'orphan bridge removed');
    for (const f of [`${bridge}.json`, `${bridge}.owner`, `ipam/${bridge}`]) assert.ok(!existsSync(join(STATE, f)), f);
    assert.ok(!nftTable(doomedNet));
    // the live store's own networks are its business: prune removed them as unused, by name
    assert.equal((await L('network', 'inspect', liveNet)).code, 1);
  } finally {
    if (child && processAlive(child)) process.kill(child, 'SIGKILL');
    const ids = (await L('ps', '-aq', '--no-trunc')).stdout.split('\n').filter(Boolean);
    if (ids.length) await L('rm', '-f', ...ids);
    for (const n of ['staying', 'second']) await L('network', 'rm', n);
    await L('network', 'prune', '-f'); // the deleted store's bridges, should the test have failed
    live.cleanup();
    dead.cleanup(); // the doomed container's exit command may have made its root again
  }
});
