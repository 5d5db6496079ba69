/**
 * The registry commands: pull, push, login, logout. A pull or push is a step on the one event stream
 * (src/events.ts), rendered by the progress mode asked for: Docker's pull/push lines (redrawn in a
 * terminal, one per status change otherwise), rawjson, or quiet. Secrets are never printed.
 * The distribution client (HTTP, TLS, auth, pull, push, login) is imported only by the commands
 * that talk to a registry: every CLI start evaluates this module, most never need a registry.
 */
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import { TsbuildError } from '../errors.js';
import { parsePlatform } from '../image/platform.js';
import { familiarRepository, familiarString, formatReference, parseReference } from '../image/reference.js';
import { resolveRoot } from '../image/root.js';
import { ImageStore } from '../image/store.js';
import { EventHub } from '../events.js';
import { quietRenderer } from '../builder/progress/quiet.js';
import { rawjsonRenderer } from '../builder/progress/rawjson.js';
import { writeOut } from './write-out.js';

/** `opts.root`: the program's one `--root` (main.ts hands it to the command that runs). */
interface RootOpt {
  root?: string;
}

interface NetOpt {
  insecureRegistry?: string[];
}

// (straight to fd 1: a reader that went away, `images | head -1`, ends the output quietly)
const out = (s: string) => writeOut(s.endsWith('\n') ? s : `${s}\n`);
const collect = (v: string, prev: string[] = []) => [...prev, v];

function openStore(opts: RootOpt): Promise<ImageStore> {
  return ImageStore.open(resolveRoot(opts.root));
}

async function client(opts: NetOpt) {
  const { defaultRegistryClient } = await import('../registry/defaults.js');
  return defaultRegistryClient({ insecureHosts: opts.insecureRegistry ?? [] });
}

/** The transfer's stream, rendered on stdout as `--progress` (or `-q`) asks. */
async function stream(direction: 'pull' | 'push', quiet: boolean | undefined, progress = 'auto'): Promise<EventHub> {
  if (quiet || progress === 'quiet') return new EventHub(quietRenderer(process.stdout));
  if (progress === 'rawjson') return new EventHub(rawjsonRenderer(process.stdout));
  const { transferRenderer } = await import('../builder/progress/transfer.js');
  const tty = progress === 'tty' || (progress === 'auto' && !!process.stdout.isTTY);
  return new EventHub(transferRenderer(process.stdout, { direction, tty, columns: process.stdout.columns || 80 }));
}

/** Runs `work` as step `name` of `events`: done, or its error on the stream before it is thrown. */
async function step<T>(events: EventHub, name: string, work: (id: number) => Promise<T>): Promise<T> {
  const id = events.start(name);
  try {
    const r = await work(id);
    events.emit({ type: 'step-done', id });
    return r;
  } catch (e) {
    events.emit({ type: 'step-error', id, message: (e as Error).message });
    throw e;
  }
}

const PROGRESS = ['--progress <mode>', 'auto, tty (bars, redrawn), plain (a line per status), rawjson (JSON events), quiet', 'auto'] as const;

