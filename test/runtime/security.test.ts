/**
 * The sandbox's isolation, as the advisories in /work/shared/research/anchors.md §3 exercise it.
 * Each of these would fail against a naive chroot.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRuntime, type RunSpec } from '../../src/runtime/index.js';
import { sandboxHelperPath } from '../../src/runtime/sandbox.js';
import { isTsbuildError } from '../../src/errors.js';
import { hostMountPoints, scratch, sink } from './rootfs-fixture.js';

const s = scratch();
after(() => s.cleanup());
const rt = createRuntime({ tmpDir: s.mkdir('runs') });

async function sh(script: string, extra: Partial<RunSpec> = {}, lowers = [s.busybox]) {
  const fs = await rt.prepare(s.mounts(lowers));
  const out = sink();
  const err = sink();
  try {
    const r = await rt.run(fs, { args: ['/bin/sh', '-c', script], env: [], network: 'none', stdout: out.fn, stderr: err.fn, ...extra });
    return { ...r, stdout: out.text(), stderr: err.text(), diff: await rt.diff(fs) };
  } finally {
    await rt.release(fs);
  }
}

/** A layer on top of busybox holding a symlink NAME -> TARGET. */
let layers = 0;
function linkLayer(name: string, target: string): string {
  const d = s.mkdir(`link-layer-${layers++}`);
  symlinkSync(target, join(d, name));
  return d;
}

test('no host PIDs are visible', async () => {
  const r = await sh('ls /proc | grep -E "^[0-9]+$"');
  const pids = r.stdout.trim().split('\n').map(Number);
  assert.ok(pids.length >= 2 && pids.length <= 5, r.stdout);
  assert.ok(pids.every((p) => p < 20), r.stdout);
  assert.ok(!pids.includes(process.pid) || process.pid < 20);
});

test('no host mounts are visible; the root is the overlay', async () => {
  const r = await sh('cat /proc/self/mountinfo');
  const inside = r.stdout.trim().split('\n').map((l) => l.split(' '));
  const points = inside.map((f) => f[4]!);
  const root = inside.find((f) => f[4] === '/')!;
  assert.equal(root[root.indexOf('-') + 1], 'overlay');
  const ours = new Set(['/', '/proc', '/dev', '/dev/pts', '/dev/shm', '/dev/mqueue', '/sys', '/etc/hosts', '/etc/resolv.conf', '/etc/hostname']);
  const hostOnly = hostMountPoints().filter((p) => !ours.has(p) && !p.startsWith('/proc/') && !p.startsWith('/sys/'));
  assert.ok(hostOnly.length > 0, 'the host has mounts of its own to hide');
  for (const p of hostOnly) assert.ok(!points.includes(p), `host mount ${p} visible inside`);
});

test('writes cannot leave the rootfs, even through .. from /', async () => {
  const name = `escape-canary-${process.pid}`;
  const r = await sh(`cd /; cd ../../../..; echo x > ${name}; echo x > /../../${name}-2`);
  assert.equal(r.exitCode, 0, r.stderr);
  assert.ok(!existsSync(`/${name}`) && !existsSync(`/${name}-2`));
  assert.deepEqual(r.diff.map((e) => e.path).sort(), [name, `${name}-2`]);
});

test('only fds 0-2 reach the command; cwd=/proc/self/fd/N cannot reach a host dir (CVE-2024-21626)', async () => {
  const fds = await sh('ls /proc/$$/fd; true'); // `; true`: the shell must not exec ls in its place
  assert.deepEqual(fds.stdout.trim().split(/\s+/), ['0', '1', '2']);
  for (let n = 3; n <= 8; n++) {
    const r = await sh('ls -a ..', { cwd: `/proc/self/fd/${n}` }).catch((e: unknown) => e);
    if (isTsbuildError(r)) {
      assert.equal(r.code, 'RUNTIME');
      continue;
    }
    const res = r as Awaited<ReturnType<typeof sh>>;
    assert.ok(!res.stdout.includes('busybox') && !res.stdout.includes('runs'), `cwd fd ${n} reached the host: ${res.stdout}`);
  }
});

test('PID 1 and its executable cannot be opened or overwritten (CVE-2019-5736)', async () => {
  const helper = sandboxHelperPath();
  const hash = () => createHash('sha256').update(readFileSync(helper)).digest('hex');
  const before = hash();
  const r = await sh(
    'echo pwn >> /proc/1/exe; echo w=$?; cat /proc/1/exe > /dev/null; echo r=$?; readlink /proc/1/fd/4; echo fd=$?; echo > /proc/1/fd/4; echo fdw=$?; echo fds $(ls /proc/1/fd); ls /proc/1/root/; echo root=$?',
  );
  assert.match(r.stdout, /w=1/);
  assert.match(r.stdout, /r=1/);
  // the fds can be listed (as in Docker) but not followed; nothing but stdio and the status pipe
  assert.match(r.stdout, /fd=1/);
  assert.match(r.stdout, /fdw=1/);
  assert.match(r.stdout, /fds 0 1 2 4\n/);
  assert.match(r.stdout, /root=1/);
  assert.equal(hash(), before);
});

