/**
 * Resource limits of a container as Docker's run flags set them: `--memory`/`-m` (go-units
 * RAMInBytes, at least 6 MB), `--memory-swap` (memory + swap; -1 unlimited; default twice the
 * memory), `--cpus` (NanoCpus; a CFS quota of cpus x 100 ms per 100 ms), `--cpu-shares`/`-c`,
 * `--pids-limit` (0 or less: unlimited). HostConfig keeps Docker's field names; the container's
 * cgroup (runtime/cgroup.ts) gets them at start. Pure.
 */
import { availableParallelism } from 'node:os';
import { TsbuildError } from '../errors.js';
import type { CgroupLimits } from '../runtime/cgroup.js';

export interface ResourceFlags {
  memory?: string;
  memorySwap?: string;
  cpus?: string;
  cpuShares?: string;
  pidsLimit?: string;
}

/** The HostConfig fields (Docker's names and zero values). */
export interface Resources {
  Memory: number;
  MemorySwap: number;
  NanoCpus: number;
  CpuShares: number;
  PidsLimit: number | null;
}

const bad = (m: string) => new TsbuildError('INVALID', m, undefined, 125);

/** go-units RAMInBytes: `64m`, `1g`, `512k`, `1024` (binary multiples). */
export function ramInBytes(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([bkmgtp]?)b?$/i.exec(text.trim());
  if (!m) throw bad(`invalid size: '${text}'`);
  const mult = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 }[m[2]!.toLowerCase() as ''];
  return Math.floor(Number(m[1]) * mult);
}

export function parseResources(f: ResourceFlags, cpusAvailable = availableParallelism()): Resources {
  const r: Resources = { Memory: 0, MemorySwap: 0, NanoCpus: 0, CpuShares: 0, PidsLimit: null };
  if (f.memory !== undefined) {
    r.Memory = ramInBytes(f.memory);
    if (r.Memory > 0 && r.Memory < 6 * 1024 * 1024) throw bad('Minimum memory limit allowed is 6MB');
  }
  if (f.memorySwap !== undefined) {
    r.MemorySwap = f.memorySwap === '-1' ? -1 : ramInBytes(f.memorySwap);
    if (r.MemorySwap > 0 && r.Memory === 0) throw bad('You should always set the Memory limit when using Memoryswap limit, see usage');
    if (r.MemorySwap > 0 && r.MemorySwap < r.Memory) throw bad('Minimum memoryswap limit should be larger than memory limit, see usage');
  }
  // Docker records the default: as much swap as memory
  if (r.Memory > 0 && r.MemorySwap === 0) r.MemorySwap = 2 * r.Memory;
  if (f.cpus !== undefined) {
    if (!/^\d+(\.\d+)?$/.test(f.cpus)) throw bad(`invalid argument "${f.cpus}" for "--cpus" flag: failed to parse ${f.cpus} as a rational number`);
    r.NanoCpus = Math.round(Number(f.cpus) * 1e9);
    if (r.NanoCpus > 0 && (r.NanoCpus < 1e7 || r.NanoCpus > cpusAvailable * 1e9)) {
      throw bad(`range of CPUs is from 0.01 to ${cpusAvailable.toFixed(2)}, as there are only ${cpusAvailable} CPUs available`);
    }
  }
  if (f.cpuShares !== undefined) {
    if (!/^\d+$/.test(f.cpuShares)) throw bad(`invalid argument "${f.cpuShares}" for "-c, --cpu-shares" flag: strconv.ParseInt: parsing "${f.cpuShares}": invalid syntax`);
    r.CpuShares = Number(f.cpuShares);
  }
  if (f.pidsLimit !== undefined) {
    if (!/^-?\d+$/.test(f.pidsLimit)) throw bad(`invalid argument "${f.pidsLimit}" for "--pids-limit" flag: strconv.ParseInt: parsing "${f.pidsLimit}": invalid syntax`);
    r.PidsLimit = Number(f.pidsLimit);
  }
  return r;
}

/** What the container's cgroup gets (nothing for what is unset or unlimited). */
export function cgroupLimits(r: Partial<Resources>): CgroupLimits {
  const l: CgroupLimits = {};
  if (r.Memory && r.Memory > 0) {
    l.memoryBytes = r.Memory;
    // -1: unlimited swap (the kernel's maximum), else memory+swap, default twice the memory
    if (r.MemorySwap && r.MemorySwap > 0) l.memorySwapBytes = r.MemorySwap;
    else if (r.MemorySwap === -1) l.memorySwapBytes = Number.MAX_SAFE_INTEGER - (Number.MAX_SAFE_INTEGER % 4096);
  }
  if (r.NanoCpus && r.NanoCpus > 0) {
    l.cpuPeriodUs = 100_000;
    l.cpuQuotaUs = Math.max(1000, Math.round((r.NanoCpus / 1e9) * 100_000));
  }
  if (r.CpuShares && r.CpuShares > 0) l.cpuShares = Math.max(2, r.CpuShares);
  if (r.PidsLimit && r.PidsLimit > 0) l.pidsMax = r.PidsLimit;
  return l;
}
