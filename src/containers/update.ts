/**
 * `update [--memory] [--memory-swap] [--cpus] [--cpu-shares] [--pids-limit] [--restart] CTR...`
 * as Docker 20.10's daemon does it (measured on it):
 * - a running container's cgroup gets the new limits at once, then its record (so `inspect`
 *   HostConfig and the next start have them); a stopped one only its record;
 * - 0 leaves memory, swap, CPUs and shares as they are; `--pids-limit` 0 or less lifts the limit
 *   (recorded as 0); `--memory-swap -1` unlimited swap;
 * - `--memory` above the container's MemorySwap without a new `--memory-swap`: `Cannot update
 *   container ID: Memory limit should be smaller than already set memoryswap limit, update the
 *   memoryswap at the same time` (also when the swap is unset or unlimited, as Docker's check);
 *   memory below what the container uses now: runc's `unable to set memory limit to N (current
 *   usage: U, peak usage: P)`; nothing is changed when any part fails.
 */
import { TsbuildError } from '../errors.js';
import { withLock } from '../image/lock.js';
import { updateCgroup, type CgroupUpdate } from '../runtime/cgroup.js';
import type { Containers } from './containers.js';
import { containerDir, lockPath, readRecord, writeJsonAtomic, type HostConfigJson } from './record.js';
import { cgroupLimits, parseResources, ramInBytes, type ResourceFlags } from './resources.js';
import { parseRestartPolicy } from './restart.js';
import { join } from 'node:path';

export interface UpdateFlags extends ResourceFlags {
  restart?: string;
}

export interface UpdatePlan {
  /** The HostConfig fields that change. */
  host: Partial<HostConfigJson>;
  /** What the live cgroup gets. */
  cgroup: CgroupUpdate;
}

const MIB6 = 6 * 1024 * 1024;

/** Whether FLAGS change anything (Docker: `you must provide one or more flags when using this command`). */
export function hasUpdateFlags(f: UpdateFlags): boolean {
  return [f.memory, f.memorySwap, f.cpus, f.cpuShares, f.pidsLimit, f.restart].some((v) => v !== undefined);
}

/** The change FLAGS make to a container whose HostConfig is HC (ID for the error's words). Pure. */
export function planUpdate(hc: HostConfigJson, f: UpdateFlags, id: string): UpdatePlan {
  const cannot = (m: string) => new TsbuildError('CONFLICT', `Cannot update container ${id}: ${m}`);
  const bad = (m: string) => new TsbuildError('INVALID', m);
  const host: Partial<HostConfigJson> = {};
  const cgroup: CgroupUpdate = {};
  // cpus, shares and pids as `run` parses them (the same words), then update's own zero rules
  const parsed = parseResources({
    ...(f.cpus !== undefined ? { cpus: f.cpus } : {}),
    ...(f.cpuShares !== undefined ? { cpuShares: f.cpuShares } : {}),
    ...(f.pidsLimit !== undefined ? { pidsLimit: f.pidsLimit } : {}),
  });
  const memory = f.memory !== undefined ? ramInBytes(f.memory) : 0;
  const swap = f.memorySwap === undefined ? 0 : f.memorySwap === '-1' ? -1 : ramInBytes(f.memorySwap);
  if (memory > 0 && memory < MIB6) throw bad('Minimum memory limit allowed is 6MB');
  const curMemory = hc.Memory ?? 0;
  const curSwap = hc.MemorySwap ?? 0;
  if (memory > 0 && swap > 0 && swap < memory) throw bad('Minimum memoryswap limit should be larger than memory limit, see usage');
  if (memory > 0 && swap === 0 && memory > curSwap) {
    throw cannot('Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time');
  }
  if (memory === 0 && swap !== 0) {
    if (curMemory === 0) throw cannot('You should always set the Memory limit when using Memoryswap limit, see usage');
    if (swap > 0 && swap < curMemory) throw bad('Minimum memoryswap limit should be larger than memory limit, see usage');
  }
  if (memory > 0 || swap !== 0) {
    const m = memory || curMemory;
    const s = swap || curSwap;
    if (memory > 0) host.Memory = m;
    if (swap !== 0) host.MemorySwap = s;
    cgroup.memoryBytes = m;
    cgroup.memorySwapBytes = s === -1 ? 'max' : s > 0 ? s : 2 * m;
  }
  // the CFS quota and the weight as `run` gives them to a new group
  if (parsed.NanoCpus > 0) Object.assign(cgroup, cgroupLimits({ NanoCpus: (host.NanoCpus = parsed.NanoCpus) }));
  if (parsed.CpuShares > 0) Object.assign(cgroup, cgroupLimits({ CpuShares: (host.CpuShares = parsed.CpuShares) }));
  if (parsed.PidsLimit !== null) {
    host.PidsLimit = parsed.PidsLimit > 0 ? parsed.PidsLimit : 0;
    cgroup.pidsMax = parsed.PidsLimit > 0 ? parsed.PidsLimit : 'max';
  }
  if (f.restart !== undefined) {
    const policy = parseRestartPolicy(f.restart);
    if (hc.AutoRemove && policy.Name !== 'no') throw cannot('Restart policy cannot be updated because AutoRemove is enabled for the container');
    host.RestartPolicy = policy;
  }
  return { host, cgroup };
}

/** Updates the container WORD names: its live cgroup when running, then its record. */
export async function updateContainer(c: Containers, word: string, f: UpdateFlags): Promise<void> {
  const id = (await c.find(word)).record.Id;
  const dir = containerDir(c.paths, id);
  await withLock(lockPath(c.paths, id), async () => {
    const record = readRecord(dir);
    if (!record) throw new TsbuildError('NOT_FOUND', `No such container: ${word}`);
    const plan = planUpdate(record.HostConfig, f, id);
    const st = await c.sync(id, true);
    if (st.Running && Object.keys(plan.cgroup).length) {
      try {
        updateCgroup(st.Cgroups ?? [], plan.cgroup);
      } catch (e) {
        const why = e instanceof TsbuildError ? e.message : (e as Error).message;
        throw new TsbuildError('CONFLICT', `Cannot update container ${id}: ${why}`);
      }
    }
    writeJsonAtomic(join(dir, 'config.json'), { ...record, HostConfig: { ...record.HostConfig, ...plan.host } });
  });
}
