/**
 * `ADD <git URL>[#ref[:subdir]] <dest>`: the repository at a ref, checked out into a scratch dir and
 * then copied like a build context (its files owned by root, modes kept, `.git` left out unless
 * --keep-git-dir). The cache key is the commit the ref names (asked with `git ls-remote`, so an
 * unchanged branch is never fetched again), never the URL's moving ref.
 * git runs with no system or user config, no prompts, no file:// or ext:: transports, and the URL
 * after `--`; the subdir is resolved inside the checkout (CVE-2026-33748 class).
 *
 * git over ssh (`git@host:repo.git`, `ssh://`) authenticates only with the SSH agent forwarded by
 * `--ssh default[=SOCKET]`, as BuildKit's git source does: ssh runs with `-F /dev/null` (neither
 * ~/.ssh/config nor /etc/ssh/ssh_config, so no ProxyCommand, IdentityFile or ControlPath of the
 * host's), no identity files of its own, no prompts. Without `--ssh` the build stops and says so.
 * Host keys: BuildKit ssh-keyscans the host when the build starts (trust on first use) or else
 * turns checking off; tsbuild checks strictly against the user's ~/.ssh/known_hosts and
 * /etc/ssh/ssh_known_hosts, so a spoofed host cannot serve a repository into an image.
 */
import { spawn } from 'node:child_process';
import { mkdir, readdir, lstat, lutimes } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, posix } from 'node:path';
import { TsbuildError } from '../../errors.js';

/** How git may reach the remote. */
export interface GitAccess {
  /** The agent socket forwarded with `--ssh default` (the only credentials for ssh URLs). */
  sshAgent?: string;
}

export interface GitSource {
  /** The URL without its fragment. */
  url: string;
  /** Branch, tag or commit; undefined = the remote's HEAD. */
  ref?: string;
  /** Path inside the repository ('' = its root), cleaned to stay inside. */
  subdir: string;
}

