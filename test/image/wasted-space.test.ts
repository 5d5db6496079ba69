/**
 * `tsbuild history --wasted`: bytes a layer ships that a later layer deletes (whiteout, opaque
 * dir) or overwrites, from real builds through the CLI, plus the union rules on hand-made headers;
 * a rebuild's hint comes from the layers' kept listings (image/layer-listing.ts), not their blobs.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';
import { buildFiles, makeBaseStore, type TempStore } from '../helpers/build.js';
import { build } from '../../src/index.js';
import { ImageStore } from '../../src/image/store.js';
import { listingDir } from '../../src/image/layer-listing.js';
import { computeWaste, HINT_MIN_BYTES, mayWasteEnough, wasteHint, type LayerEntry } from '../../src/image/wasted-space.js';

let s: TempStore;
before(async () => {
  s = await makeBaseStore();
});
after(() => s?.cleanup());

const f = (name: string, size: number): LayerEntry => ({ name, type: 'file', size });
const dir = (name: string): LayerEntry => ({ name, type: 'dir', size: 0 });

test('wasted: union rules (whiteout of a dir, opaque dir, file over dir, same-layer entries kept)', () => {
  const r = computeWaste([
    [dir('a/'), f('a/x', 100), f('a/y', 50), dir('o/'), f('o/old', 7), f('keep', 3), dir('d/'), f('d/in', 9), { name: 'l', type: 'symlink', size: 0, linkname: 'keep' }],
    [f('a/.wh..wh..opq', 0), f('a/new', 1), f('.wh.o', 0), f('d', 2), f('l', 4)],
  ]);
  assert.equal(r.totalBytes, 100 + 50 + 7 + 3 + 9 + 4 + 1 + 2 + 4);
  assert.equal(r.wastedBytes, 100 + 50 + 7 + 9 + 4);
  assert.deepEqual(
    r.layers[0]!.paths.map((p) => [p.path, p.bytes, p.reason, p.byLayer]),
    [['/a/x', 100, 'deleted', 1], ['/a/y', 50, 'deleted', 1], ['/d/in', 9, 'overwritten', 1], ['/o/old', 7, 'deleted', 1], ['/l', 4, 'overwritten', 1]],
  );
  assert.equal(computeWaste([[f('a', 5)], [f('b', 5)]]).wastedBytes, 0);
  // the build's hint: 10 MB and 10 % both needed
  const hint = (layers: LayerEntry[][]) => wasteHint(computeWaste(layers), 'img', String);
  assert.match(hint([[f('a', 20e6)], [f('.wh.a', 0)]]) ?? '', /^20000000 \(100\.0% of the image\).*history --wasted img$/);
  assert.equal(hint([[f('a', 9e6)], [f('.wh.a', 0)]]), undefined);
  assert.equal(hint([[f('a', 11e6), f('b', 200e6)], [f('.wh.a', 0)]]), undefined);
});

test('wasted: an image whose layers below the top one hold less than the hint\'s bytes is known to need no hint (the top layer never wastes)', () => {
  assert.equal(mayWasteEnough([]), false);
  assert.equal(mayWasteEnough([500_000_000]), false, 'a single layer wastes nothing');
  assert.equal(mayWasteEnough([HINT_MIN_BYTES - 1, 500_000_000]), false);
  assert.equal(mayWasteEnough([HINT_MIN_BYTES / 2, HINT_MIN_BYTES / 2, 1]), true);
  // the bound holds: a 12 MB file (a tar of a little more) deleted by the next layer
  const big: LayerEntry = { name: 'big', type: 'file', size: 12_000_000 };
  const r = computeWaste([[big], [{ name: '.wh.big', type: 'file', size: 0 }]]);
  assert.equal(r.wastedBytes, 12_000_000);
  assert.equal(mayWasteEnough([12_000_512 + 1024, 1536]), true);
});

test('wasted: a 10 MB file written then removed, and an overwritten file, from a real build (and its hint); nothing wasted says so', async () => {
  const built = await buildFiles(
    s.root,
    'FROM busybox\nRUN head -c 10485760 /dev/zero > /big\nRUN head -c 3000 /dev/zero > /ow\nRUN rm /big && echo hi > /ow\n',
    {},
    { tags: ['waste:1'] },
  );
  assert.deepEqual(
    built.warnings.filter((w) => w.includes('--wasted')),
    ['10.5MB (84.1% of the image) ship in layers but are deleted or overwritten by later ones; see tsbuild history --wasted waste:1'],
  );
  // a fully cached rebuild made no layer: the hint was given when they were made (and costs a scan)
  const again = await buildFiles(s.root, 'FROM busybox\nRUN head -c 10485760 /dev/zero > /big\nRUN head -c 3000 /dev/zero > /ow\nRUN rm /big && echo hi > /ow\n', {}, { tags: ['waste:1'] });
  assert.deepEqual(again.warnings.filter((w) => w.includes('--wasted')), []);
  const j = await runCli(['history', '--wasted', '--format', 'json', 'waste:1', '--root', s.root]);
  assert.equal(j.code, 0, j.stderr);
  const rep = JSON.parse(j.stdout) as {
    TotalBytes: number;
    WastedBytes: number;
    Share: number;
    Layers: Array<{ Layer: number; WastedBytes: number; CreatedBy: string; Paths: Array<{ Path: string; Bytes: number; Reason: string; ByLayer: number; ByCreatedBy: string }> }>;
  };
  assert.equal(rep.WastedBytes, 10485760 + 3000);
  assert.equal(rep.Layers[0]!.Layer, 1, 'biggest first');
  assert.match(rep.Layers[0]!.CreatedBy, /head -c 10485760/);
  assert.deepEqual(
    rep.Layers[0]!.Paths.map((p) => [p.Path, p.Bytes, p.Reason, p.ByLayer]),
    [['/big', 10485760, 'deleted', 3]],
  );
  assert.match(rep.Layers[0]!.Paths[0]!.ByCreatedBy, /rm \/big/);
  assert.deepEqual(
    rep.Layers[1]!.Paths.map((p) => [p.Path, p.Bytes, p.Reason, p.ByLayer]),
    [['/ow', 3000, 'overwritten', 3]],
  );
  assert.ok(rep.Share > 0.5 && rep.Share < 1, String(rep.Share));

  const t = await runCli(['history', '--wasted', 'waste:1', '--root', s.root]);
  assert.equal(t.code, 0, t.stderr);
  assert.match(t.stdout, /\/big\s+10\.5MB\s+deleted in layer 3/);
  assert.match(t.stdout, /Wasted: 10\.5MB \(10488760 bytes\) of .*% of the image\./);

  const none = await runCli(['history', '--wasted', 'busybox', '--root', s.root]);
  assert.equal(none.code, 0, none.stderr);
  assert.match(none.stdout, /^No wasted space/);
});

test('wasted: a rebuild that makes a new layer gives the same hint from the kept listings without reading old blobs; damaged or deleted listings are scanned again', async () => {
  const ctx = mkdtempSync(join(tmpdir(), 'tsb-waste-ctx-'));
  const hintOf = async (v: string) => {
    const warnings: string[] = [];
    await build({
      dockerfileText: `FROM busybox\nRUN head -c 12000000 /dev/zero > /big2\nRUN rm /big2\nRUN echo ${v} > /v\n`,
      contextDir: ctx,
      root: s.root,
      tags: ['waste:2'],
      onEvent: (e) => void (e.type === 'warning' && e.message.includes('--wasted') && warnings.push(e.message)),
    });
    return warnings;
  };
  try {
    const first = await hintOf('one');
    assert.equal(first.length, 1);
    assert.match(first[0]!, /^12MB \(\d+\.\d% of the image\) .* waste:2$/);
    const store = await ImageStore.open(s.root);
    const big = (await store.resolve('waste:2')).manifest.layers[1]!.digest;
    const blob = store.blobPath(big);
    await store.close();
    // the 12 MB layer's blob zeroed in place (same size): a scan of its headers would find nothing
    const saved = readFileSync(blob);
    writeFileSync(blob, Buffer.alloc(saved.length));
    try {
      assert.deepEqual(await hintOf('two'), first, 'a new top layer: the hint again, from the listings');
    } finally {
      writeFileSync(blob, saved);
    }
    const dir = listingDir(s.root);
    for (const f of readdirSync(dir)) writeFileSync(join(dir, f), 'garbage');
    assert.deepEqual(await hintOf('six'), first, 'corrupt listings: scanned again');
    rmSync(dir, { recursive: true });
    assert.deepEqual(await hintOf('ten'), first, 'no listings: scanned again');
    assert.ok(readdirSync(dir).length >= 3, 'and kept again');
  } finally {
    rmSync(ctx, { recursive: true, force: true });
  }
});
