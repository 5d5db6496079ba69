/**
 * Containers without a daemon: create, start, stop, kill, wait, rm, rename, prune, list — on the
 * image store's root, each running container kept alive by its own monitor (native/sandbox.c
 * monitor mode, started through runtime/monitor.ts), never by a tsbuild process.
 *
 * Pinned Docker behaviour:
 * - `run` = create + start; the command is PID 1 (`--init`: tsbuild-init in front); Path/Args from
 *   ENTRYPOINT + CMD, `--entrypoint` clearing the image's CMD; env = image env, then `-e`, plus
 *   HOSTNAME (and HOME from /etc/passwd when unset); hostname = the short ID; Docker's /etc/hosts.
 * - `stop`: the stop signal (STOPSIGNAL, `--stop-signal`, else SIGTERM), then SIGKILL after the
 *   timeout (`-t`, `--stop-timeout`, else 10 s); a PID 1 without a handler ignores SIGTERM, as in
 *   Docker, so a plain `sleep` takes the whole timeout and ends with 137.
 * - Errors worded as moby's: a running container cannot be removed without force, cannot be killed
 *   when not running, names conflict, a start that cannot execute the command leaves the container
 *   Created with ExitCode 126/127 and State.Error.
 * State: see record.ts. Every read re-syncs with the monitor's files: an exit file decides; a dead
 * monitor without one (killed, reboot) reads as Exited (255) — never a stuck "Up". `rm` marks the
 * container first: one whose `rm` died half-way is removed by the next list or find (Docker's daemon
 * finishes a removal its client gave up on).
 * The writable layer is the snapshotter's keyed active snapshot named by the container's ID (as
 * containerd's Prepare(key=ID) / Docker's RWLayer), apart from the record: made before the record
 * appears (a failed create removes it), removed after the record is gone; one left without a record
 * by a killed create or rm goes with the next list (`ps`, `container prune`, ...).
 */
import { procStat } from '../runtime/proc-stat.js';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { TsbuildError } from '../errors.js';
import { chainIds } from '../image/digest.js';
import { withLock, pidAlive } from '../image/lock.js';
import { removeTree } from '../image/remove-tree.js';
import type { SnapshotMounts, Snapshotter } from '../image/snapshots.js';
import type { StoredImage } from '../image/store.js';
import type { BuildCache, ImageCatalog, Leases, ScratchSpace, StoreContent } from '../image/store-roles.js';
import { createCgroup, type Cgroup } from '../runtime/cgroup.js';
import { startMonitor, type MonitorHandle } from '../runtime/monitor.js';
import { BridgeNetwork, type Attachment } from '../runtime/network.js';
import { NetworkEndpoints } from './network-endpoints.js';
import { isBuiltinNetwork } from './networks.js';
import { privateResolvConf } from '../runtime/network-resolv.js';
import { DEFAULT_PATH } from '../runtime/sandbox.js';
import { resolveUser } from '../runtime/users.js';
import { newContainerId, resolveContainer, shortId } from './ids.js';
import { jsonLogPath, parseJsonFileOpts } from './json-log.js';
import { formatRfc3339Nano } from './log-time.js';
import { nowNs } from '../clock.js';
import { monitorAlive, readExitInfo, readMonitorInfo, signalContainer, type MonitorInfo } from './monitor-files.js';
import { generateName, nameInUse, validateContainerName } from './names.js';
import { containerHealth, mergeHealthcheck, monitorHealth, type HealthState } from './health.js';
import type { HealthConfig } from '../image/config.js';
import {
  DEFAULT_RUN_ROOT,
  ZERO_TIME,
  ETC_FILES,
  containerDir,
  containersDir,
  ensureContainersDir,
  initialState,
  listIds,
  lockPath,
  namesLockPath,
  readRecord,
  readState,
  runDir,
  writeJsonAtomic,
  type ContainerPaths,
  type ContainerRecord,
  type ContainerState,
  type EtcFile,
} from './record.js';
import { parseSignal } from './signals.js';
import { hostPortsOf, type PortMap } from './ports.js';
import { nextDelay, shouldRestart, type RestartPolicy } from './restart.js';
import { cgroupLimits, type Resources } from './resources.js';
import { thawIfPaused } from './pause.js';
import { DUAL_LOG_OPTS, parseSyslogOpts, syslogSpec } from './syslog-driver.js';
import { inheritMounts, sortMounts, Volumes, type MountRecord, type MountRequest, type VolumesFrom } from './volumes.js';

export interface CreateOptions {
  image: StoredImage;
  /** The image as the user named it (Config.Image). */
  imageRef: string;
  name?: string;
  /** Words after IMAGE. */
  cmd: string[];
  /** `--entrypoint` ('' clears the image's). */
  entrypoint?: string;
  /** `-e` / `--env-file` entries, already `K=V`. */
  env: string[];
  workdir?: string;
  user?: string;
  hostname?: string;
  /** `bridge`, `host`, `none` or a user network (its name or ID). */
  network: string;
  /** `--network-alias`, `--ip`: a user network only. */
  networkAliases?: string[];
  ip?: string;
  labels: Record<string, string>;
  stopSignal?: string;
  stopTimeout?: number;
  autoRemove: boolean;
  init: boolean;
  interactive: boolean;
  /** `-t`: a pseudo-terminal. */
  tty?: boolean;
  logDriver: 'json-file' | 'syslog' | 'none';
  logOpts: Record<string, string>;
  cidfile?: string;
  /** `-p`/`-P`, parsed (containers/ports.ts). */
  portBindings?: PortMap;
  /** `--expose` and the published ports, added to the image's EXPOSE. */
  exposedPorts?: string[];
  /** `-v`, `--mount`, `--tmpfs`, parsed (containers/volumes.ts), and the `-v` words as given. */
  mounts?: MountRequest[];
  binds?: string[];
  /** `--volumes-from`, parsed (containers/volumes.ts). */
  volumesFrom?: VolumesFrom[];
  /** `--restart`, parsed (containers/restart.ts). */
  restartPolicy?: RestartPolicy;
  /** `--memory`, `--cpus`, ... parsed (containers/resources.ts). */
  resources?: Resources;
  /** `--health-*` / `--no-healthcheck`, parsed (containers/health.ts); the image's fills the rest. */
  healthcheck?: HealthConfig;
}

export interface StartOptions {
  /** A foreground run: output also goes here. */
  attach?: { stdout: Writable; stderr: Writable };
  /** `-t`: the pty's first window size (default 24x80). */
  ttySize?: { rows: number; cols: number };
  /** `-i`: piped to the command. */
  stdin?: Readable;
  /** What the monitor executes after the container ended (e.g. `tsbuild container cleanup ID`),
   *  used for AutoRemove. */
  exitCommand?: string[];
  exitEnv?: string[];
  /** A start by the restart policy (not by the user: RestartCount and a user's stop are kept). */
  autoRestart?: boolean;
  /** With `attach`: the caller settles the ended container itself (`cleanup(id, undefined, monitorPid)`,
   *  then `handle.cleanedUp(true)`), when no restart policy applies; the exit command is the fallback. */
  callerCleans?: boolean;
}

