/**
 * Self-test of the compat suite's own machinery, no Docker needed: image-tree.ts applies layers
 * (explicit and opaque whiteouts, dir<->file swaps, hard links stored either way round) and
 * compare.ts reports the differences it must report. A comparer that sees nothing would make every
 * compat case pass; this keeps it honest.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tar from 'tar-stream';
import { readDockerArchive } from './helpers/image-tree.js';
import { compareConfig, compareHistory, compareLayerCount, compareLayers, compareTrees } from './helpers/compare.js';

type Ent = { name: string; type?: 'file' | 'directory' | 'symlink' | 'link'; body?: string | Buffer; mode?: number; uid?: number; linkname?: string };

async function tarOf(entries: Ent[]): Promise<Buffer> {
  const p = tar.pack();
  const chunks: Buffer[] = [];
  p.on('data', (c: unknown) => void chunks.push(c as Buffer));
  const done = new Promise<void>((r) => p.on('end', () => r()));
  for (const e of entries) {
    const type = e.type ?? (e.body !== undefined ? 'file' : 'directory');
    const header = { name: e.name, type, mode: e.mode ?? (type === 'directory' ? 0o755 : 0o644), uid: e.uid ?? 0, gid: 0, ...(e.linkname ? { linkname: e.linkname } : {}) };
    await new Promise<void>((res, rej) => {
      const cb = (err?: Error | null) => (err ? rej(err) : res());
      if (type === 'file') p.entry(header, e.body ?? '', cb);
      else p.entry(header, cb);
    });
  }
  p.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** A docker-archive with the given layers, config and history. */
async function archive(dir: string, name: string, layers: Ent[][], config: Record<string, unknown> = {}, history: unknown[] = []): Promise<string> {
  const files: Array<[string, Buffer]> = [];
  const diffIds: string[] = [];
  const paths: string[] = [];
  for (const [i, l] of layers.entries()) {
    const data = await tarOf(l);
    diffIds.push('sha256:' + createHash('sha256').update(data).digest('hex'));
    paths.push(`l${i}/layer.tar`);
    files.push([`l${i}/layer.tar`, data]);
  }
  const cfg = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config, history, rootfs: { type: 'layers', diff_ids: diffIds } }));
  files.push(['config.json', cfg], ['manifest.json', Buffer.from(JSON.stringify([{ Config: 'config.json', RepoTags: null, Layers: paths }]))]);
  const out = await tarOf(files.map(([n, b]) => ({ name: n, body: b })));
  const file = join(dir, name);
  writeFileSync(file, out);
  return file;
}

const base: Ent[] = [
  { name: 'etc/' },
  { name: 'etc/passwd', body: 'root:x:0:0\n' },
  { name: 'd/' },
  { name: 'd/a', body: 'a' },
  { name: 'd/sub/' },
  { name: 'd/sub/b', body: 'b' },
  { name: 'f', body: 'file' },
];

