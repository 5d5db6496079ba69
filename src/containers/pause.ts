/**
 * `pause` / `unpause` as Docker's: every process of the container stops where it is (the cgroup
 * freezer: v1 freezer.state, v2 cgroup.freeze) and goes on when thawed; `ps` shows `Up 3 seconds
 * (Paused)`, inspect `State.Status` "paused" and `State.Paused` true. The frozen state is read from
 * the container's cgroup itself, so it can never be stale (a new run has a new group). Docker's
 * words: `Container ID is not running`, `Container ID is already paused`, `Container ID is not
 * paused`. `commit` pauses the container while it reads the writable layer (`withPaused`).
 */
import { TsbuildError } from '../errors.js';
import { withLock } from '../image/lock.js';
import { canFreeze, cgroupFrozen, freezeCgroup } from '../runtime/cgroup.js';
import type { ContainerView, Containers } from './containers.js';
import { lockPath } from './record.js';

/** Whether the container is running and frozen. */
export function isPaused(c: Pick<ContainerView, 'state'>): boolean {
  return c.state.Running && cgroupFrozen(c.state.Cgroups ?? []);
}

export async function pauseContainer(c: Containers, word: string): Promise<void> {
  const id = (await c.find(word)).record.Id;
  await withLock(lockPath(c.paths, id), async () => {
    const st = await c.sync(id, true);
    if (!st.Running) throw new TsbuildError('CONFLICT', `Container ${id} is not running`);
    if (isPaused({ state: st })) throw new TsbuildError('CONFLICT', `Container ${id} is already paused`);
    await freezeCgroup(st.Cgroups ?? [], true);
  });
}

export async function unpauseContainer(c: Containers, word: string): Promise<void> {
  const id = (await c.find(word)).record.Id;
  await withLock(lockPath(c.paths, id), async () => {
    const st = await c.sync(id, true);
    if (!isPaused({ state: st })) throw new TsbuildError('CONFLICT', `Container ${id} is not paused`);
    await freezeCgroup(st.Cgroups ?? [], false);
  });
}

/** Thaws a paused container (before a stop or kill signal, which a frozen process would not act on). */
export async function thawIfPaused(c: Pick<ContainerView, 'state'>): Promise<void> {
  if (isPaused(c)) await freezeCgroup(c.state.Cgroups ?? [], false);
}

/**
 * Runs FN with the running container V frozen (Docker's `commit --pause`, the default), thawed
 * again however FN ends; a container the user paused stays paused, a stopped one is not touched.
 */
export async function withPaused<T>(v: Pick<ContainerView, 'state'>, pause: boolean, fn: () => Promise<T>): Promise<T> {
  // (a group made before tsbuild used the freezer cannot be frozen: read as Docker without -p)
  if (!pause || !v.state.Running || isPaused(v) || !(v.state.Cgroups ?? []).some(canFreeze)) return fn();
  const dirs = v.state.Cgroups ?? [];
  await freezeCgroup(dirs, true);
  try {
    return await fn();
  } finally {
    await freezeCgroup(dirs, false);
  }
}