export interface ContainerView {
  record: ContainerRecord;
  state: ContainerState;
  /** State.Health (containers/health.ts), for a container with a health check. */
  health?: HealthState;
}

/** Go's zero time as ms: 0. */
export function timeMs(t: string): number {
  return t === ZERO_TIME || !t ? 0 : Date.parse(t);
}

/**
 * What containers need of the image store: images (create, commit; `inspect` falls back to an
 * image's, provenance included, from the build cache), pins and leases on what a container uses,
 * its root (containers, volumes and networks live beside the images), and its snapshotter (the
 * layers a container mounts).
 */
export type ContainerStore = ImageCatalog & StoreContent & BuildCache & Leases & ScratchSpace & { readonly snapshots: Snapshotter };

export class Containers {
  readonly paths: ContainerPaths;
  private network: BridgeNetwork | undefined;

  constructor(
    readonly store: ContainerStore,
    opts: { runRoot?: string; network?: BridgeNetwork } = {},
  ) {
    this.paths = { root: store.root, runRoot: opts.runRoot ?? DEFAULT_RUN_ROOT };
    this.network = opts.network;
  }

  private userNetworks: NetworkEndpoints | undefined;
  /** A sync found a run on user networks ended (list() then refreshes the peers' /etc/hosts). */
  private endedOnNetworks = false;

  /** User networks and the containers' places on them (containers/network-endpoints.ts). */
  get endpoints(): NetworkEndpoints {
    return (this.userNetworks ??= new NetworkEndpoints(this, this.store.root));
  }

  private bridge(): BridgeNetwork {
    return (this.network ??= new BridgeNetwork());
  }

  // ---- reading ----------------------------------------------------------------------------------

  /** Every container, newest first, states re-synced. */
  async list(): Promise<ContainerView[]> {
    this.sweepTemps();
    const ids = listIds(this.paths);
    await this.sweepLayers(new Set(ids));
    const out: ContainerView[] = [];
    for (const id of ids) {
      const record = readRecord(containerDir(this.paths, id));
      if (!record) continue;
      const state = await this.sync(id);
      if (await this.finishRemoval(id, state)) continue;
      out.push({ record, state, ...this.health(record, state) });
    }
    // a run found ended here (its monitor killed: no exit command) is still in its peers' /etc/hosts
    if (this.endedOnNetworks && !this.userNetworks?.refreshing) {
      this.endedOnNetworks = false;
      await this.endpoints.refreshHosts().catch(() => undefined);
    }
    return out.sort((a, b) => (a.record.Created < b.record.Created ? 1 : a.record.Created > b.record.Created ? -1 : 0));
  }

  /** The container a user's word names (full ID, name, unique ID prefix). */
  async find(word: string): Promise<ContainerView> {
    const refs = listIds(this.paths).flatMap((id) => {
      const r = readRecord(containerDir(this.paths, id));
      return r ? [{ id, name: r.Name, record: r }] : [];
    });
    const hit = resolveContainer(word, refs);
    const state = await this.sync(hit.id);
    if (await this.finishRemoval(hit.id, state)) throw new TsbuildError('NOT_FOUND', `No such container: ${word}`);
    return { record: hit.record, state, ...this.health(hit.record, state) };
  }

  /** A removal whose `rm` died on the way (STATE marked, its PID gone) is finished now, as Docker's
   *  daemon would have finished it; whether the container is gone. */
  private async finishRemoval(id: string, state: ContainerState): Promise<boolean> {
    if (!state.Removing || !state.RemovingPid || pidAlive(state.RemovingPid)) return false;
    await this.remove(id, { force: true, volumes: !!state.RemoveVolumes }).catch((e: unknown) => {
      if (!(e instanceof TsbuildError && e.code === 'NOT_FOUND')) throw e;
    });
    return true;
  }

  private health(record: ContainerRecord, state: ContainerState): { health?: HealthState } {
    if (!record.Config.Healthcheck) return {};
    const h = containerHealth(record.Config.Healthcheck, runDir(this.paths, record.Id), state.Running);
    return h ? { health: h } : {};
  }

  /** Containers using image ID (for rmi). */
  async usersOf(imageId: string): Promise<ContainerView[]> {
    return (await this.list()).filter((c) => c.record.Image === imageId);
  }

  /**
   * The container's writable layer over its image's layers: its keyed active snapshot. A container
   * made before the snapshotter held writable layers has them in its own dir (read there).
   */
  layer(record: ContainerRecord): SnapshotMounts {
    const active = this.store.snapshots.active(record.Id);
    if (active) return active;
    const dir = containerDir(this.paths, record.Id);
    if (existsSync(join(dir, 'upper'))) return { lowerDirs: this.store.snapshots.paths(record.Layers), upperDir: join(dir, 'upper'), workDir: join(dir, 'work') };
    throw new TsbuildError('NOT_FOUND', `the writable layer of container ${record.Id} is gone`);
  }

  logPath(id: string): string {
    return jsonLogPath(containerDir(this.paths, id), id);
  }

  /** The state the monitor's files say, written back when it changed. */
  async sync(id: string, locked = false): Promise<ContainerState> {
    const dir = containerDir(this.paths, id);
    const stored = readState(dir);
    const derived = this.derive(id, stored);
    const leftovers = (s: ContainerState) => !s.Running && !!s.Ports?.length;
    // derive() hands back the stored object itself when the runtime files add nothing
    const same = derived === stored || JSON.stringify(derived) === JSON.stringify(stored);
    if ((same && !leftovers(derived)) || !existsSync(dir)) return derived;
    const write = async () => {
      const before = readState(dir);
      const fresh = this.derive(id, before, true);
      if (before.Running && !fresh.Running && fresh.Endpoints) this.endedOnNetworks = true;
      // stopped (or its monitor killed): its published ports' rules go now
      if (leftovers(fresh)) {
        await this.unpublish(fresh);
        delete fresh.Ports;
      }
      if (existsSync(dir)) writeJsonAtomic(join(dir, 'state.json'), fresh);
      return fresh;
    };
    return locked ? write() : withLock(lockPath(this.paths, id), write);
  }

