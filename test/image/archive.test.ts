import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, readFileSync, writeFileSync, readdirSync, statSync, existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { runCli } from '../helpers/cli.js';
import { busyboxRootfsTar } from '../helpers/fixtures.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function cli(root: string, ...args: string[]) {
  const r = await runCli([...args, '--root', root]);
  return r;
}
async function ok(root: string, ...args: string[]): Promise<string> {
  const r = await cli(root, ...args);
  assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** Every file under the store (minus tmp/ and leases/, which are per-process scratch) with its hash. */
function storeState(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string, rel: string) => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      const r = rel ? `${rel}/${n}` : n;
      if (r === 'tmp' || r === 'leases' || r === 'locks') continue;
      if (statSync(p).isDirectory()) walk(p, r);
      else out[r] = sha(readFileSync(p));
    }
  };
  walk(root, '');
  return out;
}

test('save -> skopeo, umoci and load: docker-archive and OCI archive round trips keep the image ID', async () => {
  const w = mkdtempSync(join(tmpdir(), 'tsb-arch-'));
  try {
    const a = join(w, 'a');
    const b = join(w, 'b');
    const id = (await ok(a, 'import', busyboxRootfsTar(), 'busybox:1')).trim();
    assert.match(id, /^sha256:[0-9a-f]{64}$/);
    const diffId = JSON.parse(await ok(a, 'inspect', 'busybox:1'))[0].RootFS.Layers[0];
    await ok(a, 'save', '-o', join(w, 'd.tar'), 'busybox:1');
    await ok(a, 'save', '--format', 'oci', '-o', join(w, 'o.tar'), 'busybox:1');

    // skopeo reads both
    const di = JSON.parse(execFileSync('skopeo', ['inspect', `docker-archive:${join(w, 'd.tar')}`], { encoding: 'utf8' }));
    assert.deepEqual(di.Layers, [diffId]);
    const oc = JSON.parse(execFileSync('skopeo', ['inspect', '--config', `oci-archive:${join(w, 'o.tar')}:1`], { encoding: 'utf8' }));
    assert.deepEqual(oc.rootfs.diff_ids, [diffId]);
    const rawCfg = execFileSync('skopeo', ['inspect', '--raw', '--config', `oci-archive:${join(w, 'o.tar')}:1`]);
    assert.equal(`sha256:${sha(rawCfg)}`, id, 'the config bytes (the image ID) survive');

    // umoci unpacks the OCI archive to the same files
    const lay = join(w, 'layout');
    mkdirSync(lay);
    execFileSync('tar', ['-xf', join(w, 'o.tar'), '-C', lay]);
    execFileSync('umoci', ['unpack', '--image', `${lay}:1`, join(w, 'bundle')], { stdio: 'pipe' });
    assert.equal(sha(readFileSync(join(w, 'bundle/rootfs/bin/busybox'))), sha(readFileSync('/bin/busybox')));
    assert.match(readFileSync(join(w, 'bundle/rootfs/etc/passwd'), 'utf8'), /^root:x:0:0/);

    // skopeo-written archives (legacy docker layout with a symlinked layer; OCI with gzip) load
    execFileSync('skopeo', ['copy', `docker-archive:${join(w, 'd.tar')}`, `docker-archive:${join(w, 'sk.tar')}:sk/one:v1`], { stdio: 'pipe' });
    execFileSync('skopeo', ['copy', '--dest-compress', `docker-archive:${join(w, 'd.tar')}`, `oci-archive:${join(w, 'sko.tar')}:example.com/sk/two:v2`], { stdio: 'pipe' });
    assert.match(await ok(b, 'load', '-i', join(w, 'sk.tar')), /^Loaded image: sk\/one:v1$/m);
    assert.match(await ok(b, 'load', '-i', join(w, 'sko.tar')), /^Loaded image: example.com\/sk\/two:v2$/m);
    assert.equal(JSON.parse(await ok(b, 'inspect', 'sk/one:v1'))[0].Id, id);
    assert.deepEqual(JSON.parse(await ok(b, 'inspect', 'example.com/sk/two:v2'))[0].RootFS.Layers, [diffId]);

    // tsbuild load of its own archives (plain and gzip'd), then save again: identical bytes
    await ok(b, 'load', '-i', join(w, 'd.tar'));
    execFileSync('sh', ['-c', `gzip -1 -c '${join(w, 'o.tar')}' > '${join(w, 'o.tar.gz')}'`]);
    assert.match(await ok(b, 'load', '-i', join(w, 'o.tar.gz')), /Loaded image: busybox:1/);
    assert.equal(JSON.parse(await ok(b, 'inspect', 'busybox:1'))[0].Id, id);
    await ok(b, 'save', '-o', join(w, 'd2.tar'), 'busybox:1');
    // load reads stdin without -i, as docker load does
    const c = join(w, 'c');
    const fromStdin = await runCli(['load', '--root', c], { input: readFileSync(join(w, 'd.tar')) });
    assert.equal(fromStdin.stdout, 'Loaded image: busybox:1\n', fromStdin.stderr);
    assert.ok(readFileSync(join(w, 'd.tar')).equals(readFileSync(join(w, 'd2.tar'))), 'save(load(save(x))) == save(x)');
  } finally {
    rmSync(w, { recursive: true, force: true });
  }
});

