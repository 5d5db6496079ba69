/**
 * The container commands: start, stop, restart, kill, rm, wait, ps, logs, inspect (containers and
 * images), rename, and the `container` group (ls|ps|list, the same verbs, prune, and the monitor's
 * cleanup). `run` and `create` parse their own flags (container-run.ts). Output and errors as
 * docker's; several containers are each tried, errors printed, exit 1 at the end.
 */
import { Command, Option } from 'commander';
import type { Containers } from '../containers/containers.js';
import { TsbuildError } from '../errors.js';
import { addPortCommand } from './container-ports.js';
import { addVolumeCommands } from './container-volumes.js';
import { addStatsCommand } from './container-stats.js';
import { addUpdateCommand } from './container-update.js';
import { addPauseCommands } from './container-pause.js';
import { writeOut } from './write-out.js';

/** `opts.root`: the program's one `--root` (main.ts hands it to the command that runs). */
interface RootOpt {
  root?: string;
}

// (straight to fd 1: a reader that went away, `images | head -1`, ends the output quietly)
const out = (s: string) => writeOut(s.endsWith('\n') ? s : `${s}\n`);
const collect = (v: string, prev: string[] = []) => [...prev, v];

async function open(opts: RootOpt): Promise<Containers> {
  const [{ ImageStore }, { resolveRoot }, { Containers }] = await Promise.all([
    import('../image/store.js'),
    import('../image/root.js'),
    import('../containers/containers.js'),
  ]);
  return new Containers(await ImageStore.open(resolveRoot(opts.root)));
}

/** Runs FN for each word; errors are printed and make the exit code 1. */
export async function each(words: string[], fn: (word: string) => Promise<void>): Promise<void> {
  const { isTsbuildError } = await import('../errors.js');
  let failed = false;
  for (const w of words) {
    try {
      await fn(w);
    } catch (e) {
      if (!isTsbuildError(e)) throw e;
      process.stderr.write(`tsbuild: ${e.message}\n`);
      failed = true;
    }
  }
  if (failed) process.exitCode = 1;
}

function integer(flag: string) {
  return (v: string) => {
    if (!/^-?\d+$/.test(v)) throw new TsbuildError('USAGE', `invalid argument "${v}" for "${flag}" flag: strconv.ParseInt: parsing "${v}": invalid syntax`);
    return Number(v);
  };
}

