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
import { registerParse } from './parse.js';
import { registerBuild } from './build.js';
import { registerImageCommands } from './images.js';
import { registerRegistryCommands } from './registry.js';
import { rmVolumesFlag, registerContainerCommands } from './containers.js';

export async function main(argv: string[]): Promise<number> {
  // bin/tsbuild kept NODE_EXTRA_CA_CERTS from Node's start; TLS clients trust it from here
  adoptLauncherCaFile();
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
  const program = new Command();
  program
    .name('tsbuild')
    .description('A daemonless Dockerfile build engine')
    .version(packageVersion(), '-v, --version', 'print the tsbuild version')
    .option('--root <dir>', 'image store location for any command (default: $TSBUILD_ROOT, else a per-user default)')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  // `--root` is accepted before or after the command name; commands resolve it through TSBUILD_ROOT
  program.hook('preAction', () => {
    const root = program.opts<{ root?: string }>().root;
    if (root) process.env.TSBUILD_ROOT = resolve(root);
  });
  registerBuild(program);
  registerParse(program);
  registerImageCommands(program);
  registerRegistryCommands(program);
  registerContainerCommands(program);
  try {
    await program.parseAsync(rmVolumesFlag(argv));
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    return reportError(e);
  }
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

/** Turns any thrown value into a message on stderr and an exit code. */
export function reportError(e: unknown): number {
  if (e instanceof CommanderError) {
    // commander has already printed its message (or help, for which the code is 0)
    return e.exitCode === 0 ? 0 : 2;
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