/** The URL as it may be shown (history, errors, cache keys): any `user:password@` removed. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@]*@/i, '$1');
}

/** Splits `URL#ref:subdir`; a URL that could be read as a git option is refused. */
export function parseGitSource(src: string): GitSource {
  const hash = src.indexOf('#');
  const url = hash < 0 ? src : src.slice(0, hash);
  const frag = hash < 0 ? '' : src.slice(hash + 1);
  if (url.startsWith('-')) throw new TsbuildError('INVALID', `invalid git URL ${JSON.stringify(src)}`);
  const colon = frag.indexOf(':');
  const ref = (colon < 0 ? frag : frag.slice(0, colon)) || undefined;
  const rawSub = colon < 0 ? '' : frag.slice(colon + 1);
  if (ref !== undefined && (ref.startsWith('-') || /[\s~^:?*[\\]/.test(ref))) {
    throw new TsbuildError('INVALID', `invalid git ref ${JSON.stringify(ref)} in ${src}`);
  }
  const subdir = posix.normalize('/' + rawSub).slice(1).replace(/\/$/, '');
  return { url, ...(ref !== undefined ? { ref } : {}), subdir };
}

/** True when git reaches this URL with ssh (`ssh://`, `git+ssh://`, scp-like `user@host:path`). */
export function isSshUrl(url: string): boolean {
  return !/^(git|https?|file):\/\//i.test(url);
}

/** The commit `ref` names on the remote (a full commit id is taken as it is). */
export async function resolveCommit(g: GitSource, scratch: string, access: GitAccess = {}): Promise<string> {
  if (isSshUrl(g.url) && !access.sshAgent) {
    throw new TsbuildError(
      'INVALID',
      `ADD ${redactUrl(g.url)}: git over ssh uses only an SSH agent forwarded with --ssh default (or --ssh default=SOCKET); the builder's own keys and ssh config are never used`,
    );
  }
  if (g.ref && /^[0-9a-f]{40}$/.test(g.ref)) return g.ref;
  const want = g.ref ?? 'HEAD';
  const out = await git(['ls-remote', '--', g.url, want, `refs/heads/${want}`, `refs/tags/${want}`, `refs/tags/${want}^{}`], scratch, access);
  const lines = out.split('\n').filter(Boolean).map((l) => l.split('\t') as [string, string]);
  // a peeled annotated tag names the commit; otherwise the first match
  const pick = lines.find(([, n]) => n.endsWith('^{}')) ?? lines[0];
  if (!pick) throw new TsbuildError('NOT_FOUND', `git ref ${JSON.stringify(want)} not found in ${redactUrl(g.url)}`);
  return pick[0];
}

/** Fetches `commit` into `dir` and checks it out; file times are set to the commit's time. */
export async function checkoutCommit(g: GitSource, commit: string, dir: string, access: GitAccess = {}): Promise<void> {
  await mkdir(dir, { recursive: true });
  await git(['init', '-q', '.'], dir);
  const want = g.ref && !/^[0-9a-f]{40}$/.test(g.ref) ? g.ref : commit;
  try {
    await git(['fetch', '-q', '--depth', '1', '--no-tags', '--', g.url, want], dir, access);
  } catch (e) {
    if (e instanceof TsbuildError && e.code === 'INVALID') throw e; // an unknown host key stays unknown
    // servers that refuse shallow fetches of a ref name or a bare commit: fetch everything
    await git(['fetch', '-q', '--no-tags', '--', g.url, '+refs/heads/*:refs/remotes/origin/*', '+refs/tags/*:refs/tags/*'], dir, access);
  }
  await git(['-c', 'advice.detachedHead=false', 'checkout', '-q', commit], dir);
  const time = Number((await git(['log', '-1', '--format=%ct', commit], dir)).trim());
  if (Number.isFinite(time)) await touchTree(dir, time);
}

async function touchTree(dir: string, seconds: number): Promise<void> {
  for (const name of await readdir(dir)) {
    const p = join(dir, name);
    const st = await lstat(p);
    if (st.isDirectory()) await touchTree(p, seconds);
    await lutimes(p, seconds, seconds);
  }
  await lutimes(dir, seconds, seconds);
}

/** Credentials in any URL inside a message (git quotes the URL in its errors). */
function redactAll(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/)[^/@\s]*@/gi, '$1').replace(/[^\s/@:'"]+:[^\s/@'"]+@/g, '');
}

/** ssh as git runs it: none of the host's ssh config or keys, only the agent, strict host keys. */
export function gitSshCommand(knownHosts: string): string {
  // ssh splits and unquotes -o values itself and expands %-tokens in file names: a path it could
  // misread is left out (only the global file is used then)
  const file = (p: string) => (/^[\w./@+,:-]+$/.test(p) ? p : 'none');
  const opts = [
    'IdentityFile=/dev/null', // given at all, it replaces the default ~/.ssh/id_* (and is no key)
    'IdentityAgent=SSH_AUTH_SOCK',
    'BatchMode=yes',
    'StrictHostKeyChecking=yes',
    `UserKnownHostsFile=${file(knownHosts)}`,
    'GlobalKnownHostsFile=/etc/ssh/ssh_known_hosts',
    'UpdateHostKeys=no',
    'ForwardAgent=no',
    'ControlMaster=no',
    'ControlPath=none',
    'PasswordAuthentication=no',
    'KbdInteractiveAuthentication=no',
  ];
  return ['ssh', '-F', '/dev/null', ...opts.flatMap((o) => ['-o', o])].join(' ');
}

function git(args: string[], cwd: string, access: GitAccess = {}): Promise<string> {
  const knownHosts = join(homedir(), '.ssh', 'known_hosts');
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: cwd,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_TERMINAL_PROMPT: '0',
    GIT_ASKPASS: '/bin/false',
    GIT_PROTOCOL_FROM_USER: '0',
    GIT_SSH_COMMAND: gitSshCommand(knownHosts),
    GIT_SSH_VARIANT: 'ssh',
    ...(access.sshAgent ? { SSH_AUTH_SOCK: access.sshAgent } : {}),
  };
  const safety = ['-c', 'protocol.file.allow=never', '-c', 'protocol.ext.allow=never', '-c', 'core.hooksPath=/dev/null'];
  return new Promise((resolve, reject) => {
    const child = spawn('git', [...safety, ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', (e) => reject(new TsbuildError('RUNTIME', `git is needed for ADD of a git repository: ${e.message}`)));
    child.on('close', (code) => {
      if (code === 0) resolve(out);
      else if (/Host key verification failed/.test(err)) {
        reject(
          new TsbuildError(
            'INVALID',
            `git ${args[0]} failed: the remote's ssh host key is not in ${knownHosts} or /etc/ssh/ssh_known_hosts (tsbuild checks host keys strictly: add the host's key there once you have checked its fingerprint)`,
          ),
        );
      } else {
        // the first line that says what went wrong (git ends with generic advice)
        const lines = err.split('\n').map((l) => l.trim()).filter(Boolean);
        const why = lines.find((l) => /^(ssh|fatal|error):/.test(l)) ?? lines.pop() ?? `exit ${code}`;
        reject(new TsbuildError('NOT_FOUND', `git ${args[0]} failed: ${redactAll(why)}`));
      }
    });
  });
}
