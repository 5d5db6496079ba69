/**
 * A rootfs for build steps over an active snapshot's mounts (the snapshotter's prepare: lower,
 * upper and work dirs): the runtime adds only what a run needs beside them, the mount point and
 * the per-run /etc/hosts, /etc/resolv.conf and /etc/hostname, in one temp directory of its own
 * that is removed on release — also when the Node process exits or is interrupted while runs are
 * in progress (its sandboxes are killed first).
 */
import { mkdtemp, mkdir, writeFile, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TsbuildError } from '../errors.js';
import { killAllSandboxes, warmSandbox } from './sandbox.js';
import { removeTree } from '../image/remove-tree.js';
import { beforeExitRemoval, keepOnExit, removeOnExit } from '../image/exit-cleanup.js';
import type { SnapshotMounts } from '../image/snapshots.js';
import { privateResolvConf } from './network-resolv.js';

export interface Rootfs extends SnapshotMounts {
  /** The runtime's temp directory holding the two below (the snapshot's dirs are not in it). */
  readonly dir: string;
  readonly mountPoint: string;
  /** Host files bind-mounted at /etc/hosts, /etc/resolv.conf, /etc/hostname for each run. */
  readonly etcDir: string;
}

export interface RootfsOptions {
  /** Where to make the temp directory (default: os.tmpdir()). */
  tmpDir?: string;
}

/** A sandbox killed on exit no longer writes into the dirs removed after it. */
const stopSandboxes = (): void => killAllSandboxes(2000);

export async function createRootfs(mounts: SnapshotMounts, opts: RootfsOptions = {}): Promise<Rootfs> {
  if (mounts.lowerDirs.length === 0) throw new TsbuildError('INVALID', 'a rootfs needs at least one lower dir (the snapshotter gives an empty one for an empty filesystem)');
  // a run follows: its helper starts now (sandbox.ts's spare; the later runs find one waiting)
  warmSandbox();
  // named by its owner's PID: `tsbuild prune` removes those of dead processes only
  const dir = await mkdtemp(join(opts.tmpDir ?? tmpdir(), `${process.pid}-tsbuild-run-`));
  beforeExitRemoval(stopSandboxes);
  removeOnExit(dir);
  const r: Rootfs = {
    dir,
    lowerDirs: [...mounts.lowerDirs],
    upperDir: mounts.upperDir,
    workDir: mounts.workDir,
    mountPoint: join(dir, 'root'),
    etcDir: join(dir, 'etc'),
  };
  try {
    await Promise.all([r.mountPoint, r.etcDir].map((d) => mkdir(d, { mode: 0o755 })));
  } catch (e) {
    await releaseRootfs(r);
    throw e;
  }
  return r;
}

/** Writes the run's /etc files and returns the bind mounts that put them in place. */
export async function etcMounts(
  r: Rootfs,
  hostname: string,
  network: 'host' | 'none' | 'private',
): Promise<{ type: 'bind'; source: string; target: string; readonly: boolean }[]> {
  const hosts =
    `127.0.0.1\tlocalhost ${hostname}\n` + `::1\tlocalhost ip6-localhost ip6-loopback\n`;
  let resolv = '';
  if (network === 'host') {
    resolv = await readFile('/etc/resolv.conf', 'utf8').catch(() => '');
  } else if (network === 'private') {
    // the host's nameservers, minus those only the host's own loopback can reach
    resolv = await privateResolvConf();
  }
  const files: [string, string][] = [
    ['hosts', hosts],
    ['resolv.conf', resolv],
    ['hostname', hostname + '\n'],
  ];
  await Promise.all(files.map(([n, c]) => writeFile(join(r.etcDir, n), c, { mode: 0o644 })));
  return files.map(([n]) => ({ type: 'bind', source: join(r.etcDir, n), target: `/etc/${n}`, readonly: false }));
}

/** Removes the runtime's own directory; the snapshot's dirs are left to the snapshotter. */
export async function releaseRootfs(r: Rootfs): Promise<void> {
  await removeTree(r.dir);
  keepOnExit(r.dir);
}
