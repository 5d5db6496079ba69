/**
 * A cgroup per run and per container: Docker's `--pids-limit`, `--memory` (with its default
 * `--memory-swap` of twice the memory: as much swap as memory), `--cpus` and `--cpu-shares`, on
 * cgroup v1 (one directory per controller hierarchy) and v2 (one directory in the unified tree);
 * `updateCgroup` changes them on a live group (`update`), `freezeCgroup` freezes it (`pause`).
 *
 *   const cg = createCgroup('run-1', { pidsMax: 4096, memoryBytes: 2 ** 30 });
 *   // the sandbox helper writes its pid into each of cg.procsFiles before forking the run
 *   const oom = cg.oomKilled();
 *   await cg.remove();
 *
 * Groups live in a `tsbuild/` parent: on v1 below tsbuild's own cgroup of each hierarchy (so limits
 * someone put on tsbuild itself still hold for its runs); on v2 next to tsbuild's own cgroup (a v2
 * group with processes cannot enable controllers for children), or at the root when tsbuild is there.
 * The parent is made on demand and removed with its last group, so nothing stays on the host.
 * A group's directory name starts with the pid of the process that made it; `sweepCgroups()` removes
 * empty groups whose maker is gone (a tsbuild killed with SIGKILL cannot remove its own); the first
 * group a process makes sweeps its parent.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, statfsSync, writeFileSync } from 'node:fs';
import { totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { TsbuildError } from '../errors.js';

export interface CgroupLimits {
  /** Most processes (and threads) at once: a fork bomb stops there. */
  pidsMax?: number;
  /** Memory (page cache and tmpfs included); the OOM killer acts inside the group beyond it. */
  memoryBytes?: number;
  /** Relative CPU weight, Docker's `--cpu-shares` (1024 = the default share). */
  cpuShares?: number;
  /** Memory + swap (Docker's `--memory-swap`; default twice `memoryBytes`). */
  memorySwapBytes?: number;
  /** CPU time per period, Docker's `--cpus` (quota = cpus x period, period 100 ms). */
  cpuQuotaUs?: number;
  cpuPeriodUs?: number;
}

export interface Cgroup {
  /** The group's directories (one per v1 hierarchy, one on v2). */
  readonly paths: readonly string[];
  /** The `cgroup.procs` files a process writes its pid (or "0") into to join the group. */
  readonly procsFiles: readonly string[];
  /** Whether the kernel's OOM killer killed a process of the group (read before `remove`). */
  oomKilled(): boolean;
  /** Removes the directories; retries briefly while the last processes are leaving. Never throws:
   *  what cannot be removed is left to `sweepCgroups`. */
  remove(): Promise<void>;
}

/** Docker has no default pids limit; a build step gets this many unless the caller says otherwise. */
export const DEFAULT_PIDS_MAX = 4096;

/** A memory limit that protects the host: half of its physical memory. */
export function defaultMemoryBytes(): number {
  return Math.floor(totalmem() / 2);
}

/** freezer: v1's hierarchy of its own (`pause`, `commit`); v2 freezes any group (cgroup.freeze). */
type Controller = 'pids' | 'memory' | 'cpu' | 'freezer';
const CONTROLLERS: readonly Controller[] = ['pids', 'memory', 'cpu', 'freezer'];

/** Where groups are made: `base/tsbuild/<group>`, with the controllers this hierarchy offers. */
export interface CgroupHierarchy {
  version: 1 | 2;
  base: string;
  controllers: Controller[];
}

const CGROUP2_SUPER_MAGIC = 0x63677270;
const PARENT = 'tsbuild';

let detected: CgroupHierarchy[] | undefined;

/** The hierarchies on this machine (empty when cgroups are not mounted). */
export function cgroupHierarchies(): CgroupHierarchy[] {
  detected ??= detect();
  return detected;
}

/** The hierarchy of a v2 (unified) mount at MOUNT (for tests on hybrid machines). */
export function v2Hierarchy(mount: string, ownPath = ownCgroups().get('') ?? '/'): CgroupHierarchy {
  const base = join(mount, ownPath === '/' ? '/' : dirname(ownPath));
  const offered = readText(join(base, 'cgroup.controllers')).split(/\s+/);
  return { version: 2, base, controllers: CONTROLLERS.filter((c) => offered.includes(c)) };
}

