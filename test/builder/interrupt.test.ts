/** SIGINT during a build: the build stops, and nothing half-made is left behind. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { makeBaseStore } from '../helpers/build.js';
import { projectRoot } from '../helpers/cli.js';

test('SIGINT stops a running RUN: exit 130, no image, no cache entry, no temp dirs, no mounts or processes', async () => {
  const s = await makeBaseStore();
  const ctx = mkdtempSync(join(tmpdir(), 'tsb-int-'));
  const marker = `tsbuild-interrupt-${process.pid}`;
  try {
    writeFileSync(join(ctx, 'Dockerfile'), `FROM busybox\nRUN echo started; sleep 30; echo ${marker}\n`);
    const cacheBefore = readdirSync(join(s.root, 'cache')).length;
    const tsx = pathToFileURL(join(projectRoot, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;
    const child = spawn(process.execPath, ['--import', tsx, join(projectRoot, 'src', 'cli', 'main.ts'), 'build', '--progress=plain', '--root', s.root, '-t', 'never:1', ctx], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      if (/^#\d+ [\d.]+ started$/m.test(err) && !child.killed) child.kill('SIGINT');
    });
    const code = await new Promise<number | null>((res) => child.on('close', (c) => res(c)));
    assert.equal(code, 130, err);
    assert.match(err, /interrupted/);
    assert.doesNotMatch(err, new RegExp(`^#\\d+ [\\d.]+ ${marker}$`, 'm'), 'the step did not run to its end');
    const index = JSON.parse(readFileSync(join(s.root, 'index.json'), 'utf8'));
    assert.ok(!JSON.stringify(index).includes('never'), 'no image was tagged');
    assert.equal(readdirSync(join(s.root, 'cache')).length, cacheBefore, 'no cache entry was written');
    assert.deepEqual(readdirSync(join(s.root, 'tmp')), [], 'no temp dirs are left');
    assert.ok(!readFileSync('/proc/self/mountinfo', 'utf8').includes(s.root), 'no mounts are left');
    const procs = readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
      try {
        return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(marker);
      } catch {
        return false;
      }
    });
    assert.deepEqual(procs, [], 'no process of the step survives');
  } finally {
    rmSync(ctx, { recursive: true, force: true });
    s.cleanup();
  }
});
