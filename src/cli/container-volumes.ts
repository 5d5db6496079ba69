/**
 * `tsbuild volume create|ls|inspect|rm|prune` as docker's: `ls` prints `DRIVER    VOLUME NAME`
 * (tabwriter min width 10, padding 3), `inspect` a JSON array (4-space indent) or `--format`,
 * `rm` refuses a volume any container names (`remove NAME: volume is in use - [ID]`, exit 1),
 * `prune` removes unused anonymous volumes (`-a`: every unused one), as Docker 23+.
 */
import type { Command } from 'commander';
import { TsbuildError } from '../errors.js';

const collect = (v: string, prev: string[] = []) => [...prev, v];

async function open(root?: string) {
  const [{ ImageStore }, { resolveRoot }, { Containers }] = await Promise.all([
    import('../image/store.js'),
    import('../image/root.js'),
    import('../containers/containers.js'),
  ]);
  return new Containers(await ImageStore.open(resolveRoot(root)));
}

function keyValues(list: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of list) {
    const eq = l.indexOf('=');
    out[eq < 0 ? l : l.slice(0, eq)] = eq < 0 ? '' : l.slice(eq + 1);
  }
  return out;
}

export function addVolumeCommands(program: Command): void {
  const group = program.command('volume').description('Manage volumes');

  group
    .command('create')
    .description('Create a volume')
    .argument('[name]')
    .option('-d, --driver <driver>', 'volume driver name (only local)', 'local')
    .option('--label <label>', 'set metadata for a volume; repeatable', collect, [])
    .option('-o, --opt <opt>', 'driver options (recorded, not applied); repeatable', collect, [])
    .option('--name <name>', 'volume name')
    .action(async (name: string | undefined, opts: { driver: string; label: string[]; opt: string[]; name?: string; root?: string }) => {
      if (opts.driver !== 'local') throw new TsbuildError('NOT_FOUND', `error looking up volume plugin ${opts.driver}: plugin "${opts.driver}" not found`);
      if (name && opts.name && name !== opts.name) throw new TsbuildError('USAGE', `conflicting options: either specify --name or provide positional arg, not both`);
      const c = await open(opts.root);
      const v = await c.volumes.create(name ?? opts.name, keyValues(opts.label), keyValues(opts.opt));
      process.stdout.write(`${v.Name}\n`);
    });

  group
    .command('ls')
    .alias('list')
    .description('List volumes')
    .option('-q, --quiet', 'only display volume names')
    .option('-f, --filter <filter>', 'filter: dangling=true|false, name=, label=; repeatable', collect, [])
    .option('--format <format>', 'pretty-print volumes using a Go template')
    .action(async (opts: { quiet?: boolean; filter: string[]; format?: string; root?: string }) => {
      const c = await open(opts.root);
      let list = c.volumes.list();
      for (const f of opts.filter) {
        const eq = f.indexOf('=');
        const [k, v] = eq < 0 ? [f, ''] : [f.slice(0, eq), f.slice(eq + 1)];
        if (k === 'dangling') list = list.filter((x) => (c.volumeUsers(x.Name).length === 0) === ['true', '1'].includes(v));
        else if (k === 'name') list = list.filter((x) => x.Name.includes(v));
        else if (k === 'label') {
          const [lk, lv] = v.includes('=') ? [v.slice(0, v.indexOf('=')), v.slice(v.indexOf('=') + 1)] : [v, undefined];
          list = list.filter((x) => x.Labels && lk in x.Labels && (lv === undefined || x.Labels[lk] === lv));
        } else if (k === 'driver') list = list.filter((x) => x.Driver === v);
        else throw new TsbuildError('USAGE', `invalid filter '${k}'`);
      }
      if (opts.quiet) {
        process.stdout.write(list.map((v) => `${v.Name}\n`).join(''));
        return;
      }
      if (opts.format) {
        const { renderGoTemplate } = await import('../format/go-template.js');
        process.stdout.write(list.map((v) => renderGoTemplate(opts.format!, { ...v, Labels: Object.entries(v.Labels ?? {}).map(([k, x]) => `${k}=${x}`).join(',') }) + '\n').join(''));
        return;
      }
      const width = Math.max(10, ...list.map((v) => v.Driver.length + 3));
      process.stdout.write(['DRIVER'.padEnd(width) + 'VOLUME NAME', ...list.map((v) => v.Driver.padEnd(width) + v.Name)].join('\n') + '\n');
    });

  group
    .command('inspect')
    .description('Display detailed information on one or more volumes')
    .argument('<volume...>')
    .option('-f, --format <format>', 'format the output using the given Go template')
    .action(async (names: string[], opts: { format?: string; root?: string }) => {
      const c = await open(opts.root);
      const found = [];
      let failed = false;
      for (const n of names) {
        const v = c.volumes.get(n);
        if (v) found.push(v);
        else {
          process.stderr.write(`Error: No such volume: ${n}\n`);
          failed = true;
        }
      }
      if (opts.format) {
        const { renderGoTemplate } = await import('../format/go-template.js');
        for (const v of found) process.stdout.write(renderGoTemplate(opts.format.replace(/^json$/, '{{json .}}'), v) + '\n');
      } else process.stdout.write(JSON.stringify(found, null, 4) + '\n');
      if (failed) process.exitCode = 1;
    });

  group
    .command('rm')
    .alias('remove')
    .description('Remove one or more volumes')
    .argument('<volume...>')
    .option('-f, --force', 'no error when a volume does not exist')
    .action(async (names: string[], opts: { force?: boolean; root?: string }) => {
      const c = await open(opts.root);
      for (const n of names) {
        try {
          await c.volumes.remove(n, c.volumeUsers(n));
          process.stdout.write(`${n}\n`);
        } catch (e) {
          if (!(e instanceof TsbuildError)) throw e;
          if (opts.force && e.code === 'NOT_FOUND') continue;
          process.stderr.write(`tsbuild: ${e.message}\n`);
          process.exitCode = 1;
        }
      }
    });

  group
    .command('prune')
    .description('Remove unused anonymous volumes (-a: all unused volumes)')
    .option('-a, --all', 'remove all unused volumes, not just anonymous ones')
    .option('-f, --force', 'do not prompt (tsbuild never prompts)')
    .action(async (opts: { all?: boolean; root?: string }) => {
      const { ANONYMOUS_LABEL } = await import('../containers/volumes.js');
      const { humanSize } = await import('../image/display.js');
      const c = await open(opts.root);
      const gone: string[] = [];
      let bytes = 0;
      for (const v of c.volumes.list()) {
        if (!opts.all && !(v.Labels && ANONYMOUS_LABEL in v.Labels)) continue;
        if (c.volumeUsers(v.Name).length) continue;
        const size = c.volumes.size(v.Name);
        await c.volumes.remove(v.Name, []);
        gone.push(v.Name);
        bytes += size;
      }
      if (gone.length) process.stdout.write(`Deleted Volumes:\n${gone.join('\n')}\n\n`);
      process.stdout.write(`Total reclaimed space: ${humanSize(bytes)}\n`);
    });
}
