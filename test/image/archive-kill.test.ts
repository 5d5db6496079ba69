/**
 * `load` killed half-way through a layer (SIGKILL, nothing runs after it): the store shows nothing
 * half-made — every blob in it hashes to its name, the half-written layer is no blob, no image is
 * listed — and a second load of the same archive into it succeeds. The archive is fed through a
 * FIFO given as `-i`, so the kill lands while the layer is being written, on any machine.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, readFileSync, readdirSync, statSync, existsSync, mkdirSync, writeFileSync, createWriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync, spawn } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { createHash, randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { runCli, projectRoot } from '../helpers/cli.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function ok(root: string, ...args: string[]): Promise<string> {
  const r = await runCli([...args, '--root', root]);
  assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

test('load killed mid-layer leaves only whole, verified blobs and no image; a second load succeeds', async () => {
  const w = mkdtempSync(join(tmpdir(), 'tsb-load-kill-'));
  try {
    const tree = join(w, 'tree');
    mkdirSync(tree);
    writeFileSync(join(tree, 'big'), randomBytes(48 << 20));
    writeFileSync(join(tree, 'small'), 'hello\n');
    execFileSync('tar', ['-cf', join(w, 'rootfs.tar'), '-C', tree, '.']);
    const a = join(w, 'a');
    await ok(a, 'import', join(w, 'rootfs.tar'), 'big:1');
    await ok(a, 'save', '-o', join(w, 'd.tar'), 'big:1');
    const layer = (JSON.parse(await ok(a, 'inspect', 'big:1'))[0].RootFS.Layers[0] as string).slice(7);
    const archive = readFileSync(join(w, 'd.tar'));

    const b = join(w, 'b');
    const fifo = join(w, 'in.fifo');
    execFileSync('mkfifo', [fifo]);
    const tsx = pathToFileURL(join(projectRoot, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;
    const child = spawn(process.execPath, ['--import', tsx, join(projectRoot, 'src', 'cli', 'main.ts'), 'load', '-i', fifo, '--root', b], { stdio: 'ignore' });
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
    // half the archive: the layer's temp file fills up to ~24 MiB, then the load waits for more
    const feed = createWriteStream(fifo);
    feed.on('error', () => {}); // EPIPE once the reader is killed
    feed.write(archive.subarray(0, archive.length >> 1));
    const tmp = join(b, 'tmp');
    const deadline = Date.now() + 60_000;
    const writing = () => existsSync(tmp) && readdirSync(tmp).some((n) => statSync(join(tmp, n)).size >= 8 << 20);
    while (!writing()) {
      assert.ok(Date.now() < deadline, 'the layer never started to be written');
      await sleep(20);
    }
    child.kill('SIGKILL');
    assert.equal(await exited, 'SIGKILL');
    feed.destroy();

    const blobs = join(b, 'blobs', 'sha256');
    for (const n of existsSync(blobs) ? readdirSync(blobs) : []) assert.equal(sha(readFileSync(join(blobs, n))), n, `blob ${n} holds other bytes`);
    assert.ok(!existsSync(join(blobs, layer)), 'the half-written layer is not a blob');
    assert.doesNotMatch(await ok(b, 'images'), /big/, 'no image is listed');

    assert.match(await ok(b, 'load', '-i', join(w, 'd.tar')), /Loaded image: big:1/);
    assert.equal(sha(readFileSync(join(blobs, layer))), layer);
    assert.deepEqual(JSON.parse(await ok(b, 'inspect', 'big:1'))[0].RootFS.Layers, [`sha256:${layer}`]);
  } finally {
    rmSync(w, { recursive: true, force: true });
  }
});
