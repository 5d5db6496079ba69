/**
 * `tsbuild network create|ls|inspect|rm|connect|disconnect|prune` as docker's: `ls` prints
 * `NETWORK ID  NAME  DRIVER  SCOPE` (the built-in bridge, host and none too, sorted by name;
 * `-q`, `--no-trunc`, `--filter name=|id=|driver=|label=`, `--format` with Docker's fields),
 * `inspect` a JSON array (4-space indent, with the running containers attached in `Containers`)
 * or `--format`; errors are Docker's words (`network NAME not found`, `network with name NAME
 * already exists`, `... has active endpoints`), exit 1.
 */
import type { Command } from 'commander';
import { TsbuildError } from '../errors.js';
import type { Containers } from '../containers/containers.js';
import type { NetworkRecord } from '../containers/networks.js';

const collect = (v: string, prev: string[] = []) => [...prev, v];

async function open(root?: string): Promise<Containers> {
  const [{ ImageStore }, { resolveRoot }, { Containers }] = await Promise.all([
    import('../image/store.js'),
    import('../image/root.js'),
    import('../containers/containers.js'),
  ]);
  return new Containers(await ImageStore.open(resolveRoot(root)));
}

/** Network subcommands fail with 1, whatever the error's own code. */
async function exitOne(fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (e) {
    if (e instanceof TsbuildError && e.exitCode !== 1 && !e.location) throw new TsbuildError(e.code, e.message, undefined, 1);
    throw e;
  }
}

/** Runs FN for each word; errors are printed (Docker's way) and make the exit code 1. */
async function each(words: readonly string[], fn: (word: string) => Promise<void>): Promise<void> {
  for (const w of words) {
    try {
      await fn(w);
    } catch (e) {
      if (!(e instanceof TsbuildError)) throw e;
      process.stderr.write(`tsbuild: ${e.message}\n`);
      process.exitCode = 1;
    }
  }
}

/** `ls` rows: the built-ins and the user networks, as Docker's network summary. */
interface Row {
  ID: string;
  Name: string;
  Driver: string;
  Scope: string;
  IPv6: string;
  Internal: string;
  Labels: string;
  CreatedAt: string;
  labels: Record<string, string>;
}

async function rows(c: Containers): Promise<Row[]> {
  const { BUILTIN_NETWORKS, builtinNetworkId } = await import('../containers/networks.js');
  const created = (iso: string) => iso.replace('T', ' ').replace(/Z$/, ' +0000 UTC');
  const all: Row[] = [
    ...BUILTIN_NETWORKS.map((b) => ({ ID: builtinNetworkId(b.name), Name: b.name, Driver: b.driver, Scope: 'local', IPv6: 'false', Internal: 'false', Labels: '', CreatedAt: created('0001-01-01T00:00:00Z'), labels: {} })),
    ...c.endpoints.networks.list().map((n) => ({
      ID: n.Id,
      Name: n.Name,
      Driver: n.Driver,
      Scope: n.Scope,
      IPv6: 'false',
      Internal: String(n.Internal),
      Labels: Object.entries(n.Labels).map(([k, v]) => `${k}=${v}`).join(','),
      CreatedAt: created(n.Created),
      labels: n.Labels,
    })),
  ];
  return all.sort((a, b) => (a.Name < b.Name ? -1 : a.Name > b.Name ? 1 : 0));
}

/** Docker's inspect object of a user network, with its attached running containers. */
async function inspectObject(c: Containers, n: NetworkRecord): Promise<Record<string, unknown>> {
  const containers: Record<string, unknown> = {};
  for (const a of await c.endpoints.attached(n)) {
    containers[a.id] = { Name: a.name, EndpointID: '', MacAddress: a.endpoint.MacAddress, IPv4Address: `${a.endpoint.IPAddress}/${a.endpoint.IPPrefixLen}`, IPv6Address: '' };
  }
  const { Options, Labels, ...rest } = n;
  return { ...rest, Containers: containers, Options, Labels };
}

