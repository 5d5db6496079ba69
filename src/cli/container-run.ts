/**
 * `tsbuild run` and `tsbuild create` (also `container run|create`). Their flags are parsed here,
 * as docker's pflag parses them — flags only before IMAGE, everything after it is the command, so
 * `run busybox ls -v` never reaches tsbuild's own options — with docker's errors and exit code 125
 * for anything that goes wrong before the command runs (unknown flag, no such image, name in use);
 * 126/127 when the command cannot be executed, learned before `-d` prints the ID. A foreground run
 * streams the output, passes stdin with `-i`, forwards SIGINT/SIGTERM/SIGHUP/SIGQUIT to the
 * container and exits with its code.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { TsbuildError } from '../errors.js';
import { parseLeadingFlags, type FlagTable } from './docker-flags.js';
import { StartError } from '../runtime/monitor.js';
import type { HealthFlags } from '../containers/health.js';

export interface RunFlags extends HealthFlags {
  detach: boolean;
  rm: boolean;
  interactive: boolean;
  init: boolean;
  tty: boolean;
  detachKeys?: string;
  name?: string;
  env: string[];
  envFile: string[];
  workdir?: string;
  user?: string;
  entrypoint?: string;
  hostname?: string;
  network: string;
  networkAlias: string[];
  ip?: string;
  label: string[];
  cidfile?: string;
  stopSignal?: string;
  stopTimeout?: string;
  logDriver: string;
  logOpt: string[];
  publish: string[];
  publishAll: boolean;
  expose: string[];
  volume: string[];
  mount: string[];
  tmpfs: string[];
  volumesFrom: string[];
  restart?: string;
  memory?: string;
  memorySwap?: string;
  cpus?: string;
  cpuShares?: string;
  pidsLimit?: string;
  root?: string;
  help: boolean;
}

const FLAGS: FlagTable<RunFlags> = {
  detach: { key: 'detach', kind: 'bool', short: 'd' },
  rm: { key: 'rm', kind: 'bool' },
  interactive: { key: 'interactive', kind: 'bool', short: 'i' },
  init: { key: 'init', kind: 'bool' },
  tty: { key: 'tty', kind: 'bool', short: 't' },
  'detach-keys': { key: 'detachKeys', kind: 'value' },
  help: { key: 'help', kind: 'bool' },
  name: { key: 'name', kind: 'value' },
  env: { key: 'env', kind: 'list', short: 'e' },
  'env-file': { key: 'envFile', kind: 'list' },
  workdir: { key: 'workdir', kind: 'value', short: 'w' },
  user: { key: 'user', kind: 'value', short: 'u' },
  entrypoint: { key: 'entrypoint', kind: 'value' },
  hostname: { key: 'hostname', kind: 'value', short: 'h' },
  network: { key: 'network', kind: 'value' },
  net: { key: 'network', kind: 'value' },
  'network-alias': { key: 'networkAlias', kind: 'list' },
  'net-alias': { key: 'networkAlias', kind: 'list' },
  ip: { key: 'ip', kind: 'value' },
  label: { key: 'label', kind: 'list', short: 'l' },
  cidfile: { key: 'cidfile', kind: 'value' },
  'stop-signal': { key: 'stopSignal', kind: 'value' },
  'stop-timeout': { key: 'stopTimeout', kind: 'value' },
  'log-driver': { key: 'logDriver', kind: 'value' },
  'log-opt': { key: 'logOpt', kind: 'list' },
  publish: { key: 'publish', kind: 'list', short: 'p' },
  'publish-all': { key: 'publishAll', kind: 'bool', short: 'P' },
  expose: { key: 'expose', kind: 'list' },
  volume: { key: 'volume', kind: 'list', short: 'v' },
  mount: { key: 'mount', kind: 'list' },
  tmpfs: { key: 'tmpfs', kind: 'list' },
  'volumes-from': { key: 'volumesFrom', kind: 'list' },
  restart: { key: 'restart', kind: 'value' },
  memory: { key: 'memory', kind: 'value', short: 'm' },
  'memory-swap': { key: 'memorySwap', kind: 'value' },
  cpus: { key: 'cpus', kind: 'value' },
  'cpu-shares': { key: 'cpuShares', kind: 'value', short: 'c' },
  'pids-limit': { key: 'pidsLimit', kind: 'value' },
  'health-cmd': { key: 'healthCmd', kind: 'value' },
  'health-interval': { key: 'healthInterval', kind: 'value' },
  'health-timeout': { key: 'healthTimeout', kind: 'value' },
  'health-start-period': { key: 'healthStartPeriod', kind: 'value' },
  'health-retries': { key: 'healthRetries', kind: 'value' },
  'no-healthcheck': { key: 'noHealthcheck', kind: 'bool' },
  root: { key: 'root', kind: 'value' },
};
const NOT_YET: Record<string, string> = {
};

const usageError = (cmd: string, msg: string) => new TsbuildError('USAGE', `${msg}\nSee 'tsbuild ${cmd} --help'.`, undefined, 125);

/** Docker's interspersed=false flag parsing: flags, then IMAGE and the command's words. */
export function parseRunArgs(cmd: 'run' | 'create', argv: string[]): { flags: RunFlags; image?: string; args: string[] } {
  const flags: RunFlags = { noHealthcheck: false, detach: false, rm: false, interactive: false, init: false, tty: false, help: false, env: [], envFile: [], network: 'bridge', networkAlias: [], label: [], logDriver: 'json-file', logOpt: [], publish: [], publishAll: false, expose: [], volume: [], mount: [], tmpfs: [], volumesFrom: [] };
  const i = parseLeadingFlags(argv, FLAGS, flags, (msg) => usageError(cmd, msg), NOT_YET);
  return { flags, image: argv[i], args: argv.slice(i + 1) };
}

