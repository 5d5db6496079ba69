/**
 * The archive round trip through both tools: a Docker-built image → `docker save` → `tsbuild load`
 * → `tsbuild save` → `docker load` keeps Docker's image ID, and the image runs the same.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../test/helpers/cli.js';
import { busyboxRootfsTar } from '../test/helpers/fixtures.js';
import { docker, findDocker } from './helpers/docker.js';

const engine = await findDocker();
const skip = 'reason' in engine ? engine.reason : false;

test('docker save -> tsbuild load -> tsbuild save -> docker load keeps the image ID', { skip }, async () => {
  if ('reason' in engine) return;
  const dir = mkdtempSync(join(tmpdir(), 'tsb-roundtrip-'));
  const tag = 'tsbcompat-roundtrip:1';
  try {
    await docker(engine, ['import', busyboxRootfsTar(), 'tsbcompat-roundtrip-base:1']);
    writeFileSync(join(dir, 'Dockerfile'), 'FROM tsbcompat-roundtrip-base:1\nRUN echo from-docker > /marker && rm /bin/arch\nCMD ["cat", "/marker"]\n');
    await docker(engine, ['build', '-q', '--network=none', '-t', tag, dir], { timeoutMs: 120_000 });
    const id = (await docker(engine, ['image', 'inspect', '--format', '{{.Id}}', tag])).trim();
    await docker(engine, ['save', '-o', join(dir, 'docker.tar'), tag]);
    const root = join(dir, 'store');
    const load = await runCli(['load', '--root', root, '-i', join(dir, 'docker.tar')]);
    assert.equal(load.code, 0, load.stderr);
    const save = await runCli(['save', '--root', root, '-o', join(dir, 'tsbuild.tar'), tag]);
    assert.equal(save.code, 0, save.stderr);
    await docker(engine, ['rmi', '-f', tag]);
    await docker(engine, ['load', '-i', join(dir, 'tsbuild.tar')]);
    assert.equal((await docker(engine, ['image', 'inspect', '--format', '{{.Id}}', tag])).trim(), id);
    assert.equal(await docker(engine, ['run', '--rm', '--network=none', tag]), 'from-docker\n');
  } finally {
    await docker(engine, ['rmi', '-f', tag, 'tsbcompat-roundtrip-base:1']).catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
});