function detect(): CgroupHierarchy[] {
  try {
    if (statfsSync('/sys/fs/cgroup').type === CGROUP2_SUPER_MAGIC) return [v2Hierarchy('/sys/fs/cgroup')];
  } catch {
    return [];
  }
  // v1: every controller may have its own mount (or share one, as "cpu,cpuacct" often does)
  const own = ownCgroups();
  const out: CgroupHierarchy[] = [];
  const seen = new Set<Controller>();
  for (const line of readText('/proc/self/mountinfo').split('\n')) {
    const f = line.split(' ');
    const dash = f.indexOf('-');
    if (dash < 0 || f[dash + 1] !== 'cgroup' || f[3] !== '/') continue;
    const opts = (f[dash + 3] ?? '').split(',');
    const ours = CONTROLLERS.filter((c) => opts.includes(c) && !seen.has(c));
    if (ours.length === 0) continue;
    ours.forEach((c) => seen.add(c));
    const mount = unescapeMountinfo(f[4]!);
    const ownPath = own.get(ours[0]!) ?? '/';
    const base = existsSync(join(mount, ownPath)) ? join(mount, ownPath) : mount;
    out.push({ version: 1, base, controllers: ours });
  }
  return out;
}

/** This process's cgroup per controller ('' = the v2 tree), from /proc/self/cgroup. */
function ownCgroups(): Map<string, string> {
  const own = new Map<string, string>();
  for (const line of readText('/proc/self/cgroup').split('\n')) {
    const m = /^\d+:([^:]*):(.*)$/.exec(line);
    if (!m) continue;
    for (const c of m[1]!.split(',')) own.set(c, m[2]!);
  }
  return own;
}

let groups = 0;
const swept = new Set<string>();

/**
 * Makes a group named NAME with LIMITS in every hierarchy. Throws TsbuildError('RUNTIME') when
 * cgroups are missing or a requested pids/memory limit has no controller (a limit meant to protect
 * the host is never dropped silently); a missing cpu controller only drops the weight.
 * `freezer: false` leaves out v1's freezer hierarchy (a group there serves only `pause` and
 * `commit`, which are a container's: a build's RUN step has no use for one).
 */
export function createCgroup(
  name: string,
  limits: CgroupLimits,
  opts: { hierarchies?: CgroupHierarchy[]; owner?: number; freezer?: boolean } = {},
): Cgroup {
  checkLimits(limits);
  const all = opts.hierarchies ?? cgroupHierarchies();
  const hierarchies = opts.freezer === false ? all.filter((h) => h.controllers.some((c) => c !== 'freezer')) : all;
  if (hierarchies.length === 0) throw new TsbuildError('RUNTIME', 'cgroups are not available (no cgroup filesystem under /sys/fs/cgroup)');
  for (const c of ['pids', 'memory'] as const) {
    const wanted = c === 'pids' ? limits.pidsMax : limits.memoryBytes;
    if (wanted !== undefined && !hierarchies.some((h) => h.controllers.includes(c))) {
      throw new TsbuildError('RUNTIME', `cannot apply the ${c} limit: the ${c} cgroup controller is not available`);
    }
  }
  const dirName = `${opts.owner ?? process.pid}-${name.replace(/[^A-Za-z0-9_.-]/g, '_')}-${++groups}`;
  const made: { dir: string; h: CgroupHierarchy }[] = [];
  try {
    for (const h of hierarchies) {
      const parent = join(h.base, PARENT);
      if (!swept.has(parent)) {
        swept.add(parent);
        sweepParent(parent);
      }
      const dir = join(parent, dirName);
      makeGroupDir(h, parent, dir);
      made.push({ dir, h });
      applyLimits(dir, h, limits);
    }
  } catch (e) {
    removeDirsSync(made.map((m) => m.dir));
    if (e instanceof TsbuildError) throw e;
    throw new TsbuildError('RUNTIME', `cannot create cgroup ${dirName}: ${(e as Error).message}`);
  }
  const paths = made.map((m) => m.dir);
  return {
    paths,
    procsFiles: paths.map((d) => join(d, 'cgroup.procs')),
    oomKilled: () => made.some(({ dir, h }) => oomKills(dir, h) > 0),
    remove: () => removeDirs(paths),
  };
}

/** Removes empty groups whose maker is gone, in every hierarchy (or the given ones). */
export function sweepCgroups(hierarchies = cgroupHierarchies()): void {
  for (const h of hierarchies) sweepParent(join(h.base, PARENT));
}

function sweepParent(parent: string): void {
  let names: string[];
  try {
    names = readdirSync(parent);
  } catch {
    return;
  }
  for (const n of names) {
    const m = /^(\d+)-/.exec(n);
    if (!m || alive(Number(m[1]))) continue;
    try {
      rmdirSync(join(parent, n)); // fails (EBUSY) while processes are still inside
    } catch {
      // busy or gone: the next sweep tries again
    }
  }
  removeIfEmpty(parent);
}

