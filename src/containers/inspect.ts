/**
 * What `inspect` and `ps` show of a container, shaped as Docker 20.10's API types (ContainerJSON,
 * Container): State with Status/Running/.../StartedAt/FinishedAt, Config and HostConfig as created,
 * NetworkSettings with the top-level IPAddress (dropped by Docker 29, still used by tutorials) and
 * Networks.<mode>.IPAddress; GraphDriver names the writable layer the snapshotter holds. Pure but for
 * that look-up.
 */
import { goMap, goStruct } from '../format/go-template.js';
import { timeMs, type Containers, type ContainerView } from './containers.js';
import type { SnapshotMounts } from '../image/snapshots.js';
import { containerDir } from './record.js';
import { jsonLogPath } from './json-log.js';
import { commandLine, stateName, type ContainerSummary, type StateView } from './status-text.js';
import { join } from 'node:path';
import { pidAlive } from '../image/lock.js';
import { displayPorts, networkPorts } from './ports.js';
import { inspectMounts } from './volumes.js';
import { isPaused } from './pause.js';
import { shortId } from './ids.js';

/** Waiting to be started again by its restart policy (Docker shows it Running and Restarting). */
export function restarting(c: ContainerView): boolean {
  return !c.state.Running && !!c.state.RestartingPid && pidAlive(c.state.RestartingPid);
}

export function stateView(c: ContainerView): StateView {
  return {
    running: c.state.Running || restarting(c),
    ...(restarting(c) ? { restarting: true } : {}),
    exitCode: c.state.ExitCode,
    startedAt: timeMs(c.state.StartedAt),
    finishedAt: timeMs(c.state.FinishedAt),
    ...(c.state.Removing ? { removalInProgress: true } : {}),
    ...(isPaused(c) ? { paused: true } : {}),
    ...(c.health && c.state.Running ? { health: c.health.Status } : {}),
  };
}

/** One row of `ps`. */
export function summary(c: ContainerView): ContainerSummary {
  const r = c.record;
  return {
    id: r.Id,
    names: [r.Name],
    image: r.Config.Image || r.Image,
    command: commandLine(r.Path, r.Args),
    created: Date.parse(r.Created),
    state: stateView(c),
    ports: c.state.Running ? displayPorts(Object.keys(r.Config.ExposedPorts ?? {}), c.state.Ports) : '',
    labels: r.Config.Labels,
    networks: [...new Set([r.HostConfig.NetworkMode, ...Object.keys(r.Networks ?? {})])],
  };
}

