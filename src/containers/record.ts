/**
 * A container's record on disk, and where its files live.
 *
 *   ROOT/containers/<id>/config.json      what `create` decided (Docker-shaped Config + HostConfig,
 *                                         name, image, layers); rewritten only by `rename`
 *   ROOT/containers/<id>/state.json       the last known state (Running, Pid, ExitCode, times, network)
 *   ROOT/containers/<id>/<id>-json.log    the json-file log (written by the monitor)
 *   ROOT/snapshots-active/<id>/           the writable layer, the snapshotter's keyed active snapshot
 *                                         (image/snapshots.ts): kept across stop/start until `rm`
 *   ROOT/containers/<id>/root/            the mount point (mounted only inside the container)
 *   ROOT/containers/<id>/{hosts,resolv.conf,hostname}   bound at /etc/... in the container
 *   /run/tsbuild/containers/<id>/         runtime files of the monitor: `monitor`, `ctl`, `exit`
 *                                         (tmpfs: gone at reboot, so a reboot reads as "exited")
 * Every file is written whole (temp file + rename); directories are 0700, files 0600. A record
 * appears by renaming a complete directory into place, so a killed `create` leaves no half record.
 */
import { mkdirSync, readFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TsbuildError } from '../errors.js';
import type { MountRecord } from './volumes.js';
import type { HealthConfig } from '../image/config.js';

/** Docker's Config of a container (the fields tsbuild uses; JSON names as Docker's). */
export interface ContainerConfigJson {
  Hostname: string;
  Domainname: string;
  User: string;
  AttachStdin: boolean;
  AttachStdout: boolean;
  AttachStderr: boolean;
  Tty: boolean;
  OpenStdin: boolean;
  StdinOnce: boolean;
  Env: string[] | null;
  Cmd: string[] | null;
  /** HEALTHCHECK / `--health-*` (containers/health.ts), when either gave one. */
  Healthcheck?: HealthConfig;
  Image: string;
  /** Anonymous volumes' targets (`/data` → {}), or null. */
  Volumes: Record<string, Record<string, never>> | null;
  /** `80/tcp` → {} (Docker's shape): the image's EXPOSE plus the published ports. */
  ExposedPorts?: Record<string, Record<string, never>>;
  WorkingDir: string;
  Entrypoint: string[] | null;
  OnBuild: null;
  Labels: Record<string, string>;
  StopSignal?: string;
  StopTimeout?: number;
}

export interface HostConfigJson {
  Binds: string[] | null;
  ContainerIDFile: string;
  LogConfig: { Type: 'json-file' | 'syslog' | 'none'; Config: Record<string, string> };
  /** `bridge`, `host`, `none` or a user network's name (containers/networks.ts). */
  NetworkMode: string;
  /** `-p`/`-P`: `80/tcp` → [{HostIp, HostPort}] as given ('' = any address, a free port). */
  PortBindings: Record<string, { HostIp: string; HostPort: string }[]>;
  RestartPolicy: { Name: string; MaximumRetryCount: number };
  AutoRemove: boolean;
  Init: boolean | null;
  /** Resource limits (containers/resources.ts; absent in records made before them). */
  Memory?: number;
  MemorySwap?: number;
  NanoCpus?: number;
  CpuShares?: number;
  PidsLimit?: number | null;
  /** `--volumes-from` words as given. */
  VolumesFrom?: string[];
}

export interface ContainerRecord {
  Id: string;
  /** Without the leading `/`. */
  Name: string;
  /** RFC 3339 with nanoseconds. */
  Created: string;
  Path: string;
  Args: string[];
  /** The image ID (`sha256:...`). */
  Image: string;
  /** Snapshot chain IDs of the image's layers, lowest first. */
  Layers: string[];
  /** Digests pinned in the image store for this container. */
  Pinned: string[];
  Config: ContainerConfigJson;
  HostConfig: HostConfigJson;
  /** Volumes, binds and tmpfs mounts (containers/volumes.ts), decided at create. */
  Mounts?: MountRecord[];
  /** The user networks the container is connected to (its NetworkMode's first), by name. */
  Networks?: Record<string, EndpointConfig>;
}

/** A container's place on a user network (`--network`, `network connect`). */
export interface EndpointConfig {
  NetworkID: string;
  Aliases: string[];
  /** `--ip`. */
  IPv4Address?: string;
}


export interface NetworkState {
  IPAddress: string;
  IPPrefixLen: number;
  Gateway: string;
  MacAddress: string;
}