/** Makes DIR in PARENT, making PARENT first when missing (another process may have just removed
 *  it along with its last group). */
function makeGroupDir(h: CgroupHierarchy, parent: string, dir: string): void {
  for (let attempt = 0; ; attempt++) {
    try {
      mkdirSync(dir);
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || attempt === 5) throw e;
      prepareParent(h, parent);
    }
  }
}

/**
 * Freezes (or thaws) the groups DIRS: every process in them stops where it is, as Docker's
 * `pause` (v1: freezer.state FROZEN/THAWED; v2: cgroup.freeze). Returns once the kernel reports
 * the new state. Throws when no group can be frozen.
 */
export async function freezeCgroup(dirs: readonly string[], frozen: boolean): Promise<void> {
  const dir = dirs.find(canFreeze);
  // a group removed meanwhile went with its last process (the container exited): nothing to thaw
  if (!dir && !frozen && !dirs.some((d) => existsSync(d))) return;
  if (!dir) throw new TsbuildError('RUNTIME', 'cannot freeze the container: no freezer cgroup');
  const v1 = existsSync(join(dir, 'freezer.state'));
  const gone = () => !existsSync(dir);
  const write = () => {
    try {
      writeFileSync(join(dir, v1 ? 'freezer.state' : 'cgroup.freeze'), v1 ? (frozen ? 'FROZEN' : 'THAWED') : frozen ? '1' : '0', { flag: 'r+' });
    } catch (e) {
      if (!gone()) throw e;
    }
  };
  write();
  // v1 passes through FREEZING while tasks are still running; writing again retries them
  for (let i = 0; cgroupFrozenAt(dir) !== frozen; i++) {
    if (gone()) {
      if (frozen) throw new TsbuildError('CONFLICT', 'cannot freeze the container: it is no longer running');
      return;
    }
    if (i === 1000) throw new TsbuildError('RUNTIME', `cannot ${frozen ? 'freeze' : 'thaw'} the container's cgroup ${dir}`);
    await new Promise((r) => setTimeout(r, 2));
    if (v1) write();
  }
}

/** Whether group DIR can be frozen (groups made before tsbuild used the freezer cannot). */
export function canFreeze(dir: string): boolean {
  return existsSync(join(dir, 'freezer.state')) || existsSync(join(dir, 'cgroup.freeze'));
}

/** Whether the groups DIRS are frozen (false when none has a freezer). */
export function cgroupFrozen(dirs: readonly string[]): boolean {
  return dirs.some((d) => cgroupFrozenAt(d) === true);
}

function cgroupFrozenAt(dir: string): boolean | undefined {
  const v1 = readText(join(dir, 'freezer.state')).trim();
  if (v1) return v1 === 'FROZEN';
  const m = /^frozen (\d)$/m.exec(readText(join(dir, 'cgroup.events')));
  return m ? m[1] === '1' : undefined;
}

