/**
 * A rootfs for build steps: the directories one overlay needs (upper, work, mount point) plus the
 * per-run /etc/hosts, /etc/resolv.conf and /etc/hostname, all in one temp directory that is removed
 * on release — also when the Node process exits or is interrupted while runs are in progress.
 */
import { mkdtemp, mkdir, writeFile, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { killAllSandboxes } from './sandbox.js';
import { removeTree, removeTreeSync } from '../image/remove-tree.js';
import { privateResolvConf } from './network-resolv.js';

export interface Rootfs {
  /** The temp directory holding everything below. */
  readonly dir: string;
  /** Lower layer directories, lowest first. */
  readonly lowerDirs: readonly string[];
  readonly upperDir: string;
  readonly workDir: string;
  readonly mountPoint: string;
  /** Host files bind-mounted at /etc/hosts, /etc/resolv.conf, /etc/hostname for each run. */
  readonly etcDir: string;
}

export interface RootfsOptions {
  /** Where to make the temp directory (default: os.tmpdir()). Must support overlay upper dirs. */
  tmpDir?: string;
}

export async function createRootfs(lowerDirs: readonly string[], opts: RootfsOptions = {}): Promise<Rootfs> {
  // named by its owner's PID: `tsbuild prune` removes those of dead processes only
  const dir = await mkdtemp(join(opts.tmpDir ?? tmpdir(), `${process.pid}-tsbuild-run-`));
  track(dir);
  const r: Rootfs = {
    dir,
    lowerDirs: [...lowerDirs],
    upperDir: join(dir, 'upper'),
    workDir: join(dir, 'work'),
    mountPoint: join(dir, 'root'),
    etcDir: join(dir, 'etc'),
  };
  await Promise.all([r.upperDir, r.workDir, r.mountPoint, r.etcDir].map((d) => mkdir(d, { mode: 0o755 })));
  // a FROM scratch stage has no layer yet, but overlayfs needs one lower dir
  if (r.lowerDirs.length === 0) {
    const empty = join(dir, 'empty');
    await mkdir(empty, { mode: 0o755 });
    (r.lowerDirs as string[]).push(empty);
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

export async function releaseRootfs(r: Rootfs): Promise<void> {
  await removeTree(r.dir); // whatever the depth of the tree the step made
  untrack(r.dir);
}

// ---- leftovers on exit ------------------------------------------------------------------------

const dirs = new Set<string>();
let hooked = false;

function track(dir: string): void {
  dirs.add(dir);
  if (!hooked) {
    hooked = true;
    process.on('exit', onExit);
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  }
}

function untrack(dir: string): void {
  dirs.delete(dir);
  if (dirs.size === 0) unhook();
}

function unhook(): void {
  if (!hooked) return;
  hooked = false;
  process.off('exit', onExit);
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
}

function onExit(): void {
  killAllSandboxes(2000);
  for (const d of dirs) {
    try {
      removeTreeSync(d);
    } catch {
      // best effort: the process is leaving
    }
  }
  dirs.clear();
}

/* Only installed while rootfs dirs exist. Cleans up, then lets the signal do what it would have
 * done: re-raised when nobody else listens, left to the other listeners otherwise. */
function onSignal(sig: NodeJS.Signals): void {
  onExit();
  unhook();
  if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
}
