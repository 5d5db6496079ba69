import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildFiles, makeBaseStore, type Built, type TempStore } from '../helpers/build.js';
import { parseCacheSpec } from '../../src/cli/build-flags.js';
import { MOUNTS_ARTIFACT_TYPE, MOUNT_ID_ANNOTATION, mountsTag } from '../../src/builder/cache-mounts-export.js';
import type { CacheSpec } from '../../src/builder/options.js';
import { startRegistry } from '../helpers/registry-server.js';

const stores: TempStore[] = [];
const work = mkdtempSync(join(tmpdir(), 'tsb-cache-mounts-'));
after(() => {
  for (const s of stores) s.cleanup();
  rmSync(work, { recursive: true, force: true });
});
async function store(): Promise<TempStore> {
  const s = await makeBaseStore();
  stores.push(s);
  return s;
}

// the RUN's key changes with BUST, so it really runs; it says whether its cache mount was warm
const DF = [
  'FROM busybox',
  'ARG BUST',
  "RUN --mount=type=cache,id=pkgs,target=/var/cache/pkgs,sharing=locked echo $BUST && if test -f /var/cache/pkgs/pkg.tgz; then echo HIT > /result; else echo downloaded > /var/cache/pkgs/pkg.tgz && mkdir -p /var/cache/pkgs/sub && echo x > /var/cache/pkgs/sub/y && echo MISS > /result; fi",
].join('\n');

const result = (b: Built) => b.newLayers.flat().find((f) => f.path === 'result')?.content;
const logsOf = (b: Built, prefix: string) => b.steps.filter((s) => s.name.startsWith(prefix)).map((s) => s.logs).join('');

test('a cache mount filled in store A travels through a local cache (mounts=true) into a fresh store B', async () => {
  const dest = join(work, 'cache');
  const a = await store();
  const to: CacheSpec = { type: 'local', dir: dest, tag: 'latest', mode: 'max', ignoreError: false, mounts: true };
  const first = await buildFiles(a.root, DF, {}, { buildArgs: { BUST: '1' }, cacheTo: [to] });
  assert.equal(result(first), 'MISS\n');
  // the report: one line per mount with its size and file count
  assert.match(logsOf(first, 'exporting 1 cache mount'), /^id=pkgs \S+ in 2 files \(gzip \S+\)\n$/);
  // an OCI artifact with the mount's id on its layer
  const index = JSON.parse(readFileSync(join(dest, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string; annotations?: Record<string, string> }> };
  const desc = index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === mountsTag('latest'));
  assert.ok(desc, 'the mounts artifact is named in index.json');
  const manifest = JSON.parse(readFileSync(join(dest, 'blobs', 'sha256', desc.digest.slice(7)), 'utf8')) as { artifactType: string; layers: Array<{ mediaType: string; annotations: Record<string, string> }> };
  assert.equal(manifest.artifactType, MOUNTS_ARTIFACT_TYPE);
  assert.equal(manifest.layers.length, 1);
  assert.equal(manifest.layers[0]!.annotations[MOUNT_ID_ANNOTATION], 'pkgs');
  assert.match(manifest.layers[0]!.mediaType, /tar\+gzip$/);

  const from: CacheSpec = { type: 'local', dir: dest, tag: 'latest', mode: 'min', ignoreError: false, mounts: true };
  // control: a fresh store without the import starts cold
  const cold = await store();
  assert.equal(result(await buildFiles(cold.root, DF, {}, { buildArgs: { BUST: '2' } })), 'MISS\n');
  const b = await store();
  const warm = await buildFiles(b.root, DF, {}, { buildArgs: { BUST: '2' }, cacheFrom: [from] });
  assert.equal(result(warm), 'HIT\n');
  assert.equal(warm.steps.find((s) => s.name.includes('RUN'))?.cached, false, 'the step ran');
  assert.match(logsOf(warm, 'importing cache mounts'), /id=pkgs: filled/);
  // a store whose mount is not empty keeps its own
  const again = await buildFiles(b.root, DF, {}, { buildArgs: { BUST: '3' }, cacheFrom: [from] });
  assert.equal(result(again), 'HIT\n');
  assert.match(logsOf(again, 'importing cache mounts'), /id=pkgs: kept the local one/);
});

test('cache mounts travel through a registry too (type=registry,mounts=true)', async () => {
  const reg = await startRegistry();
  try {
    const ref = `${reg.host}/cache/app:ci`;
    const a = await store();
    const first = await buildFiles(a.root, DF, {}, { buildArgs: { BUST: '20' }, cacheTo: [{ type: 'registry', ref, mode: 'min', ignoreError: false, mounts: true }] });
    assert.equal(result(first), 'MISS\n');
    assert.match(logsOf(first, 'exporting 1 cache mount'), /^id=pkgs \S+ in 2 files \(gzip/);
    const b = await store();
    const warm = await buildFiles(b.root, DF, {}, { buildArgs: { BUST: '21' }, cacheFrom: [{ type: 'registry', ref, mode: 'min', ignoreError: false, mounts: true }] });
    assert.equal(result(warm), 'HIT\n');
  } finally {
    await reg.stop();
  }
});

test('mounts-max-size: a mount over the limit is skipped and reported', async () => {
  const a = await store();
  const dest = join(work, 'small');
  const b = await buildFiles(a.root, DF, {}, {
    buildArgs: { BUST: '9' },
    cacheTo: [{ type: 'local', dir: dest, tag: 'latest', mode: 'min', ignoreError: false, mounts: true, mountsMaxBytes: 4 }],
  });
  assert.match(logsOf(b, 'exporting 1 cache mount'), /^id=pkgs \S+ in 2 files: skipped, over mounts-max-size/);
  // nothing to import from it: the next store stays cold
  const c = await store();
  const cold = await buildFiles(c.root, DF, {}, { buildArgs: { BUST: '10' }, cacheFrom: [{ type: 'local', dir: dest, tag: 'latest', mode: 'min', ignoreError: false, mounts: true }] });
  assert.equal(result(cold), 'MISS\n');
});

test('--cache-to/--cache-from mounts= and mounts-max-size= are parsed at the edge', () => {
  assert.deepEqual(parseCacheSpec('type=local,dest=/c,mounts=true,mounts-max-size=512m', 'to'), {
    type: 'local', dir: '/c', tag: 'latest', mode: 'min', ignoreError: false, mounts: true, mountsMaxBytes: 512 * 1024 ** 2,
  });
  assert.equal(parseCacheSpec('type=local,src=/c', 'from').mounts, undefined);
  assert.throws(() => parseCacheSpec('type=local,dest=/c,mounts=yes', 'to'), /mounts must be true or false/);
  assert.throws(() => parseCacheSpec('type=local,src=/c,mounts=true,mounts-max-size=1g', 'from'), /applies to --cache-to only/);
  assert.throws(() => parseCacheSpec('type=local,dest=/c,mounts=true,mounts-max-size=lots', 'to'), /mounts-max-size/);
});
