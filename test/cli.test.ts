import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCli } from './helpers/cli.js';

test('tsbuild --help lists the commands and exits 0', async () => {
  const r = await runCli(['--help']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /Usage: tsbuild/);
  assert.match(r.stdout, /parse/);
});

test('an unknown command is a usage error with a non-zero exit', async () => {
  const r = await runCli(['frobnicate']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /unknown command/);
});