/** Adds the container verbs to PARENT (the program, or the `container` group). */
function addVerbs(parent: Command, inGroup: boolean): void {
  parent
    .command('start')
    .description('Start one or more stopped containers')
    .argument('[container...]')
    .option('-a, --attach', "attach STDOUT/STDERR and forward signals (exit with the container's code)")
    .option('--all', 'start every stopped container whose restart policy brings it back after a reboot (tsbuild\'s own)')
    .option('-f, --filter <filter>', 'with --all: only these (ps filters, and restart=always|unless-stopped|on-failure); repeatable', collect, [])
    .action(async (given: string[], opts: RootOpt & { attach?: boolean; all?: boolean; filter: string[] }) => {
      const c = await open(opts);
      let words = given;
      if (opts.all) {
        if (words.length || opts.attach) throw new TsbuildError('USAGE', 'start --all takes no container names and no --attach');
        const { bootCandidates } = await import('../containers/start-all.js');
        words = (await bootCandidates(c, opts.filter)).map((v) => v.record.Name);
        if (!words.length) return;
      } else if (!words.length) throw new TsbuildError('USAGE', '"tsbuild start" requires at least 1 argument.');
      else if (opts.filter.length) throw new TsbuildError('USAGE', '--filter is only for start --all');
      if (opts.attach) {
          if (words.length > 1) throw new TsbuildError('USAGE', 'you cannot start and attach multiple containers at once');
        const v = await c.find(words[0]!);
        const h = await startOrThrow(async () =>
          c.start(v.record.Id, { attach: { stdout: process.stdout, stderr: process.stderr }, ...(await exitOpts(c, v.record.Id)), callerCleans: true }),
        );
        if (!h) {
          process.exitCode = await c.wait(v.record.Id);
          return;
        }
        // an --rm container is removed here once it ended, not by a second Node start (as run's)
        const settle = (await import('./foreground-end.js')).foregroundEnd(c, v.record.Id, h);
        process.exitCode = (await h.ended).exitCode;
        await settle();
        return;
      }
      const failedWords: string[] = [];
      await each(words, async (w) => {
        try {
          const v = await c.find(w);
          const h = await startOrThrow(async () => c.start(v.record.Id, await exitOpts(c, v.record.Id)));
          h?.detach();
          out(w);
        } catch (e) {
          failedWords.push(w);
          throw e;
        }
      });
      if (failedWords.length) process.stderr.write(`tsbuild: failed to start containers: ${failedWords.join(', ')}\n`);
    });

  // stop and restart: the same flags and loop; restart starts each container again once stopped
  for (const [name, description, restart] of [
    ['stop', 'Stop one or more running containers (the stop signal, then SIGKILL after the timeout)', false],
    ['restart', 'Restart one or more containers', true],
  ] as const) {
    parent
      .command(name)
      .description(description)
      .argument('<container...>')
      .option('-t, --time <seconds>', 'seconds to wait before killing it', integer('--time'))
      .action(async (words: string[], opts: RootOpt & { time?: number }) => {
        const c = await open(opts);
        await each(words, async (w) => {
          const v = await c.find(w);
          await c.stop(v.record.Id, opts.time);
          if (restart) (await startOrThrow(async () => c.start(v.record.Id, await exitOpts(c, v.record.Id))))?.detach();
          out(w);
        });
      });
  }

  parent
    .command('kill')
    .description('Kill one or more running containers')
    .argument('<container...>')
    .option('-s, --signal <signal>', 'signal to send', 'KILL')
    .action(async (words: string[], opts: RootOpt & { signal: string }) => {
      const { parseSignal } = await import('../containers/signals.js');
      const sig = parseSignal(opts.signal);
      const c = await open(opts);
      await each(words, async (w) => {
        const v = await c.find(w);
        await c.kill(v.record.Id, sig);
        out(w);
      });
    });

  const rm = parent
    .command('rm')
    .description('Remove one or more containers')
    .argument('<container...>')
    .option('-f, --force', 'force the removal of a running container (SIGKILL)')
    .option('-v, --volumes', 'remove anonymous volumes associated with the container')
    .action(async (words: string[], opts: RootOpt & { force?: boolean; volumes?: boolean }) => {
      const c = await open(opts);
      await each(words, async (w) => {
        const v = await c.find(w);
        await c.remove(v.record.Id, { force: !!opts.force, volumes: !!opts.volumes });
        out(w);
      });
    });
  if (inGroup) rm.alias('remove');

  parent
    .command('wait')
    .description('Block until one or more containers stop, then print their exit codes')
    .argument('<container...>')
    .action(async (words: string[], opts: RootOpt) => {
      const c = await open(opts);
      await each(words, async (w) => {
        const v = await c.find(w);
        out(String(await c.wait(v.record.Id)));
      });
    });

  parent
    .command('logs')
    .description('Fetch the logs of a container')
    .argument('<container>')
    .option('-f, --follow', 'follow log output (ends when the container stops)')
    .option('-t, --timestamps', 'show timestamps')
    .option('-n, --tail <n>', 'number of lines to show from the end of the logs', 'all')
    .option('--since <time>', 'show logs since a timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m)')
    .option('--until <time>', 'show logs before a timestamp or relative')
    .option('--details', 'show extra details (none are recorded)')
    .action(async (word: string, opts: RootOpt & { follow?: boolean; timestamps?: boolean; tail: string; since?: string; until?: string }) => {
      const { readJsonLogBatches, renderLogEntry } = await import('../containers/json-log.js');
      const { parseLogTime } = await import('../containers/log-time.js');
      const c = await open(opts);
      const v = await c.find(word);
      // syslog keeps a json-file log too (Docker 20.10's dual logging); none has nothing to read
      if (v.record.HostConfig.LogConfig.Type === 'none') {
        throw new TsbuildError('INVALID', `configured logging driver does not support reading`);
      }
      const tail = opts.tail === 'all' ? -1 : /^-?\d+$/.test(opts.tail) ? Number(opts.tail) : -1;
      const abort = new AbortController();
      const stop = () => abort.abort();
      process.once('SIGINT', stop);
      process.stdout.on('error', stop);
      try {
        // one write per run of same-stream entries of a batch, not one per line
        const flush = async (sink: NodeJS.WriteStream, parts: Buffer[]) => {
          if (parts.length && !sink.write(parts.length === 1 ? parts[0]! : Buffer.concat(parts))) await new Promise((r) => sink.once('drain', r));
        };
        for await (const batch of readJsonLogBatches(c.logPath(v.record.Id), {
          tail,
          ...(opts.since ? { since: parseLogTime(opts.since) } : {}),
          ...(opts.until ? { until: parseLogTime(opts.until) } : {}),
          follow: !!opts.follow && v.state.Running,
          signal: abort.signal,
          stopped: async () => !(await c.sync(v.record.Id)).Running,
        })) {
          let parts: Buffer[] = [];
          let stream = batch[0]!.stream;
          for (const e of batch) {
            if (e.stream !== stream) {
              await flush(stream === 'stderr' ? process.stderr : process.stdout, parts);
              parts = [];
              stream = e.stream;
            }
            parts.push(renderLogEntry(e, !!opts.timestamps));
          }
          await flush(stream === 'stderr' ? process.stderr : process.stdout, parts);
        }
      } finally {
        process.off('SIGINT', stop);
      }
    });

  parent
    .command('rename')
    .description('Rename a container')
    .argument('<container>')
    .argument('<new-name>')
    .action(async (word: string, name: string, opts: RootOpt) => {
      const c = await open(opts);
      const v = await c.find(word);
      await c.rename(v.record.Id, name);
    });

  parent
    .command('top')
    .description('Display the running processes of a container (the host\'s ps, default -ef)')
    .argument('<container>')
    .argument('[ps-options...]')
    .allowUnknownOption()
    .action(async (word: string, psArgs: string[], opts: RootOpt) => {
      const { top, renderTop } = await import('../containers/top.js');
      const c = await open(opts);
      process.stdout.write(renderTop(await top(c, word, psArgs.length ? psArgs : ['-ef'])));
    });

  parent
    .command('commit')
    .description("Create a new image from a container's changes")
    .argument('<container>')
    .argument('[repository]', 'REPOSITORY[:TAG] for the new image')
    .option('-a, --author <author>', 'author (e.g., "John Hannibal Smith <hannibal@a-team.com>")')
    .option('-m, --message <message>', 'commit message')
    .option('-c, --change <instruction>', 'apply a Dockerfile instruction to the created image; repeatable', collect, [])
    .option('-p, --pause', 'pause the container during commit (default; -p=false reads it running)')
    .option('--no-pause', 'do not pause the container during commit (-p=false)')
    .action(async (word: string, repo: string | undefined, opts: RootOpt & { author?: string; message?: string; change: string[]; pause?: boolean }) => {
      const { commitContainer } = await import('../containers/commit.js');
      const c = await open(opts);
      const img = await commitContainer(c, word, { changes: opts.change, pause: opts.pause !== false, ...(repo ? { tag: repo } : {}), ...(opts.author ? { author: opts.author } : {}), ...(opts.message ? { message: opts.message } : {}) });
      out(img.id);
    });

  parent
    .command('attach')
    .description("Attach to a running container's output (and its terminal's input, for -t)")
    .argument('<container>')
    .option('--no-stdin', 'do not attach STDIN')
    .option('--detach-keys <keys>', 'override the key sequence for detaching a container')
    .option('--sig-proxy', 'accepted (signals are not forwarded by attach yet)')
    .action(async (word: string, opts: RootOpt & { stdin: boolean; detachKeys?: string }) => {
      const { attachContainer } = await import('./container-attach.js');
      process.exitCode = await attachContainer(await open(opts), word, { noStdin: !opts.stdin, ...(opts.detachKeys !== undefined ? { detachKeys: opts.detachKeys } : {}) });
    });

  parent
    .command('cp')
    .description('Copy files/folders between a container and the local filesystem (CONTAINER:SRC DEST|- or SRC CONTAINER:DEST)')
    .argument('<src>')
    .argument('<dest>')
    .option('-L, --follow-link', 'always follow symbol link in SRC_PATH')
    .option('-a, --archive', 'archive mode (owners are always kept)')
    .action(async (src: string, dest: string, opts: RootOpt & { followLink?: boolean }) => {
      const { copyFromContainer, copyTarToContainer, copyToContainer } = await import('../containers/cp.js');
      const split = (s: string) => {
        const m = /^([^/:][^:]*):(.*)$/.exec(s);
        return m ? { ctr: m[1]!, path: m[2]! || '/' } : undefined;
      };
      const from = split(src);
      const to = split(dest);
      if ((from && to) || (!from && !to)) throw new TsbuildError('USAGE', 'must specify at least one container source (and not two)', undefined, 1);
      const c = await open(opts);
      if (from) await copyFromContainer(c, from.ctr, from.path, dest, { followLink: !!opts.followLink });
      else {
        if (src === '-') await copyTarToContainer(c, to!.ctr, process.stdin, to!.path);
        else await copyToContainer(c, to!.ctr, src, to!.path);
      }
    });

  parent
    .command('diff')
    .description("Inspect changes to files or directories on a container's filesystem")
    .argument('<container>')
    .action(async (word: string, opts: RootOpt) => {
      const { containerChanges } = await import('../containers/fs-diff.js');
      const c = await open(opts);
      for (const ch of await containerChanges(c, word)) out(`${ch.kind} ${ch.path}`);
    });

  const ps = parent
    .command(inGroup ? 'ls' : 'ps')
    .description('List containers')
    .option('-a, --all', 'show all containers (default shows just running)')
    .option('-q, --quiet', 'only display container IDs')
    .option('-n, --last <n>', 'show n last created containers (includes all states)', integer('--last'))
    .option('-l, --latest', 'show the latest created container (includes all states)')
    .option('--no-trunc', "don't truncate output")
    .option('-s, --size', 'display total file sizes (not computed by tsbuild)')
    .option('--format <format>', 'pretty-print containers using a Go template')
    .option('-f, --filter <filter>', 'filter output: status=, name=, ancestor=, label=, id=; repeatable', collect, [])
    .action(async (opts: RootOpt & { all?: boolean; quiet?: boolean; last?: number; latest?: boolean; trunc: boolean; format?: string; filter: string[] }) => {
      const { renderPs } = await import('../containers/status-text.js');
      const { summary } = await import('../containers/inspect.js');
      const { psFilter } = await import('../containers/ps-filter.js');
      const c = await open(opts);
      const keep = await psFilter(opts.filter, c.store);
      let list = (await c.list()).filter(keep);
      const last = opts.latest ? 1 : opts.last !== undefined && opts.last >= 0 ? opts.last : undefined;
      if (last !== undefined) list = list.slice(0, last);
      else if (!opts.all && !keep.impliesAll) list = list.filter((x) => x.state.Running);
      writeOut(renderPs(list.map(summary), { ...(opts.format ? { format: opts.format } : {}), quiet: !!opts.quiet, noTrunc: !opts.trunc }));
    });
  if (inGroup) ps.aliases(['ps', 'list']);
}