test('bad input: one-line error, non-zero exit, store unchanged', async () => {
  const w = mkdtempSync(join(tmpdir(), 'tsb-bad-'));
  try {
    const s = join(w, 's');
    await ok(s, 'import', busyboxRootfsTar(), 'base');
    await ok(s, 'save', '-o', join(w, 'good.tar'), 'base');
    const good = readFileSync(join(w, 'good.tar'));
    await ok(s, 'rmi', 'base');
    await ok(s, 'prune');
    const before = storeState(s);

    writeFileSync(join(w, 'trunc.tar'), good.subarray(0, Math.floor(good.length / 2)));
    const corrupt = Buffer.from(good);
    corrupt[4096 + 100] ^= 0xff; // inside the layer's content: its digest no longer matches
    writeFileSync(join(w, 'corrupt.tar'), corrupt);
    writeFileSync(join(w, 'garbage.tar'), Buffer.from('this is not a tar archive at all'.repeat(40)));
    const evil = join(w, 'evil.tar');
    execFileSync('tar', ['-cf', evil, '-P', '--transform', 's,^.*passwd$,../../escape,', '/etc/passwd']);
    // a docker-archive whose layer would write outside the root when unpacked
    const ev = join(w, 'ev');
    mkdirSync(ev);
    const evilLayer = readFileSync(evil);
    writeFileSync(join(ev, 'layer.tar'), evilLayer);
    writeFileSync(join(ev, 'config.json'), JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [`sha256:${sha(evilLayer)}`] } }));
    writeFileSync(join(ev, 'manifest.json'), JSON.stringify([{ Config: 'config.json', RepoTags: ['evil:1'], Layers: ['layer.tar'] }]));
    execFileSync('tar', ['-cf', join(w, 'evil-archive.tar'), '-C', ev, 'config.json', 'layer.tar', 'manifest.json']);
    const cases: Array<[string[], RegExp]> = [
      [['load', '-i', join(w, 'evil-archive.tar')], /layer\.tar: .*"\.\."/],
      [['load', '-i', join(w, 'trunc.tar')], /truncated|unexpected end/],
      [['load', '-i', join(w, 'corrupt.tar')], /does not match|mismatch/],
      [['load', '-i', join(w, 'garbage.tar')], /not a tar|checksum/],
      [['load', '-i', join(w, 'missing.tar')], /cannot read/],
      [['import', evil, 'evil'], /\.\./],
      [['import', busyboxRootfsTar(), 'Bad:Name'], /invalid reference format/],
      [['tag', 'nope', 'x'], /No such image: nope:latest/],
      [['history', 'nope'], /No such image/],
      // docker inspect looks for a container, then an image: an unusable name is simply not found
      [['inspect', 'UPPER'], /No such object: UPPER/],
      [['save', '-o', join(w, 'x.tar'), 'nope'], /No such image/],
    ];
    for (const [args, re] of cases) {
      const r = await cli(s, ...args);
      assert.notEqual(r.code, 0, args.join(' '));
      assert.match(r.stderr, re, args.join(' '));
      assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
      assert.deepEqual(storeState(s), before, `store unchanged after ${args.join(' ')}`);
    }
    assert.equal(existsSync(join(w, 'x.tar')), false, 'a failed save leaves no file');
  } finally {
    rmSync(w, { recursive: true, force: true });
  }
});

