/**
 * `build --metadata-file`: buildx's result keys, read back and compared with `tsbuild inspect`
 * and the store; nothing written by a failed build.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';
import { makeBaseStore, makeContext, type TempStore } from '../helpers/build.js';
import { ImageStore } from '../../src/image/store.js';

let s: TempStore;
let ctx: string;
let out: string;
before(async () => {
  s = await makeBaseStore();
  ctx = makeContext({ Dockerfile: 'FROM busybox\nRUN echo meta > /m\n', 'bad.Dockerfile': 'FROM busybox\nRUN exit 3\n' });
  out = mkdtempSync(join(tmpdir(), 'tsb-meta-'));
});
after(() => {
  s?.cleanup();
  for (const d of [ctx, out]) if (d) rmSync(d, { recursive: true, force: true });
});

test('build --metadata-file: buildx keys match inspect and the store; a failed build writes nothing', async () => {
  const file = join(out, 'meta.json');
  const r = await runCli(['build', '-t', 'meta:1', '-t', 'example.com/team/app:2', '--metadata-file', file, ctx, '--root', s.root]);
  assert.equal(r.code, 0, r.stderr);
  const meta = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  assert.deepEqual(readdirSync(out), ['meta.json'], 'no temp file left');

  const i = await runCli(['inspect', 'meta:1', '--root', s.root]);
  assert.equal(i.code, 0, i.stderr);
  const [img] = JSON.parse(i.stdout) as Array<{ Id: string; Descriptor: { mediaType: string; digest: string; size: number } }>;
  const store = await ImageStore.open(s.root);
  try {
    const stored = await store.resolve('meta:1');
    assert.equal(stored.manifestDigest, img!.Descriptor.digest);
    assert.equal(stored.manifest.config.digest, img!.Id);
    assert.deepEqual(meta, {
      'containerimage.config.digest': img!.Id,
      'containerimage.descriptor': { mediaType: stored.manifest.mediaType, digest: stored.manifestDigest, size: store.blobs.size(stored.manifestDigest) },
      'containerimage.digest': stored.manifestDigest,
      'image.name': 'docker.io/library/meta:1,example.com/team/app:2',
    });
    assert.deepEqual(img!.Descriptor, meta['containerimage.descriptor']);
  } finally {
    await store.close();
  }

  const failed = join(out, 'failed.json');
  const f = await runCli(['build', '-f', join(ctx, 'bad.Dockerfile'), '--metadata-file', failed, ctx, '--root', s.root]);
  assert.notEqual(f.code, 0);
  assert.equal(existsSync(failed), false);
});