/** -e / --env-file entries as Docker reads them: `K=V`, or `K` taken from our environment if set. */
export function resolveEnv(flags: RunFlags, env: NodeJS.ProcessEnv = process.env): string[] {
  const out: string[] = [];
  const take = (e: string) => {
    if (e.includes('=')) {
      if (e.startsWith('=')) throw new TsbuildError('INVALID', `invalid environment variable: ${e}`, undefined, 125);
      out.push(e);
    } else if (e !== '' && env[e] !== undefined) out.push(`${e}=${env[e]}`);
  };
  for (const file of flags.envFile) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      throw new TsbuildError('NOT_FOUND', `open ${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (e as Error).message}`, undefined, 125);
    }
    for (const raw of text.split(/\r?\n/)) {
      const line = raw.replace(/^\s+/, '');
      if (line === '' || line.startsWith('#')) continue;
      take(line);
    }
  }
  for (const e of flags.env) take(e);
  return out;
}

function parseLabels(list: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of list) {
    const eq = l.indexOf('=');
    out[eq < 0 ? l : l.slice(0, eq)] = eq < 0 ? '' : l.slice(eq + 1);
  }
  return out;
}

function parseLogOpts(list: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const o of list) {
    const eq = o.indexOf('=');
    if (eq < 0) throw new TsbuildError('INVALID', `invalid key value pair format in log-opt: ${o}`, undefined, 125);
    out[o.slice(0, eq)] = o.slice(eq + 1);
  }
  return out;
}

