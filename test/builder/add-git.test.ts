/** ADD of a git repository, served by a real `git daemon` on 127.0.0.1. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync, chmodSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createConnection, createServer } from 'node:net';
import { buildFiles, buildFails, makeBaseStore, type TempStore } from '../helpers/build.js';
import { freePort } from '../helpers/registry-server.js';
import { parseGitSource, redactUrl } from '../../src/builder/steps/add-git.js';
import { projectRoot } from '../helpers/cli.js';

let s: TempStore;
let dir: string;
let daemon: ChildProcess;
let url: string;

const git = (cwd: string, ...args: string[]) =>
  execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', ...args], { cwd, env: { ...process.env, GIT_CONFIG_NOSYSTEM: '1', HOME: cwd } }).toString().trim();

before(async () => {
  s = await makeBaseStore();
  dir = mkdtempSync(join(tmpdir(), 'tsb-git-'));
  const work = join(dir, 'work');
  mkdirSync(join(work, 'sub', 'deeper'), { recursive: true });
  writeFileSync(join(work, 'README'), 'top\n');
  writeFileSync(join(work, 'sub', 'a.txt'), 'a\n');
  writeFileSync(join(work, 'sub', 'run.sh'), '#!/bin/sh\necho hi\n');
  chmodSync(join(work, 'sub', 'run.sh'), 0o755);
  writeFileSync(join(work, 'sub', 'deeper', 'b.txt'), 'b\n');
  symlinkSync('/etc', join(work, 'escape'));
  git(work, 'init', '-q', '-b', 'main');
  git(work, 'add', '.');
  git(work, 'commit', '-q', '-m', 'one');
  git(work, 'tag', 'v1');
  mkdirSync(join(dir, 'srv'));
  git(dir, 'clone', '-q', '--bare', work, join(dir, 'srv', 'repo.git'));
  const port = await freePort();
  daemon = spawn('git', ['daemon', '--reuseaddr', '--export-all', `--base-path=${join(dir, 'srv')}`, '--listen=127.0.0.1', `--port=${port}`], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise<boolean>((res) => createConnection(port, '127.0.0.1').on('connect', function (this: import('node:net').Socket) { this.destroy(); res(true); }).on('error', () => res(false)));
    if (ok) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  url = `git://127.0.0.1:${port}/repo.git`;
});
after(() => {
  daemon?.kill();
  s.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

test('git sources parse: ref and subdir, which stays inside the repository', () => {
  assert.deepEqual(parseGitSource('https://h/r.git#main:sub/dir'), { url: 'https://h/r.git', ref: 'main', subdir: 'sub/dir' });
  assert.deepEqual(parseGitSource('https://h/r.git'), { url: 'https://h/r.git', subdir: '' });
  assert.deepEqual(parseGitSource('https://h/r.git#:../../etc'), { url: 'https://h/r.git', subdir: 'etc' });
  assert.throws(() => parseGitSource('--upload-pack=x'), /invalid git URL/);
  assert.equal(redactUrl('https://user:tok3n@host/r.git#main'), 'https://host/r.git#main');
  assert.equal(redactUrl('git@host:r.git'), 'git@host:r.git');
  assert.throws(() => parseGitSource('https://h/r.git#--force'), /invalid git ref/);
});

test('ADD git://...#ref:subdir copies that directory, without .git, files owned by root with modes kept', async () => {
  const b = await buildFiles(s.root, `FROM busybox\nADD ${url}#main:sub /app\n`);
  const files = b.newLayers.flat();
  const f = (p: string) => files.find((e) => e.path === p);
  assert.equal(f('app/a.txt')?.content, 'a\n');
  assert.equal(f('app/deeper/b.txt')?.content, 'b\n');
  assert.equal((f('app/run.sh')!.mode & 0o111) !== 0, true);
  assert.equal(f('app/a.txt')?.uid, 0);
  assert.ok(!files.some((e) => e.path.startsWith('app/.git')));
  assert.ok(!files.some((e) => e.path === 'app/README'));
  assert.equal(b.history.at(-1)?.created_by, `ADD ${url}#main:sub /app # buildkit`);
});

test('ADD --keep-git-dir keeps .git; a rebuild is CACHED without fetching; a new commit misses', async () => {
  const df = `FROM busybox\nADD --keep-git-dir=true ${url}#v1 /src\n`;
  const b1 = await buildFiles(s.root, df);
  assert.ok(b1.newLayers.flat().some((e) => e.path === 'src/.git/HEAD'));
  assert.ok(b1.newLayers.flat().some((e) => e.path === 'src/README'));
  const b2 = await buildFiles(s.root, df);
  const adds2 = b2.steps.filter((x) => x.name.includes('ADD'));
  assert.equal(adds2.length, 1);
  assert.ok(adds2[0]!.cached);
  const moving = `FROM busybox\nADD ${url}#main /src\n`;
  await buildFiles(s.root, moving);
  const work = join(dir, 'work');
  writeFileSync(join(work, 'README'), 'changed\n');
  git(work, 'commit', '-q', '-am', 'two');
  git(work, 'push', '-q', join(dir, 'srv', 'repo.git'), 'main');
  const b3 = await buildFiles(s.root, moving);
  assert.equal(b3.newLayers.flat().find((e) => e.path === 'src/README')?.content, 'changed\n');
  const adds3 = b3.steps.filter((x) => x.name.includes('ADD'));
  assert.equal(adds3.length, 1);
  assert.ok(!adds3[0]!.cached);
});

test('ADD git: a symlink in the repository pointing at / stays inside the checkout; bad refs and checksums are clear errors', async () => {
  const f1 = await buildFails(s.root, `FROM busybox\nADD ${url}#main:escape/passwd /x\n`);
  assert.match(f1.error.message, /not found/);
  const f2 = await buildFails(s.root, `FROM busybox\nADD ${url}#nosuchbranch /x\n`);
  assert.match(f2.error.message, /nosuchbranch/);
  const f3 = await buildFails(s.root, `FROM busybox\nADD --checksum=deadbeef ${url}#main /x\n`);
  assert.match(f3.error.message, /does not match --checksum=deadbeef/);
  assert.equal((f3.error as { location?: { line: number } }).location?.line, 2);
});

test('ADD git: credentials in the URL never reach an error message', async () => {
  // git:// takes no credentials, so git itself fails, quoting the host part: it must be redacted
  const withCreds = url.replace('git://', 'git://user:s3cr3t-token@');
  const f = await buildFails(s.root, `FROM busybox\nADD ${withCreds}#main /c\n`);
  assert.match(f.error.message, /git ls-remote failed/);
  assert.doesNotMatch(f.error.message, /s3cr3t-token/);
});

test('ADD git over ssh: only an agent forwarded with --ssh; never the host\'s ssh config or keys', async () => {
  // decoys in a private mount namespace: root's ~/.ssh and /etc/ssh/ssh_config with a ProxyCommand
  // that leaves a canary file (today's ssh would run it as root, outside any sandbox)
  const d = mkdtempSync(join(tmpdir(), 'tsb-gitssh-'));
  const agent = createServer(() => {}).listen(join(d, 'agent.sock'));
  try {
    const home = join(d, 'home');
    mkdirSync(join(home, '.ssh'), { recursive: true, mode: 0o700 });
    const canary = join(d, 'canary');
    writeFileSync(join(home, '.ssh', 'config'), `Host *\n  ProxyCommand /bin/sh -c 'echo user-config >> ${canary}; exit 1'\n`);
    writeFileSync(join(home, '.ssh', 'id_ed25519'), 'not a key\n', { mode: 0o600 });
    writeFileSync(join(d, 'ssh_config'), `Host *\n  ProxyCommand /bin/sh -c 'echo system-config >> ${canary}; exit 1'\n`);
    writeFileSync(join(d, 'Dockerfile'), `FROM busybox\nADD ssh://git@127.0.0.1:${await freePort()}/repo.git /src\n`);
    const tsbuild = (...flags: string[]) => {
      const r = spawnSync(
        'unshare',
        [
          '--mount', '--propagation', 'private', '--', '/bin/sh', '-c',
          'mount --bind "$1" /root && mount --bind "$2" /etc/ssh/ssh_config && shift 2 && exec "$@"', 'sh', home, join(d, 'ssh_config'),
          process.execPath, '--import', 'tsx', join(projectRoot, 'src', 'cli', 'main.ts'), '--root', s.root, 'build', '--progress=plain', ...flags, d,
        ],
        { cwd: projectRoot, env: { ...process.env, HOME: '/root', SSH_AUTH_SOCK: '' }, encoding: 'utf8', timeout: 60_000 },
      );
      return { code: r.status, stderr: r.stderr };
    };
    const without = tsbuild();
    assert.equal(without.code, 1, without.stderr);
    assert.match(without.stderr, /git over ssh uses only an SSH agent forwarded with --ssh default/);
    assert.equal(existsSync(canary), false, 'ssh ran with the host\'s config');
    const withAgent = tsbuild('--ssh', `default=${join(d, 'agent.sock')}`);
    assert.equal(withAgent.code, 1, withAgent.stderr);
    assert.match(withAgent.stderr, /git ls-remote failed: .*(Connection refused|Could not read)/);
    assert.equal(existsSync(canary), false, 'ssh ran with the host\'s config');
  } finally {
    agent.close();
    rmSync(d, { recursive: true, force: true });
  }
});
