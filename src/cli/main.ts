/**
 * The CLI edge: builds the commander program from one module per command group, runs it, and is
 * the only place that turns errors into messages and exit codes.
 */
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { isTsbuildError } from '../errors.js';
import { adoptLauncherCaFile } from '../registry/trusted-cas.js';
import { addInspect, commitPauseFlag, rmVolumesFlag, registerContainerCommands } from './containers.js';
import { addNetworkCommands } from './container-networks.js';

/** True in the containers-only bundle (scripts/bundle.mjs), which bin/tsbuild.js runs for the
 *  container commands only; undefined elsewhere. */
declare const __TSBUILD_CONTAINERS_BUNDLE__: boolean | undefined;
/** True in the build-only bundle, which bin/tsbuild.js runs for `tsbuild build ...` only;
 *  undefined elsewhere. */
declare const __TSBUILD_BUILD_BUNDLE__: boolean | undefined;

// (the bundle flags are tested where they are used, never through a variable: esbuild folds them
// there and drops the branches a bundle leaves out, with the modules only those branches import)

export async function main(argv: string[]): Promise<number> {
  // bin/tsbuild kept NODE_EXTRA_CA_CERTS from Node's start; TLS clients trust it from here
  adoptLauncherCaFile();
  if (typeof __TSBUILD_BUILD_BUNDLE__ === 'undefined' || !__TSBUILD_BUILD_BUNDLE__) {
    // run/create/exec take docker's flag syntax (flags only before IMAGE/CONTAINER), parsed by
    // container-run.ts and container-exec.ts
    const run = containerRunRoute(argv);
    if (run) {
      try {
        if (run.cmd === 'exec') return await (await import('./container-exec.js')).execCommand(run.args, run.root);
        return await (await import('./container-run.js')).runContainerCommand(run.cmd, run.args, run.root);
      } catch (e) {
        return reportError(e);
      }
    }
  }
  const word = commandWord(argv);
  if ((typeof __TSBUILD_BUILD_BUNDLE__ !== 'undefined' && __TSBUILD_BUILD_BUNDLE__) || (word === 'build' && (typeof __TSBUILD_CONTAINERS_BUNDLE__ === 'undefined' || !__TSBUILD_CONTAINERS_BUNDLE__))) {
    // `build` alone, the command that runs most: the program needs no other command to parse its
    // line or to show its help (a command's help names none of its siblings); making the container
    // groups and then the whole program (~130 commands with their options) was 5-10 ms of a build's
    // start in CPU profiles. (The container commands' argument rewriting leaves a build's alone.)
    const program = newProgram();
    const { registerBuild } = await import('./build.js');
    registerBuild(program);
    return parse(program, argv);
  } else {
    return parseWhole(argv, word);
  }
}

/** Any command but `build`: the container groups, and for any other command (and the help that lists
 *  them all) the whole program, in its order. */
async function parseWhole(argv: string[], word: string | undefined): Promise<number> {
  // a container command (`ps`, `stop`, ...) needs only the container groups: the builder's, the
  // images' and the registry's modules stay unevaluated
  let program = newProgram();
  registerContainerCommands(program);
  addNetworkCommands(program);
  // (not in the containers-only bundle, which leaves the builder out: half the code to load)
  if (typeof __TSBUILD_CONTAINERS_BUNDLE__ === 'undefined' || !__TSBUILD_CONTAINERS_BUNDLE__) {
    if (!word || !program.commands.some((c) => c.name() === word || c.aliases().includes(word))) {
      const [{ registerBuild }, { registerParse }, { registerImageCommands }, { registerRegistryCommands }] = await Promise.all([
        import('./build.js'),
        import('./parse.js'),
        import('./images.js'),
        import('./registry.js'),
      ]);
      program = newProgram();
      registerBuild(program);
      registerParse(program);
      registerImageCommands(program);
      registerRegistryCommands(program);
      registerContainerCommands(program);
      addNetworkCommands(program);
      // `docker image ls|rm|build|...`: the same commands under the management group
      const image = program.command('image').description('Manage images');
      registerBuild(image, { isDefault: false });
      registerImageCommands(image, { group: true });
      registerRegistryCommands(image, { login: false });
      addInspect(image, 'image');
    }
  }
  return parse(program, commitPauseFlag(rmVolumesFlag(argv)));
}

async function parse(program: Command, argv: string[]): Promise<number> {
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    return reportError(e);
  }
}

/** The program with its global options; the caller adds the commands. */
function newProgram(): Command {
  const program = new Command();
  program
    .name('tsbuild')
    .description('A daemonless Dockerfile build engine')
    .version(packageVersion(), '-v, --version', 'print the tsbuild version')
    .option('--root <dir>', 'image store location for any command (default: $TSBUILD_ROOT, else a per-user default)')
    // commands made after this inherit both: misuse is reported by misuse() below, not by commander
    .exitOverride(function (this: Command, err: CommanderError) {
      throw misuse(this, err);
    })
    .configureOutput({ writeErr: (s) => process.stderr.write(s), outputError: () => {} })
    // every command's help lists the one --root
    .configureHelp({ showGlobalOptions: true });
  // `--root` is declared once, here, and accepted before or after the command name; the command
  // that runs finds it among its own options (as `opts.root`), resolved
  program.hook('preAction', (_program, command) => {
    const root = program.opts<{ root?: string }>().root;
    if (root && command.getOptionValue('root') === undefined) command.setOptionValue('root', resolve(root));
  });
  return program;
}

