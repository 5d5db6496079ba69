/**
 * The builder with a real registry: FROM an image only the registry has, --pull, --push, and a
 * registry build cache that lets a second machine (a fresh store) rebuild without running steps.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ImageStore } from '../../src/image/store.js';
import { startRegistry, type TestRegistry } from '../helpers/registry-server.js';
import { buildFiles, makeBaseStore, type TempStore } from '../helpers/build.js';
import { runCli } from '../helpers/cli.js';

let reg: TestRegistry;
let base: TempStore;
let tmp: string;
let baseRef: string;

before(async () => {
  reg = await startRegistry();
  base = await makeBaseStore();
  tmp = mkdtempSync(join(tmpdir(), 'tsb-build-reg-'));
  baseRef = `${reg.host}/base/busybox:1`;
  const tag = await runCli(['tag', '--root', base.root, 'busybox:latest', baseRef]);
  assert.equal(tag.code, 0, tag.stderr);
  const push = await runCli(['push', '-q', '--root', base.root, baseRef]);
  assert.equal(push.code, 0, push.stderr);
});
after(async () => {
  await reg.stop();
  base.cleanup();
  rmSync(tmp, { recursive: true, force: true });
});

test('FROM an image only the registry has pulls it (same image ID as pushed), then builds', async () => {
  const root = join(tmp, 'fresh-1');
  const b = await buildFiles(root, `FROM ${baseRef}\nRUN echo built > /built\n`);
  assert.equal(b.newLayers.flat().find((f) => f.path === 'built')?.content, 'built\n');
  // the pull's layers are statuses of the FROM step on the one event stream, each finished
  const from = b.events.find((e) => e.type === 'step-start' && e.name.includes('FROM'))!;
  assert.equal(from.type, 'step-start');
  const done = b.events.flatMap((e) => (e.type === 'step-status' && e.id === (from as { id: number }).id && e.done ? [e.item] : []));
  assert.ok(done.includes(`resolve ${baseRef}`), JSON.stringify(done));
  const baseStore = await ImageStore.open(base.root);
  try {
    const img = (await baseStore.getImage(baseRef))!;
    // a pull names the registry's (compressed) blobs, as docker pull does: one finished item each
    const layerItems = done.filter((d) => /^sha256:[0-9a-f]{64}$/.test(d));
    assert.equal(layerItems.length, img.manifest.layers.length, JSON.stringify(done));
  } finally {
    await baseStore.close();
  }
  const store = await ImageStore.open(root);
  try {
    assert.equal((await store.getImage(baseRef))?.id, base.baseId);
  } finally {
    await store.close();
  }
});

test('--cache-to a registry, then a fresh store with --cache-from runs no step', async () => {
  const cacheRef = `${reg.host}/cache/app:buildcache`;
  const dockerfile = `FROM ${baseRef}\nRUN echo one > /one\nRUN echo two > /two\n`;
  const first = await buildFiles(join(tmp, 'machine-a'), dockerfile, {}, { cacheTo: [{ type: 'registry', ref: cacheRef, mode: 'max', ignoreError: false }] });
  assert.equal(first.steps.filter((s) => s.name.includes('RUN') && !s.cached).length, 2);
  const second = await buildFiles(join(tmp, 'machine-b'), dockerfile, {}, { cacheFrom: [{ type: 'registry', ref: cacheRef, mode: 'min', ignoreError: false }] });
  const runs = second.steps.filter((s) => s.name.includes('RUN'));
  assert.equal(runs.length, 2);
  assert.ok(runs.every((s) => s.cached), JSON.stringify(runs));
  assert.equal(second.imageId, first.imageId);
});

test('build --push pushes the tag; a fresh store pulls the same image ID', async () => {
  const ctx = mkdtempSync(join(tmp, 'ctx-'));
  const { writeFileSync } = await import('node:fs');
  writeFileSync(join(ctx, 'Dockerfile'), `FROM ${baseRef}\nLABEL pushed=yes\n`);
  const name = `${reg.host}/app/pushed:1`;
  const b = await runCli(['build', '-q', '--push', '--root', join(tmp, 'pusher'), '-t', name, ctx]);
  assert.equal(b.code, 0, b.stderr);
  const id = b.stdout.trim();
  const p = await runCli(['pull', '-q', '--root', join(tmp, 'puller'), name]);
  assert.equal(p.code, 0, p.stderr);
  const store = await ImageStore.open(join(tmp, 'puller'));
  try {
    assert.equal((await store.getImage(name))?.id, id);
  } finally {
    await store.close();
  }
});

test('build --push shows each layer pushed under its pushing step, then the manifest (plain progress)', async () => {
  const ctx = mkdtempSync(join(tmp, 'ctx-'));
  const { writeFileSync } = await import('node:fs');
  writeFileSync(join(ctx, 'Dockerfile'), `FROM ${baseRef}\nRUN echo layer > /layer\n`);
  const name = `${reg.host}/app/progress:1`;
  const root = join(tmp, 'progress');
  const b = await runCli(['build', '--progress=plain', '--push', '--root', root, '-t', name, ctx]);
  assert.equal(b.code, 0, b.stderr);
  const step = /^#(\d+) pushing (.*)$/m.exec(b.stderr);
  assert.ok(step, b.stderr);
  assert.equal(step[2], name);
  const store = await ImageStore.open(root);
  let layers: string[];
  try {
    layers = (await store.getImage(name))!.manifest.layers.map((l) => l.digest);
  } finally {
    await store.close();
  }
  assert.equal(layers.length, 2);
  for (const l of layers) assert.match(b.stderr, new RegExp(`^#${step[1]} ${l} \\S+ / \\S+ \\d+\\.\\ds done$`, 'm'));
  assert.match(b.stderr, new RegExp(`^#${step[1]} pushing manifest for ${name.replace(/[.]/g, '\\.')}@sha256:[0-9a-f]{64} \\d+\\.\\ds done$`, 'm'));
  assert.match(b.stderr, new RegExp(`^#${step[1]} DONE`, 'm'));
});

test('FROM a name no registry has is a located one-line error', async () => {
  const ctx = mkdtempSync(join(tmp, 'ctx-'));
  const { writeFileSync } = await import('node:fs');
  writeFileSync(join(ctx, 'Dockerfile'), `FROM ${reg.host}/nope/nothing:1\n`);
  const r = await runCli(['build', '-q', '--root', join(tmp, 'x'), ctx]);
  assert.equal(r.code, 1, r.stderr);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, /^Dockerfile:1:1: failed to resolve source metadata for .*nope\/nothing:1/);
});