/** `https://host:5000/v2/` → `host:5000`; Docker Hub's names → `docker.io`. */
export function serverName(input: string | undefined): string {
  if (!input) return 'docker.io';
  const host = input.trim().replace(/^[a-z]+:\/\//i, '').replace(/\/.*$/, '');
  return ['index.docker.io', 'registry-1.docker.io', 'docker.io', ''].includes(host) ? 'docker.io' : host;
}

/** Registers the pull, push, login, logout commands (pull and push only, under `image`). */
export function registerRegistryCommands(program: Command, opts: { login: boolean } = { login: true }): void {
  const INSECURE = ['--insecure-registry <host>', 'talk plain HTTP to this registry (repeatable; also $TSBUILD_INSECURE_REGISTRIES)', collect] as const;

  program
    .command('pull')
    .description('Download an image from a registry')
    .argument('<name>', 'NAME[:TAG|@DIGEST]')
    .option('--platform <os/arch[/variant]>', 'platform to pick from a multi-platform image')
    .option('-q, --quiet', 'suppress the progress output')
    .option(...PROGRESS)
    .option(...INSECURE)
    .action(async (name: string, opts: RootOpt & NetOpt & { platform?: string; quiet?: boolean; progress?: string }) => {
      const ref = parseReference(name);
      const platform = opts.platform ? parsePlatform(opts.platform) : undefined;
      const store = await openStore(opts);
      const events = await stream('pull', opts.quiet, opts.progress);
      const c = await client(opts);
      try {
        const [{ pullImage }, { transferStatuses }] = await Promise.all([import('../registry/pull.js'), import('../builder/transfer-status.js')]);
        await step(events, `pulling ${formatReference(ref)}`, async (id) => {
          const say = (message: string) => events.emit({ type: 'message', id, message });
          if (!ref.digest && !parseReference(name, { defaultTag: false }).tag) say('Using default tag: latest');
          say(`${ref.digest ?? ref.tag}: Pulling from ${ref.path}`);
          const r = await pullImage(c, ref, store, { ...(platform ? { platform } : {}), onProgress: transferStatuses(events, id) });
          say(`Digest: ${r.digest}`);
          say(`Status: ${r.upToDate ? 'Image is up to date' : 'Downloaded newer image'} for ${familiarString(ref)}`);
          say(formatReference(ref));
        });
      } finally {
        c.close();
        await store.close();
      }
    });

  program
    .command('push')
    .description('Upload an image to a registry')
    .argument('<name>', 'NAME[:TAG]')
    .option('-q, --quiet', 'suppress the progress output')
    .option(...PROGRESS)
    .option(...INSECURE)
    .action(async (name: string, opts: RootOpt & NetOpt & { quiet?: boolean; progress?: string }) => {
      const ref = parseReference(name);
      if (ref.digest) throw new TsbuildError('USAGE', `cannot push a digest reference "${name}": push NAME[:TAG]`);
      const store = await openStore(opts);
      await store.resolve(name); // a missing image fails before any network traffic
      const events = await stream('push', opts.quiet, opts.progress);
      const c = await client(opts);
      try {
        const [{ pushImage }, { transferStatuses }] = await Promise.all([import('../registry/push.js'), import('../builder/transfer-status.js')]);
        await step(events, `pushing ${formatReference(ref)}`, async (id) => {
          const say = (message: string) => events.emit({ type: 'message', id, message });
          say(`The push refers to repository [${ref.domain === 'docker.io' ? `docker.io/${ref.path}` : familiarRepository(ref)}]`);
          const r = await pushImage(c, ref, store, { onProgress: transferStatuses(events, id) });
          say(`${ref.tag ?? 'latest'}: digest: ${r.digest} size: ${r.size}`);
        });
      } finally {
        c.close();
        await store.close();
      }
    });

  if (!opts.login) return;
  program
    .command('login')
    .description('Log in to a registry (credentials are stored in docker\'s config.json)')
    .argument('[server]', 'registry host (default: Docker Hub)')
    .option('-u, --username <user>', 'username')
    .option('-p, --password <password>', 'password (insecure: visible in the process list; prefer --password-stdin)')
    .option('--password-stdin', 'read the password from standard input')
    .option(...INSECURE)
    .action(async (server: string | undefined, opts: NetOpt & { username?: string; password?: string; passwordStdin?: boolean }) => {
      const host = serverName(server);
      let { username, password } = opts;
      if (password !== undefined && opts.passwordStdin) throw new TsbuildError('USAGE', '--password and --password-stdin are mutually exclusive');
      if (password !== undefined) process.stderr.write('WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n');
      if (opts.passwordStdin) {
        if (!username) throw new TsbuildError('USAGE', 'must provide --username with --password-stdin');
        const parts: Buffer[] = [];
        for await (const ch of process.stdin) parts.push(ch as Buffer);
        password = Buffer.concat(parts).toString('utf8').replace(/\r?\n$/, '');
      }
      if (username === undefined || password === undefined) {
        if (!process.stdin.isTTY) throw new TsbuildError('USAGE', 'cannot perform an interactive login from a non TTY device (use -u and --password-stdin)');
        if (username === undefined) username = await prompt('Username: ', false);
        if (password === undefined) password = await prompt('Password: ', true);
      }
      if (!username) throw new TsbuildError('USAGE', 'a username is required');
      if (!password) throw new TsbuildError('USAGE', 'a password is required');
      const { login } = await import('../registry/login.js');
      const { insecureHostsFromEnv } = await import('../registry/defaults.js');
      await login(host, { username, password }, { insecureHosts: [...(opts.insecureRegistry ?? []), ...insecureHostsFromEnv()] });
      out('Login Succeeded');
    });

  program
    .command('logout')
    .description('Forget the stored credentials of a registry')
    .argument('[server]', 'registry host (default: Docker Hub)')
    .action(async (server: string | undefined) => {
      const host = serverName(server);
      const { logout } = await import('../registry/login.js');
      if (await logout(host)) out(`Removing login credentials for ${host}`);
      else out(`Not logged in to ${host}`);
    });
}

/** Reads one line from the terminal; `hidden` does not echo it. */
async function prompt(question: string, hidden: boolean): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  if (hidden) {
    const r = rl as unknown as { _writeToOutput: (s: string) => void };
    r._writeToOutput = (s: string) => {
      if (s.includes(question)) process.stderr.write(question);
    };
  }
  try {
    return await new Promise<string>((resolve) => rl.question(question, resolve));
  } finally {
    if (hidden) process.stderr.write('\n');
    rl.close();
  }
}
