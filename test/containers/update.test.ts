/**
 * `update` on real containers: a running container's cgroup takes the new limits at once (a fork
 * loop stops at the new pids limit; memory in the group's file and in `stats --no-stream` LIMIT),
 * inspect's HostConfig shows them and a restart keeps them; a stopped container gets them in its
 * record only; Docker's errors (memory above the swap limit, memory below the usage, no flags, an
 * unknown container among known ones).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { useContainerStore } from '../helpers/containers.js';
import { planUpdate } from '../../src/containers/update.js';
import type { HostConfigJson } from '../../src/containers/record.js';

const base = useContainerStore();
const run = base.run;

/** The value of cgroup file NAME among the container's groups (as the state records them now). */
function groupFile(id: string, name: string): string | undefined {
  const st = JSON.parse(readFileSync(join(base.root, 'containers', id, 'state.json'), 'utf8')) as { Cgroups: string[] };
  for (const d of st.Cgroups) {
    try {
      return readFileSync(join(d, name), 'utf8').trim();
    } catch {
      /* another hierarchy */
    }
  }
  return undefined;
}

test('update rules as Docker 20.10 applies them', () => {
  const hc = { Memory: 32 << 20, MemorySwap: 64 << 20, AutoRemove: false } as HostConfigJson;
  assert.deepEqual(planUpdate(hc, { memory: '48m' }, 'x'), { host: { Memory: 48 << 20 }, cgroup: { memoryBytes: 48 << 20, memorySwapBytes: 64 << 20 } });
  assert.throws(() => planUpdate(hc, { memory: '96m' }, 'x'), /^TsbuildError: Cannot update container x: Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time$/);
  assert.throws(() => planUpdate(hc, { memory: '16m', memorySwap: '8m' }, 'x'), /Minimum memoryswap limit should be larger than memory limit, see usage/);
  assert.throws(() => planUpdate(hc, { memory: '1m' }, 'x'), /Minimum memory limit allowed is 6MB/);
  assert.deepEqual(planUpdate(hc, { pidsLimit: '-1', memorySwap: '-1' }, 'x'), { host: { PidsLimit: 0, MemorySwap: -1 }, cgroup: { pidsMax: 'max', memoryBytes: 32 << 20, memorySwapBytes: 'max' } });
  assert.deepEqual(planUpdate(hc, { memory: '0', cpus: '0' }, 'x'), { host: {}, cgroup: {} });
  assert.deepEqual(planUpdate(hc, { cpus: '0.5', cpuShares: '512' }, 'x'), { host: { NanoCpus: 5e8, CpuShares: 512 }, cgroup: { cpuPeriodUs: 100_000, cpuQuotaUs: 50_000, cpuShares: 512 } });
  assert.throws(() => planUpdate({ ...hc, AutoRemove: true }, { restart: 'always' }, 'x'), /Restart policy cannot be updated because AutoRemove is enabled for the container/);
});

