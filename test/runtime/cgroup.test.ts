/**
 * Limits of a run (issue 9, finding 7): a cgroup per run with a pids and a memory limit, tmpfs
 * mounts sized by the memory limit, nothing left in the cgroup trees afterwards.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRuntime, type RunSpec } from '../../src/runtime/index.js';
import { cgroupHierarchies, createCgroup, sweepCgroups, v2Hierarchy } from '../../src/runtime/cgroup.js';
import { isTsbuildError } from '../../src/errors.js';
import { dropSpare, spareOf } from '../../src/runtime/sandbox.js';
import { processesWith, scratch, sink } from './rootfs-fixture.js';

const s = scratch();
after(() => {
  dropSpare();
  s.cleanup();
});
const rt = createRuntime({ tmpDir: s.mkdir('runs') });
const noCgroups = cgroupHierarchies().length === 0 ? 'no cgroup hierarchies mounted' : false;

async function sh(script: string, extra: Partial<RunSpec> = {}) {
  const fs = await rt.prepare(s.mounts([s.busybox]));
  const out = sink();
  const err = sink();
  try {
    const r = await rt.run(fs, { args: ['/bin/sh', '-c', script], env: [], network: 'none', stdout: out.fn, stderr: err.fn, timeoutMs: 30_000, ...extra });
    return { ...r, stdout: out.text(), stderr: err.text() };
  } finally {
    await rt.release(fs);
  }
}

/** The run cgroups a process with PID made, in every hierarchy; for this process, those of its
 *  runs: not the spare made for the next run (sandbox.ts), empty and removed with the spare. */
function groupsOf(pid: number): string[] {
  const spare = pid === process.pid ? (spareOf().cgroupPaths ?? []) : [];
  return cgroupHierarchies().flatMap((h) => {
    const parent = join(h.base, 'tsbuild');
    return existsSync(parent) ? readdirSync(parent).filter((n) => n.startsWith(`${pid}-`)).map((n) => join(parent, n)).filter((d) => !spare.includes(d)) : [];
  });
}

