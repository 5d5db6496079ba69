/** `tsbuild parse` end to end, as a user runs it. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { projectRoot, runCli } from '../helpers/cli.js';

test('json (default): validated stages of the example Dockerfile', async () => {
  const r = await runCli(['parse', 'fixtures/dockerfiles/example/Dockerfile']);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.equal(out.stages.length, 2);
  assert.equal(out.stages[0].name, 'build');
  assert.deepEqual(out.metaArgs[0].args, [{ key: 'BASE', value: 'busybox:1.36' }]);
  assert.equal(out.directives[0].name, 'syntax');
  const copy = out.stages[1].instructions.find((i: { kind: string }) => i.kind === 'copy');
  assert.equal(copy.from, 'build');
  assert.equal(copy.location.line, 19);
});

test('dump reads stdin with -, and shows unknown flags before validation', async () => {
  const r = await runCli(['parse', '--format', 'dump', '-'], { input: 'FROM a\nCOPY --bogus=1 x y\n' });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, '(from "a")\n(copy ["--bogus=1"] "x" "y")\n');
});

test('default file is ./Dockerfile; errors are one located line, exit 1, no stack', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsbuild-parse-'));
  try {
    // runCli's `--import tsx` resolves from the working directory
    symlinkSync(join(projectRoot, 'node_modules'), join(dir, 'node_modules'));
    writeFileSync(join(dir, 'Dockerfile'), 'FROM a\nCOPY --bogus=1 x y\n');
    const bad = await runCli(['parse'], { cwd: dir });
    assert.equal(bad.code, 1);
    assert.equal(bad.stderr, 'Dockerfile:2:6: COPY: unknown flag: --bogus\n');
    assert.equal(bad.stdout, '');
    const syntax = await runCli(['parse', '-'], { cwd: dir, input: 'FROM a\nRUN <<EOF\nno end\n' });
    assert.equal(syntax.code, 1);
    assert.equal(syntax.stderr, 'Dockerfile:2:1: unterminated heredoc EOF\n');
    const missing = await runCli(['parse', 'nope/Dockerfile'], { cwd: dir });
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^tsbuild: cannot read nope\/Dockerfile: ENOENT\n$/);
    const fmt = await runCli(['parse', '--format', 'yaml'], { cwd: dir });
    assert.equal(fmt.code, 1);
    assert.match(fmt.stderr, /unknown format "yaml"/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('warnings go to stderr, the result to stdout', async () => {
  const r = await runCli(['parse', '--format', 'dump', '-'], { input: 'FROM a\nRUN a \\\n\nb\n' });
  assert.equal(r.code, 0);
  assert.equal(r.stdout, '(from "a")\n(run "a b")\n');
  assert.match(r.stderr, /^Dockerfile:4: warning: Empty continuation line found in: RUN a b\n$/);
});
