/**
 * A container's command and an exec'd process start with a clean process state, as under Docker:
 * no signal blocked, ignored or caught (nothing of the monitor's or the helper's own dispositions
 * leaks through exec), the host's resource limits; busybox wget reaches a listener on the
 * container's loopback. `wget -T` (busybox's timeout) exits exactly as the same binary does on the
 * host: Debian's busybox-static 1.35 is built without FEATURE_WGET_TIMEOUT and its option parser
 * writes the -T number through a NULL pointer (SIGSEGV, 139 on the host, under Docker 20.10 and here
 * alike) — a busybox bug, not the sandbox's.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { constants } from 'node:os';
import { useContainerStore } from '../helpers/containers.js';

const base = useContainerStore();
const ok = base.ok;

const SIGNALS = 'grep -E "^Sig(Blk|Ign|Cgt)" /proc/self/status; true'; // `; true`: sh forks grep (sh -c CMD would exec it)

test('signals and rlimits of a container command and an exec are clean; wget over loopback', { timeout: 120_000 }, async () => {
  const clean = 'SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\nSigCgt:\t0000000000000000';
  assert.equal(await ok('run', '--rm', 'busybox', 'sh', '-c', SIGNALS), clean);
  assert.equal(await ok('run', '--rm', '--init', 'busybox', 'sh', '-c', SIGNALS), clean);
  const host = spawnSync('/bin/busybox', ['sh', '-c', 'ulimit -a'], { encoding: 'utf8' });
  assert.equal(await ok('run', '--rm', 'busybox', 'sh', '-c', 'ulimit -a'), host.stdout.trim());
  await ok('run', '-d', '--name', 'state', 'busybox', 'sh', '-c', 'httpd -p 127.0.0.1:8080 -h /etc; sleep 300');
  assert.equal(await ok('exec', 'state', 'sh', '-c', SIGNALS), clean);
  assert.equal(await ok('exec', 'state', 'sh', '-c', 'ulimit -a'), host.stdout.trim());
  assert.equal(await ok('exec', 'state', 'wget', '-q', '-O-', 'http://127.0.0.1:8080/passwd'), (await ok('exec', 'state', 'cat', '/etc/passwd')));
  await ok('rm', '-f', 'state');
});

test('wget -T exits as the same busybox does on the host (in a network namespace of its own)', { timeout: 60_000 }, async () => {
  const onHost = spawnSync('unshare', ['-n', '/bin/busybox', 'wget', '-T', '2', '-q', '-O-', 'http://127.0.0.1:1/'], { encoding: 'utf8' });
  const expected = onHost.status ?? 128 + constants.signals[onHost.signal!];
  const r = await base.run('run', '--rm', '--network', 'none', 'busybox', 'wget', '-T', '2', '-q', '-O-', 'http://127.0.0.1:1/');
  assert.equal(r.code, expected, r.stderr);
});