/** What the monitor runs when the container ends (--rm's removal, the rules of published ports). */
async function exitOpts(c: Containers, id: string): Promise<{ exitCommand: string[]; exitEnv: string[] }> {
  const { cleanupCommand } = await import('./container-run.js');
  const env = [`PATH=${process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin'}`];
  // tests only: hold the exit command back, to race a later start/rm against it
  if (process.env.TSBUILD_TEST_CLEANUP_DELAY_MS) env.push(`TSBUILD_TEST_CLEANUP_DELAY_MS=${process.env.TSBUILD_TEST_CLEANUP_DELAY_MS}`);
  return { exitCommand: cleanupCommand(c.paths.root, id), exitEnv: env };
}

async function startOrThrow<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof TsbuildError && (e.exitCode === 126 || e.exitCode === 127)) {
      throw new TsbuildError(e.code, `failed to create task: unable to start container process: ${e.message}`, e.location, e.exitCode);
    }
    throw e;
  }
}

/** `inspect`: containers first, then images, as docker's untyped inspect. */
export function addInspect(parent: Command, only?: 'container' | 'image'): void {
  parent
    .command('inspect')
    .description(only === 'image' ? 'Show images as JSON' : only === 'container' ? 'Show containers as JSON' : 'Show containers or images as JSON')
    .argument('<name...>')
    .option('-f, --format <format>', 'format the output using the given Go template')
    .addOption(new Option('--type <type>', 'only this kind of object').choices(['container', 'image']))
    .option('-s, --size', 'display total file sizes (not computed by tsbuild)')
    .action(async (names: string[], opts: RootOpt & { format?: string; type?: 'container' | 'image' }) => {
      const { isTsbuildError } = await import('../errors.js');
      const { inspectObject, toGoValue } = await import('../containers/inspect.js');
      const { imageInspectObject } = await import('./images.js');
      const { renderGoTemplate } = await import('../format/go-template.js');
      const kind = only ?? opts.type;
      const c = await open(opts);
      const found: unknown[] = [];
      let failed = false;
      for (const n of names) {
        let obj: Record<string, unknown> | undefined;
        if (kind !== 'image') {
          try {
            obj = inspectObject(await c.find(n), c);
          } catch (e) {
            if (!(isTsbuildError(e) && e.code === 'NOT_FOUND')) throw e;
          }
        }
        if (!obj && kind !== 'container') {
          const img = await c.store.getImage(n).catch(() => undefined);
          if (img) obj = await imageInspectObject(c.store, img);
        }
        if (!obj) {
          process.stderr.write(`Error: No such ${kind ?? 'object'}: ${n}\n`);
          failed = true;
          continue;
        }
        found.push(obj);
      }
      if (opts.format) {
        try {
          for (const o of found) out(renderGoTemplate(opts.format.replace(/^json$/, '{{json .}}'), toGoValue(o)));
        } catch (e) {
          if (isTsbuildError(e)) throw new TsbuildError('USAGE', `template parsing error: ${e.message}`);
          throw e;
        }
      } else out(JSON.stringify(found, null, 4));
      if (failed) process.exitCode = 1;
    });
}