test('umoci applies the whiteouts of a layer tsbuild wrote, from an OCI archive tsbuild saved', async () => {
  const { ImageStore, writeLayer, emptyConfig } = await import('../../src/image/index.js');
  const { createReadStream } = await import('node:fs');
  const w = mkdtempSync(join(tmpdir(), 'tsb-umoci-'));
  try {
    const root = join(w, 's');
    const s = await ImageStore.open(root);
    const base = await s.putBlob(createReadStream(busyboxRootfsTar()));
    writeFileSync(join(w, 'hi'), 'hi\n');
    const top = await writeLayer(s, [
      { path: 'etc', type: 'dir', mode: 0o755, uid: 0, gid: 0, size: 0, mtimeMs: 0 },
      { path: 'etc/.wh.group', type: 'file', mode: 0o644, uid: 0, gid: 0, size: 0, mtimeMs: 0 },
      { path: 'hi', type: 'file', mode: 0o600, uid: 1000, gid: 1000, size: 3, mtimeMs: 0, sourcePath: join(w, 'hi') },
    ]);
    await s.putImage({ config: emptyConfig('2024-01-01T00:00:00Z'), layers: [base, top], tags: ['two:layers'] });
    await s.close();
    await ok(root, 'save', '--format', 'oci', '-o', join(w, 'o.tar'), 'two:layers');
    mkdirSync(join(w, 'lay'));
    execFileSync('tar', ['-xf', join(w, 'o.tar'), '-C', join(w, 'lay')]);
    execFileSync('umoci', ['unpack', '--image', `${join(w, 'lay')}:layers`, join(w, 'b')], { stdio: 'pipe' });
    assert.equal(existsSync(join(w, 'b/rootfs/etc/group')), false);
    assert.ok(existsSync(join(w, 'b/rootfs/etc/passwd')));
    assert.equal(readFileSync(join(w, 'b/rootfs/hi'), 'utf8'), 'hi\n');
    if (process.getuid?.() === 0) assert.equal(statSync(join(w, 'b/rootfs/hi')).uid, 1000);
  } finally {
    rmSync(w, { recursive: true, force: true });
  }
});

test('load from a file keeps every byte of a multi-MiB layer: stored blobs hash to their names (plain and gzip archives)', async () => {
  // The file is read into a ring of reused 1 MiB buffers and the blob written from copies: a
  // buffer reused too early would store other bytes under the verified digest.
  const w = mkdtempSync(join(tmpdir(), 'tsb-arch-big-'));
  try {
    const tree = join(w, 'tree');
    mkdirSync(join(tree, 'd'), { recursive: true });
    // odd sizes, so headers straddle the 1 MiB read boundaries; ~9 MiB in all
    for (let i = 0; i < 40; i++) writeFileSync(join(tree, 'd', `f${i}`), randomBytes(1000 + i * 12_347 + (i % 3) * 200_003));
    execFileSync('tar', ['-cf', join(w, 'rootfs.tar'), '-C', tree, '.']);
    const a = join(w, 'a');
    await ok(a, 'import', join(w, 'rootfs.tar'), 'big:1');
    await ok(a, 'save', '-o', join(w, 'd.tar'), 'big:1');
    execFileSync('sh', ['-c', `gzip -1 -c '${join(w, 'd.tar')}' > '${join(w, 'd.tar.gz')}'`]);
    const layer = JSON.parse(await ok(a, 'inspect', 'big:1'))[0].RootFS.Layers[0] as string;
    for (const archive of ['d.tar', 'd.tar.gz']) {
      const b = join(w, `b-${archive}`);
      await ok(b, 'load', '-i', join(w, archive));
      const blobs = join(b, 'blobs', 'sha256');
      for (const n of readdirSync(blobs)) assert.equal(sha(readFileSync(join(blobs, n))), n, `${archive}: blob ${n} holds other bytes`);
      assert.ok(existsSync(join(blobs, layer.slice(7))), `${archive}: the layer is stored`);
      assert.ok(statSync(join(blobs, layer.slice(7))).size > 8 << 20);
    }
  } finally {
    rmSync(w, { recursive: true, force: true });
  }
});
