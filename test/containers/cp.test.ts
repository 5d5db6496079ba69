/**
 * `cp` with a real busybox container: out of it (running: a dir tree with owners and a symlink kept
 * as a link, a file to a new name, a tar stream with `-`), paths resolved inside the container root
 * (a symlink to / does not reach the host), into a running one (through its mount namespace, its
 * symlinks staying inside it) and a stopped one (visible after start), and the refusals.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { useContainerStore } from '../helpers/containers.js';
import { runCli } from '../helpers/cli.js';

const base = useContainerStore();
let host: string;
const run = base.run;

before(async () => {
  host = mkdtempSync(join(tmpdir(), 'tsbuild-cp-'));
});

after(async () => {
  rmSync(host, { recursive: true, force: true });
});

test('cp out of and into a container, resolved inside its root', { timeout: 120_000 }, async () => {
  await run('run', '-d', '--name', 'cpc', 'busybox', 'sh', '-c', 'mkdir -p /data/sub; echo a > /data/a; echo b > /data/sub/b; chown 1000:1000 /data/sub/b; ln -s /etc/passwd /data/link; ln -s / /escape; echo secret-in-ctr > /etc/ctrfile; touch /ready; sleep 300');
  for (let i = 0; i < 50 && (await run('exec', 'cpc', 'test', '-e', '/ready')).code !== 0; i++) await new Promise((r) => setTimeout(r, 200));
  assert.equal((await run('cp', 'cpc:/data', host)).code, 0);
  assert.equal(readFileSync(join(host, 'data', 'sub', 'b'), 'utf8'), 'b\n');
  assert.equal(lstatSync(join(host, 'data', 'sub', 'b')).uid, 1000);
  assert.equal(readlinkSync(join(host, 'data', 'link')), '/etc/passwd');
  // through the container's own symlink to /: its /etc, not the host's
  assert.equal((await run('cp', 'cpc:/escape/etc/ctrfile', join(host, 'got'))).code, 0);
  assert.equal(readFileSync(join(host, 'got'), 'utf8'), 'secret-in-ctr\n');
  const tar = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', '--root', base.root, 'cp', 'cpc:/data/sub', '-'], { cwd: join(import.meta.dirname, '..', '..') });
  const list = spawnSync('tar', ['-t'], { input: tar.stdout }).stdout.toString();
  assert.deepEqual(list.trim().split('\n').sort(), ['sub/', 'sub/b']);
  assert.equal((await run('cp', 'cpc:/nope', host)).code, 1);

  writeFileSync(join(host, 'new'), 'new\n');
  // into the running container, through its own mount namespace; its symlink to / stays inside it
  const marker = `tsbuild-cp-${process.pid}`;
  assert.equal((await run('cp', join(host, 'new'), `cpc:/escape/tmp/${marker}`)).code, 0);
  assert.equal(existsSync(`/tmp/${marker}`), false);
  assert.equal((await run('cp', join(host, 'data'), 'cpc:/srv')).code, 0);
  const live = await run('exec', 'cpc', 'sh', '-c', `cat /tmp/${marker} /srv/sub/b; stat -c %u /srv/sub/b; readlink /srv/link`);
  assert.equal(live.stdout, 'new\nb\n1000\n/etc/passwd\n');
  await run('stop', '-t', '0', 'cpc');
  assert.equal((await run('cp', join(host, 'new'), 'cpc:/tmp/')).code, 0);
  assert.equal((await run('cp', join(host, 'new'), 'cpc:/etc/group')).code, 0); // over an image file
  await run('start', 'cpc');
  const r = await run('exec', 'cpc', 'sh', '-c', 'cat /tmp/new /etc/group');
  assert.equal(r.stdout, 'new\nnew\n');
  assert.equal((await run('cp', join(host, 'new'), join(host, 'x'))).code, 1);
});

// Docker 20.10 here: cp reads and writes through the container's mounts, running or stopped —
// /etc/hostname is the -h name, a bind's and a volume's files are theirs, a copy into a stopped
// container's bind lands in the bind's host dir, a read-only one is refused, and so is a copy over
// a file mounted at the destination (its extraction cannot unlink it).
test('cp through the container mounts: its /etc files, binds and volumes, running or stopped', { timeout: 120_000 }, async () => {
  const bind = join(host, 'bind');
  const robind = join(host, 'ro');
  mkdirSync(bind);
  mkdirSync(robind);
  writeFileSync(join(bind, 'f'), 'bound\n');
  const r = await run('run', '-d', '--name', 'cpm', '--network', 'none', '-h', 'myhost', '-v', `${bind}:/data`, '-v', `${robind}:/ro:ro`, '-v', 'cpvol:/vol', 'busybox', 'sh', '-c', 'echo invol > /vol/g; touch /vol/ready; sleep 300');
  assert.equal(r.code, 0, r.stderr);
  for (let i = 0; i < 50 && (await run('exec', 'cpm', 'test', '-e', '/vol/ready')).code !== 0; i++) await new Promise((res) => setTimeout(res, 200));
  const cat = (path: string) => {
    const out = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', '--root', base.root, 'cp', `cpm:${path}`, '-'], { cwd: join(import.meta.dirname, '..', '..') });
    return spawnSync('tar', ['-xO'], { input: out.stdout }).stdout.toString();
  };
  const check = () => {
    assert.equal(cat('/etc/hostname'), 'myhost\n');
    assert.equal(cat('/data/f'), 'bound\n');
    assert.equal(cat('/vol/g'), 'invol\n');
  };
  check();
  assert.equal((await run('cp', 'cpm:/data', join(host, 'out'))).code, 0);
  assert.equal(readFileSync(join(host, 'out', 'f'), 'utf8'), 'bound\n');
  await run('stop', '-t', '0', 'cpm');
  check();
  writeFileSync(join(host, 'in'), 'in\n');
  assert.equal((await run('cp', join(host, 'in'), 'cpm:/data/')).code, 0);
  assert.equal(readFileSync(join(bind, 'in'), 'utf8'), 'in\n');
  // over a file bound at DEST (the container's /etc/hosts): refused as dockerd's extraction fails
  const hosts = cat('/etc/hosts');
  const busy = await run('cp', join(host, 'in'), 'cpm:/etc/hosts');
  assert.deepEqual([busy.code, busy.stderr], [1, 'tsbuild: Error processing tar file(exit status 1): unlinkat /etc/hosts: device or resource busy\n']);
  assert.equal(cat('/etc/hosts'), hosts);
  const ro = await run('cp', join(host, 'in'), 'cpm:/ro/');
  assert.deepEqual([ro.code, ro.stderr], [1, 'tsbuild: mounted volume is marked read-only\n']);
  assert.equal(existsSync(join(robind, 'in')), false);
  assert.equal((await run('rm', '-v', 'cpm')).code, 0);
  await run('volume', 'rm', 'cpvol');
});

test('cp - CTR:DEST extracts a tar stream from stdin, in-root and refusing unsafe names', { timeout: 180_000 }, async () => {
  const tree = join(host, 'tartree');
  mkdirSync(join(tree, 'd'), { recursive: true });
  writeFileSync(join(tree, 'run.sh'), 'echo hi\n');
  chmodSync(join(tree, 'run.sh'), 0o750);
  writeFileSync(join(tree, 'd', 'f'), 'f\n');
  chmodSync(join(tree, 'd'), 0o711);
  const good = spawnSync('tar', ['-c', '-C', tree, '.']).stdout;
  // a tar with a `..` entry after a good one (GNU tar keeps `..` with -P)
  const marker = `tsbuild-cpin-${process.pid}`;
  mkdirSync(join(host, 'w'));
  writeFileSync(join(host, marker), 'evil\n');
  writeFileSync(join(host, 'w', 'first'), 'x');
  const bad = spawnSync('tar', ['-c', '-P', '-f', '-', 'first', `../${marker}`], { cwd: join(host, 'w') }).stdout;
  rmSync(join(host, marker));
  assert.match(spawnSync('tar', ['-t'], { input: bad }).stdout.toString(), /\.\.\//);
  const cli = (input: Buffer, ...args: string[]) => runCli(['--root', base.root, ...args], { input });

  assert.equal((await run('create', '--name', 'cpt', 'busybox', 'sleep', '300')).code, 0);
  assert.equal((await cli(good, 'cp', '-', 'cpt:/home')).code, 0); // stopped: its writable layer
  const refused = await cli(bad, 'cp', '-', 'cpt:/home');
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /\.\./);
  assert.equal(existsSync(`/tmp/${marker}`), false);
  const notDir = await cli(good, 'cp', '-', 'cpt:/etc/passwd');
  assert.equal(notDir.code, 1);
  assert.match(notDir.stderr, /extraction point is not a directory/);
  assert.equal((await cli(good, 'cp', '-', 'cpt:/nope')).code, 1);
  assert.equal((await run('start', 'cpt')).code, 0);
  assert.equal((await cli(good, 'cp', '-', 'cpt:/tmp')).code, 0); // running: through its namespace
  const r = await run('exec', 'cpt', 'sh', '-c', 'stat -c "%a %n" /home/run.sh /home/d /tmp/d/f; cat /home/d/f; ls /home /tmp | grep -c first');
  assert.equal(r.stdout, '750 /home/run.sh\n711 /home/d\n644 /tmp/d/f\nf\n0\n');
  await run('rm', '-f', 'cpt');
});
