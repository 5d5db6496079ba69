import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { ImageStore, emptyConfig } from '../../src/image/index.js';

const child = join(import.meta.dirname, 'store-child.ts');

function spawnChild(args: string[]) {
  return spawn(process.execPath, ['--import', 'tsx', child, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
}

/** Every stored blob's content hashes to its name, and every listed image is whole. */
async function assertConsistent(root: string): Promise<void> {
  const dir = join(root, 'blobs', 'sha256');
  for (const hex of readdirSync(dir)) {
    assert.equal(createHash('sha256').update(readFileSync(join(dir, hex))).digest('hex'), hex, `blob ${hex} is whole`);
  }
  const s = await ImageStore.open(root);
  for (const img of await s.listImages()) {
    for (const l of img.manifest.layers) assert.ok(s.hasBlob(l.digest), `layer of ${img.tags} present`);
  }
}

test('a writer SIGKILLed at random moments never leaves a partial blob or a wedged store', async () => {
  const root = mkdtempSync(join(tmpdir(), 'tsb-crash-'));
  try {
    await ImageStore.open(root);
    for (let round = 0; round < 8; round++) {
      const c = spawnChild([root, 'write-loop']);
      await once(c.stdout!, 'data'); // the store is open: now let it write for a random while
      await new Promise((r) => setTimeout(r, 30 + Math.random() * 400));
      c.kill('SIGKILL');
      await once(c, 'close');
      await assertConsistent(root);
    }
    // the next command works without repair: even a lock left by a killed holder is broken
    const s = await ImageStore.open(root);
    const layer = await s.putBlob([Buffer.from('after the crashes')]);
    const img = await s.putImage({ config: emptyConfig(), layers: [layer], tags: ['after'] });
    assert.equal((await s.resolve('after')).id, img.id);
    await s.prune();
    assert.deepEqual(readdirSync(join(root, 'tmp')), [], 'dead writers\' temp files are cleaned by prune');
    assert.deepEqual(readdirSync(join(root, 'leases')).filter((f) => !f.startsWith(`${process.pid}-`)), []);
    await assertConsistent(root);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('two processes tagging and adding images on one store at once lose nothing', async () => {
  const root = mkdtempSync(join(tmpdir(), 'tsb-conc-'));
  try {
    const s = await ImageStore.open(root);
    const layer = await s.putBlob([Buffer.from('base layer')]);
    await s.putImage({ config: emptyConfig(), layers: [layer], tags: ['base'] });
    const N = 25;
    const kids = [spawnChild([root, 'tag-loop', 'a', String(N)]), spawnChild([root, 'tag-loop', 'b', String(N)])];
    const codes = await Promise.all(kids.map(async (k) => (await once(k, 'close'))[0]));
    assert.deepEqual(codes, [0, 0]);
    const base = await s.resolve('base');
    const tags = new Set(base.tags);
    for (const p of ['a', 'b']) {
      for (let i = 0; i < N; i++) assert.ok(tags.has(`docker.io/${p}/t:${i}`), `${p}/t:${i}`);
      for (let i = 0; i < N; i += 5) await s.resolve(`${p}/own:${i}`);
    }
    await assertConsistent(root);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('prune running while another process writes images never deletes what the writer is using', async () => {
  const root = mkdtempSync(join(tmpdir(), 'tsb-gcrace-'));
  let c: ReturnType<typeof spawnChild> | undefined;
  try {
    const s = await ImageStore.open(root);
    c = spawnChild([root, 'write-loop']);
    await once(c.stdout!, 'data');
    const until = Date.now() + 2500;
    let prunes = 0;
    while (Date.now() < until) {
      await s.prune();
      prunes++;
      await new Promise((r) => setTimeout(r, 20));
    }
    const exitedEarly = c.exitCode !== null;
    if (!exitedEarly) {
      const closed = once(c, 'close');
      c.kill('SIGKILL');
      await closed;
    }
    assert.ok(prunes > 5);
    // the writer never failed (it would have exited), and every image it recorded is whole
    assert.equal(exitedEarly, false, 'the writer was still running: nothing it used was pruned');
    const imgs = await s.listImages();
    assert.ok(imgs.length > 0, 'the writer made images while prune ran');
    await assertConsistent(root);
  } finally {
    if (c && c.exitCode === null && c.signalCode === null) {
      const closed = once(c, 'close');
      c.kill('SIGKILL');
      await closed;
    }
    rmSync(root, { recursive: true, force: true });
  }
});
