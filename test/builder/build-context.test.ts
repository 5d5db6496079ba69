import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { buildFiles, buildFails, makeBaseStore, makeContext, saveToFile, type TempStore } from '../helpers/build.js';
import { parseBuildContexts } from '../../src/cli/build-flags.js';
import { ImageStore } from '../../src/image/store.js';
import { TsbuildError } from '../../src/errors.js';

let s: TempStore;
before(async () => {
  s = await makeBaseStore();
});
after(() => s.cleanup());

const file = (layers: { path: string; content?: string; uid: number }[][], p: string) => layers.flat().find((f) => f.path === p);

test('COPY --from and RUN --mount=from= read a directory context, its .dockerignore applied, owned by root', async () => {
  const dir = makeContext({ 'a.txt': 'from docs\n', 'secret.txt': 'no', '.dockerignore': 'secret.txt\n', 'sub/b.txt': 'bee' });
  const b = await buildFiles(
    s.root,
    ['FROM busybox', 'COPY --from=docs / /docs/', 'RUN --mount=type=bind,from=docs,target=/mnt cat /mnt/sub/b.txt > /got && (test -e /mnt/secret.txt && echo yes || echo no) > /secret'].join('\n'),
    {},
    { buildContexts: { docs: { kind: 'local', dir } } },
  );
  assert.equal(file(b.newLayers, 'docs/a.txt')?.content, 'from docs\n');
  assert.equal(file(b.newLayers, 'docs/a.txt')?.uid, 0);
  assert.equal(file(b.newLayers, 'docs/secret.txt'), undefined);
  assert.equal(file(b.newLayers, 'got')?.content, 'bee');
  assert.equal(file(b.newLayers, 'secret')?.content, 'no\n');
  // the context's own layer is not part of the image (only what COPY took from it)
  assert.equal(b.image.manifest.layers.length, 3);
});

test('a directory context is keyed by its content: unchanged = cached, a changed file = the step runs', async () => {
  const dir = makeContext({ 'v.txt': 'one' });
  const df = ['FROM busybox', 'COPY --from=inp v.txt /v.txt', 'RUN cat /v.txt > /seen'].join('\n');
  const opts = { buildContexts: { inp: { kind: 'local' as const, dir } } };
  const first = await buildFiles(s.root, df, {}, opts);
  assert.equal(file(first.newLayers, 'seen')?.content, 'one');
  const again = await buildFiles(s.root, df, {}, opts);
  assert.equal(again.imageId, first.imageId);
  assert.ok(again.steps.filter((st) => /COPY|RUN/.test(st.name)).every((st) => st.cached), 'every step cached');
  writeFileSync(join(dir, 'v.txt'), 'two');
  const changed = await buildFiles(s.root, df, {}, opts);
  assert.notEqual(changed.imageId, first.imageId);
  assert.equal(file(changed.newLayers, 'seen')?.content, 'two');
  assert.equal(changed.steps.find((st) => st.name.includes('COPY'))?.cached, false);
});

test('docker-image:// replaces the image FROM names (alpine:latest and alpine are one name)', async () => {
  const b = await buildFiles(s.root, ['FROM alpine:latest', 'RUN echo ok > /ok'].join('\n'), {}, {
    buildContexts: { alpine: { kind: 'image', ref: 'bbtest:1' } },
  });
  assert.equal(b.layers.length, 2);
  assert.equal(file(b.newLayers, 'ok')?.content, 'ok\n');
  const store = await ImageStore.open(s.root);
  try {
    assert.equal(b.image.manifest.layers[0]!.digest, (await store.resolve('bbtest:1')).manifest.layers[0]!.digest);
  } finally {
    await store.close();
  }
});

test('a named context overrides a stage of the same name (the stage is not built)', async () => {
  const dir = makeContext({ f: 'from context' });
  const b = await buildFiles(
    s.root,
    ['FROM busybox AS deps', 'RUN echo from stage > /f && echo ran > /ran', 'FROM busybox', 'COPY --from=deps /f /f'].join('\n'),
    {},
    { buildContexts: { deps: { kind: 'local', dir } } },
  );
  assert.equal(file(b.newLayers, 'f')?.content, 'from context');
  assert.equal(b.steps.some((st) => st.name.includes('echo from stage')), false);
});

