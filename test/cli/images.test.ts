import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { projectRoot, runCli } from '../helpers/cli.js';
import { busyboxRootfsTar } from '../helpers/fixtures.js';
import { ImageStore, emptyConfig } from '../../src/image/index.js';
import { humanSize, humanDuration, table, ellipsis } from '../../src/image/display.js';

async function ok(root: string, ...args: string[]): Promise<string> {
  const r = await runCli([...args, '--root', root]);
  assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

test('display helpers format as docker does', () => {
  assert.equal(humanSize(0), '0B');
  assert.equal(humanSize(4_261_234), '4.26MB');
  assert.equal(humanSize(1234), '1.23kB');
  assert.equal(humanSize(999), '999B');
  assert.equal(humanSize(1_000_000_000), '1GB');
  assert.equal(humanDuration(90_000), 'About a minute');
  assert.equal(humanDuration(3 * 86_400_000), '3 days');
  assert.equal(humanDuration(70 * 86_400_000), '2 months');
  assert.equal(ellipsis('x'.repeat(50), 45).length, 45);
  assert.equal(table([['A', 'TAG'], ['abc', 'latest']]), 'A         TAG\nabc       latest');
});

test('images, history, tag, rmi and prune print what docker prints', async () => {
  const root = mkdtempSync(join(tmpdir(), 'tsb-cmd-'));
  try {
    const id = (await ok(root, 'import', busyboxRootfsTar(), 'busybox')).trim();
    const short = id.slice(7, 19);
    // a second image with history, written through the API as the builder would
    const s = await ImageStore.open(root);
    const base = await s.resolve('busybox');
    const cfg = { ...base.config, created: '2024-01-02T00:00:00Z', config: { Cmd: ['sh'] } };
    cfg.history = [...(base.config.history ?? []), { created: '2024-01-02T00:00:00Z', created_by: '/bin/sh -c #(nop)  CMD ["sh"] and a long tail of text', empty_layer: true }];
    const app = await s.putImage({ config: cfg, layers: base.manifest.layers.map((l) => ({ digest: l.digest, size: l.size })), tags: ['app:1'] });
    await s.close();

    const images = await ok(root, 'images');
    const lines = images.trimEnd().split('\n');
    assert.match(lines[0]!, /^REPOSITORY {3}TAG {7}IMAGE ID {7}CREATED {2,}SIZE$/);
    assert.match(images, new RegExp(`^busybox +latest +${short} +.+ago +1\\.99MB$`, 'm'));
    assert.match(images, /^app +1 +[0-9a-f]{12} +\d+ (months|years) ago +1\.99MB$/m);
    assert.deepEqual((await ok(root, 'images', '-q')).trim().split('\n').sort(), [short, app.id.slice(7, 19)].sort());
    const js = (await ok(root, 'images', '--format', 'json')).trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(js.map((j) => `${j.Repository}:${j.Tag}`).sort(), ['app:1', 'busybox:latest']);
    assert.equal(js.find((j) => j.Repository === 'app').CreatedAt, '2024-01-02 00:00:00 +0000 UTC');
    assert.equal((await ok(root, 'images', 'app')).trim().split('\n').length, 2);

    const hist = (await ok(root, 'history', 'app:1')).trimEnd().split('\n');
    assert.match(hist[0]!, /^IMAGE {10}CREATED {2,}CREATED BY {2,}SIZE {6}COMMENT$/);
    assert.match(hist[1]!, new RegExp(`^${app.id.slice(7, 19)} .*/bin/sh -c #\\(nop\\) {2}CMD \\["sh"\\] and a long tai… +0B`));
    assert.match(hist[2]!, /^<missing> .* 1\.99MB +Imported from busybox-rootfs\.tar$/);
    assert.match(await ok(root, 'history', '--no-trunc', 'app:1'), /long tail of text/);
    assert.deepEqual((await ok(root, 'history', '-q', 'app:1')).trim().split('\n'), [app.id.slice(7, 19), '<missing>']);
    const hj = (await ok(root, 'history', '--format', 'json', 'app:1')).trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(hj[0].Size, '0B');
    assert.equal(hj[1].Comment, 'Imported from busybox-rootfs.tar');

    await ok(root, 'tag', 'busybox', 'localhost:5000/bb:v1');
    const byId = await runCli(['rmi', short, '--root', root]);
    assert.equal(byId.code, 1);
    assert.match(byId.stderr, /must be forced/);
    assert.equal(await ok(root, 'rmi', 'localhost:5000/bb:v1'), 'Untagged: localhost:5000/bb:v1\n');
    // the last name goes with the image; its layer stays (app:1 uses it)
    assert.equal(await ok(root, 'rmi', 'busybox'), `Untagged: busybox:latest\nDeleted: ${id}\n`);
    assert.deepEqual(JSON.parse(await ok(root, 'inspect', 'app:1'))[0].RootFS.Layers, cfg.rootfs.diff_ids);
    const missing = await runCli(['rmi', 'busybox', 'app:1', '--root', root]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /No such image: busybox:latest/);
    assert.match(missing.stdout, /Untagged: app:1\nDeleted: sha256:/);
    assert.equal((await ok(root, 'images', '-q')).trim(), '');
    // rmi already removed the unreferenced blobs; prune finds nothing more
    assert.equal(await ok(root, 'prune'), 'Total reclaimed space: 0B\n');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('prune drops dangling images and reports bytes freed', async () => {
  const root = mkdtempSync(join(tmpdir(), 'tsb-prune-'));
  try {
    const s = await ImageStore.open(root);
    const layer = await s.putBlob([Buffer.alloc(5000, 1)]);
    await s.putImage({ config: emptyConfig('2024-01-01T00:00:00Z'), layers: [layer] });
    await s.close();
    const out = await ok(root, 'prune');
    assert.match(out, /^Deleted Images:\ndeleted: sha256:[0-9a-f]{64}\n\nTotal reclaimed space: 5\.\d+kB\n$/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('the image group spells the same commands as docker image does: ls/list, rm, tag, history, inspect; a bare group shows its help (exit 0), an unknown subcommand is Docker\'s error (exit 1)', async () => {
  const root = mkdtempSync(join(tmpdir(), 'tsb-image-group-'));
  try {
    const id = (await ok(root, 'image', 'import', busyboxRootfsTar(), 'bb:1')).trim();
    assert.match(await ok(root, 'image', 'ls'), /^bb +1 +[0-9a-f]{12} /m);
    assert.equal(await ok(root, 'image', 'list', '-q', '--no-trunc'), `${id}\n`);
    await ok(root, 'image', 'tag', 'bb:1', 'bb:2');
    assert.equal(await ok(root, 'image', 'inspect', '--format', '{{.Id}}', 'bb:2'), `${id}\n`);
    assert.match(await ok(root, 'image', 'history', 'bb:2'), /Imported from busybox-rootfs\.tar/);
    assert.equal(await ok(root, 'image', 'rm', 'bb:2'), 'Untagged: bb:2\n');
    assert.equal(await ok(root, 'images', '-q', '--no-trunc'), `${id}\n`);
    const bare = await runCli(['image', '--root', root]);
    assert.equal(bare.code, 0, bare.stderr);
    assert.match(bare.stderr, /Usage: tsbuild image/);
    assert.doesNotMatch(bare.stderr, /outputHelp/);
    const unknown = await runCli(['image', 'frob', '--root', root]);
    assert.deepEqual([unknown.code, unknown.stderr], [1, "tsbuild: unknown command: tsbuild image frob\n\nUsage:  tsbuild image\n\nRun 'tsbuild image --help' for more information\n"]);
    const noArgs = await runCli(['image', 'rm', '--root', root]);
    assert.equal(noArgs.code, 1);
    assert.match(noArgs.stderr, /^"tsbuild image rm" requires at least 1 argument\./);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('a reader that goes away early (`images | head -1`) ends the listing quietly: exit 0, nothing on stderr', async () => {
  const root = mkdtempSync(join(tmpdir(), 'tsb-cmd-'));
  try {
    await ok(root, 'import', busyboxRootfsTar(), 'busybox');
    // more lines than a pipe holds (64 KiB), so writes go on after the reader has gone
    const s = await ImageStore.open(root);
    const base = await s.resolve('busybox');
    await s.putImage({ config: base.config, layers: base.manifest.layers.map((l) => ({ digest: l.digest, size: l.size })), tags: Array.from({ length: 1500 }, (_, i) => `some/long/repository/name/for/the/listing:tag-${i}`) });
    await s.close();
    const loader = pathToFileURL(join(projectRoot, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;
    const main = join(projectRoot, 'src', 'cli', 'main.ts');
    const r = spawnSync('bash', ['-c', `"$0" --import "$1" "$2" images --root "$3" 2>"$3/err" | head -1 >/dev/null; echo "\${PIPESTATUS[0]}"`, process.execPath, loader, main, root], { encoding: 'utf8' });
    assert.equal(r.stdout.trim(), '0', 'exit status of images');
    assert.equal(readFileSync(join(root, 'err'), 'utf8'), '', 'nothing on stderr');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