/**
 * `rm -v` is docker's --volumes, but commander would take `-v` for the program's --version
 * wherever it stands: for `[container] rm|remove`, `-v` (alone or among bool shorthands, `-fv`)
 * becomes `--volumes` before parsing.
 */
export function rmVolumesFlag(argv: readonly string[]): string[] {
  const out = [...argv];
  const i = verbIndex(out);
  if (out[i] !== 'rm' && !(out[i] === 'remove' && out[i - 1] === 'container')) return out;
  for (let k = i + 1; k < out.length; k++) {
    const a = out[k]!;
    if (a === '--') break;
    if (a === '--root') k++;
    else if (/^-[fv]+$/.test(a) && a.includes('v')) {
      const rest = a.replace(/v/g, '').slice(1);
      out.splice(k, 1, '--volumes', ...(rest ? [`-${rest}`] : []));
    }
  }
  return out;
}

/** Where the verb is in ARGV: after `--root DIR` and a `container` group word. */
function verbIndex(argv: readonly string[]): number {
  let i = 2;
  for (; i < argv.length; i++) {
    if (argv[i] === '--root') i++;
    else if (!argv[i]!.startsWith('--root=')) break;
  }
  return argv[i] === 'container' ? i + 1 : i;
}

/** `commit --pause=false` / `-p=false` (pflag's bool syntax, which commander lacks) become
 *  `--no-pause`, `=true` plain `--pause`; any other value is left for commander to refuse. */
