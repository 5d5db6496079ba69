/**
 * The build cache through real builds, and reproducible output: what reruns after which change
 * (as BuildKit decides it), --no-cache, config-only changes (CVE-2024-24557), SOURCE_DATE_EPOCH.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, readdirSync, rmSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { buildFiles, buildIn, cachedSteps, makeBaseStore, makeContext, ranSteps, writeContext, imageFile, type TempStore } from '../helpers/build.js';

let s: TempStore;
before(async () => {
  s = await makeBaseStore();
});
after(() => s?.cleanup());

const CHAIN = `FROM busybox
WORKDIR /app
RUN echo first > /first
COPY a.txt /a.txt
RUN cat /a.txt > /b
COPY b.txt /b.txt
`;

test('cache: a rebuild runs nothing; a changed file reruns from the first step reading it; noCache reruns all', async () => {
  const ctx = makeContext({ 'a.txt': 'a1', 'b.txt': 'b1' });
  try {
    const one = await buildIn(s.root, ctx, CHAIN);
    assert.equal(ranSteps(one).length, 5);
    const two = await buildIn(s.root, ctx, CHAIN);
    assert.deepEqual(ranSteps(two), []);
    assert.equal(cachedSteps(two).length, 5);
    assert.deepEqual(two.image.config.rootfs.diff_ids, one.image.config.rootfs.diff_ids);

    writeContext(ctx, { 'b.txt': 'b2' });
    const three = await buildIn(s.root, ctx, CHAIN);
    assert.deepEqual(ranSteps(three), ['[6/6] COPY b.txt /b.txt']);
    assert.equal(imageFile(three, 'b.txt'), 'b2');

    writeContext(ctx, { 'a.txt': 'a2' });
    const four = await buildIn(s.root, ctx, CHAIN);
    assert.deepEqual(ranSteps(four), ['[4/6] COPY a.txt /a.txt', '[5/6] RUN cat /a.txt > /b', '[6/6] COPY b.txt /b.txt']);
    assert.equal(imageFile(four, 'b'), 'a2');

    // a file added to or removed from a copied dir misses
    const dirDf = 'FROM busybox\nCOPY . /all/\n';
    await buildIn(s.root, ctx, dirDf);
    writeContext(ctx, { 'new.txt': 'n' });
    const added = await buildIn(s.root, ctx, dirDf);
    assert.deepEqual(ranSteps(added), ['[2/2] COPY . /all/']);
    rmSync(join(ctx, 'new.txt'));
    const removed = await buildIn(s.root, ctx, dirDf);
    assert.equal(imageFile(removed, 'all/new.txt'), undefined);
    // back to the content of the first dirDf build: a hit on that build's result
    assert.deepEqual(ranSteps(removed), []);

    const five = await buildIn(s.root, ctx, CHAIN, { noCache: true });
    assert.equal(ranSteps(five).length, 5);
    assert.deepEqual(cachedSteps(five), []);
  } finally {
    rmSync(ctx, { recursive: true, force: true });
  }
});

test('cache: the steps a build ran are recorded when it ends, also when a later step fails; their snapshots are in the store and nothing is left in its temp area', async () => {
  const ctx = makeContext({ 'a.txt': 'a1' });
  const df = (last: string) => `FROM busybox\nRUN echo one > /one\nCOPY a.txt /a.txt\nRUN ${last}\n`;
  const snapshots = () => readdirSync(join(s.root, 'snapshots')).length;
  try {
    const before = snapshots();
    await assert.rejects(buildIn(s.root, ctx, df('exit 3')), /exit code: 3/);
    assert.deepEqual(readdirSync(join(s.root, 'tmp')), [], 'no deferred snapshot left behind');
    assert.equal(snapshots(), before + 2, "the RUN's and the COPY's snapshots settled into the store");
    const two = await buildIn(s.root, ctx, df('cat /one /a.txt > /both'));
    assert.deepEqual(cachedSteps(two), ['[2/4] RUN echo one > /one', '[3/4] COPY a.txt /a.txt'], 'the failed build recorded the steps before its failure');
    assert.deepEqual(ranSteps(two), ['[4/4] RUN cat /one /a.txt > /both']);
    assert.equal(imageFile(two, 'both'), 'one\na1');
  } finally {
    rmSync(ctx, { recursive: true, force: true });
  }
});

test('cache: a fully cached rebuild gives the same image ID (as Docker does)', async () => {
  const df = 'FROM busybox\nRUN echo same > /same\n';
  const one = await buildFiles(s.root, df);
  await new Promise((r) => setTimeout(r, 1100));
  const two = await buildFiles(s.root, df);
  assert.deepEqual(ranSteps(two), []);
  assert.equal(two.imageId, one.imageId);
});

test('cache: a LABEL change does not rerun a later RUN; an ENV change does', async () => {
  const df = (label: string, env: string) => `FROM busybox\nLABEL v=${label}\nENV E=${env}\nRUN echo "$E" > /e\n`;
  await buildFiles(s.root, df('1', 'x'));
  const l = await buildFiles(s.root, df('2', 'x'));
  assert.deepEqual(ranSteps(l), []);
  assert.deepEqual(l.config.config!.Labels, { v: '2' });
  const e = await buildFiles(s.root, df('2', 'y'));
  assert.deepEqual(ranSteps(e), ['[2/2] RUN echo "$E" > /e']);
  assert.equal(imageFile(e, 'e'), 'y\n');
});

test('cache: changing only HEALTHCHECK or ONBUILD yields an image with the new config (CVE-2024-24557)', async () => {
  const df = (hc: string, ob: string) => `FROM busybox\nRUN echo x > /x\nHEALTHCHECK CMD ${hc}\nONBUILD RUN ${ob}\n`;
  const one = await buildFiles(s.root, df('true', 'echo one'));
  const two = await buildFiles(s.root, df('false', 'echo one'));
  const three = await buildFiles(s.root, df('false', 'echo two'));
  assert.deepEqual(ranSteps(two), []);
  assert.deepEqual(one.config.config!.Healthcheck!.Test, ['CMD-SHELL', 'true']);
  assert.deepEqual(two.config.config!.Healthcheck!.Test, ['CMD-SHELL', 'false']);
  assert.deepEqual(three.config.config!.OnBuild, ['RUN echo two']);
  assert.notEqual(one.imageId, two.imageId);
  assert.notEqual(two.imageId, three.imageId);
});

test('reproducible: SOURCE_DATE_EPOCH gives the same image ID and layers on two fresh stores; created = the epoch', async () => {
  const ctx = makeContext({ 'f.txt': 'content', 'd/g': 'g' });
  const other = await makeBaseStore();
  try {
    const df = 'FROM busybox\nWORKDIR /w\nRUN echo built > /built && mkdir -p /made/dir\nCOPY . /ctx/\nENV X=1\n';
    const opts = { buildArgs: { SOURCE_DATE_EPOCH: '1700000000' } };
    const a = await buildIn(s.root, ctx, df, opts);
    await new Promise((r) => setTimeout(r, 1100));
    const b = await buildIn(other.root, ctx, df, opts);
    assert.equal(ranSteps(b).length, 3, 'the second store built everything itself');
    assert.deepEqual(b.image.config.rootfs.diff_ids, a.image.config.rootfs.diff_ids);
    assert.equal(b.imageId, a.imageId);
    assert.equal(Date.parse(a.config.created!), 1700000000 * 1000);
    for (const h of a.history.slice(1)) assert.equal(Date.parse(h.created!), 1700000000 * 1000, JSON.stringify(h));
    assert.equal(a.warnings.filter((w) => w.includes('SOURCE_DATE_EPOCH')).length, 0, 'SOURCE_DATE_EPOCH is not an unused build arg');
  } finally {
    rmSync(ctx, { recursive: true, force: true });
    other.cleanup();
  }
});

test('reproducible: a store that built the same steps without SOURCE_DATE_EPOCH does not serve them to a build with it (its layers have other times)', async () => {
  const ctx = makeContext({ 'f.txt': 'content' });
  const other = await makeBaseStore();
  try {
    const df = 'FROM busybox\nCOPY . /ctx/\nRUN echo built > /built\n';
    const opts = { buildArgs: { SOURCE_DATE_EPOCH: '1700000000' } };
    await buildIn(s.root, ctx, df);
    const mixed = await buildIn(s.root, ctx, df, opts);
    assert.equal(ranSteps(mixed).length, 2, 'both steps ran again');
    const fresh = await buildIn(other.root, ctx, df, opts);
    assert.deepEqual(mixed.image.config.rootfs.diff_ids, fresh.image.config.rootfs.diff_ids);
    assert.deepEqual(ranSteps(await buildIn(s.root, ctx, df, opts)), [], 'and are cached for the next build with it');
  } finally {
    rmSync(ctx, { recursive: true, force: true });
    other.cleanup();
  }
});

test('reproducible: created is written as Go/Docker write it (2023-11-14T22:13:20Z)', async () => {
  const b = await buildFiles(s.root, 'FROM busybox\nENV X=1\n', {}, { buildArgs: { SOURCE_DATE_EPOCH: '1700000000' } });
  assert.equal(b.config.created, '2023-11-14T22:13:20Z');
  assert.equal(b.history.at(-1)!.created, '2023-11-14T22:13:20Z');
});

test('cache: a mode change of a context file misses, an mtime-only change hits (BuildKit keys content + metadata, not mtime)', async () => {
  const ctx = makeContext({ 'x.sh': 'echo x\n' });
  try {
    const df = 'FROM busybox\nCOPY x.sh /x.sh\n';
    await buildIn(s.root, ctx, df);
    utimesSync(join(ctx, 'x.sh'), new Date('2001-01-01'), new Date('2001-01-01'));
    const touched = await buildIn(s.root, ctx, df);
    assert.deepEqual(ranSteps(touched), []);
    chmodSync(join(ctx, 'x.sh'), 0o755);
    const chmodded = await buildIn(s.root, ctx, df);
    assert.deepEqual(ranSteps(chmodded), ['[2/2] COPY x.sh /x.sh']);
    assert.equal(chmodded.layers.at(-1)!.find((e) => e.path === 'x.sh')!.mode, 0o755);
  } finally {
    rmSync(ctx, { recursive: true, force: true });
  }
});

test('cache: the base image is keyed by content, not by name (a re-pointed tag misses); FROM scratch builds do not share results', async () => {
  const other = await makeBaseStore();
  try {
    const df = 'FROM busybox\nRUN cat /v > /out 2>/dev/null || echo none > /out\n';
    const one = await buildFiles(other.root, df);
    assert.equal(imageFile(one, 'out'), 'none\n');
    await buildFiles(other.root, 'FROM busybox\nRUN echo v2 > /v\n', {}, { tags: ['busybox:latest'] });
    const two = await buildFiles(other.root, df);
    assert.deepEqual(ranSteps(two), ['[2/2] RUN cat /v > /out 2>/dev/null || echo none > /out']);
    assert.equal(imageFile(two, 'out'), 'v2\n');

    const s1 = await buildFiles(other.root, 'FROM scratch\nCOPY a /a\n', { a: 'one' });
    const s2 = await buildFiles(other.root, 'FROM scratch\nCOPY a /a\n', { a: 'two' });
    assert.equal(ranSteps(s2).length, 1);
    assert.equal(imageFile(s1, 'a'), 'one');
    assert.equal(imageFile(s2, 'a'), 'two');
  } finally {
    other.cleanup();
  }
});

test('a fully cached COPY rebuild unpacks no layer, unless a --chown name must be looked up', async () => {
  const snapshots = (root: string) => readdirSync(join(root, 'snapshots'));
  const st = await makeBaseStore();
  try {
    for (const [df, unpacked] of [
      ['FROM busybox\nCOPY a.txt /a.txt\nCOPY a.txt /b.txt\n', 0],
      // the --chown step reads /etc/passwd of its image: the base and the first COPY's layer
      ['FROM busybox\nCOPY a.txt /a.txt\nCOPY --chown=user a.txt /b.txt\n', 2],
    ] as const) {
      await buildFiles(st.root, df, { 'a.txt': 'a\n' });
      for (const d of snapshots(st.root)) rmSync(join(st.root, 'snapshots', d), { recursive: true, force: true });
      const b = await buildFiles(st.root, df, { 'a.txt': 'a\n' });
      const copies = b.steps.filter((x) => x.name.includes('COPY'));
      assert.equal(copies.length, 2);
      assert.ok(copies.every((x) => x.cached));
      assert.equal(snapshots(st.root).length, unpacked, df);
    }
  } finally {
    st.cleanup();
  }
});
