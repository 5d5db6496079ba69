/**
 * What every RUN of a build shares before any of them runs: its cgroup limits (the caller's, else
 * defaults that protect the host, as Docker's daemon-wide defaults would), and the hint to the
 * runtime that a run is coming, so that it starts a sandbox helper and makes a cgroup with those
 * limits while the build does other work (a COPY, the context) instead of when the RUN starts.
 */
import { DEFAULT_PIDS_MAX, defaultMemoryBytes, type CgroupLimits } from '../../runtime/index.js';
import type { BuildSession } from '../session.js';

/** The cgroup limits of every RUN of this build. */
export function runLimits(session: BuildSession): CgroupLimits {
  const l = session.options.limits ?? {};
  const pidsMax = l.pidsMax ?? DEFAULT_PIDS_MAX;
  return {
    memoryBytes: l.memoryBytes ?? defaultMemoryBytes(),
    ...(pidsMax > 0 ? { pidsMax } : {}),
    ...(l.cpuShares !== undefined ? { cpuShares: l.cpuShares } : {}),
  };
}

/** Tells the runtime a RUN will run soon, when one is still ahead (never throws). */
export function warmRuns(session: BuildSession): void {
  if (session.runsAhead > 0) session.runtime.warm?.(runLimits(session));
}
