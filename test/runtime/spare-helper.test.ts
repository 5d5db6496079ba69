/**
 * The spare sandbox helper (sandbox.ts): started while a run runs, taken by the next run, and
 * never left behind — not when it is dropped, not when its Node process exits or is killed.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRuntime } from '../../src/runtime/index.js';
import { dropSpare, spareOf } from '../../src/runtime/sandbox.js';
import { sweepCgroups, type CgroupLimits } from '../../src/runtime/cgroup.js';
import { processRunning } from '../../src/runtime/proc-stat.js';
import { scratch, sink } from './rootfs-fixture.js';

const s = scratch();
after(() => {
  dropSpare();
  s.cleanup();
});
const rt = createRuntime({ tmpDir: s.mkdir('runs') });

async function run(script: string, limits?: CgroupLimits, last?: boolean) {
  const fs = await rt.prepare(s.mounts([s.busybox]));
  const out = sink();
  try {
    const r = await rt.run(fs, { args: ['/bin/sh', '-c', script], env: [], network: 'none', stdout: out.fn, ...(limits ? { limits } : {}), ...(last ? { last } : {}) });
    return { ...r, stdout: out.text() };
  } finally {
    await rt.release(fs);
  }
}

async function gone(pid: number, ms = 3000): Promise<boolean> {
  const until = Date.now() + ms;
  while (processRunning(pid) && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
  return !processRunning(pid);
}

/** What a helper runs from, and its name. */
function exeOf(pid: number): { exe: string; comm: string } {
  return { exe: readlinkSync(`/proc/${pid}/exe`), comm: readFileSync(`/proc/${pid}/comm`, 'utf8').trim() };
}

