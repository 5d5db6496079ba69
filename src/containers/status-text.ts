/**
 * The words `docker ps` prints about a container: durations, STATUS, CREATED, COMMAND, and the
 * whole table (or any `--format`).
 *
 * Pinned Docker behaviour:
 * - go-units HumanDuration: "Less than a second", "1 second", "N seconds", "About a minute",
 *   "N minutes", "About an hour" (hours rounded half up), "N hours" below 48, then days below
 *   two weeks, weeks below 60 days, months (30 days) below two years, then years.
 * - State.String (moby daemon/container/state.go): "Up X" (+ " (Paused)", or " (healthy)",
 *   " (unhealthy)", " (health: starting)"), "Restarting (N) X ago", "Removal In Progress",
 *   "Dead", "Created" (never started), "Exited (N) X ago"; the STATE column's lowercase names.
 * - CREATED is "X ago" from the creation time (RunningFor).
 * - COMMAND is the path and the arguments (an argument with a space in single quotes, as moby's
 *   container view builds it), cut to 20 columns with `…` unless --no-trunc, then Go-quoted.
 * - The ps table: `table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t
 *   {{.Ports}}\t{{.Names}}` through docker's formatter (headers CONTAINER ID … NAMES); IDs cut
 *   to 12 unless --no-trunc; `-q` is `{{.ID}}`; `{{json .}}` gives the fields sorted by name.
 * Pure.
 */

import { goQuote } from '../parser/go-quote.js';
import { goStruct } from '../format/go-template.js';
import { parseDockerFormat, renderDockerFormat } from '../format/docker-format.js';
import { ellipsis } from '../format/text-width.js';
import { shortId } from './ids.js';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