const RUN_HELP = `Usage:  tsbuild {CMD} [OPTIONS] IMAGE [COMMAND] [ARG...]

{WHAT}

Options:
      --cidfile string         Write the container ID to the file
  -c, --cpu-shares int         CPU shares (relative weight)
      --cpus decimal           Number of CPUs
  -d, --detach                 Run container in background and print container ID (run)
      --entrypoint string      Overwrite the default ENTRYPOINT of the image
  -e, --env list               Set environment variables
      --env-file list          Read in a file of environment variables
      --health-cmd string      Command to run to check health
      --health-interval duration   Time between running the check (ms|s|m|h) (default 0s)
      --health-retries int     Consecutive failures needed to report unhealthy
      --health-start-period duration   Start period for the container to initialize before starting health-retries countdown (ms|s|m|h) (default 0s)
      --health-timeout duration    Maximum time to allow one check to run (ms|s|m|h) (default 0s)
  -h, --hostname string        Container host name
      --init                   Run an init inside the container that forwards signals and reaps processes
  -i, --interactive            Keep STDIN open (run: STDIN is piped to the command)
      --expose list            Expose a port or a range of ports
  -l, --label list             Set meta data on a container
  -m, --memory bytes           Memory limit
      --memory-swap bytes      Swap limit equal to memory plus swap: '-1' to enable unlimited swap
      --mount mount            Attach a filesystem mount to the container (type=volume|bind|tmpfs,source=,target=,readonly)
      --log-driver string      Logging driver for the container: json-file (default), syslog or none
      --log-opt list           Log driver options (json-file: max-size, max-file; syslog: syslog-address, syslog-facility, syslog-format, tag)
      --name string            Assign a name to the container
      --no-healthcheck         Disable any container-specified HEALTHCHECK
      --network string         Connect a container to a network: bridge (default), host, none or a user network
      --network-alias list     Add network-scoped alias for the container
      --ip string              IPv4 address (e.g., 172.30.100.104)
  -p, --publish list           Publish a container's port(s) to the host ([IP:][HOSTPORT:]CTRPORT[/tcp|udp])
  -P, --publish-all            Publish all exposed ports to random ports
      --pids-limit int         Tune container pids limit (set -1 for unlimited)
      --restart string         Restart policy: no (default), on-failure[:max-retries], always, unless-stopped
      --rm                     Automatically remove the container when it exits
      --stop-signal string     Signal to stop a container (default "SIGTERM")
      --stop-timeout int       Timeout (in seconds) to stop a container
      --tmpfs list             Mount a tmpfs directory (PATH[:size=N])
  -v, --volume list            Bind mount a volume ([NAME|/HOST:]/PATH[:ro])
      --volumes-from list      Mount volumes from the specified container(s) (CONTAINER[:ro|:rw])
  -u, --user string            Username or UID (format: <name|uid>[:<group|gid>])
  -w, --workdir string         Working directory inside the container
      --root string            image store location (default: $TSBUILD_ROOT, else a per-user default)
`;