test('a fork bomb stops at the pids limit: the host sees a bounded number of processes and the run ends', { skip: noCgroups }, async () => {
  const marker = 30000 + (process.pid % 9000); // `sleep MARKER` is what the bomb spawns
  let most = 0;
  const sampler = setInterval(() => (most = Math.max(most, processesWith(`sleep\0${marker}`).length)), 25);
  try {
    const r = await sh(`i=0; while [ $i -lt 300 ]; do sleep ${marker} & i=$((i+1)); done; echo spawned all`, { limits: { pidsMax: 32 } });
    assert.notEqual(r.exitCode, 0);
    assert.match(r.stderr, /can't fork/);
    assert.doesNotMatch(r.stdout, /spawned all/);
  } finally {
    clearInterval(sampler);
  }
  assert.ok(most > 0 && most <= 32, `saw ${most} processes`);
  assert.deepEqual(processesWith(`sleep\0${marker}`), []);
  assert.deepEqual(groupsOf(process.pid), []);
});

test('a memory hog beyond the memory limit is OOM-killed and reported', { skip: noCgroups }, async () => {
  // tail keeps the last "line" of a newline-free stream in memory: all of it
  const r = await sh('head -c 300m /dev/zero | tail | wc -c', { limits: { memoryBytes: 64 * 2 ** 20 } });
  assert.equal(r.oomKilled, true, JSON.stringify(r));
  assert.match(r.stderr, /Killed/);
  assert.doesNotMatch(r.stdout, /314572800/);
  assert.deepEqual(groupsOf(process.pid), []);
  const fine = await sh('head -c 10m /dev/zero | tail | wc -c', { limits: { memoryBytes: 64 * 2 ** 20 } });
  assert.equal(fine.exitCode, 0);
  assert.equal(fine.stdout, '10485760\n');
  assert.equal(fine.oomKilled, undefined);
});

test('tmpfs mounts are sized by the memory limit unless given a size; /dev and /dev/shm stay 64 MiB', { skip: noCgroups }, async () => {
  const r = await sh('df -k /scratch /sized /dev /dev/shm | tail -n +2 | while read fs size rest; do echo $size; done', {
    limits: { memoryBytes: 96 * 2 ** 20 },
    mounts: [
      { type: 'tmpfs', target: '/scratch' },
      { type: 'tmpfs', target: '/sized', sizeBytes: 8 * 2 ** 20 },
    ],
  });
  assert.equal(r.exitCode, 0, r.stderr);
  assert.equal(r.stdout, '98304\n8192\n65536\n65536\n');
});

test('every process of the run is in its cgroup, and the cgroup is gone afterwards', { skip: noCgroups }, async () => {
  const r = await sh('cat /proc/self/cgroup; sleep 0.2 & cat /proc/$!/cgroup', { limits: { pidsMax: 100 } });
  assert.equal(r.exitCode, 0, r.stderr);
  // a cgroup namespace rooted at the run's group: the host's paths stay hidden
  for (const line of r.stdout.trim().split('\n')) assert.match(line, /^\d+:[^:]*:\/$/);
  assert.deepEqual(groupsOf(process.pid), []);
});

test('a limit the kernel cannot apply is an error, not silence; bad limits are INVALID', () => {
  const none = { hierarchies: [{ version: 2 as const, base: s.mkdir('fake-cgroup'), controllers: [] }] };
  assert.throws(() => createCgroup('x', { pidsMax: 10 }, none), (e) => isTsbuildError(e) && e.code === 'RUNTIME' && /pids/.test(e.message));
  assert.throws(() => createCgroup('x', { memoryBytes: -1 }), (e) => isTsbuildError(e) && e.code === 'INVALID');
});

test('cgroups left by a SIGKILLed tsbuild are swept', { skip: noCgroups }, async () => {
  const script = join(s.dir, 'killed.mts');
  const here = fileURLToPath(new URL('.', import.meta.url));
  writeFileSync(
    script,
    `import { createRuntime } from ${JSON.stringify(join(here, '../../src/runtime/index.ts'))};
     import { snapshotMounts } from ${JSON.stringify(join(here, 'rootfs-fixture.ts'))};
     const rt = createRuntime({ tmpDir: ${JSON.stringify(s.mkdir('killed-runs'))} });
     const fs = await rt.prepare(snapshotMounts(${JSON.stringify(s.dir)}, [${JSON.stringify(s.busybox)}]));
     await rt.run(fs, { args: ['/bin/sh', '-c', 'echo ready; sleep 1000'], env: [], network: 'none',
       limits: { pidsMax: 50, memoryBytes: 2 ** 28 }, stdout: (b) => process.stdout.write(b) });`,
  );
  const child = spawn(process.execPath, ['--import', 'tsx', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  after(() => child.kill('SIGKILL'));
  let out = '';
  await new Promise<void>((resolve) =>
    child.stdout.on('data', (d: Buffer) => {
      out += d;
      if (out.includes('ready')) resolve();
    }),
  );
  const stale = groupsOf(child.pid!);
  // one group per hierarchy but v1's freezer (a RUN step has no use for one), and as many for the
  // spare the run made for a next run
  assert.equal(stale.length, 2 * cgroupHierarchies().filter((h) => h.controllers.some((c) => c !== 'freezer')).length);
  const closed = new Promise((r) => child.on('close', r));
  child.kill('SIGKILL');
  await closed;
  // the helper and its sandbox die with it (PDEATHSIG); the empty groups stay until a sweep
  const until = Date.now() + 5000;
  while (stale.some((d) => readFileSync(join(d, 'cgroup.procs'), 'utf8') !== '') && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.ok(stale.every((d) => existsSync(d)));
  sweepCgroups();
  assert.deepEqual(groupsOf(child.pid!), []);
});

test('cgroup v2 layout: a group in the unified tree is joined through cgroup.procs and removed', { skip: !existsSync('/sys/fs/cgroup/unified/cgroup.procs') && 'no unified hierarchy' }, async () => {
  const h = v2Hierarchy('/sys/fs/cgroup/unified');
  const parent = join(h.base, 'tsbuild');
  const parentExisted = existsSync(parent);
  const cg = createCgroup('v2', {}, { hierarchies: [h] });
  try {
    assert.equal(cg.paths.length, 1);
    assert.ok(cg.paths[0]!.startsWith(parent + '/'));
    // a process joins by writing its pid into cgroup.procs, as the helper does with "0"
    const r = spawnSync('/bin/sh', ['-c', `echo 0 > ${cg.procsFiles[0]} && cat /proc/self/cgroup`], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^0::.*/tsbuild/${cg.paths[0]!.split('/').pop()}$`, 'm'));
    assert.equal(cg.oomKilled(), false);
  } finally {
    await cg.remove();
  }
  assert.ok(!existsSync(cg.paths[0]!));
  // the parent goes with its last group
  if (!parentExisted) assert.ok(!existsSync(parent));
});