  /** The state the runtime dir says. Deciding that a killed monitor's run ended is written down
   *  (an `exit` file) only with PERSIST, i.e. under the container's lock: unlocked, a `start` may be
   *  replacing the runtime dir, and an exit file meant for the old run would end the new one. */
  private derive(id: string, st: ContainerState, persist = false): ContainerState {
    const rd = runDir(this.paths, id);
    // never started since boot (a created container, most of a long `ps -a`): no runtime dir, so
    // one stat instead of two failing reads
    const hasRun = existsSync(rd);
    let exit = hasRun ? readExitInfo(rd) : undefined;
    const mon = hasRun ? readMonitorInfo(rd) : undefined;
    // an exit file ends the run only if it is that run's: a monitor whose command still runs has
    // not written it (one left by an older run or its exit command does not count)
    if (exit && mon && runLive(mon)) exit = undefined;
    if (!exit && mon) {
      if (monitorAlive(mon)) {
        if (!mon.child) return st; // starting
        return { ...st, Running: true, Pid: mon.child, ExitCode: 0, Error: '', StartedAt: formatRfc3339Nano(mon.startedAt) };
      }
      // dead: it wrote its exit file before dying, or it was killed (then decide once, here)
      exit = readExitInfo(rd);
      if (!exit && !persist) return { ...st, Running: false, Pid: 0, ExitCode: 255, Error: 'the container monitor was killed', FinishedAt: formatRfc3339Nano(nowNs()) };
      if (!exit) {
        const text = `code 255\nsignal 0\nstarted ${mon.child ? 1 : 0}\nfinished ${nowNs()}\nerror the container monitor was killed\n`;
        try {
          writeFileSync(join(rd, '.exit.sync.tmp'), text, { mode: 0o600 });
          renameSync(join(rd, '.exit.sync.tmp'), join(rd, 'exit'));
        } catch {
          /* runtime dir gone meanwhile */
        }
        exit = readExitInfo(rd);
        if (!exit) return { ...st, Running: false, Pid: 0 };
      }
    }
    if (exit) {
      const base = { ...st, Running: false, Pid: 0, ExitCode: exit.code, OOMKilled: exit.oomKilled };
      if (!exit.started) return { ...base, Error: exit.error };
      const startedAt = mon?.startedAt ? formatRfc3339Nano(mon.startedAt) : st.StartedAt;
      return { ...base, Error: exit.error === 'the container monitor was killed' ? exit.error : '', StartedAt: startedAt, FinishedAt: formatRfc3339Nano(exit.finishedAt) };
    }
    if (st.Running) {
      // no runtime files at all: the machine rebooted (or they were removed)
      return { ...st, Running: false, Pid: 0, ExitCode: 255, Error: 'the container monitor is gone', FinishedAt: formatRfc3339Nano(nowNs()) };
    }
    return st;
  }

  // ---- create -------------------------------------------------------------------------------------

  async create(o: CreateOptions): Promise<ContainerRecord> {
    const name = o.name !== undefined ? validateContainerName(o.name) : undefined;
    const logOpts = o.logDriver !== 'none' ? o.logOpts : {};
    if (o.logDriver === 'json-file') parseJsonFileOpts(logOpts);
    else if (o.logDriver === 'syslog') parseSyslogOpts(logOpts);
    else if (Object.keys(o.logOpts).length) throw new TsbuildError('INVALID', `unknown log opt '${Object.keys(o.logOpts)[0]}' for none log driver`);
    if (o.stopSignal !== undefined) parseSignal(o.stopSignal);
    const img = o.image.config.config ?? {};
    const entrypoint = o.entrypoint !== undefined ? (o.entrypoint === '' ? null : [o.entrypoint]) : (img.Entrypoint ?? null);
    const cmd = o.cmd.length ? o.cmd : o.entrypoint !== undefined ? null : (img.Cmd ?? null);
    const argv = [...(entrypoint ?? []), ...(cmd ?? [])];
    if (argv.length === 0) throw new TsbuildError('INVALID', 'No command specified', undefined, 125);
    const healthcheck = mergeHealthcheck(o.healthcheck, img.Healthcheck);
    const id = newContainerId();
    const env = mergeEnv(img.Env ?? [], o.env);
    const diffIds = o.image.config.rootfs.diff_ids;
    const chain = chainIds(diffIds);
    const pinned = [o.image.manifestDigest, o.image.id, ...o.image.manifest.layers.map((l) => l.digest), ...chain];
    const record: ContainerRecord = {
      Id: id,
      Name: name ?? '',
      Created: formatRfc3339Nano(nowNs()),
      Path: argv[0]!,
      Args: argv.slice(1),
      Image: o.image.id,
      Layers: chain,
      Pinned: pinned,
      Config: {
        Hostname: o.hostname ?? (o.network === 'host' ? '' : shortId(id)),
        Domainname: '',
        User: o.user ?? img.User ?? '',
        AttachStdin: o.interactive,
        AttachStdout: true,
        AttachStderr: true,
        Tty: o.tty === true,
        OpenStdin: o.interactive,
        StdinOnce: o.interactive,
        Env: env.length ? env : null,
        Cmd: cmd,
        ...(healthcheck ? { Healthcheck: healthcheck } : {}),
        Image: o.imageRef,
        Volumes: null,
        ...exposedPorts(img.ExposedPorts, o.exposedPorts),
        WorkingDir: o.workdir ?? img.WorkingDir ?? '',
        Entrypoint: entrypoint,
        OnBuild: null,
        Labels: { ...(img.Labels ?? {}), ...o.labels },
        ...(o.stopSignal ?? img.StopSignal ? { StopSignal: o.stopSignal ?? img.StopSignal } : {}),
        ...(o.stopTimeout !== undefined ? { StopTimeout: o.stopTimeout } : {}),
      },
      HostConfig: {
        Binds: null,
        ContainerIDFile: o.cidfile ?? '',
        LogConfig: { Type: o.logDriver, Config: logOpts },
        NetworkMode: o.network,
        PortBindings: o.portBindings ?? {},
        RestartPolicy: o.restartPolicy ?? { Name: 'no', MaximumRetryCount: 0 },
        ...(o.resources ?? {}),
        AutoRemove: o.autoRemove,
        Init: o.init ? true : null,
      },
    };
    if (Object.keys(record.HostConfig.PortBindings).length && (o.network === 'host' || o.network === 'none')) {
      // Docker drops them silently with host networking; with none there is nothing to forward to
      if (o.network === 'host') record.HostConfig.PortBindings = {};
      else throw new TsbuildError('INVALID', 'conflicting options: port publishing and the container type network mode', undefined, 125);
    }
    if (!isBuiltinNetwork(o.network)) {
      const net = this.endpoints.networks.find(o.network, 125);
      record.HostConfig.NetworkMode = net.Name;
      record.Networks = { [net.Name]: { NetworkID: net.Id, Aliases: o.networkAliases ?? [], ...(o.ip ? { IPv4Address: o.ip } : {}) } };
    } else if (o.networkAliases?.length || o.ip) {
      throw new TsbuildError('INVALID', o.ip ? 'user specified IP address is supported on user defined networks only' : 'network-scoped alias is supported only for containers in user defined networks', undefined, 125);
    }
    if (o.autoRemove && record.HostConfig.RestartPolicy.Name !== 'no') {
      throw new TsbuildError('INVALID', 'Conflicting options: --restart and --rm', undefined, 125);
    }
    if (record.Config.WorkingDir && !record.Config.WorkingDir.startsWith('/')) {
      throw new TsbuildError('INVALID', `the working directory '${record.Config.WorkingDir}' is invalid, it needs to be an absolute path`, undefined, 125);
    }
    // the layers are unpacked now, so that start needs nothing but the snapshot dirs
    this.store.lease(chain);
    for (let i = 0; i < chain.length; i++) await this.store.snapshots.ensure(chain[i]!, o.image.manifest.layers[i]!.digest);
    const madeVolumes: string[] = [];
    const layersTopFirst = this.store.snapshots.paths(chain).reverse();
    // --volumes-from: the other containers' volumes and binds first (own mounts at a path win)
    const inherited = inheritMounts(await Promise.all((o.volumesFrom ?? []).map(async (f) => ({ ...f, mounts: (await this.find(f.container)).record.Mounts ?? [] }))), o.mounts ?? []);
    const imageVolumes = Object.keys(img.Volumes ?? {}).filter((v) => !inherited.some((m) => m.Destination === (v.replace(/\/+$/, '') || '/')));
    record.Mounts = [...inherited, ...(await this.prepareMounts(o.mounts ?? [], imageVolumes, layersTopFirst, madeVolumes))];
    if (o.volumesFrom?.length) record.HostConfig.VolumesFrom = o.volumesFrom.map((f) => f.spec);
    if (o.binds?.length) record.HostConfig.Binds = o.binds;
    const anonymousTargets = record.Mounts.filter((m) => m.Anonymous).map((m) => m.Destination);
    if (anonymousTargets.length) record.Config.Volumes = Object.fromEntries(anonymousTargets.map((t) => [t, {}]));

    ensureContainersDir(this.paths);
    this.sweepTemps();
    const tmp = join(containersDir(this.paths), `.new-${process.pid}-${id}`);
    let layered = false;
    try {
      // the writable layer first, then the record: no record names a layer that is not there
      await this.store.snapshots.prepare(chain, { key: id });
      layered = true;
      const pause = Number(process.env.TSBUILD_TEST_CREATE_PAUSE_MS ?? 0);
      if (pause > 0) await new Promise((r) => setTimeout(r, pause)); // tests only: a window to kill create in
      mkdirSync(tmp, { mode: 0o700 });
      mkdirSync(join(tmp, 'root'), { mode: 0o700 }); // the mount point
      writeJsonAtomic(join(tmp, 'state.json'), initialState());
      await withLock(namesLockPath(this.paths), async () => {
        const taken = this.namesTaken();
        if (name !== undefined && taken.has(name)) throw nameInUse(name, taken.get(name)!);
        record.Name = name ?? generateName(id, (n) => taken.has(n));
        writeJsonAtomic(join(tmp, 'config.json'), record);
        this.store.pin(id, pinned);
        try {
          renameSync(tmp, containerDir(this.paths, id));
        } catch (e) {
          this.store.unpin(id);
          throw e;
        }
      });
    } catch (e) {
      rmSync(tmp, { recursive: true, force: true });
      if (layered) await this.store.snapshots.removeActive(id);
      for (const v of madeVolumes) await this.volumes.remove(v, []).catch(() => undefined);
      throw e;
    }
    return record;
  }