/** go-units HumanDuration of `ms` milliseconds. */
export function humanDuration(ms: number): string {
  const seconds = Math.trunc(ms / SECOND);
  if (seconds < 1) return 'Less than a second';
  if (seconds === 1) return '1 second';
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.trunc(ms / MINUTE);
  if (minutes === 1) return 'About a minute';
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.trunc(ms / HOUR + 0.5);
  if (hours === 1) return 'About an hour';
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.trunc(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.trunc(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.trunc(hours / 24 / 30)} months`;
  return `${Math.trunc(Math.trunc(ms / HOUR) / 24 / 365)} years`;
}

export type HealthStatus = 'starting' | 'healthy' | 'unhealthy';

/** The parts of a container's state the status words depend on (times in ms since the epoch; 0 = never). */
export interface StateView {
  running: boolean;
  paused?: boolean;
  restarting?: boolean;
  dead?: boolean;
  removalInProgress?: boolean;
  exitCode: number;
  startedAt: number;
  finishedAt: number;
  health?: HealthStatus;
}

/** moby State.String(): the STATUS column. */
export function statusText(s: StateView, now: number): string {
  if (s.running) {
    const up = `Up ${humanDuration(now - s.startedAt)}`;
    if (s.paused) return `${up} (Paused)`;
    if (s.restarting) return `Restarting (${s.exitCode}) ${humanDuration(now - s.finishedAt)} ago`;
    if (s.health) return `${up} (${s.health === 'starting' ? 'health: starting' : s.health})`;
    return up;
  }
  if (s.removalInProgress) return 'Removal In Progress';
  if (s.dead) return 'Dead';
  if (!s.startedAt) return 'Created';
  if (!s.finishedAt) return '';
  return `Exited (${s.exitCode}) ${humanDuration(now - s.finishedAt)} ago`;
}

export type StateName = 'created' | 'running' | 'paused' | 'restarting' | 'removing' | 'exited' | 'dead';

/** moby State.State(): the STATE column and inspect's State.Status. */
export function stateName(s: StateView): StateName {
  if (s.running) return s.paused ? 'paused' : s.restarting ? 'restarting' : 'running';
  if (s.removalInProgress) return 'removing';
  if (s.dead) return 'dead';
  if (!s.startedAt) return 'created';
  return 'exited';
}

/** CREATED: `2 minutes ago`. */
export function runningFor(created: number, now: number): string {
  return `${humanDuration(now - created)} ago`;
}

/** The command as moby lists it: path, then the arguments, those with a space in '…'. */
export function commandLine(path: string, args: readonly string[]): string {
  if (args.length === 0) return path;
  return `${path} ${args.map((a) => (a.includes(' ') ? `'${a}'` : a)).join(' ')}`;
}

/** The COMMAND column: cut to 20 columns unless `noTrunc`, then quoted as Go's %q. */
export function commandColumn(command: string, noTrunc = false): string {
  return goQuote(noTrunc ? command : ellipsis(command, 20));
}

/** Go's time.Time.String() in UTC, as CreatedAt prints. */
function goTimeString(ms: number): string {
  const d = new Date(Math.trunc(ms / 1000) * 1000);
  return `${d.toISOString().slice(0, 19).replace('T', ' ')} +0000 UTC`;
}

/** What `ps` knows of one container. */
export interface ContainerSummary {
  id: string;
  /** Without the leading `/`. */
  names: string[];
  image: string;
  /** The full command line (see commandLine). */
  command: string;
  created: number;
  state: StateView;
  /** Already formatted (`0.0.0.0:8080->80/tcp`), '' when none. */
  ports?: string;
  labels?: Record<string, string>;
  mounts?: string[];
  networks?: string[];
  size?: string;
}

export const PS_DEFAULT_FORMAT = 'table {{.ID}}\\t{{.Image}}\\t{{.Command}}\\t{{.RunningFor}}\\t{{.Status}}\\t{{.Ports}}\\t{{.Names}}';

export const PS_HEADERS: Record<string, string> = {
  ID: 'CONTAINER ID',
  Names: 'NAMES',
  Image: 'IMAGE',
  Command: 'COMMAND',
  CreatedAt: 'CREATED AT',
  RunningFor: 'CREATED',
  Ports: 'PORTS',
  State: 'STATE',
  Status: 'STATUS',
  Size: 'SIZE',
  Labels: 'LABELS',
  Mounts: 'MOUNTS',
  LocalVolumes: 'LOCAL VOLUMES',
  Networks: 'NETWORKS',
};

/** docker/cli's ContainerContext for templates; fields sorted by name as its JSON is. */
export function containerContext(c: ContainerSummary, opts: { noTrunc?: boolean; now: number }) {
  const trunc = !opts.noTrunc;
  const labels = c.labels ?? {};
  return goStruct('*formatter.ContainerContext', {
    Command: commandColumn(c.command, !trunc),
    CreatedAt: goTimeString(c.created),
    ID: trunc ? shortId(c.id) : c.id,
    Image: c.image === '' ? '<no image>' : c.image,
    Labels: Object.keys(labels)
      .map((k) => `${k}=${labels[k]}`)
      .sort()
      .join(','),
    LocalVolumes: '0',
    Mounts: (c.mounts ?? []).map((m) => (trunc ? ellipsis(m, 15) : m)).join(','),
    Names: trunc ? (c.names[0] ?? '') : c.names.join(','),
    Networks: (c.networks ?? []).join(','),
    Ports: c.ports ?? '',
    RunningFor: runningFor(c.created, opts.now),
    Size: c.size ?? '',
    State: stateName(c.state),
    Status: statusText(c.state, opts.now),
    Label: (name: string) => labels[name] ?? '',
  });
}

export interface PsOptions {
  format?: string;
  quiet?: boolean;
  noTrunc?: boolean;
  now?: number;
}

/** `docker ps` output for these containers (already filtered and ordered newest first). */
export function renderPs(containers: readonly ContainerSummary[], opts: PsOptions = {}): string {
  const now = opts.now ?? Date.now();
  let format = opts.format ?? '';
  if (opts.quiet) format = '{{.ID}}';
  const f = parseDockerFormat(format, PS_DEFAULT_FORMAT);
  const rows = containers.map((c) => containerContext(c, { noTrunc: opts.noTrunc ?? false, now }));
  return renderDockerFormat(f, rows, PS_HEADERS);
}
