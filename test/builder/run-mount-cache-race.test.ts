/**
 * A cache mount's `source=` while another process keeps swapping that directory (removed, made a
 * symlink out of the cache, made again): preparing the mount either succeeds or fails with a clear
 * located error — never a raw ENOENT — and never creates anything through the symlink.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cacheSubdir } from '../../src/builder/steps/run-mounts.js';
import { TsbuildError } from '../../src/errors.js';
import type { RunInstruction } from '../../src/parser/instructions.js';

const ins = { kind: 'run', location: { file: 'Dockerfile', line: 3, column: 1, endLine: 3, endColumn: 40 } } as unknown as RunInstruction;

test('cache source=: a cache dir that vanished is a clear error at the RUN line', () => {
  const d = mkdtempSync(join(tmpdir(), 'tsb-cache-race-'));
  try {
    assert.throws(
      () => cacheSubdir(join(d, 'gone'), 'sub', ins),
      (e: unknown) => e instanceof TsbuildError && e.code === 'INVALID' && e.location?.line === 3 && /kept changing/.test(e.message),
    );
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

test('cache source=: a concurrent swap of the directory never surfaces as a raw errno', async () => {
  const d = mkdtempSync(join(tmpdir(), 'tsb-cache-race-'));
  const cache = join(d, 'cache');
  const outside = join(d, 'outside');
  mkdirSync(cache);
  mkdirSync(outside);
  // the swapper: what a RUN sharing this cache could do in a loop
  const swapper = spawn('/bin/sh', ['-c', `cd "$1" && while :; do rm -rf sub; ln -s "$2" sub; rm -f sub; mkdir sub; done`, 'sh', cache, outside], { stdio: 'ignore' });
  try {
    await new Promise((r) => setTimeout(r, 50));
    const seen = { ok: 0, clean: 0 };
    for (let i = 0; i < 3000; i++) {
      try {
        assert.equal(cacheSubdir(cache, 'sub/x', ins), 'sub/x');
        seen.ok++;
      } catch (e) {
        assert.ok(e instanceof TsbuildError, `not a clean error: ${(e as Error).message}`);
        assert.equal((e as TsbuildError).location?.line, 3);
        seen.clean++;
      }
      if (i % 100 === 0) await new Promise((r) => setImmediate(r));
    }
    assert.ok(seen.ok + seen.clean === 3000);
    assert.deepEqual(readdirSync(outside), [], 'something was made through the symlink');
  } finally {
    swapper.kill('SIGKILL');
    await new Promise((r) => swapper.once('close', r));
    rmSync(d, { recursive: true, force: true });
  }
  assert.equal(existsSync(d), false);
});