test('a running container: pids and memory at once, kept by a restart; a stopped one: its record', { timeout: 180_000 }, async () => {
  const up = await run('run', '-d', '--name', 'up', '--network', 'none', 'busybox', 'sleep', '600');
  assert.equal(up.code, 0, up.stderr);
  const id = up.stdout.trim();
  assert.equal(groupFile(id, 'pids.max'), 'max');

  const u = await run('update', '--pids-limit', '6', '-m', '48m', '--memory-swap', '96m', '--cpus', '0.5', 'up');
  assert.deepEqual([u.code, u.stdout, u.stderr], [0, 'up\n', '']);
  assert.deepEqual([groupFile(id, 'pids.max'), groupFile(id, 'memory.limit_in_bytes') ?? groupFile(id, 'memory.max'), groupFile(id, 'cpu.cfs_quota_us') ?? groupFile(id, 'cpu.max')?.split(' ')[0]], ['6', String(48 << 20), '50000']);
  assert.equal((await run('inspect', '--format', '{{.HostConfig.PidsLimit}} {{.HostConfig.Memory}} {{.HostConfig.MemorySwap}} {{.HostConfig.NanoCpus}}', 'up')).stdout, `6 ${48 << 20} ${96 << 20} 500000000\n`);
  const stats = await run('stats', '--no-stream', 'up');
  assert.match(stats.stdout.split('\n')[1]!, / \/ 48MiB /);

  // the new pids limit holds: PID 1 and the exec'd shell count, so at most 4 more processes
  const bomb = await run('exec', 'up', 'sh', '-c', 'n=0; while [ $n -lt 20 ]; do sleep 300 & n=$((n+1)); done; echo started $n');
  assert.match(bomb.stderr, /can't fork|Resource temporarily unavailable/);
  assert.ok(Number(groupFile(id, 'pids.current')) <= 6, groupFile(id, 'pids.current'));

  // memory above the swap limit without a new swap limit, as Docker's daemon refuses it; unchanged
  const over = await run('update', '-m', '128m', 'up');
  assert.deepEqual([over.code, over.stdout, over.stderr], [1, '', `tsbuild: Cannot update container ${id}: Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time\n`]);
  assert.equal(groupFile(id, 'memory.limit_in_bytes') ?? groupFile(id, 'memory.max'), String(48 << 20));

  // a restart makes a new group from the record: the updated limits again
  assert.equal((await run('restart', '-t', '0', 'up')).code, 0);
  assert.deepEqual([groupFile(id, 'pids.max'), groupFile(id, 'memory.limit_in_bytes') ?? groupFile(id, 'memory.max')], ['6', String(48 << 20)]);

  // stopped: the record only, and the next start applies it; an unknown container among others
  assert.equal((await run('stop', '-t', '0', 'up')).code, 0);
  const both = await run('update', '--pids-limit', '9', '--restart', 'on-failure:2', 'up', 'nosuch');
  assert.deepEqual([both.code, both.stdout, both.stderr], [1, 'up\n', 'tsbuild: No such container: nosuch\n']);
  assert.equal((await run('inspect', '--format', '{{.HostConfig.PidsLimit}} {{json .HostConfig.RestartPolicy}}', 'up')).stdout, '9 {"Name":"on-failure","MaximumRetryCount":2}\n');
  assert.equal((await run('start', 'up')).code, 0);
  assert.equal(groupFile(id, 'pids.max'), '9');

  const none = await run('update', 'up');
  assert.deepEqual([none.code, none.stderr], [1, 'tsbuild: you must provide one or more flags when using this command\n']);
  const badFlag = await run('update', '--cpus', 'abc', 'up');
  assert.equal(badFlag.code, 125);
  assert.match(badFlag.stderr, /invalid argument "abc" for "--cpus" flag/);
});

test('memory below what the container uses is refused with runc\'s words', { timeout: 120_000 }, async () => {
  const r = await run('run', '-d', '--name', 'full', '--network', 'none', '-m', '64m', '--memory-swap', '64m', '--tmpfs', '/t', 'busybox', 'sh', '-c', 'head -c 30000000 /dev/zero > /t/x; echo filled; sleep 600');
  assert.equal(r.code, 0, r.stderr);
  const id = r.stdout.trim();
  for (let i = 0; i < 200 && !(await run('logs', 'full')).stdout.includes('filled'); i++) await new Promise((res) => setTimeout(res, 100));
  const u = await run('update', '-m', '10m', '--memory-swap', '10m', 'full');
  assert.equal(u.code, 1);
  assert.match(u.stderr, new RegExp(`^tsbuild: Cannot update container ${id}: unable to set memory limit to 10485760 \\(current usage: \\d+, peak usage: \\d+\\)\\n$`));
  assert.equal((await run('inspect', '--format', '{{.HostConfig.Memory}}', 'full')).stdout, `${64 << 20}\n`);
  assert.equal((await run('inspect', '--format', '{{.State.Running}}', 'full')).stdout, 'true\n');
});