  private volumeStore: Volumes | undefined;

  get volumes(): Volumes {
    return (this.volumeStore ??= new Volumes(this.store.root));
  }

  /**
   * The container's mounts: the requests, then an anonymous volume for each image VOLUME no
   * request covers. Volumes are created on first use and get the image's content when empty;
   * a -v bind source that is missing is made (a --mount one was checked when parsed). Anonymous
   * volumes made here are listed in MADE (removed again if the create fails).
   */
  private async prepareMounts(reqs: readonly MountRequest[], imageVolumes: readonly string[], layersTopFirst: readonly string[], made: string[]): Promise<MountRecord[]> {
    const seen = new Set<string>();
    for (const r of reqs) {
      if (seen.has(r.target)) throw new TsbuildError('INVALID', `Duplicate mount point: ${r.target}`, undefined, 125);
      seen.add(r.target);
    }
    const all: MountRequest[] = [...reqs];
    for (const v of imageVolumes) {
      const target = v.replace(/\/+$/, '') || '/';
      if (!seen.has(target)) all.push({ type: 'volume', target, readonly: false, noCopy: false });
    }
    const out: MountRecord[] = [];
    for (const r of all) {
      if (r.type === 'tmpfs') {
        out.push({ Type: 'tmpfs', Source: '', Destination: r.target, Mode: '', RW: true, Propagation: '', TmpfsSize: r.sizeBytes, ...(r.fromMountFlag ? {} : { Hidden: true }) });
      } else if (r.type === 'bind') {
        if (r.create) mkdirSync(r.source, { recursive: true });
        out.push({ Type: 'bind', Source: r.source, Destination: r.target, Mode: '', RW: !r.readonly, Propagation: 'rprivate' });
      } else {
        const v = await this.volumes.create(r.name);
        if (r.name === undefined) made.push(v.Name);
        if (!r.noCopy) this.volumes.copyUpIfEmpty(v.Name, layersTopFirst, r.target);
        out.push({ Type: 'volume', Name: v.Name, Source: v.Mountpoint, Destination: r.target, Driver: 'local', Mode: r.name === undefined ? '' : 'z', RW: !r.readonly, Propagation: '', ...(r.name === undefined ? { Anonymous: true } : {}) });
      }
    }
    return out;
  }

  /** IDs of the containers whose mounts name volume NAME. */
  volumeUsers(name: string): string[] {
    return listIds(this.paths).filter((id) => readRecord(containerDir(this.paths, id))?.Mounts?.some((m) => m.Type === 'volume' && m.Name === name));
  }

  private namesTaken(): Map<string, string> {
    const m = new Map<string, string>();
    for (const id of listIds(this.paths)) {
      const r = readRecord(containerDir(this.paths, id));
      if (r) m.set(r.Name, id);
    }
    return m;
  }

  /** Writable layers no record owns (their create or rm was killed half-way; their creator is
   *  gone). IDS: the records listed just now (a layer named there is kept without a look). */
  private async sweepLayers(ids: ReadonlySet<string>): Promise<void> {
    await this.store.snapshots.sweepActive((key) => ids.has(key) || existsSync(containerDir(this.paths, key)));
  }

