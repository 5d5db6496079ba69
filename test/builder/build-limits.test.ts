/**
 * RUN steps run in a cgroup with limits that protect the host (issue 9): by default 4096 processes
 * and half of the host's memory, overridable per build with `-m/--memory`, `--pids-limit`,
 * `--cpu-shares`. A step killed for memory says so; limits are not part of cache keys.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { totalmem } from 'node:os';
import { TsbuildError } from '../../src/errors.js';
import { parseLimits } from '../../src/cli/build-flags.js';
import { buildFails, buildFiles, imageFile, makeBaseStore, makeContext, type TempStore } from '../helpers/build.js';
import { runCli } from '../helpers/cli.js';

let s: TempStore;
before(async () => {
  s = await makeBaseStore();
});
after(() => s?.cleanup());

test('flag values: sizes as docker reads them, -1 for no pids limit, clear errors', () => {
  assert.deepEqual(parseLimits({ memory: '64m', pidsLimit: '100', cpuShares: '512' }), { memoryBytes: 64 * 2 ** 20, pidsMax: 100, cpuShares: 512 });
  assert.deepEqual(parseLimits({ pidsLimit: '-1' }), { pidsMax: 0 });
  assert.throws(() => parseLimits({ memory: 'lots' }), /invalid argument "lots" for "-m, --memory" flag/);
  assert.throws(() => parseLimits({ memory: '1m' }), /Minimum memory limit allowed is 6MB/);
  assert.throws(() => parseLimits({ pidsLimit: 'x' }), /--pids-limit/);
});

test('by default a RUN has a memory limit: a tmpfs mount gets half of the host memory, not the kernel default', async () => {
  const b = await buildFiles(s.root, 'FROM busybox\nRUN --mount=type=tmpfs,target=/t df -k /t | tail -n 1 > /size\n');
  const kb = Number(imageFile(b, 'size')!.trim().split(/\s+/)[1]);
  const want = Math.floor(totalmem() / 2 / 1024);
  assert.ok(Math.abs(kb - want) <= 4, `tmpfs of ${kb} kB, wanted about ${want} kB`);
});

test('a fork bomb stops at the pids limit and the step fails; the next build runs normally', async () => {
  // each background sleep holds a pid; past the limit fork fails, which ends busybox sh (exit 2)
  const f = await buildFails(s.root, 'FROM busybox\nRUN i=0; while [ $i -lt 200 ]; do sleep 3 & i=$((i+1)); done; echo survived\n', {}, { limits: { pidsMax: 40 } });
  assert.ok(f.error instanceof TsbuildError, String(f.error));
  assert.match(f.error.message, /exit code: 2 \(last output: .*can't fork/);
  assert.doesNotMatch(f.error.message, /last output: .*survived/);
  const ok = await buildFiles(s.root, 'FROM busybox\nRUN i=0; while [ $i -lt 60 ]; do sleep 1 & i=$((i+1)); done; wait; echo ok > /ok\n');
  assert.equal(imageFile(ok, 'ok'), 'ok\n');
});

test('CLI: -m 32m kills a memory hog, the error says out of memory, exit 137', async () => {
  const ctx = makeContext({ Dockerfile: 'FROM busybox\nRUN head -c 300m /dev/zero | tail > /dev/null\n' });
  const r = await runCli(['build', '--root', s.root, '--progress', 'plain', '-m', '32m', ctx]);
  assert.equal(r.code, 137, r.stderr);
  assert.match(r.stderr, /Dockerfile:2:1: .*killed: out of memory \(the step's limit is 32 MiB; raise it with --memory\)/);
  const bad = await runCli(['build', '--root', s.root, '--pids-limit', 'many', ctx]);
  assert.equal(bad.code, 125, bad.stderr); // a typed flag's value: Docker's flag parser exits 125
  assert.match(bad.stderr, /--pids-limit/);
});
