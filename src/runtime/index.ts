/**
 * The runtime the builder calls for RUN steps: a rootfs over the mounts the snapshotter prepared,
 * runs in it, the change as layer entries, cleanup of its own dirs. The snapshot's upper dir is
 * the snapshotter's: it commits it (the next layer's snapshot) or aborts it.
 *
 *   const active = await snapshots.prepare(parentChainIds);  // lowers (bottom first), upper, work
 *   const fs = await rt.prepare(active);
 *   const r = await rt.run(fs, { args: ['/bin/sh', '-c', 'make'], env, network: 'none', ... });
 *   const entries = await rt.diff(fs);                       // LayerEntry[] for the layer writer
 *   await rt.release(fs);                                    // mount point and /etc files
 *   await snapshots.commit(active, chainId);                 // after the layer was written
 */
import type { LayerEntry } from '../image/layer-entry.js';
import type { SnapshotMounts } from '../image/snapshots.js';
import { diffUpperDir } from './diff.js';
import { BridgeNetwork, type BridgeNetworkOptions } from './network.js';
import { createRootfs, dropWarmRootfs, etcMounts, releaseRootfs, warmRootfs, type Rootfs } from './rootfs.js';
import { prestartSandbox, runSandbox, sandboxHelperPath, type SandboxResult, type SandboxSpec } from './sandbox.js';
import type { CgroupLimits } from './cgroup.js';

export type { Rootfs } from './rootfs.js';
export type { SnapshotMounts } from '../image/snapshots.js';
export type { SandboxMount, SandboxResult, SandboxSpec, SandboxUser } from './sandbox.js';
export type { ResolvedUser } from './users.js';
export { resolveUser, resolveChown, parsePasswd, parseGroup } from './users.js';
export { diffUpperDir } from './diff.js';
export { DEFAULT_PATH } from './sandbox.js';
export { DEFAULT_PIDS_MAX, defaultMemoryBytes, type CgroupLimits } from './cgroup.js';
export { BridgeNetwork, DEFAULT_BRIDGE, type BridgeNetworkOptions, type BridgeInfo, type Attachment } from './network.js';

/** What a step asks to run; the rootfs directories come from `prepare`. */
export type RunSpec = Omit<SandboxSpec, 'lowerDirs' | 'upperDir' | 'workDir' | 'mountPoint'>;

export interface Runtime {
  /** A rootfs over an active snapshot's mounts (the snapshotter's prepare): the runtime adds its
   *  mount point and the per-run /etc files; it never makes or removes the snapshot's dirs. */
  prepare(mounts: SnapshotMounts): Promise<Rootfs>;
  /** Runs one process; /etc/hosts, /etc/resolv.conf and /etc/hostname are provided for the run
   *  (bind-mounted, never part of the diff). Sequential runs on one rootfs accumulate changes. */
  run(rootfs: Rootfs, spec: RunSpec): Promise<SandboxResult>;
  /** The changes made so far, as layer entries (sourcePath points into the rootfs: read the
   *  content before `release`). */
  diff(rootfs: Rootfs): Promise<LayerEntry[]>;
  /** Removes the runtime's own dirs of the rootfs (not the snapshot's: commit or abort it). */
  release(rootfs: Rootfs): Promise<void>;
  /** A hint that a run with these limits (and this network and hostname) comes soon: the runtime
   *  may make what it needs ahead (a sandbox helper, a cgroup, the run's dir and /etc files).
   *  Never throws; unused, the helper and cgroup end within seconds, the dir with dropWarm. */
  warm?(limits?: CgroupLimits, run?: { network: RunSpec['network']; hostname?: string }): void;
  /** Ends what `warm` made that no run took (the build is over). */
  dropWarm?(): Promise<void>;
}

export interface RuntimeOptions {
  /** Parent of the per-rootfs temp dirs: mount point and /etc files (default os.tmpdir()). */
  tmpDir?: string;
  /** The compiled helper (default native/build/tsbuild-sandbox). */
  helperPath?: string;
  /** Hostname when a spec gives none. */
  defaultHostname?: string;
  /** The bridge that network 'private' runs are attached to (default: tsbuild0, shared by every
   *  runtime of the process). */
  network?: BridgeNetwork | BridgeNetworkOptions;
}

let sharedNetwork: BridgeNetwork | undefined;

export function createRuntime(opts: RuntimeOptions = {}): Runtime {
  const helper = opts.helperPath ?? sandboxHelperPath();
  let net: BridgeNetwork | undefined;
  const network = () =>
    (net ??= opts.network instanceof BridgeNetwork ? opts.network : opts.network ? new BridgeNetwork(opts.network) : (sharedNetwork ??= new BridgeNetwork()));
  return {
    prepare: (mounts) => createRootfs(mounts, opts.tmpDir ? { tmpDir: opts.tmpDir } : {}),
    async run(rootfs, spec) {
      const hostname = spec.hostname ?? opts.defaultHostname ?? 'tsbuild';
      const etc = await etcMounts(rootfs, hostname, spec.network);
      return runSandbox(
        {
          ...spec,
          hostname,
          lowerDirs: [...rootfs.lowerDirs],
          upperDir: rootfs.upperDir,
          workDir: rootfs.workDir,
          mountPoint: rootfs.mountPoint,
          mounts: [...etc, ...(spec.mounts ?? [])],
          // each step on its own port of the bridge, isolated from the other steps' ports; the
          // sandbox releases the address once the namespace is gone
          ...(spec.network === 'private' && !spec.netAttach ? { netAttach: (pid: number) => network().attach(pid, { isolated: true }) } : {}),
        },
        helper,
      );
    },
    diff: (rootfs) => diffUpperDir(rootfs.upperDir, { lowerDirs: rootfs.lowerDirs }),
    release: releaseRootfs,
    warm: (limits, run) => {
      prestartSandbox(helper, limits);
      warmRootfs(opts.tmpDir, run && { hostname: run.hostname ?? opts.defaultHostname ?? 'tsbuild', network: run.network });
    },
    dropWarm: () => dropWarmRootfs(),
  };
}