  /** Half-made records of dead processes (`.new-PID-ID`) and removals they did not finish. */
  private sweepTemps(): void {
    let names: string[];
    try {
      names = readdirSync(containersDir(this.paths));
    } catch {
      return;
    }
    for (const n of names) {
      const m = /^\.(?:new|rm)-(\d+)-([0-9a-f]{64})$/.exec(n);
      if (!m || pidAlive(Number(m[1]))) continue;
      void removeTree(join(containersDir(this.paths), n)).catch(() => {});
      if (n.startsWith('.new-') && !existsSync(containerDir(this.paths, m[2]!))) this.store.unpin(m[2]!);
    }
  }

  // ---- start --------------------------------------------------------------------------------------

  /**
   * Starts the container's monitor and returns once the command runs. A command that cannot be
   * executed throws a StartError (exit code 126/127) and leaves the container Created with the error
   * in its state. Starting a running container does nothing (undefined).
   */
  async start(id: string, opts: StartOptions = {}): Promise<MonitorHandle | undefined> {
    const dir = containerDir(this.paths, id);
    const started = await withLock(lockPath(this.paths, id), async () => {
      const record = readRecord(dir);
      if (!record) throw new TsbuildError('NOT_FOUND', `No such container: ${id}`);
      const before = await this.sync(id, true);
      if (before.Running) return undefined;
      const rd = runDir(this.paths, id);
      // we hold the lock, so no other start is under way: a monitor still alive in the runtime dir
      // without a running command is one whose start died midway; it must not outlive its files
      await this.killRun(rd);
      rmSync(rd, { recursive: true, force: true });
      mkdirSync(rd, { recursive: true, mode: 0o700 });
      if (before.Network) await this.releaseAddress(before.Network.IPAddress);
      const plan = this.endpoints.plan(record);
      const userPrimary = isBuiltinNetwork(record.HostConfig.NetworkMode) ? undefined : plan[0];
      let primary: Attachment | undefined;
      const { lowerDirs, upperDir, workDir } = this.layer(record);
      const missing = lowerDirs.find((d) => !existsSync(d));
      if (missing) throw new TsbuildError('NOT_FOUND', `the image layers of container ${id} are gone (${missing})`);
      const c = record.Config;
      const user = c.User ? await resolveUser([...lowerDirs, upperDir], c.User) : { uid: 0, gid: 0, groups: [] as number[], home: '/root' as string | undefined };
      const hostname = c.Hostname || (await import('node:os')).hostname();
      const env = [...(c.Env ?? [])];
      if (!env.some((e) => e.startsWith('PATH='))) env.unshift(`PATH=${DEFAULT_PATH}`);
      if (!env.some((e) => e.startsWith('HOSTNAME='))) env.splice(1, 0, `HOSTNAME=${hostname}`);
      if (!env.some((e) => e.startsWith('HOME='))) env.push(`HOME=${user.home || '/'}`);
      const network = record.HostConfig.NetworkMode;
      const etc = await this.writeEtc(dir, hostname, network);
      let cgroup: Cgroup | undefined;
      const limits = cgroupLimits(record.HostConfig);
      try {
        cgroup = createCgroup(`ctr-${shortId(id)}`, limits);
      } catch (e) {
        // no cgroups here: the container runs without a group of its own, unless it asked for limits
        if (Object.keys(limits).length) throw new TsbuildError('RUNTIME', `cannot apply the container's resource limits: ${(e as Error).message}`, undefined, 125);
        cgroup = undefined;
      }
      const logType = record.HostConfig.LogConfig.Type;
      // syslog: the json-file log is kept too, as Docker 20.10's local cache for `logs`
      const log = logType === 'json-file' || logType === 'syslog' ? parseJsonFileOpts(logType === 'json-file' ? record.HostConfig.LogConfig.Config : DUAL_LOG_OPTS) : undefined;
      // published on the address of its first network (a user network's: userPrimary)
      const hostPorts = network === 'host' || network === 'none' ? [] : hostPortsOf(record.HostConfig.PortBindings ?? {});
      // the exit command settles what the container leaves on the host (rules of published ports)
      const exitNeeded = record.HostConfig.AutoRemove || hostPorts.length > 0 || record.HostConfig.RestartPolicy.Name !== 'no' || plan.length > 0;
      const health = monitorHealth(c.Healthcheck);
      let handle: MonitorHandle;
      try {
        handle = await startMonitor({
          lowerDirs: [...lowerDirs],
          upperDir,
          workDir,
          mountPoint: join(dir, 'root'),
          args: [record.Path, ...record.Args],
          env,
          cwd: c.WorkingDir || '/',
          user: { uid: user.uid, gid: user.gid, groups: user.groups },
          hostname,
          network: network === 'host' || network === 'none' ? network : 'private',
          ...(userPrimary
            ? {
                netAttach: async (pid: number) => {
                  primary = await this.endpoints.attachPrimary(userPrimary.net, userPrimary.cfg, pid);
                  writeFileSync(join(dir, 'hosts'), hostsFile(hostname, primary.address), { mode: 0o644 });
                  return primary;
                },
              }
            : {}),
          ...(network === 'bridge'
            ? {
                netAttach: async (pid: number) => {
                  const a = await this.bridge().attach(pid, { isolated: false, owner: pid });
                  writeFileSync(join(dir, 'hosts'), hostsFile(hostname, a.address), { mode: 0o644 });
                  return a;
                },
              }
            : {}),
          mounts: [
            ...etc,
            ...sortMounts(record.Mounts ?? []).map((m) =>
              m.Type === 'tmpfs'
                ? { type: 'tmpfs' as const, target: m.Destination, ...(m.TmpfsSize ? { sizeBytes: m.TmpfsSize } : {}) }
                : { type: 'bind' as const, source: m.Type === 'volume' ? this.volumes.dataDir(m.Name!) : m.Source, target: m.Destination, readonly: !m.RW },
            ),
          ],
          noNewPrivileges: false,
          runDir: rd,
          ...(log ? { log: { path: this.logPath(id), maxSize: log.maxSize, maxFile: log.maxFile } } : {}),
          ...(logType === 'syslog' ? { syslog: syslogSpec(parseSyslogOpts(record.HostConfig.LogConfig.Config), record) } : {}),
          init: record.HostConfig.Init === true,
          ...(c.Tty ? { tty: opts.ttySize ?? { rows: 24, cols: 80 } } : {}),
          ...(opts.stdin ? { stdin: opts.stdin } : c.OpenStdin ? { stdinOpen: true } : {}),
          ...(opts.attach ? { attach: opts.attach } : {}),
          cgroupProcs: cgroup?.procsFiles ?? [],
          ...(hostPorts.length ? { ports: hostPorts.map(({ proto, ip, port }) => ({ proto, ip, port })) } : {}),
          ...(health ? { health } : {}),
          ...(exitNeeded && opts.exitCommand ? { exitCommand: opts.exitCommand, exitEnv: opts.exitEnv ?? [], exitCwd: process.cwd() } : {}),
          ...(exitNeeded && opts.exitCommand && opts.attach && opts.callerCleans && record.HostConfig.RestartPolicy.Name === 'no' ? { callerCleans: true } : {}),
        });
      } catch (e) {
        await cgroup?.remove();
        const st = await this.sync(id, true);
        if (e instanceof TsbuildError && /^Bind for /.test(e.message)) {
          throw new TsbuildError('CONFLICT', `driver failed programming external connectivity on endpoint ${record.Name} (${id}): ${e.message}`, undefined, 125);
        }
        if (e instanceof TsbuildError && e.exitCode >= 126) {
          writeJsonAtomic(join(dir, 'state.json'), { ...st, Running: false, Pid: 0, ExitCode: e.exitCode, Error: e.message });
        }
        throw e;
      }
      const st: ContainerState = {
        ...readState(dir),
        Cgroups: cgroup?.paths ? [...cgroup.paths] : [],
        Running: true,
        Pid: handle.pid,
        ExitCode: 0,
        Error: '',
        OOMKilled: false,
        StartedAt: formatRfc3339Nano(handle.startedAt),
      };
      delete st.RestartingPid;
      if (!opts.autoRestart) {
        // started by the user: the restart policy applies again, counted from zero (Docker's)
        delete st.ManualStop;
        delete st.RestartDelayMs;
        st.RestartCount = 0;
      }
      if (handle.network && network === 'bridge') {
        const a = handle.network;
        const ip = a.address.split('.').map(Number);
        st.Network = {
          IPAddress: a.address,
          IPPrefixLen: a.prefixLength,
          Gateway: a.gateway ?? '',
          MacAddress: `02:74:${ip.map((b) => b.toString(16).padStart(2, '0')).join(':')}`,
        };
      } else delete st.Network;
      delete st.Endpoints;
      if (plan.length) {
        try {
          st.Endpoints = await this.endpoints.attachRest(plan, handle.pid, primary, network === 'bridge');
        } catch (e) {
          // a container that cannot join its networks does not stay up half-made
          signalContainer(rd, 9);
          await this.waitStopped(id, 10_000);
          throw new TsbuildError('RUNTIME', (e as Error).message, undefined, 125);
        }
      }
      delete st.Ports;
      if (hostPorts.length && handle.network) {
        const address = handle.network.address;
        const on = userPrimary ? { network: userPrimary.net.Id } : {};
        const ports = handle.ports.map((b, i) => ({ proto: b.proto, hostIp: b.ip, hostPort: b.bound, port: hostPorts[i]!.ctrPort, address, owner: handle.pid, ...on }));
        st.Ports = ports;
        writeJsonAtomic(join(dir, 'state.json'), st);
        try {
          await (userPrimary ? this.endpoints.networks.bridgeOf(userPrimary.net) : this.bridge()).publish(ports);
        } catch (e) {
          // a container whose ports cannot be forwarded does not stay up half-made
          signalContainer(rd, 9);
          await this.waitStopped(id, 10_000);
          await this.unpublish(st);
          writeJsonAtomic(join(dir, 'state.json'), { ...(await this.sync(id, true)), Ports: undefined });
          throw new TsbuildError('RUNTIME', (e as Error).message, undefined, 125);
        }
      }
      writeJsonAtomic(join(dir, 'state.json'), st);
      return handle;
    });
    // its peers on user networks learn its name, it learns theirs
    if (started && readState(dir).Endpoints) await this.endpoints.refreshHosts();
    return started;
  }

