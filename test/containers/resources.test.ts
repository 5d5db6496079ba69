/**
 * Resource limits and stats on real containers: --memory/--cpus/--pids-limit reach the container's
 * cgroup (v1 here) and inspect's HostConfig, an OOM kill shows State.OOMKilled and 137,
 * `stats --no-stream` prints Docker's columns with the group's numbers; bad values are one line, 125.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { useContainerStore } from '../helpers/containers.js';
import { cgroupLimits, parseResources } from '../../src/containers/resources.js';
import { bytesSize } from '../../src/containers/stats.js';

const base = useContainerStore();
const run = base.run;

test('flags as Docker parses them; BytesSize', () => {
  const r = parseResources({ memory: '64m', cpus: '1.5', pidsLimit: '100', cpuShares: '512' }, 2);
  assert.deepEqual(r, { Memory: 64 << 20, MemorySwap: 128 << 20, NanoCpus: 1.5e9, CpuShares: 512, PidsLimit: 100 });
  assert.deepEqual(cgroupLimits(r), { memoryBytes: 64 << 20, memorySwapBytes: 128 << 20, cpuPeriodUs: 100_000, cpuQuotaUs: 150_000, cpuShares: 512, pidsMax: 100 });
  assert.throws(() => parseResources({ memory: '1m' }), /Minimum memory limit allowed is 6MB/);
  assert.throws(() => parseResources({ cpus: '3' }, 2), /range of CPUs is from 0\.01 to 2\.00, as there are only 2 CPUs available/);
  assert.throws(() => parseResources({ memory: '8m', memorySwap: '4m' }), /Minimum memoryswap limit should be larger than memory limit/);
  assert.deepEqual([bytesSize(0), bytesSize(340 * 1024), bytesSize(32 << 20), bytesSize(1536)], ['0B', '340KiB', '32MiB', '1.5KiB']);
});

test('limits reach the cgroup; an OOM kill is OOMKilled 137; stats --no-stream', { timeout: 120_000 }, async () => {
  const lim = await run('run', '-d', '--name', 'lim', '-m', '32m', '--cpus', '0.5', '--pids-limit', '20', '--network', 'none', 'busybox', 'sleep', '60');
  assert.equal(lim.code, 0, lim.stderr);
  const st = JSON.parse(readFileSync(join(base.root, 'containers', lim.stdout.trim(), 'state.json'), 'utf8')) as { Cgroups: string[] };
  const file = (name: string) => st.Cgroups.map((d) => { try { return readFileSync(join(d, name), 'utf8').trim(); } catch { return undefined; } }).find((x) => x !== undefined);
  assert.deepEqual([file('memory.limit_in_bytes') ?? file('memory.max'), file('pids.max'), file('cpu.cfs_quota_us') ?? file('cpu.max')?.split(' ')[0]], [String(32 << 20), '20', '50000']);
  assert.equal((await run('inspect', '--format', '{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}} {{.HostConfig.PidsLimit}}', 'lim')).stdout, `${32 << 20} 500000000 20\n`);

  const stats = await run('stats', '--no-stream');
  const lines = stats.stdout.trimEnd().split('\n');
  assert.match(lines[0]!, /^CONTAINER ID +NAME +CPU % +MEM USAGE \/ LIMIT +MEM % +NET I\/O +BLOCK I\/O +PIDS$/);
  assert.equal(lines.length, 2);
  assert.match(lines[1]!, /^[0-9a-f]{12} +lim +\d+\.\d\d% +[\d.]+[KM]?i?B \/ 32MiB +\d+\.\d\d% +0B \/ 0B +[\d.]+[kM]?B \/ [\d.]+[kM]?B +1$/);

  const oom = await run('run', '--name', 'oom', '-m', '8m', '--memory-swap', '8m', '--network', 'none', 'busybox', 'sh', '-c', 'x=$(head -c 50000000 /dev/zero | tr "\\0" a); echo survived');
  assert.equal(oom.code, 137);
  assert.equal((await run('inspect', '--format', '{{.State.OOMKilled}} {{.State.ExitCode}}', 'oom')).stdout, 'true 137\n');

  const bad = await run('run', '--rm', '-m', '1k', 'busybox', 'true');
  assert.deepEqual([bad.code, bad.stderr], [125, 'tsbuild: Minimum memory limit allowed is 6MB\n']);
});