export function commitPauseFlag(argv: readonly string[]): string[] {
  const at = verbIndex(argv);
  if (argv[at] !== 'commit') return [...argv];
  const end = argv.indexOf('--', at);
  return argv.map((a, k) => {
    const m = k > at && (end < 0 || k < end) ? /^(?:--pause|-p)=(true|false|1|0)$/.exec(a) : null;
    return m ? (m[1] === 'true' || m[1] === '1' ? '--pause' : '--no-pause') : a;
  });
}

export function registerContainerCommands(program: Command): void {
  addVerbs(program, false);
  addInspect(program);
  addPortCommand(program);
  addStatsCommand(program);
  addUpdateCommand(program);
  addPauseCommands(program);
  const group = program.command('container').description('Manage containers');
  addVerbs(group, true);
  addInspect(group, 'container');
  addPortCommand(group);
  addStatsCommand(group);
  addUpdateCommand(group);
  addPauseCommands(group);
  addVolumeCommands(program);
  group
    .command('prune')
    .description('Remove all stopped containers')
    .option('-f, --force', 'do not prompt (tsbuild never prompts)')
    .action(async (opts: RootOpt) => {
      const c = await open(opts);
      const ids = await c.prune();
      if (ids.length) process.stdout.write(`Deleted Containers:\n${ids.join('\n')}\n\n`);
      out('Total reclaimed space: 0B');
    });
  group
    .command('cleanup', { hidden: true })
    .description("what a container's monitor runs after the container ended")
    .argument('<id>')
    .action(async (id: string, opts: RootOpt) => {
      const delay = Number(process.env.TSBUILD_TEST_CLEANUP_DELAY_MS ?? 0);
      if (delay > 0) await new Promise((r) => setTimeout(r, delay));
      const c = await open(opts);
      await c.cleanup(id, await exitOpts(c, id));
    });
  // run/create/exec are parsed by container-run.ts and container-exec.ts (see main.ts); listed here for help output
  for (const [name, what] of [
    ['run', 'Create and run a new container from an image'],
    ['create', 'Create a new container'],
    ['exec', 'Run a command in a running container'],
  ] as const) {
    for (const p of [program, group]) {
      p.command(name).description(what).argument('<image>').argument('[command...]').allowUnknownOption().action(() => {});
    }
  }
}