  private async writeEtc(dir: string, hostname: string, network: string) {
    const resolv = network === 'host' ? await (await import('node:fs/promises')).readFile('/etc/resolv.conf', 'utf8').catch(() => '') : privateResolvConf();
    const text: Record<EtcFile, string> = { hosts: hostsFile(hostname), hostname: hostname + '\n', 'resolv.conf': resolv };
    for (const n of ETC_FILES) writeFileSync(join(dir, n), text[n], { mode: 0o644 });
    return ETC_FILES.map((n) => ({ type: 'bind' as const, source: join(dir, n), target: `/etc/${n}`, readonly: false }));
  }

  /** Removes the DNAT rules of a stopped container's published ports (left alone when another
   *  container took the port over since). */
  private async unpublish(st: ContainerState): Promise<void> {
    const ports = (st.Ports ?? []).flatMap((p) => (p.address ? [{ ...p, address: p.address }] : []));
    for (const net of new Set(ports.map((p) => p.network))) {
      await (net ? this.endpoints.networks.bridgeOfId(net) : this.bridge()).unpublish(ports.filter((p) => p.network === net));
    }
  }

  private async releaseAddress(address: string | undefined): Promise<void> {
    if (!address) return;
    await this.bridge()
      .releaseIfStale(address)
      .catch(() => {});
  }

  // ---- stop, kill, wait -----------------------------------------------------------------------------

  /** Docker's stop: the stop signal, then SIGKILL after the timeout (seconds). */
  async stop(id: string, timeoutSec?: number): Promise<void> {
    const dir = containerDir(this.paths, id);
    const record = readRecord(dir);
    if (!record) throw new TsbuildError('NOT_FOUND', `No such container: ${id}`);
    await this.markManualStop(id);
    const running = await this.sync(id);
    if (!running.Running) return;
    // a paused container is thawed first: frozen processes would not act on the stop signal
    await thawIfPaused({ state: running });
    const rd = runDir(this.paths, id);
    const sig = parseSignal(record.Config.StopSignal ?? 'SIGTERM');
    const t = timeoutSec ?? record.Config.StopTimeout ?? 10;
    if (signalContainer(rd, sig) && (t < 0 || (await this.waitStopped(id, t * 1000)))) return void (await this.sync(id));
    signalContainer(rd, 9);
    await this.waitStopped(id, 30_000);
    await this.sync(id);
  }

  /** Sends SIG; Docker's error when the container is not running. */
  async kill(id: string, sig: number): Promise<void> {
    const record = readRecord(containerDir(this.paths, id));
    if (!record) throw new TsbuildError('NOT_FOUND', `No such container: ${id}`);
    const st = await this.sync(id);
    if (st.Running) await this.markManualStop(id);
    if (!st.Running || !signalContainer(runDir(this.paths, id), sig)) {
      throw new TsbuildError('CONFLICT', `Cannot kill container: ${record.Name}: Container ${id} is not running`);
    }
    if (sig === 9) {
      await thawIfPaused({ state: st }); // frozen processes die only once thawed
      await this.waitStopped(id, 10_000);
    }
    await this.sync(id);
  }

