import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCli } from '../helpers/cli.js';

test('tsbuild --help lists the commands and exits 0', async () => {
  const r = await runCli(['--help']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /Usage: tsbuild/);
  assert.match(r.stdout, /parse/);
});

test('`build` runs in a program of its own command alone (main.ts): its help and its misuse are those the whole program gives', async () => {
  // `help build` and a line without the command word make the whole program
  const [alone, whole] = await Promise.all([runCli(['build', '--help']), runCli(['help', 'build'])]);
  assert.equal(alone.code, 0);
  assert.match(alone.stdout, /^Usage: tsbuild build \[options\] \[context\]/);
  assert.equal(alone.stdout, whole.stdout);
  const [flag, flagWhole] = await Promise.all([runCli(['build', '--frobnicate']), runCli(['--frobnicate'])]);
  assert.deepEqual([flag.code, flag.stderr], [flagWhole.code, flagWhole.stderr]);
  const extra = await runCli(['build', 'a', 'b']);
  assert.equal(extra.code, 1);
  assert.match(extra.stderr, /^"tsbuild build" requires at most 1 argument\.\nSee 'tsbuild build --help'\./);
});

test('tsbuild --version prints the package version', async () => {
  const r = await runCli(['--version']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /^\d+\.\d+\.\d+\n$/);
});

test('misuse as Docker reports it: an unknown flag exits 125, a wrong number of arguments 1', async () => {
  const r = await runCli(['--frobnicate']);
  assert.equal(r.code, 125);
  assert.equal(r.stderr, "unknown flag: --frobnicate\nSee 'tsbuild build --help'.\n");
  const sub = await runCli(['images', '--foo']);
  assert.deepEqual([sub.code, sub.stderr], [125, "unknown flag: --foo\nSee 'tsbuild images --help'.\n"]);
  const choice = await runCli(['build', '--progress', 'fancy', '.']);
  assert.equal(choice.code, 125);
  assert.match(choice.stderr, /^invalid argument "fancy" for "--progress" flag: allowed choices are auto, /);
  const args = await runCli(['tag', 'a']);
  assert.equal(args.code, 1);
  assert.match(args.stderr, /^"tsbuild tag" requires exactly 2 arguments\.\nSee 'tsbuild tag --help'\.\n\nUsage:  tsbuild tag /);
  const many = await runCli(['parse', 'a', 'b']);
  assert.equal(many.code, 1);
  assert.match(many.stderr, /^"tsbuild parse" requires at most 1 argument\./);
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
  const { busyboxRootfsTar } = await import('../helpers/fixtures.js');
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
