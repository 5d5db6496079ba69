/**
 * `tsbuild exec` (also `container exec`): docker's flag syntax — flags only before CONTAINER,
 * everything after COMMAND belongs to the command (`exec c ls -la`) — and docker's exit codes:
 * the process's own, 126 when it cannot be started, 1 for a container that is not running or a
 * missing argument, 125 for a bad flag. A process that cannot be started is reported in the
 * runtime's own words with no prefix, as docker exec prints them (`OCI runtime exec failed: ...`).
 */
import { TsbuildError } from '../errors.js';
import { parseLeadingFlags, type FlagTable } from './docker-flags.js';

export interface ExecFlags {
  detach: boolean;
  interactive: boolean;
  tty: boolean;
  privileged: boolean;
  env: string[];
  envFile: string[];
  user?: string;
  workdir?: string;
  detachKeys?: string;
  root?: string;
  help: boolean;
}

const FLAGS: FlagTable<ExecFlags> = {
  detach: { key: 'detach', kind: 'bool', short: 'd' },
  interactive: { key: 'interactive', kind: 'bool', short: 'i' },
  tty: { key: 'tty', kind: 'bool', short: 't' },
  privileged: { key: 'privileged', kind: 'bool' },
  help: { key: 'help', kind: 'bool' },
  env: { key: 'env', kind: 'list', short: 'e' },
  'env-file': { key: 'envFile', kind: 'list' },
  user: { key: 'user', kind: 'value', short: 'u' },
  workdir: { key: 'workdir', kind: 'value', short: 'w' },
  'detach-keys': { key: 'detachKeys', kind: 'value' },
  root: { key: 'root', kind: 'value' },
};

const USAGE = 'Usage:  tsbuild exec [OPTIONS] CONTAINER COMMAND [ARG...]\n\nRun a command in a running container';
const usageError = (msg: string) => new TsbuildError('USAGE', `${msg}\nSee 'tsbuild exec --help'.`, undefined, 125);

/** pflag's interspersed=false parsing, as docker exec's. */
export function parseExecArgs(argv: string[]): { flags: ExecFlags; container?: string; cmd: string[] } {
  const flags: ExecFlags = { detach: false, interactive: false, tty: false, privileged: false, help: false, env: [], envFile: [] };
  const i = parseLeadingFlags(argv, FLAGS, flags, usageError);
  return { flags, ...(argv[i] !== undefined ? { container: argv[i] } : {}), cmd: argv.slice(i + 1) };
}

export async function execCommand(argv: string[], root?: string): Promise<number> {
  const { flags, container, cmd } = parseExecArgs(argv);
  if (flags.help) {
    process.stdout.write(`\n${USAGE}\n\nOptions:\n  -d, --detach  -i, --interactive  -t, --tty  -e, --env list  --env-file list\n  -u, --user string  -w, --workdir string  --detach-keys string\n`);
    return 0;
  }
  if (container === undefined || cmd.length === 0) {
    throw new TsbuildError('USAGE', `"tsbuild exec" requires at least 2 arguments.\nSee 'tsbuild exec --help'.\n\n${USAGE}`, undefined, 1);
  }
  const [{ ImageStore }, { resolveRoot }, { Containers }, { execInContainer, BareExecError }, { readFileSync }] = await Promise.all([
    import('../image/store.js'),
    import('../image/root.js'),
    import('../containers/containers.js'),
    import('../containers/exec.js'),
    import('node:fs'),
  ]);
  const env: string[] = [];
  for (const file of flags.envFile) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      throw new TsbuildError('NOT_FOUND', `open ${file}: no such file or directory`, undefined, 1);
    }
    for (const line of text.split(/\r?\n/)) if (line.trim() && !line.trimStart().startsWith('#')) env.push(line.trimStart());
  }
  env.push(...flags.env);
  const c = new Containers(await ImageStore.open(resolveRoot(flags.root ?? root)));
  try {
    const r = await execInContainer(c, container, {
      cmd,
      env,
      ...(flags.user !== undefined ? { user: flags.user } : {}),
      ...(flags.workdir !== undefined ? { workdir: flags.workdir } : {}),
      tty: flags.tty,
      interactive: flags.interactive,
      detach: flags.detach,
      detachKeys: (await import('./container-tty.js')).parseDetachKeys(flags.detachKeys),
      inputIsTerminal: process.stdin.isTTY === true,
    });
    return r.exitCode;
  } catch (e) {
    if (!(e instanceof BareExecError)) throw e;
    process.stderr.write(`${e.message}\n`);
    return e.exitCode;
  }
}