test('a working directory through a planted symlink stays inside (CVE-2021-30465 class)', async () => {
  const hostDir = s.mkdir('host-target');
  for (const [name, target] of [
    ['planted', hostDir],
    ['planted-rel', '../../../../../../../..' + hostDir],
  ] as const) {
    const r = await sh('pwd; touch made-here', { cwd: `/${name}/sub` }, [s.busybox, linkLayer(name, target)]);
    assert.equal(r.exitCode, 0, r.stderr);
    assert.ok(!existsSync(join(hostDir, 'sub')), `${name}: created on the host`);
    const inRoot = hostDir.slice(1) + '/sub/made-here';
    assert.ok(r.diff.some((e) => e.path === inRoot), `${name}: ${r.diff.map((e) => e.path).join(' ')}`);
  }
});

test('a mount target through a planted symlink stays inside', async () => {
  const hostDir = s.mkdir('host-target-2');
  const src = s.mkdir('mount-src');
  writeFileSync(join(src, 'f'), 'data');
  const r = await sh('cat /planted/m/f', { mounts: [{ type: 'bind', source: src, target: '/planted/m', readonly: true }] }, [
    s.busybox,
    linkLayer('planted', hostDir),
  ]);
  assert.equal(r.stdout, 'data');
  assert.ok(!existsSync(join(hostDir, 'm')));
});

test('absolute symlinks in the image resolve inside the rootfs', async () => {
  const secret = join(s.dir, 'host-secret');
  writeFileSync(secret, 'SECRET');
  const r = await sh('cat /evil; echo rc=$?', {}, [s.busybox, linkLayer('evil', secret)]);
  assert.ok(!r.stdout.includes('SECRET'));
  assert.match(r.stdout, /rc=1/);
});

test("Docker's masked and read-only /proc and /sys paths", async () => {
  const r = await sh(
    'cat /proc/keys | wc -c; echo 1 > /proc/sys/kernel/ns_last_pid; echo sys=$?; touch /sys/kernel/x; echo sysfs=$?; ls /sys/firmware | wc -l',
  );
  assert.match(r.stdout, /^0\n/);
  assert.match(r.stdout, /sys=1/);
  assert.match(r.stdout, /sysfs=1/);
  assert.match(r.stdout, /\n0\n$/);
});

test('root in the sandbox cannot mount or use device nodes it makes; /dev/null works', async () => {
  const dev = statSync('/').dev; // the host's root disk
  const maj = Number((BigInt(dev) >> 8n) & 0xfffn);
  const min = Number((BigInt(dev) & 0xffn) | ((BigInt(dev) >> 12n) & ~0xffn));
  const r = await sh(
    `mount -t tmpfs x /mnt; echo m=$?; mknod /tmp/disk b ${maj} ${min}; echo mk=$?; head -c1 /tmp/disk > /dev/null; echo d=$?; ` +
      `mknod /dev/disk b ${maj} ${min}; head -c1 /dev/disk > /dev/null; echo dd=$?; echo ok > /dev/null; echo null=$?; head -c4 /dev/zero | wc -c`,
  );
  assert.match(r.stdout, /m=[1-9]/);
  assert.match(r.stdout, /mk=0/); // making nodes is allowed (they can be part of a layer)...
  assert.match(r.stdout, /d=[1-9]/); // ...using them is not
  assert.match(r.stdout, /dd=[1-9]/);
  assert.match(r.stdout, /null=0\n4\n/);
});

test('new namespaces (user namespaces above all) and the mount API are refused by seccomp', async () => {
  const r = await sh('unshare -U true; echo user=$?; unshare -n true; echo net=$?; unshare -m true; echo mnt=$?; (true); echo sub=$?');
  assert.match(r.stdout, /user=1\nnet=1\nmnt=1\nsub=0\n/);
  assert.match(r.stderr, /Operation not permitted/);
  const st = await sh('grep Seccomp: /proc/self/status');
  assert.match(st.stdout, /Seccomp:\s+2/);
});

test('mount stubs are made and removed inside the rootfs, even through a symlink out (CVE-2024-23652)', async () => {
  const hostDir = s.mkdir('host-canary');
  writeFileSync(join(hostDir, 'b'), 'canary');
  const src = s.mkdir('stub-src');
  const r = await sh('ls /a/b', { mounts: [{ type: 'bind', source: src, target: '/a/b' }] }, [
    s.busybox,
    linkLayer('a', '../../../../../../..' + hostDir),
  ]);
  assert.equal(r.exitCode, 0, r.stderr);
  assert.equal(readFileSync(join(hostDir, 'b'), 'utf8'), 'canary');
  assert.deepEqual(r.diff, []);
});

/** A runtime whose helper runs in a private mount namespace of the test's own where /dev/null (the
 *  host's, as the helper sees it, and the run's stdin) is a decoy node: what reaches the "host's"
 *  /dev/null changes only the decoy. */