/** The command's name: the first word after the global options (`--root DIR`), if any. */
function commandWord(argv: string[]): string | undefined {
  for (let i = 2; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--root') i++;
    else if (!a.startsWith('-')) return a;
    else if (!a.startsWith('--root=')) return undefined;
  }
  return undefined;
}

/** `[--root DIR] [container] run|create|exec ARGS...` → the command and its own words. */
function containerRunRoute(argv: string[]): { cmd: 'run' | 'create' | 'exec'; args: string[]; root?: string } | undefined {
  let root: string | undefined;
  let group = false;
  for (let i = 2; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--root' && i + 1 < argv.length) root = resolve(argv[++i]!);
    else if (a.startsWith('--root=')) root = resolve(a.slice(7));
    else if (a === 'container' && !group) group = true;
    else if (a === 'run' || a === 'create' || a === 'exec') return { cmd: a, args: argv.slice(i + 1), ...(root ? { root } : {}) };
    else return undefined;
  }
  return undefined;
}

/** The version in package.json (src/cli/ and dist/cli/ are both two levels below the root). */
function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'package.json'), 'utf8')) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/** A misused command line, worded and numbered as Docker's CLI does it. */
export class MisuseError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

/**
 * Docker's rule for misuse: a flag it cannot parse (unknown, missing its value, a value not among
 * the choices) exits 125 with `unknown flag: --foo` and where to look; a wrong number of arguments
 * exits 1 with `"docker tag" requires exactly 2 arguments.` and the usage. Help and --version pass.
 */
function misuse(cmd: Command, err: CommanderError): Error {
  if (err.exitCode === 0) return err;
  const path: string[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) path.unshift(c.name());
  const name = path.join(' ');
  const see = `See '${name} --help'.`;
  const detail = err.message.replace(/^error: /, '');
  switch (err.code) {
    // a group (`image`, `container`, `network`, ...) without its subcommand: commander has shown
    // the group's help on stderr, and Docker exits 0 there
    case 'commander.help':
      return new MisuseError('', 0);
    case 'commander.unknownCommand': {
      const word = /'([^']+)'/.exec(detail)?.[1] ?? detail;
      return new MisuseError(`tsbuild: unknown command: ${name} ${word}\n\nUsage:  ${name}\n\nRun '${name} --help' for more information`, 1);
    }
    case 'commander.unknownOption': {
      const flag = /'([^']+)'/.exec(detail)?.[1] ?? detail;
      return new MisuseError(`unknown flag: ${flag}\n${see}`, 125);
    }
    case 'commander.optionMissingArgument': {
      const flag = /'(-[^ ']+)/.exec(detail)?.[1]?.replace(/,$/, '') ?? detail;
      return new MisuseError(`flag needs an argument: ${flag}\n${see}`, 125);
    }
    case 'commander.invalidArgument': {
      // pflag's wording: invalid argument "foo" for "--progress" flag: ...
      const m = /^option '(-[^ ',]+)(?:, (--[^ ']+))?[^']*' argument '([^']*)' is invalid\. ?(.*)$/s.exec(detail);
      const why = m?.[4] ? `: ${m[4].charAt(0).toLowerCase()}${m[4].slice(1).replace(/\.$/, '')}` : '';
      return new MisuseError(m ? `invalid argument "${m[3]}" for "${m[2] ? `${m[1]}, ${m[2]}` : m[1]}" flag${why}\n${see}` : `${detail}\n${see}`, 125);
    }
    case 'commander.missingArgument':
    case 'commander.excessArguments': {
      const args = cmd.registeredArguments;
      const min = args.filter((a) => a.required).length;
      const max = args.some((a) => a.variadic) ? Infinity : args.length;
      const n = (k: number) => `${k} argument${k === 1 ? '' : 's'}`;
      const rule =
        max === 0 ? 'accepts no arguments' : min === max ? `requires exactly ${n(min)}` : err.code === 'commander.missingArgument' ? `requires at least ${n(min)}` : `requires at most ${n(max)}`;
      const usage = `Usage:  ${name} ${cmd.usage()}`;
      return new MisuseError(`"${name}" ${rule}.\n${see}\n\n${usage}\n\n${cmd.description()}`, 1);
    }
    default:
      return new MisuseError(`${detail}\n${see}`, 125);
  }
}

/** Turns any thrown value into a message on stderr and an exit code. */
export function reportError(e: unknown): number {
  if (e instanceof MisuseError) {
    if (e.message) process.stderr.write(`${e.message}\n`);
    return e.exitCode;
  }
  if (e instanceof CommanderError) {
    // help or --version, which commander has printed
    return e.exitCode === 0 ? 0 : 125;
  }
  if (isTsbuildError(e)) {
    // A located error is one line `file:line:col: what is wrong`, as editors and CI logs link it.
    process.stderr.write(e.location ? `${e.format()}\n` : `tsbuild: ${e.message}\n`);
    return e.exitCode;
  }
  const err = e as Error;
  process.stderr.write(`tsbuild: internal error: ${err?.stack ?? String(e)}\n`);
  return 70;
}

// Run directly (tests and development: `node --import tsx src/cli/main.ts ...`). Inside the bundle
// import.meta.url is the bundle's own file, which bin/tsbuild.js runs without naming it in argv,
// so main() runs once: called by the launcher.
if (import.meta.url === `file://${process.argv[1]}`) {
  main(process.argv).then((code) => {
    process.exitCode = code;
  });
}