/** `docker inspect`'s object for a container (as plain JSON-able data). */
export function inspectObject(c: ContainerView, containers: Pick<Containers, 'paths' | 'layer'>): Record<string, unknown> {
  const r = c.record;
  const s = c.state;
  const dir = containerDir(containers.paths, r.Id);
  let layer: SnapshotMounts | undefined;
  try {
    layer = containers.layer(r);
  } catch {
    layer = undefined; // its writable layer is gone: the container is still shown
  }
  const net = s.Running ? s.Network : undefined;
  const mode = r.HostConfig.NetworkMode;
  const endpoint = {
    IPAMConfig: null,
    Links: null,
    Aliases: null,
    NetworkID: '',
    EndpointID: '',
    Gateway: net?.Gateway ?? '',
    IPAddress: net?.IPAddress ?? '',
    IPPrefixLen: net?.IPPrefixLen ?? 0,
    IPv6Gateway: '',
    GlobalIPv6Address: '',
    GlobalIPv6PrefixLen: 0,
    MacAddress: net?.MacAddress ?? '',
    DriverOpts: null,
  };
  return {
    Id: r.Id,
    Created: r.Created,
    Path: r.Path,
    Args: r.Args,
    State: {
      Status: stateName(stateView(c)),
      Running: s.Running || restarting(c),
      Paused: isPaused(c),
      Restarting: restarting(c),
      OOMKilled: s.OOMKilled,
      Dead: false,
      Pid: s.Running ? s.Pid : 0,
      ExitCode: s.ExitCode,
      Error: s.Error,
      StartedAt: s.StartedAt,
      FinishedAt: s.FinishedAt,
      ...(c.health ? { Health: c.health } : {}),
    },
    Image: r.Image,
    ResolvConfPath: join(dir, 'resolv.conf'),
    HostnamePath: join(dir, 'hostname'),
    HostsPath: join(dir, 'hosts'),
    LogPath: r.HostConfig.LogConfig.Type === 'json-file' ? jsonLogPath(dir, r.Id) : '',
    Name: `/${r.Name}`,
    RestartCount: s.RestartCount,
    Driver: 'overlay',
    Platform: 'linux',
    MountLabel: '',
    ProcessLabel: '',
    AppArmorProfile: '',
    ExecIDs: null,
    HostConfig: r.HostConfig,
    GraphDriver: {
      // the writable layer is the snapshotter's (keyed active snapshot); overlayfs's lowerdir order
      Data: {
        LowerDir: layer ? [...layer.lowerDirs].reverse().join(':') : '',
        MergedDir: join(dir, 'root'),
        UpperDir: layer?.upperDir ?? '',
        WorkDir: layer?.workDir ?? '',
      },
      Name: 'overlay',
    },
    Mounts: inspectMounts(r.Mounts),
    Config: r.Config,
    NetworkSettings: {
      Bridge: '',
      SandboxID: '',
      HairpinMode: false,
      LinkLocalIPv6Address: '',
      LinkLocalIPv6PrefixLen: 0,
      Ports: networkPorts(Object.keys(r.Config.ExposedPorts ?? {}), s.Ports, s.Running),
      SandboxKey: '',
      SecondaryIPAddresses: null,
      SecondaryIPv6Addresses: null,
      EndpointID: '',
      Gateway: mode === 'bridge' ? endpoint.Gateway : '',
      GlobalIPv6Address: '',
      GlobalIPv6PrefixLen: 0,
      IPAddress: mode === 'bridge' ? endpoint.IPAddress : '',
      IPPrefixLen: mode === 'bridge' ? endpoint.IPPrefixLen : 0,
      IPv6Gateway: '',
      MacAddress: mode === 'bridge' ? endpoint.MacAddress : '',
      Networks: { ...(r.Networks?.[mode] ? {} : { [mode]: endpoint }), ...userEndpoints(c, endpoint) },
    },
  };
}

/** NetworkSettings.Networks entries of the user networks (containers/network-endpoints.ts). */
function userEndpoints(c: ContainerView, base: Record<string, unknown>): Record<string, unknown> {
  const r = c.record;
  return Object.fromEntries(
    Object.entries(r.Networks ?? {}).map(([name, cfg]) => {
      const ep = c.state.Running ? c.state.Endpoints?.[name] : undefined;
      return [
        name,
        {
          ...base,
          IPAMConfig: cfg.IPv4Address ? { IPv4Address: cfg.IPv4Address } : null,
          Aliases: cfg.Aliases.length ? cfg.Aliases : null,
          NetworkID: cfg.NetworkID,
          Gateway: ep?.Gateway ?? '',
          IPAddress: ep?.IPAddress ?? '',
          IPPrefixLen: ep?.IPPrefixLen ?? 0,
          MacAddress: ep?.MacAddress ?? '',
          DNSNames: [r.Name, shortId(r.Id), ...cfg.Aliases],
        },
      ];
    }),
  );
}

/** Fields holding Go maps (user data, sorted keys); everything else object-shaped is a struct. */
const MAP_FIELDS = new Set(['Labels', 'Networks', 'Ports', 'PortBindings', 'Data', 'LogConfig.Config']);

/** Pointer fields Docker's JSON leaves out when nil, which templates still reach (`{{json .State.Health}}`
 *  is `null`), by `parent.key` of their struct. */
const NIL_FIELDS: Record<string, string[]> = { '.State': ['Health'], '.Config': ['Healthcheck'] };

/** The inspect object as Go values for `--format` (maps print sorted, unknown struct fields fail). */
export function toGoValue(v: unknown, key = '', parent = ''): unknown {
  if (Array.isArray(v)) return v.map((x) => toGoValue(x));
  if (!v || typeof v !== 'object') return v;
  const fields = Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, toGoValue(x, k, key)]));
  if (MAP_FIELDS.has(key) || MAP_FIELDS.has(`${parent}.${key}`)) return goMap(fields, key === 'Labels' || key === 'Config' ? '' : null);
  for (const f of NIL_FIELDS[`${parent}.${key}`] ?? []) if (!(f in fields)) fields[f] = null;
  return goStruct(key ? `*types.${key}` : '*types.ContainerJSON', fields);
}
