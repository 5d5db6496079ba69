/**
 * A container's writable layer is the snapshotter's (issue 10), as containerd's Prepare(key=ID) /
 * Docker's RWLayer: a keyed active snapshot apart from the container's record, made by create,
 * kept across stop/start, shown by inspect's GraphDriver, read by exec/diff/cp, removed by rm; one
 * a killed create or rm left without a record is removed by the next command that lists containers,
 * and none whose record exists ever is.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { useContainerStore } from '../helpers/containers.js';
import { projectRoot } from '../helpers/cli.js';
import { assertNothingLeft, holdings, layerDir } from './leftovers.js';

const base = useContainerStore();
const tsx = pathToFileURL(join(projectRoot, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;
const until = async (what: () => boolean, ms = 20_000) => {
  for (const end = Date.now() + ms; !what() && Date.now() < end; ) await new Promise((r) => setTimeout(r, 25));
  return what();
};
const layers = () => (existsSync(join(base.root, 'snapshots-active')) ? readdirSync(join(base.root, 'snapshots-active')).sort() : []);

test("a container's writable layer: made by create apart from its record, kept across stop/start, used by exec/diff/cp, named by inspect, removed by rm", { timeout: 180_000 }, async () => {
  const id = await base.ok('create', '--network', 'none', 'busybox', 'sh', '-c', 'echo run >> /runs; exec sleep 300');
  const layer = layerDir(base.root, id);
  assert.ok(statSync(join(layer, 'upper')).isDirectory() && statSync(join(layer, 'work')).isDirectory(), 'the snapshotter holds it');
  const record = join(base.root, 'containers', id);
  assert.equal(existsSync(join(record, 'upper')) || existsSync(join(record, 'work')), false, 'not in the record dir');
  const [info] = JSON.parse(await base.ok('inspect', id)) as { GraphDriver: { Name: string; Data: Record<string, string> } }[];
  assert.equal(info!.GraphDriver.Name, 'overlay');
  assert.deepEqual(Object.keys(info!.GraphDriver.Data), ['LowerDir', 'MergedDir', 'UpperDir', 'WorkDir']);
  assert.equal(info!.GraphDriver.Data.UpperDir, join(layer, 'upper'));
  assert.equal(info!.GraphDriver.Data.WorkDir, join(layer, 'work'));
  assert.equal(info!.GraphDriver.Data.MergedDir, join(record, 'root'));
  for (const d of info!.GraphDriver.Data.LowerDir!.split(':')) assert.ok(d.startsWith(join(base.root, 'snapshots') + '/') && existsSync(d), d);

  await base.ok('start', id);
  assert.ok(await until(() => existsSync(join(layer, 'upper', 'runs'))), 'the run writes into the snapshot');
  await base.ok('stop', '-t', '0', id);
  await base.ok('start', id);
  assert.ok(await until(() => readFileSync(join(layer, 'upper', 'runs'), 'utf8') === 'run\nrun\n'), 'stop/start kept the layer');
  assert.equal(await base.ok('exec', id, 'cat', '/runs'), 'run\nrun');
  assert.match(await base.ok('diff', id), /^A \/runs$/m);
  const out = mkdtempSync(join(tmpdir(), 'tsb-rwlayer-'));
  try {
    await base.ok('cp', `${id}:/runs`, join(out, 'runs'));
    assert.equal(readFileSync(join(out, 'runs'), 'utf8'), 'run\nrun\n');
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
  const h = holdings(base.root, id);
  await base.ok('rm', '-f', id);
  await assertNothingLeft(base.root, h);
});

test('a create killed after making the layer leaves none once the next command lists containers; a live create keeps its own', { timeout: 120_000 }, async () => {
  const before = layers();
  // a create that stops after its layer is made, before its record appears (a test hook)
  const child = spawn(process.execPath, ['--import', tsx, join(projectRoot, 'src/cli/main.ts'), '--root', base.root, 'create', '--network', 'none', 'busybox', 'true'], {
    stdio: 'ignore',
    env: { ...process.env, TSBUILD_TEST_CREATE_PAUSE_MS: '60000' },
  });
  const closed = new Promise((res) => child.on('close', res));
  try {
    assert.ok(await until(() => layers().length > before.length), 'the layer is made first');
    const [key] = layers().filter((k) => !before.includes(k));
    assert.equal(existsSync(join(base.root, 'containers', key!)), false, 'no record yet');
    // its creator lives: a concurrent ps must not take the layer of a create under way
    await base.ok('ps', '-a');
    assert.ok(existsSync(layerDir(base.root, key!)), 'kept while its creator lives');
    child.kill('SIGKILL');
    await closed;
    assert.ok(existsSync(layerDir(base.root, key!)), 'a SIGKILL leaves it');
    assert.doesNotMatch(await base.ok('ps', '-a', '--no-trunc'), new RegExp(key!));
    assert.deepEqual(layers(), before, 'the next command removed it');
    assert.ok(await until(() => !readdirSync(join(base.root, 'containers')).some((n) => n.includes(key!))), 'and the half-made record');
    assert.equal(existsSync(join(base.root, 'pins', key!)), false);
  } finally {
    child.kill('SIGKILL');
    await closed;
  }
});

test("a layer whose record is gone (an rm killed between the two) is swept by the next list; other containers' layers stay", { timeout: 120_000 }, async () => {
  const kept = await base.ok('create', '--network', 'none', 'busybox', 'true');
  const lost = await base.ok('create', '--network', 'none', 'busybox', 'true');
  // what an rm killed after its record went leaves: the layer alone
  rmSync(join(base.root, 'containers', lost), { recursive: true, force: true });
  rmSync(join(base.root, 'pins', lost), { force: true });
  assert.ok(existsSync(layerDir(base.root, lost)));
  const ps = await base.ok('ps', '-a', '--no-trunc');
  assert.match(ps, new RegExp(kept));
  assert.equal(existsSync(layerDir(base.root, lost)), false, 'swept');
  assert.ok(existsSync(join(layerDir(base.root, kept), 'upper')), 'a layer whose record exists is never swept');
  assert.deepEqual(readdirSync(join(base.root, 'tmp')).filter((n) => n.includes('trash')), [], 'removed whole');
  await base.ok('rm', kept);
  assert.equal(existsSync(layerDir(base.root, kept)), false);
});
