import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCli } from './helpers/cli.js';

test('tsbuild --help lists the commands and exits 0', async () => {
  const r = await runCli(['--help']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /Usage: tsbuild/);
  assert.match(r.stdout, /parse/);
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
