/**
 * What every RUN of a build shares before any of them runs: its cgroup limits (the caller's, else
 * defaults that protect the host, as Docker's daemon-wide defaults would), and the hint to the
 * runtime and the snapshotter that a run is coming, so that they start a sandbox helper, make a
 * cgroup with those limits and the run's directories while the build does other work (a COPY, the
 * context) instead of when the RUN starts (its directories, once the COPY's layer is being synced,
 * would wait for the filesystem's journal).
 */
import { DEFAULT_PIDS_MAX, defaultMemoryBytes, type CgroupLimits } from '../../runtime/index.js';
import type { BuildSession } from '../session.js';
import { runtimeNetwork, stepNetwork } from '../network-policy.js';

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

/** Tells the runtime and the snapshotter a RUN will run soon, when one is still ahead (never throws). */
export function warmRuns(session: BuildSession): void {
  if (session.runsAhead === 0) return;
  // (the build's network: a RUN --network of its own finds files that differ and writes its own)
  session.runtime.warm?.(runLimits(session), { network: runtimeNetwork(stepNetwork(session.options.network ?? 'default', undefined)) });
  session.snapshotter.warm?.();
}
