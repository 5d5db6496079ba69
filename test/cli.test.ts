import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCli } from './helpers/cli.js';

test('tsbuild --help lists the commands and exits 0', async () => {
  const r = await runCli(['--help']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /Usage: tsbuild/);
  assert.match(r.stdout, /parse/);
});

test('tsbuild --version prints the package version', async () => {
  const r = await runCli(['--version']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /^\d+\.\d+\.\d+\n$/);
});

test('an unknown option is a usage error with exit code 2', async () => {
  const r = await runCli(['--frobnicate']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /unknown option/);
});

test('build is the default command: a missing context is a one-line error', async () => {
  const r = await runCli(['/nonexistent/context']);
  assert.equal(r.code, 1);
  assert.equal(r.stderr.trim().split('\n').length, 1);
  assert.match(r.stderr, /build context \/nonexistent\/context is not a directory/);
});

test('--root works before or after the command name', async () => {
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { busyboxRootfsTar } = await import('./helpers/fixtures.js');
  const dir = mkdtempSync(join(tmpdir(), 'tsb-root-'));
  try {
    const imp = await runCli(['--root', dir, 'import', busyboxRootfsTar(), 'rooted:1'], { env: { TSBUILD_ROOT: '' } });
    assert.equal(imp.code, 0, imp.stderr);
    for (const args of [['--root', dir, 'images'], ['images', '--root', dir]]) {
      const r = await runCli(args, { env: { TSBUILD_ROOT: '' } });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^rooted +1 /m);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