/** Runs `tsbuild run|create ARGS`; returns the exit code (errors are thrown with theirs). */
export async function runContainerCommand(cmd: 'run' | 'create', argv: string[], globalRoot?: string): Promise<number> {
  const { flags, image, args } = parseRunArgs(cmd, argv);
  if (flags.help) {
    process.stdout.write(RUN_HELP.replace('{CMD}', cmd).replace('{WHAT}', cmd === 'run' ? 'Create and run a new container from an image' : 'Create a new container'));
    return 0;
  }
  if (!image) throw usageError(cmd, `"tsbuild ${cmd}" requires at least 1 argument.\n\nUsage:  tsbuild ${cmd} [OPTIONS] IMAGE [COMMAND] [ARG...]\n`);
  if (flags.ip !== undefined && !/^\d{1,3}(\.\d{1,3}){3}$/.test(flags.ip)) {
    throw usageError(cmd, `invalid argument "${flags.ip}" for "--ip" flag: invalid string being converted to IP address: ${flags.ip}`);
  }
  if (!['json-file', 'syslog', 'none'].includes(flags.logDriver)) {
    throw new TsbuildError('INVALID', `failed to create task: logger: no log driver named '${flags.logDriver}' is registered`, undefined, 125);
  }
  let stopTimeout: number | undefined;
  if (flags.stopTimeout !== undefined) {
    if (!/^-?\d+$/.test(flags.stopTimeout)) throw usageError(cmd, `invalid argument "${flags.stopTimeout}" for "--stop-timeout" flag: strconv.ParseInt: parsing "${flags.stopTimeout}": invalid syntax`);
    stopTimeout = Number(flags.stopTimeout);
  }
  if (flags.workdir !== undefined && !isAbsolute(flags.workdir)) {
    throw new TsbuildError('INVALID', `the working directory '${flags.workdir}' is invalid, it needs to be an absolute path`, undefined, 125);
  }
  const env = resolveEnv(flags);
  const { parsePublish, publishAll, splitPortKey } = await import('../containers/ports.js');
  const published = parsePublish(flags.publish);
  const exposeOwn = [...flags.expose.flatMap((e) => parsePublish([e.replace(/^:+/, '')]).exposed), ...published.exposed];
  const { parseVolumeFlag, parseMountFlag, parseTmpfsFlag, parseVolumesFromFlag } = await import('../containers/volumes.js');
  const volumesFrom = flags.volumesFrom.map((v) => parseVolumesFromFlag(v));
  const mounts = [...flags.volume.map((v) => parseVolumeFlag(v)), ...flags.mount.map((m) => parseMountFlag(m)), ...flags.tmpfs.map((t) => parseTmpfsFlag(t))];
  const { parseResources } = await import('../containers/resources.js');
  const resources = parseResources(flags);
  const { parseRestartPolicy } = await import('../containers/restart.js');
  const restartPolicy = flags.restart !== undefined ? parseRestartPolicy(flags.restart) : undefined;
  const { parseHealthFlags } = await import('../containers/health.js');
  const healthcheck = parseHealthFlags(flags, (msg) => usageError(cmd, msg));
  if (flags.rm && restartPolicy && restartPolicy.Name !== 'no') throw new TsbuildError('INVALID', 'Conflicting options: --restart and --rm', undefined, 125);
  for (const k of flags.expose) if (k.includes(':')) throw new TsbuildError('INVALID', `invalid port format for --expose: ${k}`, undefined, 125);
  const { parseSignal } = await import('../containers/signals.js');
  if (flags.stopSignal !== undefined) asRun(() => parseSignal(flags.stopSignal!));
  const cidfile = flags.cidfile ? resolve(flags.cidfile) : undefined;
  if (cidfile && existsSync(cidfile)) {
    throw new TsbuildError('CONFLICT', `Container ID file found, make sure the other container isn't running or delete ${cidfile}`, undefined, 125);
  }

  const [{ ImageStore }, { resolveRoot }, { Containers }] = await Promise.all([
    import('../image/store.js'),
    import('../image/root.js'),
    import('../containers/containers.js'),
  ]);
  const root = resolveRoot(flags.root ?? globalRoot);
  const { isBuiltinNetwork, Networks } = await import('../containers/networks.js');
  if (!isBuiltinNetwork(flags.network)) new Networks(root).find(flags.network, 125);
  const store = await asRun(() => ImageStore.open(root));
  const img = await findOrPull(store, image);
  const containers = new Containers(store);
  const imageExposed = Object.keys(img.config.config?.ExposedPorts ?? {}).filter((k) => splitPortKey(k));
  const portBindings = flags.publishAll ? publishAll([...new Set([...imageExposed, ...exposeOwn])], published.bindings) : published.bindings;
  // docker create answers 1 for what run answers 125 (flag errors stay 125)
  const createStep = cmd === 'run' ? asRun : async <T>(fn: () => Promise<T> | T) => fn();
  const record = await createStep(() =>
    containers.create({
      image: img,
      imageRef: image,
      ...(flags.name !== undefined ? { name: flags.name } : {}),
      cmd: args,
      ...(flags.entrypoint !== undefined ? { entrypoint: flags.entrypoint } : {}),
      env,
      ...(flags.workdir !== undefined ? { workdir: flags.workdir } : {}),
      ...(flags.user !== undefined ? { user: flags.user } : {}),
      ...(flags.hostname !== undefined ? { hostname: flags.hostname } : {}),
      network: flags.network === 'default' ? 'bridge' : flags.network,
      ...(flags.networkAlias.length ? { networkAliases: flags.networkAlias } : {}),
      ...(flags.ip !== undefined ? { ip: flags.ip } : {}),
      labels: parseLabels(flags.label),
      ...(flags.stopSignal !== undefined ? { stopSignal: flags.stopSignal } : {}),
      ...(stopTimeout !== undefined ? { stopTimeout } : {}),
      autoRemove: flags.rm,
      init: flags.init,
      interactive: flags.interactive,
      tty: flags.tty,
      logDriver: flags.logDriver as 'json-file' | 'syslog' | 'none',
      logOpts: parseLogOpts(flags.logOpt),
      ...(cidfile ? { cidfile } : {}),
      portBindings,
      exposedPorts: exposeOwn,
      mounts,
      binds: flags.volume,
      ...(volumesFrom.length ? { volumesFrom } : {}),
      ...(restartPolicy ? { restartPolicy } : {}),
      resources,
      ...(healthcheck ? { healthcheck } : {}),
    }),
  );
  if (cidfile) writeFileSync(cidfile, record.Id, { flag: 'wx' });
  if (cmd === 'create') {
    process.stdout.write(`${record.Id}\n`);
    return 0;
  }
  const exitCommand = cleanupCommand(root, record.Id);
  const exitEnv = [`PATH=${process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin'}`];
  // a port that cannot be had leaves nothing behind: the container goes again (docker keeps it Created)
  const dropIfPortTaken = async (e: unknown) => {
    if (e instanceof TsbuildError && /port is already allocated|Bind for /.test(e.message)) {
      await containers.remove(record.Id, { force: true }).catch(() => undefined);
      if (cidfile) (await import('node:fs')).rmSync(cidfile, { force: true });
    }
    throw e;
  };
  if (flags.detach) {
    const h = await startOrFail(() => containers.start(record.Id, { exitCommand, exitEnv })).catch(dropIfPortTaken);
    h?.detach();
    process.stdout.write(`${record.Id}\n`);
    return 0;
  }
  const { parseDetachKeys, terminalSession } = await import('./container-tty.js');
  const term = flags.tty ? terminalSession(flags.interactive, parseDetachKeys(flags.detachKeys)) : undefined;
  const h = await startOrFail(() =>
    containers.start(record.Id, {
      attach: { stdout: process.stdout, stderr: process.stderr },
      ...(term ? { ttySize: term.size } : {}),
      ...(flags.interactive ? { stdin: term?.input ?? process.stdin } : {}),
      exitCommand,
      exitEnv,
      callerCleans: true,
    }),
  ).catch(dropIfPortTaken);
  if (!h) return 0;
  // Docker's sig-proxy: the CLI's signals go to the container (PID 1 decides what they do)
  const { signalContainer } = await import('../containers/monitor-files.js');
  const { runDir } = await import('../containers/record.js');
  const settle = (await import('./foreground-end.js')).foregroundEnd(containers, record.Id, h);
  const forward = (sig: NodeJS.Signals) => void signalContainer(runDir(containers.paths, record.Id), { SIGINT: 2, SIGTERM: 15, SIGHUP: 1, SIGQUIT: 3 }[sig as 'SIGINT']);
  const sigs: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'];
  for (const s of sigs) process.on(s, forward);
  term?.follow(join(runDir(containers.paths, record.Id), 'ctl'));
  try {
    // the detach keys leave the container running (the monitor carries on without us)
    const end = await (term ? Promise.race([h.ended, term.detached.then(() => undefined)]) : h.ended);
    if (!end) {
      h.detach();
      return 0;
    }
    // --rm (and the rules of published ports): removed here, in this process (foreground-end.ts)
    await settle();
    return end.exitCode;
  } finally {
    term?.restore();
    for (const s of sigs) process.off(s, forward);
    if (flags.interactive) process.stdin.destroy();
  }
}