export function addNetworkCommands(program: Command): void {
  const group = program.command('network').description('Manage networks');

  group
    .command('create')
    .description('Create a network')
    .argument('<name>')
    .option('-d, --driver <driver>', 'driver to manage the network (only bridge)', 'bridge')
    .option('--subnet <cidr>', 'subnet in CIDR format (default: one clear of the host\'s routes)')
    .option('--gateway <ip>', 'IPv4 gateway for the subnet (its first address)')
    .option('--internal', 'restrict external access to the network')
    .option('--label <label>', 'set metadata on a network; repeatable', collect, [])
    .action((name: string, opts: { driver: string; subnet?: string; gateway?: string; internal?: boolean; label: string[]; root?: string }) =>
      exitOne(async () => {
        const { parseLabels } = await import('./build-flags.js');
        const c = await open(opts.root);
        const n = await c.endpoints.networks.create(name, {
          driver: opts.driver,
          ...(opts.subnet !== undefined ? { subnet: opts.subnet } : {}),
          ...(opts.gateway !== undefined ? { gateway: opts.gateway } : {}),
          internal: opts.internal === true,
          labels: parseLabels(opts.label),
        });
        process.stdout.write(`${n.Id}\n`);
      }),
    );

  group
    .command('ls')
    .alias('list')
    .description('List networks')
    .option('-q, --quiet', 'only display network IDs')
    .option('--no-trunc', 'do not truncate the output')
    .option('-f, --filter <filter>', 'filter: name=, id=, driver=, label=; repeatable', collect, [])
    .option('--format <format>', 'pretty-print networks using a Go template')
    .action((opts: { quiet?: boolean; trunc: boolean; filter: string[]; format?: string; root?: string }) =>
      exitOne(async () => {
        const c = await open(opts.root);
        await c.endpoints.refreshHosts();
        let list = await rows(c);
        for (const f of opts.filter) {
          const eq = f.indexOf('=');
          const [k, v] = eq < 0 ? [f, ''] : [f.slice(0, eq), f.slice(eq + 1)];
          if (k === 'name') list = list.filter((x) => x.Name.includes(v));
          else if (k === 'id') list = list.filter((x) => x.ID.startsWith(v));
          else if (k === 'driver') list = list.filter((x) => x.Driver === v);
          else if (k === 'label') {
            const [lk, lv] = v.includes('=') ? [v.slice(0, v.indexOf('=')), v.slice(v.indexOf('=') + 1)] : [v, undefined];
            list = list.filter((x) => lk in x.labels && (lv === undefined || x.labels[lk] === lv));
          } else throw new TsbuildError('USAGE', `invalid filter '${k}'`);
        }
        const shown = opts.trunc ? list.map((r) => ({ ...r, ID: r.ID.slice(0, 12) })) : list;
        if (opts.quiet) {
          process.stdout.write(shown.map((r) => `${r.ID}\n`).join(''));
          return;
        }
        const { parseDockerFormat, renderDockerFormat } = await import('../format/docker-format.js');
        const f = parseDockerFormat(opts.format ?? '', 'table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}');
        const items = shown.map(({ labels: _l, ...r }) => r);
        process.stdout.write(renderDockerFormat(f, items, { ID: 'NETWORK ID', Name: 'NAME', Driver: 'DRIVER', Scope: 'SCOPE', IPv6: 'IPV6', Internal: 'INTERNAL', Labels: 'LABELS', CreatedAt: 'CREATED AT' }));
      }),
    );

  group
    .command('inspect')
    .description('Display detailed information on one or more networks')
    .argument('<network...>')
    .option('-f, --format <format>', 'format the output using the given Go template')
    .action((names: string[], opts: { format?: string; root?: string }) =>
      exitOne(async () => {
        const c = await open(opts.root);
        await c.endpoints.refreshHosts();
        const found: Record<string, unknown>[] = [];
        await each(names, async (n) => {
          found.push(await inspectObject(c, c.endpoints.networks.find(n)));
        });
        if (opts.format) {
          const { renderGoTemplate } = await import('../format/go-template.js');
          for (const v of found) process.stdout.write(renderGoTemplate(opts.format.replace(/^json$/, '{{json .}}'), v) + '\n');
        } else process.stdout.write(JSON.stringify(found, null, 4) + '\n');
      }),
    );

  group
    .command('rm')
    .alias('remove')
    .description('Remove one or more networks')
    .argument('<network...>')
    .option('-f, --force', 'no error when a network does not exist')
    .action((names: string[], opts: { force?: boolean; root?: string }) =>
      exitOne(async () => {
        const { isBuiltinNetwork } = await import('../containers/networks.js');
        const c = await open(opts.root);
        await each(names, async (word) => {
          if (isBuiltinNetwork(word)) throw new TsbuildError('CONFLICT', `${word} is a pre-defined network and cannot be removed`);
          const n = c.endpoints.networks.get(word);
          if (!n) {
            if (opts.force) return;
            throw new TsbuildError('NOT_FOUND', `network ${word} not found`);
          }
          await c.endpoints.networks.remove(n, (await c.endpoints.attached(n)).map((a) => a.id));
          process.stdout.write(`${word}\n`);
        });
      }),
    );

  group
    .command('prune')
    .description('Remove all unused networks')
    .option('-f, --force', 'do not prompt (tsbuild never prompts)')
    .action((opts: { root?: string }) =>
      exitOne(async () => {
        const c = await open(opts.root);
        // bridges of networks whose store was deleted go too (they have no name left to print)
        await c.endpoints.networks.sweepOrphans();
        const gone: string[] = [];
        for (const n of c.endpoints.networks.list()) {
          if ((await c.endpoints.attached(n)).length) continue;
          await c.endpoints.networks.remove(n, []);
          gone.push(n.Name);
        }
        if (gone.length) process.stdout.write(`Deleted Networks:\n${gone.join('\n')}\n\n`);
      }),
    );

  group
    .command('connect')
    .description('Connect a container to a network')
    .argument('<network>')
    .argument('<container>')
    .option('--alias <alias>', 'add network-scoped alias for the container; repeatable', collect, [])
    .option('--ip <ip>', 'IPv4 address (e.g., 172.30.100.104)')
    .action((netWord: string, ctrWord: string, opts: { alias: string[]; ip?: string; root?: string }) =>
      exitOne(async () => {
        const { isBuiltinNetwork } = await import('../containers/networks.js');
        const c = await open(opts.root);
        if (isBuiltinNetwork(netWord)) throw new TsbuildError('INVALID', `tsbuild connects containers to user networks only (not ${netWord})`);
        const net = c.endpoints.networks.find(netWord);
        const ctr = await c.find(ctrWord);
        await c.endpoints.connect(ctr.record.Id, net, { aliases: opts.alias, ...(opts.ip ? { ip: opts.ip } : {}) });
      }),
    );

  group
    .command('disconnect')
    .description('Disconnect a container from a network')
    .argument('<network>')
    .argument('<container>')
    .option('-f, --force', 'force the container to disconnect from a network')
    .action((netWord: string, ctrWord: string, opts: { root?: string }) =>
      exitOne(async () => {
        const c = await open(opts.root);
        const net = c.endpoints.networks.find(netWord);
        const ctr = await c.find(ctrWord);
        await c.endpoints.disconnect(ctr.record.Id, net);
      }),
    );
}
