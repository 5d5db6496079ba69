/**
 * The freezer (cgroup v1's own hierarchy) serves `pause` and `commit`, which are a container's: a
 * build's RUN step gets its limits (pids, memory, cpu) and no freezer group, while a container's
 * group is in the freezer hierarchy too (so `pause` works).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRuntime } from '../../src/runtime/index.js';
import { cgroupHierarchies, createCgroup, freezeCgroup } from '../../src/runtime/cgroup.js';
import { isTsbuildError } from '../../src/errors.js';
import { scratch, sink } from './rootfs-fixture.js';

const s = scratch();
after(() => s.cleanup());
const rt = createRuntime({ tmpDir: s.mkdir('runs') });
const freezer = cgroupHierarchies().find((h) => h.version === 1 && h.controllers.includes('freezer'));
const skip = freezer ? false : 'no cgroup v1 freezer hierarchy (v2 freezes any group through cgroup.freeze)';

/** The groups this process made in hierarchy H's tsbuild/ parent. */
const ours = (base: string) => {
  const parent = join(base, 'tsbuild');
  return existsSync(parent) ? readdirSync(parent).filter((n) => n.startsWith(`${process.pid}-`)) : [];
};

test('a RUN step with limits is in no freezer group; its other groups hold it while it runs', { skip }, async () => {
  const fs = await rt.prepare(s.mounts([s.busybox]));
  let seen: { freezer: string[]; others: string[][] } | undefined;
  const out = sink();
  try {
    const r = await rt.run(fs, {
      args: ['/bin/sh', '-c', 'echo ready; sleep 1'],
      env: [],
      network: 'none',
      limits: { pidsMax: 64, memoryBytes: 2 ** 28 },
      timeoutMs: 30_000,
      stdout: (b) => {
        out.fn(b);
        // while the step runs: its groups exist, with its processes in them
        seen ??= {
          freezer: ours(freezer!.base),
          others: cgroupHierarchies()
            .filter((h) => h !== freezer)
            .map((h) => ours(h.base).filter((n) => readFileSync(join(h.base, 'tsbuild', n, 'cgroup.procs'), 'utf8').trim() !== '')),
        };
      },
    });
    assert.equal(r.exitCode, 0);
  } finally {
    await rt.release(fs);
  }
  assert.equal(out.text(), 'ready\n');
  assert.ok(seen);
  assert.deepEqual(seen.freezer, []);
  for (const names of seen.others) assert.equal(names.length, 1, JSON.stringify(seen));
});

test("a container's group (createCgroup's default) is in the freezer hierarchy as well", { skip }, async () => {
  const cg = createCgroup('ctr-freezer-test', {});
  try {
    assert.equal(cg.paths.length, cgroupHierarchies().length);
    assert.ok(cg.paths.some((p) => p.startsWith(join(freezer!.base, 'tsbuild') + '/') && existsSync(join(p, 'freezer.state'))));
    const run = createCgroup('run-freezer-test', {}, { freezer: false });
    try {
      assert.equal(run.paths.length, cgroupHierarchies().length - 1);
      assert.ok(!run.paths.some((p) => p.startsWith(freezer!.base + '/')));
    } finally {
      await run.remove();
    }
  } finally {
    await cg.remove();
  }
});

test('thawing a group that went away meanwhile (its container exited) is done; freezing one is refused', { skip }, async () => {
  const cg = createCgroup('ctr-freezer-gone', {});
  const paths = [...cg.paths];
  await freezeCgroup(paths, true);
  await freezeCgroup(paths, false);
  await cg.remove();
  assert.ok(!paths.some((p) => existsSync(p)));
  // `rm -f` or `stop` of a paused container thaws it while its monitor may be removing the group
  await freezeCgroup(paths, false);
  await assert.rejects(freezeCgroup(paths, true), (e) => isTsbuildError(e) && /freezer cgroup|no longer running/.test(e.message));
});