  /** A stop or kill by the user: the restart policy does not bring the container back. */
  private async markManualStop(id: string): Promise<void> {
    const dir = containerDir(this.paths, id);
    await withLock(lockPath(this.paths, id), () => {
      // a back-off in progress ends here (its process finds ManualStop when it wakes up)
      if (existsSync(dir)) writeJsonAtomic(join(dir, 'state.json'), { ...readState(dir), ManualStop: true, RestartingPid: undefined });
    });
  }

  /** Resolves true once the container has stopped (its monitor wrote its exit file or is gone). */
  async waitStopped(id: string, timeoutMs = Infinity, signal?: AbortSignal): Promise<boolean> {
    const rd = runDir(this.paths, id);
    const until = Date.now() + timeoutMs;
    for (let delay = 5; ; delay = Math.min(delay * 2, 50)) {
      if (readExitInfo(rd)) return true;
      const mon = readMonitorInfo(rd);
      if (!mon || !monitorAlive(mon)) return true;
      if (Date.now() >= until || signal?.aborted) return false;
      await new Promise((r) => setTimeout(r, delay));
    }
  }

  /** Docker's wait: blocks until the container is not running; its exit code. */
  async wait(id: string): Promise<number> {
    await this.waitStopped(id);
    return (await this.sync(id)).ExitCode;
  }

  // ---- rm, rename, prune, cleanup -------------------------------------------------------------------

  async remove(id: string, opts: { force?: boolean; volumes?: boolean } = {}): Promise<void> {
    const dir = containerDir(this.paths, id);
    const record = readRecord(dir);
    if (!record) throw new TsbuildError('NOT_FOUND', `No such container: ${id}`);
    let st = await this.sync(id);
    if (st.Running && !opts.force) {
      throw new TsbuildError('CONFLICT', `You cannot remove a running container ${id}. Stop the container before attempting removal or force remove`);
    }
    // marked first: if this process dies before the record is gone (a killed `rm -f` waiting for
    // the container to stop), the next list or find finishes the removal
    await withLock(lockPath(this.paths, id), () => {
      if (existsSync(dir)) writeJsonAtomic(join(dir, 'state.json'), { ...readState(dir), Removing: true, RemovingPid: process.pid, RemoveVolumes: !!opts.volumes });
    });
    const pause = Number(process.env.TSBUILD_TEST_RM_PAUSE_MS ?? 0);
    if (pause > 0) await new Promise((r) => setTimeout(r, pause)); // tests only: a window to kill rm in
    const rd = runDir(this.paths, id);
    // we remove what the run leaves (rules, addresses, the record): its monitor need not start
    // its exit command (native/sandbox.c, removal_under_way) while we live
    try {
      writeFileSync(join(rd, 'removing'), `${process.pid}\n`, { mode: 0o600 });
    } catch {
      /* never started, or gone */
    }
    const killed = st.Running ? readMonitorInfo(rd) : undefined;
    if (st.Running) {
      signalContainer(rd, 9);
      await thawIfPaused({ state: st });
      await this.waitStopped(id, 30_000);
      st = await this.sync(id);
    }
    // the monitor is done with the log and the cgroup once it wrote its exit file; let it finish
    // (while the exit file is missing and the monitor lives, it may still be writing them)
    const mon = readMonitorInfo(rd);
    for (let i = 0; mon && !readExitInfo(rd) && monitorAlive(mon) && i < 200; i++) await new Promise((r) => setTimeout(r, 10));
    const trash = join(containersDir(this.paths), `.rm-${process.pid}-${id}`);
    const gone = await withLock(namesLockPath(this.paths), () =>
      withLock(lockPath(this.paths, id), () => {
        if (!existsSync(dir)) return true;
        renameSync(dir, trash);
        return false;
      }),
    );
    if (gone) return this.monitorGone(killed);
    // the record is gone, so no start can begin a run any more: a run still alive in the runtime
    // dir (started after our look at the state, or one the state does not know) dies now, whatever
    // state.json said, and what it published goes with it
    if (await this.killRun(rd)) st = { ...st, ...readState(trash), Running: false };
    await this.unpublish(st);
    rmSync(rd, { recursive: true, force: true });
    // a killed monitor could not remove the container's cgroup (empty now: PID 1 died with it)
    for (const cg of st.Cgroups ?? []) {
      try {
        rmdirSync(cg);
        rmdirSync(dirname(cg));
      } catch {
        /* gone, or the parent still has other groups */
      }
    }
    await this.releaseAddress(st.Network?.IPAddress);
    if (st.Endpoints) await this.endpoints.release(st.Endpoints);
    // the record gone, its writable layer goes (a kill here leaves it to the next list's sweep)
    await this.store.snapshots.removeActive(id);
    this.store.unpin(id);
    await removeTree(trash);
    if (st.Endpoints) await this.endpoints.refreshHosts().catch(() => undefined);
    // rm -v / --rm: the container's anonymous volumes go too, unless another container names them
    if (opts.volumes) {
      for (const m of record.Mounts ?? []) {
        if (m.Type === 'volume' && m.Anonymous && m.Name) await this.volumes.remove(m.Name, this.volumeUsers(m.Name)).catch(() => undefined);
      }
    }
    await this.monitorGone(killed);
  }

  /** As Docker's `rm -f`, answer once the monitor we killed has ended (it runs no exit command now,
   *  or a foreground `run --rm` CLI's removal, which finds ours done). */
  private async monitorGone(mon: MonitorInfo | undefined): Promise<void> {
    for (let delay = 5, until = Date.now() + 10_000; mon && monitorAlive(mon) && Date.now() < until; delay = Math.min(delay * 2, 50)) {
      await new Promise((r) => setTimeout(r, delay));
    }
  }

  /** Kills the run whose monitor lives in runtime dir RD and has not ended (no exit file); waits
   *  until it is gone. Through the monitor first (it ends the command and settles its files), then
   *  the monitor itself (PID 1 dies with it: PDEATHSIG). Whether there was such a run. */
  private async killRun(rd: string): Promise<boolean> {
    const mon = readMonitorInfo(rd);
    const live = () => !!mon && mon.pid !== process.pid && monitorAlive(mon) && (!readExitInfo(rd) || runLive(mon));
    if (!live()) return false;
    signalContainer(rd, 9);
    for (let i = 0; live() && i < 200; i++) await new Promise((r) => setTimeout(r, 25));
    if (live()) {
      try {
        process.kill(mon!.pid, 'SIGKILL');
      } catch {
        /* ended meanwhile */
      }
      for (let i = 0; monitorAlive(mon!) && i < 400; i++) await new Promise((r) => setTimeout(r, 25));
    }
    return true;
  }