test('a run leaves a spare helper waiting for its spec; the next run takes it and leaves a new one', async () => {
  dropSpare();
  assert.equal((await run('echo one')).stdout, 'one\n');
  await new Promise((r) => setImmediate(r));
  const first = spareOf().pid;
  assert.ok(first !== undefined && processRunning(first), 'a spare after a run');
  // it runs from a sealed memfd copy, never from the file on disk (CVE-2019-5736)
  const until = Date.now() + 1000;
  while (exeOf(first).comm !== 'memfd:tsbuild-s' && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
  assert.deepEqual(exeOf(first), { exe: '/memfd:tsbuild-sandbox (deleted)', comm: 'memfd:tsbuild-s' });
  const r = await run('echo two; exit 3');
  assert.deepEqual([r.exitCode, r.stdout], [3, 'two\n']);
  assert.ok(await gone(first), 'the spare ran the second run and is gone with it');
  await new Promise((r) => setImmediate(r));
  const second = spareOf().pid;
  assert.ok(second !== undefined && second !== first);
  dropSpare();
  assert.equal(spareOf().pid, undefined);
  assert.ok(await gone(second), 'a dropped spare is ended');
});

test('a run marked last takes the spare and leaves none behind (helper or cgroup)', async () => {
  dropSpare();
  const limits: CgroupLimits = { pidsMax: 64 };
  await run('true', limits);
  await new Promise((r) => setImmediate(r));
  const spare = spareOf();
  assert.ok(spare.pid !== undefined && spare.cgroupPaths !== undefined, 'a spare helper and cgroup after an ordinary run');
  const r = await run('echo last', limits, true);
  assert.equal(r.stdout, 'last\n');
  await new Promise((r) => setTimeout(r, 20));
  assert.ok(await gone(spare.pid), 'the last run ran in the spare');
  assert.deepEqual(spareOf(), {}, 'no new spare for a run that nothing follows');
  for (const p of spare.cgroupPaths) assert.equal(existsSync(p), false, `the spare cgroup ${p} was used and removed`);
});

test('a spare ended by a stray signal is not used: the run starts its own helper', async () => {
  await run('true');
  await new Promise((r) => setImmediate(r));
  const pid = spareOf().pid!;
  process.kill(pid, 'SIGTERM');
  assert.ok(await gone(pid));
  const r = await run('echo fine');
  assert.deepEqual([r.exitCode, r.stdout], [0, 'fine\n']);
  dropSpare();
});

test('a run with limits leaves a spare cgroup with them; the next run with the same limits is in it, other limits get their own', async () => {
  dropSpare();
  const limits = { pidsMax: 77, memoryBytes: 256 * 2 ** 20 };
  await run('true', limits);
  await new Promise((r) => setImmediate(r));
  const paths = spareOf().cgroupPaths!;
  assert.ok(paths.length > 0 && paths.every((p) => existsSync(p)));
  const pidsDir = paths.find((p) => existsSync(join(p, 'pids.max')))!;
  assert.equal(readFileSync(join(pidsDir, 'pids.max'), 'utf8').trim(), '77');
  const r = await run('true', limits);
  assert.equal(r.exitCode, 0);
  assert.ok(paths.every((p) => !existsSync(p)), 'the run took the spare group (and removed it at its end)');
  await new Promise((r) => setImmediate(r));
  const next = spareOf().cgroupPaths!;
  assert.ok(next.every((p) => existsSync(p)) && next.join() !== paths.join());
  await run('true', { pidsMax: 78, memoryBytes: 256 * 2 ** 20 });
  await new Promise((r) => setImmediate(r));
  const other = spareOf().cgroupPaths!;
  assert.ok(next.every((p) => !existsSync(p)), 'a spare of other limits is replaced');
  assert.equal(readFileSync(join(other.find((p) => existsSync(join(p, 'pids.max')))!, 'pids.max'), 'utf8').trim(), '78');
  dropSpare();
  assert.ok(other.every((p) => !existsSync(p)), 'dropped: removed');
});

/** A Node process that does one run, prints its spare's PID, then ends as HOW says. */
async function childSpare(how: 'exit' | 'hang') {
  const script = join(s.dir, `spare-${how}.mts`);
  const here = fileURLToPath(new URL('.', import.meta.url));
  writeFileSync(
    script,
    `import { createRuntime } from ${JSON.stringify(join(here, '../../src/runtime/index.ts'))};
     import { spareOf } from ${JSON.stringify(join(here, '../../src/runtime/sandbox.ts'))};
     import { snapshotMounts } from ${JSON.stringify(join(here, 'rootfs-fixture.ts'))};
     const rt = createRuntime({ tmpDir: ${JSON.stringify(s.mkdir(`spare-${how}-runs`))} });
     const fs = await rt.prepare(snapshotMounts(${JSON.stringify(s.dir)}, [${JSON.stringify(s.busybox)}]));
     await rt.run(fs, { args: ['true'], env: [], network: 'none', limits: { pidsMax: 50 } });
     await rt.release(fs);
     await new Promise((r) => setImmediate(r));
     console.log('spare ' + spareOf().pid + ' ' + JSON.stringify(spareOf().cgroupPaths));
     ${how === 'hang' ? 'setInterval(() => {}, 1000);' : ''}`,
  );
  const child = spawn(process.execPath, ['--import', 'tsx', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  after(() => child.kill('SIGKILL'));
  const closed = new Promise<number | null>((r) => child.on('close', (c) => r(c)));
  let out = '';
  const [pid, cgroups] = await new Promise<[number, string[]]>((resolve) =>
    child.stdout.on('data', (d: Buffer) => {
      out += d;
      const m = /spare (\d+) (.*)\n/.exec(out);
      if (m) resolve([Number(m[1]), JSON.parse(m[2]!) as string[]]);
    }),
  );
  return { child, pid, cgroups, closed };
}

test('a spare does not keep its Node process alive, and it and its cgroup are gone when that process exits', async () => {
  const { pid, cgroups, closed } = await childSpare('exit');
  assert.ok(pid > 0 && cgroups.length > 0, `spare ${pid}, cgroups ${cgroups.join()}`);
  assert.equal(await closed, 0, 'the process exits by itself with a spare waiting');
  assert.ok(await gone(pid), 'the spare went with it (end of file on its spec pipe, PDEATHSIG)');
  assert.ok(cgroups.every((p) => !existsSync(p)), 'its cgroup is removed at exit');
});

test('SIGKILL of the Node process takes its spare helper down; the sweep removes its spare cgroup', async () => {
  const { child, pid, cgroups, closed } = await childSpare('hang');
  assert.ok(processRunning(pid));
  child.kill('SIGKILL');
  await closed;
  assert.ok(await gone(pid));
  // its spare cgroup stays as a running run's would: the next sweep removes it (its owner is gone)
  sweepCgroups();
  assert.ok(cgroups.every((p) => !existsSync(p)));
});