/** How the monitor runs `tsbuild container cleanup ID` (the same Node, loader and entry point). */
export function cleanupCommand(root: string, id: string): string[] {
  return [process.execPath, ...process.execArgv, resolve(process.argv[1]!), '--root', root, 'container', 'cleanup', id];
}

/** Errors of the steps before the command runs exit 125, as docker run's do. */
async function asRun<T>(fn: () => Promise<T> | T): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof TsbuildError && e.exitCode !== 125) throw new TsbuildError(e.code, e.message, e.location, 125);
    throw e;
  }
}

async function startOrFail<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    // --rm: the monitor's cleanup removes the container; answer once it is gone
    if (e instanceof StartError) await e.finished;
    if (e instanceof TsbuildError) {
      const code = e.exitCode === 126 || e.exitCode === 127 ? e.exitCode : 125;
      const msg = code === 125 ? e.message : `failed to create task: unable to start container process: ${e.message}`;
      throw new TsbuildError(e.code, msg, e.location, code);
    }
    throw e;
  }
}

/** The local image, else a pull as docker run does (`Unable to find image 'x:latest' locally`). */
async function findOrPull(store: import('../image/store.js').ImageStore, name: string) {
  const local = await asRun(() => store.getImage(name));
  if (local) return local;
  const { parseReference, familiarString } = await import('../image/reference.js');
  const ref = asRunSync(() => parseReference(name));
  if (/^(sha256:)?[0-9a-f]{12,64}$/.test(name)) throw new TsbuildError('NOT_FOUND', `No such image: ${name}`, undefined, 125);
  process.stderr.write(`Unable to find image '${familiarString(ref)}' locally\n`);
  const [{ defaultRegistryClient }, { pullImage }] = await Promise.all([import('../registry/defaults.js'), import('../registry/pull.js')]);
  const client = defaultRegistryClient({});
  try {
    await asRun(() => pullImage(client, ref, store, {}));
  } finally {
    client.close();
  }
  return asRun(() => store.resolve(name));
}

function asRunSync<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof TsbuildError) throw new TsbuildError(e.code, e.message, e.location, 125);
    throw e;
  }
}
