/**
 * A rootfs for build steps over an active snapshot's mounts (the snapshotter's prepare: lower,
 * upper and work dirs): the runtime adds only what a run needs beside them, the mount point and
 * the per-run /etc/hosts, /etc/resolv.conf and /etc/hostname, in one temp directory of its own
 * that is removed on release — also when the Node process exits or is interrupted while runs are
 * in progress (its sandboxes are killed first).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
  const tmp = opts.tmpDir ?? tmpdir();
  // (one made ahead for another temp dir stays for its own runtime)
  const taken = spare?.tmpDir === tmp ? spare : undefined;
  if (taken) spare = undefined;
  const dir = taken?.dir ?? makeRunDir(tmp);
  beforeExitRemoval(stopSandboxes);
  return {
    dir,
    lowerDirs: [...mounts.lowerDirs],
    upperDir: mounts.upperDir,
    workDir: mounts.workDir,
    mountPoint: join(dir, 'root'),
    etcDir: join(dir, 'etc'),
  };
}

/** A run dir made ahead (warmRootfs) in its temp dir, for the next createRootfs there. */
let spare: { tmpDir: string; dir: string } | undefined;

/**
 * Makes the next rootfs's dir now, in TMPDIR (default os.tmpdir()): a mkdir on the store's
 * filesystem waits behind a journal commit, and made right after a big layer's fsync began it cost
 * the next RUN ~30 ms. Never throws; dropWarmRootfs ends one no run took.
 */
export function warmRootfs(tmpDir?: string, etc?: { hostname: string; network: 'host' | 'none' | 'private' }): void {
  const tmp = tmpDir ?? tmpdir();
  if (spare?.tmpDir === tmp) return;
  void dropWarmRootfs();
  try {
    const dir = makeRunDir(tmp);
    spare = { tmpDir: tmp, dir };
    if (etc) {
      // the run's /etc files too (creating them waits for the journal as much as a mkdir)
      const files = etcFiles(etc.hostname, etc.network);
      writeEtcFiles(dir, files);
      written.set(dir, files);
    }
  } catch {
    // createRootfs makes its own
  }
}

/** Removes the dir warmRootfs made, if no run took it. */
export async function dropWarmRootfs(): Promise<void> {
  const s = spare;
  spare = undefined;
  if (s === undefined) return;
  written.delete(s.dir);
  await removeTree(s.dir).catch(() => {});
  keepOnExit(s.dir);
}

/** A run's temp dir with its (empty) mount point and /etc dir; removed at our exit. Synchronous
 *  calls, here and for the /etc files (a few syscalls, ~0.1-0.3 ms each): through the thread
 *  pool they queued behind the fsyncs of the blobs still being committed. */
function makeRunDir(tmp: string): string {
  // named by its owner's PID: `tsbuild prune` removes those of dead processes only
  const dir = mkdtempSync(join(tmp, `${process.pid}-tsbuild-run-`));
  removeOnExit(dir);
  try {
    for (const d of ['root', 'etc']) mkdirSync(join(dir, d), { mode: 0o755 });
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    keepOnExit(dir);
    throw e;
  }
  return dir;
}

/** Writes the run's /etc files and returns the bind mounts that put them in place. */
export async function etcMounts(
  r: Rootfs,
  hostname: string,
  network: 'host' | 'none' | 'private',
): Promise<{ type: 'bind'; source: string; target: string; readonly: boolean }[]> {
  const files = etcFiles(hostname, network);
  // written ahead with the run's dir (warmRootfs) when they say the same
  const ahead = written.get(r.dir);
  written.delete(r.dir);
  if (ahead === undefined || ahead.some(([n, c], i) => files[i]![0] !== n || files[i]![1] !== c)) writeEtcFiles(r.dir, files);
  return files.map(([n]) => ({ type: 'bind', source: join(r.etcDir, n), target: `/etc/${n}`, readonly: false }));
}

/** The contents of a run's /etc/hosts, /etc/resolv.conf and /etc/hostname. */
function etcFiles(hostname: string, network: 'host' | 'none' | 'private'): [string, string][] {
  const hosts =
    `127.0.0.1\tlocalhost ${hostname}\n` + `::1\tlocalhost ip6-localhost ip6-loopback\n`;
  let resolv = '';
  if (network === 'host') {
    try {
      resolv = readFileSync('/etc/resolv.conf', 'utf8');
    } catch {
      resolv = '';
    }
  } else if (network === 'private') {
    // the host's nameservers, minus those only the host's own loopback can reach
    resolv = privateResolvConf();
  }
  return [
    ['hosts', hosts],
    ['resolv.conf', resolv],
    ['hostname', hostname + '\n'],
  ];
}

function writeEtcFiles(dir: string, files: [string, string][]): void {
  for (const [n, c] of files) writeFileSync(join(dir, 'etc', n), c, { mode: 0o644 });
}

/** The /etc files written ahead into a run dir (by its path) and what they say. */
const written = new Map<string, [string, string][]>();

/** Removes the runtime's own directory; the snapshot's dirs are left to the snapshotter. */
export async function releaseRootfs(r: Rootfs): Promise<void> {
  written.delete(r.dir);
  await removeTree(r.dir);
  keepOnExit(r.dir);
}