describe('compat helpers (no Docker)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'compat-helpers-'));

  it('applies explicit and opaque whiteouts and type swaps the same way', async () => {
    const explicit = await archive(dir, 'x.tar', [base, [{ name: 'd/' }, { name: 'd/.wh.a' }, { name: 'd/.wh.sub' }, { name: 'd/new', body: 'n' }, { name: '.wh.f' }, { name: 'f/' }, { name: 'f/in', body: 'i' }]]);
    const opaque = await archive(dir, 'o.tar', [base, [{ name: 'd/' }, { name: 'd/.wh..wh..opq' }, { name: 'd/new', body: 'n' }, { name: 'f/' }, { name: 'f/in', body: 'i' }]]);
    const a = await readDockerArchive(explicit);
    const b = await readDockerArchive(opaque);
    assert.deepEqual([...a.tree.keys()].sort(), ['/d', '/d/new', '/etc', '/etc/passwd', '/f', '/f/in']);
    assert.deepEqual(compareTrees(a.tree, b.tree), []);
    assert.deepEqual(compareLayers(a, b), []);
    assert.deepEqual([...a.layers[1]!.deleted].sort(), ['/d/a', '/d/sub', '/d/sub/b']);
  });

  it('treats hard links alike whichever peer the tar stores first', async () => {
    const one = await archive(dir, 'h1.tar', [[{ name: 'p', body: 'same' }, { name: 'q', type: 'link', linkname: 'p' }]]);
    const two = await archive(dir, 'h2.tar', [[{ name: 'q', body: 'same' }, { name: 'p', type: 'link', linkname: 'q' }]]);
    const a = await readDockerArchive(one);
    const b = await readDockerArchive(two);
    assert.deepEqual(a.tree.get('/q')?.hardlinks, ['/p']);
    assert.equal(a.tree.get('/q')?.sha256, a.tree.get('/p')?.sha256);
    assert.deepEqual(compareTrees(a.tree, b.tree), []);
    const separate = await readDockerArchive(await archive(dir, 'h3.tar', [[{ name: 'p', body: 'same' }, { name: 'q', body: 'same' }]]));
    assert.match(compareTrees(separate.tree, a.tree).join('\n'), /~ \/p .*hardlinks \[\] vs \[\/q\]/);
  });

  it('reports path-by-path tree differences', async () => {
    const a = await readDockerArchive(await archive(dir, 'ta.tar', [[...base, { name: 'only-a', body: '1' }, { name: 'l', type: 'symlink', linkname: 'f' }]]));
    const b = await readDockerArchive(await archive(dir, 'tb.tar', [[...base.map((e) => (e.name === 'd/a' ? { ...e, mode: 0o4755, uid: 1000 } : e.name === 'f' ? { ...e, body: 'other' } : e)), { name: 'l', type: 'symlink', linkname: '/f' }]]));
    const d = compareTrees(a.tree, b.tree);
    assert.deepEqual(d, [
      '~ /d/a  tsbuild vs docker: mode 00644 vs 04755; owner 0:0 vs 1000:0',
      '~ /f  tsbuild vs docker: size 4 vs 5; content ' + a.tree.get('/f')!.sha256!.slice(0, 12) + ' vs ' + b.tree.get('/f')!.sha256!.slice(0, 12),
      '~ /l  tsbuild vs docker: link target "f" vs "/f"',
      '+ /only-a  (only tsbuild: file 00644 0:0 1B ' + a.tree.get('/only-a')!.sha256!.slice(0, 12) + ')',
    ]);
  });

  it('reports config, history and layer-count differences', async () => {
    const a = await readDockerArchive(await archive(dir, 'ca.tar', [base], { Env: ['A=1', 'PATH=/bin'], Cmd: ['sh'], Labels: null }, [{ created_by: 'RUN x', comment: 'buildkit.dockerfile.v0' }]));
    const b = await readDockerArchive(await archive(dir, 'cb.tar', [base, []], { Env: ['PATH=/bin', 'A=1'], Cmd: ['sh'], User: 'u' }, [{ created_by: 'RUN y', comment: 'buildkit.dockerfile.v0', empty_layer: true }, {}]));
    assert.deepEqual(compareConfig(a, b), ['config.Env order: tsbuild=["A=1","PATH=/bin"] docker=["PATH=/bin","A=1"]', 'config.User: tsbuild=(unset) docker="u"']);
    assert.deepEqual(compareHistory(a, b), ['history length: tsbuild=1 docker=2', 'history[0].created_by: tsbuild="RUN x" docker="RUN y"', 'history[0].empty_layer: tsbuild=false docker=true', 'history[1]: only docker has {"created_by":"","empty_layer":false,"comment":""}']);
    assert.deepEqual(compareLayerCount(a, b), ['layers (manifest): tsbuild=1 docker=2', 'layers (diffIds): tsbuild=1 docker=2']);
  });

  it('cleans up', () => rmSync(dir, { recursive: true, force: true }));
});