function decoyRuntime() {
  const d = s.mkdir(`decoy-${layers++}`);
  const decoy = join(d, 'null');
  execFileSync('mknod', ['-m', '666', decoy, 'c', '1', '3']);
  const helper = join(d, 'helper.sh');
  writeFileSync(
    helper,
    '#!/bin/sh\nPATH=/usr/sbin:/usr/bin:/sbin:/bin\n' +
      `exec unshare --mount --propagation private sh -c 'mount --bind "$0" /dev/null && exec "$1" </dev/null' '${decoy}' '${sandboxHelperPath()}'\n`,
  );
  chmodSync(helper, 0o755);
  return { decoy, rt: createRuntime({ tmpDir: s.mkdir(`decoy-runs-${layers++}`), helperPath: helper }) };
}

async function shWith(r: ReturnType<typeof createRuntime>, script: string, extra: Partial<RunSpec> = {}) {
  const fs = await r.prepare(s.mounts([s.busybox]));
  const out = sink();
  const err = sink();
  try {
    const res = await r.run(fs, { args: ['/bin/sh', '-c', script], env: [], network: 'none', stdout: out.fn, stderr: err.fn, ...extra });
    return { ...res, stdout: out.text(), stderr: err.text() };
  } finally {
    await r.release(fs);
  }
}

test("/dev is the sandbox's own: chmod/chown of its nodes, stdin and the /proc masks never reach the host's /dev/null", async () => {
  const { decoy, rt: drt } = decoyRuntime();
  const before = statSync(decoy);
  const masked = ['/proc/kcore', '/proc/keys', '/proc/timer_list'].filter((p) => existsSync(p));
  assert.ok(masked.length > 0);
  const r = await shWith(
    drt,
    'chmod 000 /dev/null /dev/zero; chown 1:1 /dev/null; chmod 000 /proc/self/fd/0; chown 1:1 /dev/stdin; ' +
      masked.map((p) => `chmod 777 ${p} && echo changed ${p}; chown 1:1 ${p} && echo owned ${p}; `).join('') +
      'stat -c "%F %t:%T" /dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty',
  );
  assert.equal(r.exitCode, 0, r.stderr);
  assert.doesNotMatch(r.stdout, /changed|owned/); // the masks are read-only binds
  assert.equal(r.stdout.trim(), ['1:3', '1:5', '1:7', '1:8', '1:9', '5:0'].map((n) => `character special file ${n}`).join('\n'));
  const after = statSync(decoy);
  assert.deepEqual([after.mode, after.uid, after.gid], [before.mode, before.uid, before.gid]);
  // the next run has fresh nodes that work for anyone
  const next = await shWith(drt, 'echo x > /dev/null && head -c 3 /dev/zero | wc -c && head -c 3 /dev/urandom | wc -c', {
    user: { uid: 1000, gid: 1000, groups: [] },
  });
  assert.equal(next.exitCode, 0, next.stderr);
  assert.equal(next.stdout, '3\n3\n');
});

test('a block device made in /dev cannot be opened', async () => {
  const r = await sh('mknod /dev/sda b 8 0 && echo made; head -c1 /dev/sda > /dev/null; echo open=$?');
  assert.match(r.stdout, /^made\nopen=[1-9]/);
});

test("seccomp follows Docker's default profile: no io_uring, no AF_VSOCK or AF_ALG sockets; AF_PACKET and AF_INET stay", async (t) => {
  const dir = s.mkdir('probe-layer');
  const src = join(s.dir, 'probe.c');
  writeFileSync(
    src,
    `#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
static void show(const char *what, long r) { printf("%s=%s\\n", what, r >= 0 ? "ok" : strerror(errno)); }
int main(void) {
  char params[512] = {0};
  show("io_uring_setup", syscall(SYS_io_uring_setup, 4, params));
  show("io_uring_enter", syscall(SYS_io_uring_enter, 0, 0, 0, 0, NULL, 0));
  show("io_uring_register", syscall(SYS_io_uring_register, 0, 0, NULL, 0));
  show("vsock", socket(40, SOCK_STREAM, 0));
  show("alg", socket(38, SOCK_SEQPACKET, 0));
  show("packet", socket(17, SOCK_DGRAM, 0));
  show("inet", socket(2, SOCK_STREAM, 0));
  return 0;
}
`,
  );
  try {
    execFileSync('gcc', ['-static', '-O', '-o', join(dir, 'probe'), src]);
  } catch {
    t.skip('no gcc with static libc');
    return;
  }
  const r = await sh('/probe', {}, [s.busybox, dir]);
  assert.equal(r.exitCode, 0, r.stderr);
  assert.equal(
    r.stdout,
    'io_uring_setup=Operation not permitted\nio_uring_enter=Operation not permitted\nio_uring_register=Operation not permitted\n' +
      'vsock=Operation not permitted\nalg=Operation not permitted\npacket=ok\ninet=ok\n',
  );
});