test('oci-layout:// reads the image of a layout directory written by save --format oci', async () => {
  const work = mkdtempSync(join(tmpdir(), 'tsb-ocictx-'));
  try {
    const tar = join(work, 'img.tar');
    await saveToFile(s.root, ['bbtest:1'], tar, 'oci');
    const layout = join(work, 'layout');
    execFileSync('mkdir', [layout]);
    execFileSync('tar', ['-xf', tar, '-C', layout]);
    // a fresh store: the image comes from the layout alone
    const fresh = await makeBaseStore();
    try {
      const b = await buildFiles(fresh.root, ['FROM base', 'RUN echo hi > /hi'].join('\n'), {}, {
        buildContexts: { base: { kind: 'oci-layout', dir: layout } },
      });
      assert.equal(file(b.newLayers, 'hi')?.content, 'hi\n');
      // by the tag save wrote (`1` of bbtest:1) and by the manifest's digest: the same base
      const { readFileSync } = await import('node:fs');
      const digest = (JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> }).manifests[0]!.digest;
      for (const ctx of [{ kind: 'oci-layout' as const, dir: layout, tag: '1' }, { kind: 'oci-layout' as const, dir: layout, digest }]) {
        const again = await buildFiles(fresh.root, ['FROM base', 'RUN echo hi > /hi'].join('\n'), {}, { buildContexts: { base: ctx } });
        assert.equal(again.imageId, b.imageId);
      }
      const wrongTag = await buildFails(fresh.root, 'FROM base\n', {}, { buildContexts: { base: { kind: 'oci-layout', dir: layout, tag: 'nope' } } });
      assert.match(wrongTag.error.message, /no image named nope/);
      const bad = await buildFails(fresh.root, 'FROM base\n', {}, { buildContexts: { base: { kind: 'oci-layout', dir: join(work, 'nope') } } });
      assert.match(bad.error.message, /build context base: .*not an OCI image layout/);
    } finally {
      fresh.cleanup();
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});

test('--build-context values are parsed once into typed sources; bad ones are one-line usage errors (exit 1)', () => {
  assert.deepEqual(parseBuildContexts(['docs=./d', 'alpine=docker-image://busybox:1.36'], '/w').docs, { kind: 'local', dir: '/w/d' });
  assert.throws(() => parseBuildContexts(['Alpine=docker-image://busybox'], '/w'), /invalid context name Alpine/);
  assert.deepEqual(parseBuildContexts(['alpine:latest=docker-image://busybox:1.36'], '/w'), { alpine: { kind: 'image', ref: 'busybox:1.36' } });
  const d = 'sha256:' + 'a'.repeat(64);
  assert.deepEqual(parseBuildContexts([`b=oci-layout:///l/x:v1@${d}`], '/w').b, { kind: 'oci-layout', dir: '/l/x', tag: 'v1', digest: d });
  for (const bad of ['docs', '=x', 'a=', 'a=https://example.com/x.git', 'a=oci-layout://x@sha256:12', 'a=docker-image://UP']) {
    assert.throws(
      () => parseBuildContexts([bad], '/w'),
      (e: unknown) => e instanceof TsbuildError && e.code === 'USAGE' && e.exitCode !== 125 && !e.message.includes('\n'),
      bad,
    );
  }
});

test('CLI: --build-context NAME=DIR is relative to the working dir; a bad value is one line, exit 1', async () => {
  const { runCli } = await import('../helpers/cli.js');
  const cwd = makeContext({ 'docs/n.txt': 'note\n', 'app/Dockerfile': 'FROM busybox\nCOPY --from=docs n.txt /n.txt\n' });
  const ok = await runCli(['build', '-q', '--root', s.root, '--build-context', 'docs=docs', '-t', 'ctx-cli:1', 'app'], { cwd });
  assert.equal(ok.code, 0, ok.stderr);
  const bad = await runCli(['build', '--root', s.root, '--build-context', 'docs', 'app'], { cwd });
  assert.equal(bad.code, 1);
  assert.equal(bad.stderr.trim().split('\n').length, 1);
  assert.match(bad.stderr, /invalid context value: docs, expected key=value/);
  const store = await ImageStore.open(s.root);
  try {
    assert.ok(await store.getImage('ctx-cli:1'));
  } finally {
    await store.close();
  }
});