/** rmdir refuses a cgroup with children (EBUSY), so this never removes a parent still in use. */
function removeIfEmpty(dir: string): void {
  try {
    rmdirSync(dir);
  } catch {
    // in use (or gone)
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function prepareParent(h: CgroupHierarchy, parent: string): void {
  if (h.version === 2) enableControllers(h.base, h.controllers);
  mkdirSync(parent, { recursive: true });
  if (h.version === 2) enableControllers(parent, h.controllers);
}

/** v2: children of DIR get the controllers only once DIR's cgroup.subtree_control names them. */
function enableControllers(dir: string, controllers: Controller[]): void {
  const on = readText(join(dir, 'cgroup.subtree_control')).split(/\s+/);
  const missing = controllers.filter((c) => !on.includes(c));
  if (missing.length) writeFileSync(join(dir, 'cgroup.subtree_control'), missing.map((c) => `+${c}`).join(' '), { flag: 'r+' });
}

/** A change to a live group (`update`): 'max' lifts a limit; what is undefined stays. */
export interface CgroupUpdate {
  pidsMax?: number | 'max';
  memoryBytes?: number;
  memorySwapBytes?: number | 'max';
  cpuQuotaUs?: number | 'max';
  cpuPeriodUs?: number;
  cpuShares?: number;
}

/**
 * Changes the limits of the live groups DIRS (a container's, as createCgroup made them). Memory
 * below what the group uses now is refused as runc refuses it (v1: the kernel's EBUSY after its
 * reclaim failed; v2 would OOM-kill instead, so the usage is checked first).
 */
export function updateCgroup(dirs: readonly string[], u: CgroupUpdate, hierarchies = cgroupHierarchies()): void {
  for (const dir of dirs) {
    const h = hierarchies.find((x) => join(x.base, PARENT) === dirname(dir));
    if (!h) throw new TsbuildError('RUNTIME', `${dir} is in no cgroup hierarchy tsbuild uses`);
    applyLimits(dir, h, u);
  }
}

function applyLimits(dir: string, h: CgroupHierarchy, l: CgroupUpdate): void {
  const set = (file: string, value: string | number) => writeFileSync(join(dir, file), String(value), { flag: 'r+' });
  const has = (c: Controller) => h.controllers.includes(c);
  if (l.pidsMax !== undefined && has('pids')) set('pids.max', l.pidsMax);
  if (l.memoryBytes !== undefined && has('memory')) {
    const swap = l.memorySwapBytes ?? 2 * l.memoryBytes;
    if (h.version === 1) {
      // memsw counts memory + swap (absent when the kernel does not account swap) and may never
      // be below memory: raise it first when memory goes above it, else lower memory first
      const memsw = existsSync(join(dir, 'memory.memsw.limit_in_bytes'));
      const setSwap = () => memsw && set('memory.memsw.limit_in_bytes', swap === 'max' ? -1 : swap);
      const raise = memsw && l.memoryBytes > Number(readText(join(dir, 'memory.memsw.limit_in_bytes')));
      if (raise) setSwap();
      try {
        set('memory.limit_in_bytes', l.memoryBytes);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EBUSY') throw e;
        throw memoryInUse(l.memoryBytes, readText(join(dir, 'memory.usage_in_bytes')), readText(join(dir, 'memory.max_usage_in_bytes')));
      }
      if (!raise) setSwap();
    } else {
      const current = Number(readText(join(dir, 'memory.current')) || 0);
      if (current > l.memoryBytes) throw memoryInUse(l.memoryBytes, String(current), readText(join(dir, 'memory.peak')) || String(current));
      set('memory.max', l.memoryBytes);
      if (existsSync(join(dir, 'memory.swap.max'))) set('memory.swap.max', swap === 'max' ? 'max' : Math.max(0, swap - l.memoryBytes));
    }
  }
  if (l.cpuQuotaUs !== undefined && has('cpu')) {
    const period = l.cpuPeriodUs ?? 100_000;
    if (h.version === 1) {
      set('cpu.cfs_period_us', period);
      set('cpu.cfs_quota_us', l.cpuQuotaUs === 'max' ? -1 : l.cpuQuotaUs);
    } else set('cpu.max', `${l.cpuQuotaUs} ${period}`);
  }
  if (l.cpuShares !== undefined && has('cpu')) {
    if (h.version === 1) set('cpu.shares', l.cpuShares);
    // runc's mapping of shares [2, 262144] onto weights [1, 10000]
    else set('cpu.weight', 1 + Math.floor(((Math.min(Math.max(l.cpuShares, 2), 262144) - 2) * 9999) / 262142));
  }
}

/** runc's words for a memory limit below the group's usage. */
function memoryInUse(limit: number, usage: string, peak: string): TsbuildError {
  return new TsbuildError('CONFLICT', `unable to set memory limit to ${limit} (current usage: ${Number(usage.trim() || 0)}, peak usage: ${Number(peak.trim() || 0)})`);
}

function checkLimits(l: CgroupLimits): void {
  for (const [k, v] of Object.entries(l)) {
    if (v !== undefined && (!Number.isSafeInteger(v) || v <= 0)) throw new TsbuildError('INVALID', `invalid ${k} limit: ${v}`);
  }
}

function oomKills(dir: string, h: CgroupHierarchy): number {
  if (!h.controllers.includes('memory')) return 0;
  const text = readText(join(dir, h.version === 1 ? 'memory.oom_control' : 'memory.events'));
  const m = /^oom_kill (\d+)$/m.exec(text);
  return m ? Number(m[1]) : 0;
}

async function removeDirs(dirs: string[]): Promise<void> {
  for (const dir of dirs) {
    // the helper's exit is reported before the kernel has always let go of its last tasks
    for (let i = 0; i < 50; i++) {
      try {
        rmdirSync(dir);
        removeIfEmpty(dirname(dir));
        break;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' || code !== 'EBUSY') break;
        await new Promise((r) => setTimeout(r, 10));
      }
    }
  }
}

function removeDirsSync(dirs: string[]): void {
  for (const dir of dirs) {
    try {
      rmdirSync(dir);
      removeIfEmpty(dirname(dir));
    } catch {
      // left to the sweep
    }
  }
}

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/** mountinfo escapes space, tab, newline and backslash as octal. */
function unescapeMountinfo(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}