export interface ContainerState {
  Running: boolean;
  Pid: number;
  ExitCode: number;
  Error: string;
  /** RFC 3339 (nanoseconds); Go's zero time when never. */
  StartedAt: string;
  FinishedAt: string;
  OOMKilled: boolean;
  RestartCount: number;
  /** Set while attached to tsbuild's bridge. */
  Network?: NetworkState;
  /** The user networks attached while running, by name (containers/network-endpoints.ts). */
  Endpoints?: Record<string, NetworkState & { NetworkID: string; HostInterface: string; IfName: string }>;
  /** Published ports while running (host side as bound); their DNAT rules go with them. */
  Ports?: { proto: 'tcp' | 'udp'; hostIp: string; hostPort: number; port: number; address?: string; network?: string }[];
  /** The container's cgroup directories (the monitor removes them; `rm` too, if it was killed). */
  Cgroups?: string[];
  /** Set while being removed (`rm`), with the remover's PID and `-v`: a remover that died (a
   *  killed `rm -f`) leaves the removal to the next command that lists or finds the container. */
  Removing?: boolean;
  RemovingPid?: number;
  RemoveVolumes?: boolean;
  /** Stopped or killed by the user: the restart policy leaves it stopped (until a user start). */
  ManualStop?: boolean;
  /** The restart policy's back-off: the process waiting to start the container again. */
  RestartingPid?: number;
  /** The last back-off (ms), doubled on each restart. */
  RestartDelayMs?: number;
}

export const ZERO_TIME = '0001-01-01T00:00:00Z';

export function initialState(): ContainerState {
  return { Running: false, Pid: 0, ExitCode: 0, Error: '', StartedAt: ZERO_TIME, FinishedAt: ZERO_TIME, OOMKilled: false, RestartCount: 0 };
}

export interface ContainerPaths {
  root: string;
  /** The runtime root (default /run/tsbuild/containers). */
  runRoot: string;
}

export const DEFAULT_RUN_ROOT = '/run/tsbuild/containers';

/** The files start writes into the container's dir and binds at /etc/NAME (as Docker's
 *  HostsPath, HostnamePath, ResolvConfPath): left out of commit and diff, read by cp. */
export const ETC_FILES = ['hosts', 'hostname', 'resolv.conf'] as const;
export type EtcFile = (typeof ETC_FILES)[number];

// A `ps` asks for a path of each of its containers several times: path.join's normalizing loop,
// run a few hundred times, was the listing's biggest cost (and got TurboFan compiling it). The
// roots are joined once per value; an ID (64 hex) or a file name appended to a normalized
// directory is what join would give.
let joinedRoot: { root: string; runRoot: string; containers: string; run: string } | undefined;

function roots(p: ContainerPaths): { containers: string; run: string } {
  if (joinedRoot?.root !== p.root || joinedRoot.runRoot !== p.runRoot) {
    joinedRoot = { root: p.root, runRoot: p.runRoot, containers: join(p.root, 'containers'), run: join(p.runRoot, '.') };
  }
  return joinedRoot;
}

/** DIR (normalized, as these functions return them) / NAME (one path component). */
export function inDir(dir: string, name: string): string {
  return dir.endsWith('/') ? dir + name : `${dir}/${name}`;
}

export function containersDir(p: ContainerPaths): string {
  return roots(p).containers;
}

export function containerDir(p: ContainerPaths, id: string): string {
  return inDir(roots(p).containers, id);
}

export function runDir(p: ContainerPaths, id: string): string {
  return inDir(roots(p).run, id);
}

export function lockPath(p: ContainerPaths, id: string): string {
  return join(p.root, 'locks', `container-${id}`);
}

/** The lock held while names are taken or given up (create, rename, rm). */
export function namesLockPath(p: ContainerPaths): string {
  return join(p.root, 'locks', 'container-names');
}

export function writeJsonAtomic(path: string, value: unknown): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(value, null, 1) + '\n', { mode: 0o600 });
  renameSync(tmp, path);
}

export function readRecord(dir: string): ContainerRecord | undefined {
  try {
    return JSON.parse(readFileSync(inDir(dir, 'config.json'), 'utf8')) as ContainerRecord;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new TsbuildError('CORRUPT', `${inDir(dir, 'config.json')}: ${(e as Error).message}`);
  }
}

export function readState(dir: string): ContainerState {
  try {
    return { ...initialState(), ...(JSON.parse(readFileSync(inDir(dir, 'state.json'), 'utf8')) as Partial<ContainerState>) };
  } catch {
    return initialState();
  }
}

/** IDs of every complete record (directories being made or removed start with `.`). */
export function listIds(p: ContainerPaths): string[] {
  try {
    return readdirSync(containersDir(p)).filter((n) => /^[0-9a-f]{64}$/.test(n));
  } catch {
    return [];
  }
}

export function ensureContainersDir(p: ContainerPaths): void {
  mkdirSync(containersDir(p), { recursive: true, mode: 0o700 });
  mkdirSync(join(p.root, 'locks'), { recursive: true });
}