  async rename(id: string, newName: string): Promise<void> {
    const name = validateContainerName(newName);
    await withLock(namesLockPath(this.paths), async () => {
      const dir = containerDir(this.paths, id);
      const record = readRecord(dir);
      if (!record) throw new TsbuildError('NOT_FOUND', `No such container: ${id}`);
      if (record.Name === name) throw new TsbuildError('CONFLICT', `Renaming a container with the same name as its current name`);
      const taken = this.namesTaken();
      if (taken.has(name)) {
        const e = nameInUse(name, taken.get(name)!);
        throw new TsbuildError('CONFLICT', `Error when allocating new name: ${e.message}`);
      }
      await withLock(lockPath(this.paths, id), () => writeJsonAtomic(join(dir, 'config.json'), { ...record, Name: name }));
    });
  }

  /** Removes every stopped container; their IDs. Runtime dirs nobody will remove go too. */
  async prune(): Promise<string[]> {
    const out: string[] = [];
    for (const c of await this.list()) {
      if (c.state.Running) continue;
      await this.remove(c.record.Id).catch(() => undefined);
      out.push(c.record.Id);
    }
    this.sweepRunDirs();
    return out;
  }

  /**
   * Runtime dirs (of any store) whose container record is gone — its store deleted, or an rm
   * killed after the record went — and whose monitor is dead: the sweep each monitor makes of its
   * siblings once its command runs (native/sandbox.c, sweep_orphan_rundirs), here for a host where
   * no container starts. Only a dir whose `record` file names a record ending in its own name is
   * judged; a live monitor or a record that exists keeps it.
   */
  private sweepRunDirs(): void {
    let names: string[];
    try {
      names = readdirSync(this.paths.runRoot);
    } catch {
      return;
    }
    for (const n of names) {
      if (!/^[0-9a-f]{64}$/.test(n)) continue;
      const rd = join(this.paths.runRoot, n);
      let rec: string;
      try {
        rec = readFileSync(join(rd, 'record'), 'utf8').split('\n')[0]!;
      } catch {
        continue;
      }
      if (!rec.startsWith('/') || !rec.endsWith(`/${n}`) || !recordGone(rec)) continue;
      const mon = readMonitorInfo(rd);
      if (mon && monitorAlive(mon)) continue;
      rmSync(rd, { recursive: true, force: true });
    }
  }

  /** What a monitor's exit command does: settle the state; remove an AutoRemove container. Also done
   *  by a foreground CLI whose monitor (MONITORPID) waits for it (StartOptions.callerCleans). */
  async cleanup(id: string, restartWith?: Pick<StartOptions, 'exitCommand' | 'exitEnv'>, monitorPid = process.pid): Promise<void> {
    const dir = containerDir(this.paths, id);
    const record = readRecord(dir);
    if (!record) return;
    // run by the monitor of one run (its PID and start time are in the runtime dir's monitor file):
    // when another live monitor is there, the container was started again meanwhile and that newer
    // run is not ours to settle (its own exit command will)
    const st = await withLock(lockPath(this.paths, id), async () => {
      const mon = readMonitorInfo(runDir(this.paths, id));
      if (mon && mon.pid !== monitorPid && monitorAlive(mon)) return undefined;
      return this.sync(id, true);
    });
    if (!st) return;
    // a container on user networks stopped: its peers forget its name
    if (st.Endpoints && !st.Running) await this.endpoints.refreshHosts().catch(() => undefined);
    if (record.HostConfig.AutoRemove && !st.Running) {
      await this.remove(id, { volumes: true }).catch((e: unknown) => {
        if (!(e instanceof TsbuildError && e.code === 'NOT_FOUND')) throw e;
      });
      return;
    }
    // a policy applies only to a command that ran (Docker: after a successful start)
    if (st.Running || !restartWith || st.Error) return;
    const policy = record.HostConfig.RestartPolicy as RestartPolicy;
    if (!shouldRestart(policy, { exitCode: st.ExitCode, restartCount: st.RestartCount, manualStop: !!st.ManualStop })) return;
    // the restart policy, from the monitor's exit path: wait the back-off, then start again unless
    // the user stopped, started or removed the container meanwhile
    const delay = nextDelay(st.RestartDelayMs, timeMs(st.FinishedAt) - timeMs(st.StartedAt));
    const update = (fn: (s: ContainerState) => ContainerState) =>
      withLock(lockPath(this.paths, id), () => {
        if (existsSync(dir)) writeJsonAtomic(join(dir, 'state.json'), fn(readState(dir)));
      });
    await update((s) => ({ ...s, RestartingPid: process.pid, RestartDelayMs: delay }));
    await new Promise((r) => setTimeout(r, delay));
    const now = existsSync(dir) ? await this.sync(id) : undefined;
    if (!now || now.Running || now.ManualStop) {
      if (now && !now.Running) await update((s) => ({ ...s, RestartingPid: undefined }));
      return;
    }
    await update((s) => ({ ...s, RestartCount: s.RestartCount + 1 }));
    try {
      (await this.start(id, { ...restartWith, autoRestart: true }))?.detach();
    } catch {
      await update((s) => ({ ...s, RestartingPid: undefined }));
    }
  }
}

/** Whether the run MON describes is still going: its monitor lives and the container's PID 1 is
 *  still that monitor's child (a monitor reaps it before it writes its exit file). */
function runLive(mon: MonitorInfo): boolean {
  if (!mon.child || !monitorAlive(mon)) return false;
  const child = procStat(mon.child);
  return child !== undefined && child.state !== 'Z' && child.ppid === mon.pid;
}

/** Whether record dir REC is gone (ENOENT; a dir we may not look into is not judged gone). */
function recordGone(rec: string): boolean {
  try {
    statSync(rec);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT';
  }
}

/** Config.ExposedPorts: the image's, then the container's own (none: the field is left out). */
function exposedPorts(image: Record<string, unknown> | undefined, own: readonly string[] = []): { ExposedPorts?: Record<string, Record<string, never>> } {
  const keys = [...Object.keys(image ?? {}), ...own];
  if (!keys.length) return {};
  return { ExposedPorts: Object.fromEntries(keys.map((k) => [k.includes('/') ? k : `${k}/tcp`, {}])) };
}

/** Image env, then the user's (same key replaced in place, as Docker's ReplaceOrAppendEnvValues). */
export function mergeEnv(image: readonly string[], user: readonly string[]): string[] {
  const out = [...image];
  const key = (e: string) => (e.includes('=') ? e.slice(0, e.indexOf('=')) : e);
  for (const e of user) {
    const i = out.findIndex((x) => key(x) === key(e));
    if (i >= 0) out[i] = e;
    else out.push(e);
  }
  return out;
}

/** /etc/hosts as Docker writes it for a container (its address last, with the hostname). */
export function hostsFile(hostname: string, address?: string): string {
  return (
    `127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n` +
    (address ? `${address}\t${hostname}\n` : '')
  );
}
