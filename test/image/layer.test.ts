import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync, lstatSync, readFileSync, readlinkSync, readdirSync, existsSync, symlinkSync, constants } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { ImageStore, writeLayer, extractLayer, type LayerEntry } from '../../src/image/index.js';
import { encodeHeader, padding, END_OF_ARCHIVE, readTar, type TarHeader } from '../../src/image/tar-format.js';
import { fsx } from '../../src/native/fsx.js';
import { TsbuildError } from '../../src/errors.js';

const T = 1_700_000_000_000;
/** A VFS_CAP_REVISION_2 file capability: cap_net_raw, effective. */
const CAP = Buffer.from([1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);

function tmp(p = 'tsb-layer-'): string {
  return mkdtempSync(join(tmpdir(), p));
}

/** A small tree on disk and the layer entries describing it. */
function sampleEntries(src: string): LayerEntry[] {
  writeFileSync(join(src, 'hello'), 'hello world\n');
  writeFileSync(join(src, 'big'), Buffer.alloc(3 * 1024 * 1024 + 7, 7));
  const e = (x: Partial<LayerEntry> & { path: string; type: LayerEntry['type'] }): LayerEntry => ({ mode: 0o644, uid: 0, gid: 0, size: 0, mtimeMs: T, ...x });
  return [
    e({ path: 'etc', type: 'dir', mode: 0o755 }),
    e({ path: 'etc/hello', type: 'file', size: 12, sourcePath: join(src, 'hello'), mode: 0o4755, uid: 1000, gid: 50, xattrs: { 'security.capability': CAP, 'user.note': Buffer.from([0, 1, 255]) } }),
    e({ path: 'etc/a-link', type: 'hardlink', linkname: 'etc/hello' }),
    e({ path: 'etc/sym', type: 'symlink', linkname: '../nowhere', mode: 0o777 }),
    e({ path: 'big', type: 'file', size: 3 * 1024 * 1024 + 7, sourcePath: join(src, 'big'), mtimeMs: T + 86_400_000 }),
    e({ path: 'dev', type: 'dir', mode: 0o755 }),
    e({ path: 'dev/null', type: 'char', devmajor: 1, devminor: 3, mode: 0o666 }),
    e({ path: 'dev/pipe', type: 'fifo', mode: 0o600 }),
    e({ path: 'd'.repeat(120) + '/' + 'n'.repeat(120), type: 'file', size: 0 }),
    e({ path: 'd'.repeat(120), type: 'dir', mode: 0o700 }),
  ];
}

async function collectTar(store: ImageStore, digest: `sha256:${string}`): Promise<Array<{ name: string; h: TarHeader }>> {
  const out: Array<{ name: string; h: TarHeader }> = [];
  for await (const { header } of readTar(store.openBlob(digest))) out.push({ name: header.name, h: header });
  return out;
}

test('layer writer: deterministic (any input order), sorted, links after targets, mtimes clamped, readable by GNU tar', async () => {
  const root = tmp();
  const src = tmp();
  const out = tmp();
  try {
    const store = await ImageStore.open(root);
    const entries = sampleEntries(src);
    const a = await writeLayer(store, entries, { sourceDateEpoch: 1_700_000_100 });
    const b = await writeLayer(store, (async function* () { yield* [...entries].reverse(); })(), { sourceDateEpoch: 1_700_000_100 });
    assert.equal(a.digest, b.digest);
    const c = await writeLayer(store, entries);
    assert.notEqual(c.digest, a.digest, 'without clamping the big file keeps its later mtime');
    const list = await collectTar(store, a.digest);
    const names = list.map((x) => x.name);
    assert.deepEqual(names, [...names].sort());
    const link = list.find((x) => x.name === 'etc/a-link')!;
    // etc/a-link sorts first, so it holds the content and etc/hello links to it
    assert.equal(link.h.type, 'file');
    assert.equal(list.find((x) => x.name === 'etc/hello')!.h.linkname, 'etc/a-link');
    assert.equal(list.find((x) => x.name === 'big')!.h.mtime, 1_700_000_100);
    assert.equal(list.find((x) => x.name === 'etc/sym')!.h.mtime, 1_700_000_000);
    // only security.capability is recorded, as in Docker's layers (user.* stays out)
    assert.deepEqual(list.find((x) => x.name === 'etc/a-link')!.h.xattrs, { 'security.capability': CAP });
    assert.ok(list.every((x) => !Object.keys(x.h.xattrs ?? {}).some((k) => k !== 'security.capability')));
    // GNU tar reads it back, xattrs and all
    execFileSync('tar', ['--xattrs', '--xattrs-include=*', '--numeric-owner', '-xpf', store.blobPath(a.digest), '-C', out]);
    assert.equal(readFileSync(join(out, 'etc/hello'), 'utf8'), 'hello world\n');
    assert.equal(lstatSync(join(out, 'etc/hello')).ino, lstatSync(join(out, 'etc/a-link')).ino);
    assert.equal(lstatSync(join(out, 'etc/hello')).mode & 0o7777, 0o4755);
    assert.deepEqual(fsx().lgetxattr(join(out, 'etc/hello'), 'security.capability'), CAP);
    assert.equal(fsx().lgetxattr(join(out, 'etc/hello'), 'user.note'), null);
    assert.ok(existsSync(join(out, 'd'.repeat(120), 'n'.repeat(120))));
    const verbose = execFileSync('tar', ['-tvf', store.blobPath(a.digest)], { encoding: 'utf8' });
    assert.doesNotMatch(verbose, /root/, 'no user or group names are recorded');
  } finally {
    for (const d of [root, src, out]) rmSync(d, { recursive: true, force: true });
  }
});

test('layer reader: round trip keeps content, owners, modes, links, devices, xattrs and mtimes', async () => {
  const root = tmp();
  const src = tmp();
  const out = tmp();
  try {
    const store = await ImageStore.open(root);
    const l = await writeLayer(store, sampleEntries(src));
    const st = await extractLayer(store.openBlob(l.digest), out, { mode: 'apply' });
    assert.equal(st.entries, 10);
    const hello = lstatSync(join(out, 'etc/hello'));
    assert.equal(hello.mode & 0o7777, 0o4755);
    assert.equal(hello.ino, lstatSync(join(out, 'etc/a-link')).ino);
    if (process.getuid?.() === 0) {
      assert.equal(hello.uid, 1000);
      assert.equal(hello.gid, 50);
      const dev = lstatSync(join(out, 'dev/null'));
      assert.ok(dev.isCharacterDevice());
      assert.equal(dev.rdev, (1 << 8) | 3);
    }
    assert.ok(lstatSync(join(out, 'dev/pipe')).isFIFO());
    assert.equal(readlinkSync(join(out, 'etc/sym')), '../nowhere');
    assert.deepEqual(fsx().lgetxattr(join(out, 'etc/hello'), 'security.capability'), CAP);
    assert.equal(Math.floor(lstatSync(join(out, 'big')).mtimeMs), T + 86_400_000);
    assert.equal(Math.floor(lstatSync(join(out, 'etc')).mtimeMs), T);
    assert.equal(lstatSync(join(out, 'd'.repeat(120))).mode & 0o777, 0o700);
  } finally {
    for (const d of [root, src, out]) rmSync(d, { recursive: true, force: true });
  }
});

/** A tar built header by header (for archives no honest writer makes). */
function craftTar(entries: Array<Partial<TarHeader> & { name: string; body?: string }>): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const body = Buffer.from(e.body ?? '');
    parts.push(encodeHeader({ type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: body.length, ...e }));
    if (body.length) parts.push(body, Buffer.alloc(padding(body.length)));
  }
  parts.push(END_OF_ARCHIVE);
  return Buffer.concat(parts);
}

test('layer reader: a pulled layer\'s user.* xattrs are applied (only the writer keeps to security.capability)', async () => {
  const out = tmp();
  try {
    await extractLayer([craftTar([{ name: 'f', body: 'x', xattrs: { 'user.note': Buffer.from([0, 1, 255]) } }])], out, { mode: 'apply' });
    assert.deepEqual(fsx().lgetxattr(join(out, 'f'), 'user.note'), Buffer.from([0, 1, 255]));
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test('layer reader: whiteouts and opaque dirs, applied and in overlay snapshot format', async () => {
  const base = tmp();
  const snap = tmp();
  try {
    mkdirSync(join(base, 'a/sub'), { recursive: true });
    writeFileSync(join(base, 'a/old'), 'old');
    writeFileSync(join(base, 'a/sub/deep'), 'deep');
    mkdirSync(join(base, 'b'));
    writeFileSync(join(base, 'b/x'), 'x');
    writeFileSync(join(base, 'c'), 'c');
    const layer = craftTar([
      { name: '.wh.b' },
      { name: 'a/', type: 'dir', mode: 0o755 },
      { name: 'a/.wh..wh..opq' },
      { name: 'a/new', body: 'new' },
      { name: 'a/sub/', type: 'dir', mode: 0o755 },
      { name: 'a/sub/n2', body: 'n2' },
    ]);
    await extractLayer([layer], base, { mode: 'apply' });
    assert.equal(existsSync(join(base, 'b')), false);
    assert.deepEqual(readdirSync(join(base, 'a')).sort(), ['new', 'sub']);
    assert.deepEqual(readdirSync(join(base, 'a/sub')), ['n2'], 'old content below a kept dir is hidden too');
    assert.equal(readFileSync(join(base, 'c'), 'utf8'), 'c');
    if (process.getuid?.() === 0) {
      await extractLayer([layer], snap, { mode: 'snapshot' });
      const wh = lstatSync(join(snap, 'b'));
      assert.ok(wh.isCharacterDevice());
      assert.equal(wh.rdev, 0);
      assert.equal(fsx().lgetxattr(join(snap, 'a'), 'trusted.overlay.opaque')?.toString(), 'y');
      assert.deepEqual(readdirSync(join(snap, 'a')).sort(), ['new', 'sub']);
    }
  } finally {
    rmSync(base, { recursive: true, force: true });
    rmSync(snap, { recursive: true, force: true });
  }
});

test('layer reader: refuses ../, absolute names, symlinked parents and outside hard links, writing nothing outside', async () => {
  const top = tmp();
  try {
    const target = join(top, 'target');
    const outside = join(top, 'outside');
    mkdirSync(target);
    mkdirSync(outside);
    writeFileSync(join(top, 'secret'), 'secret');
    const cases: Array<Array<Partial<TarHeader> & { name: string; body?: string }>> = [
      [{ name: '../outside/evil', body: 'x' }],
      [{ name: 'ok/', type: 'dir' }, { name: 'ok/../../outside/evil', body: 'x' }],
      [{ name: join(outside, 'evil'), body: 'x' }],
      [{ name: 'l', type: 'symlink', linkname: outside }, { name: 'l/evil', body: 'x' }],
      [{ name: 'l', type: 'symlink', linkname: '../outside' }, { name: 'l/sub/', type: 'dir' }],
      [{ name: 'h', type: 'hardlink', linkname: '../secret' }],
      [{ name: 'l', type: 'symlink', linkname: '..' }, { name: 'h', type: 'hardlink', linkname: 'l/secret' }],
      [{ name: 'x/.wh...' }],
    ];
    for (const c of cases) {
      await assert.rejects(
        extractLayer([craftTar(c)], target, { mode: 'apply' }),
        (e: unknown) => e instanceof TsbuildError && e.code === 'UNSAFE',
        JSON.stringify(c),
      );
      assert.deepEqual(readdirSync(outside), [], JSON.stringify(c));
      rmSync(target, { recursive: true, force: true });
      mkdirSync(target);
    }
    // a symlink already in the target (from a lower layer) is not followed either
    symlinkSync(outside, join(target, 'lower'));
    await assert.rejects(extractLayer([craftTar([{ name: 'lower/evil', body: 'x' }])], target, { mode: 'apply' }), /symlink/);
    assert.deepEqual(readdirSync(outside), []);
  } finally {
    rmSync(top, { recursive: true, force: true });
  }
});

test('tar reader: truncated and corrupt archives are CORRUPT errors', async () => {
  const good = craftTar([{ name: 'f', body: 'x'.repeat(1000) }]);
  const bad = Buffer.from(good);
  bad[10] = 0x41; // breaks the header checksum
  const drain = async (b: Buffer) => {
    for await (const { body } of readTar([b])) for await (const _ of body) void _;
  };
  await assert.rejects(drain(good.subarray(0, 700)), (e: unknown) => e instanceof TsbuildError && e.code === 'CORRUPT');
  await assert.rejects(drain(bad), /checksum/);
  await drain(good);
  void constants;
});

test('layer check (push scanner): same verdicts as the extractor, however the bytes are split', async () => {
  const { LayerCheck } = await import('../../src/image/layer-check.js');
  const src = tmp();
  const root = tmp();
  try {
    const store = await ImageStore.open(root);
    const good = await store.blobs.read((await writeLayer(store, sampleEntries(src))).digest);
    const verdict = (b: Buffer, step: number) => {
      const c = new LayerCheck();
      for (let i = 0; i < b.length; i += step) c.push(b.subarray(i, i + step));
      return c.verdict();
    };
    for (const step of [1, 7, 512, 100_000, good.length]) {
      const v = verdict(good, step);
      assert.ok(v.ok && v.entries === 10, `step ${step}: ${JSON.stringify(v)}`);
    }
    const unsafe = [
      craftTar([{ name: '../outside/evil', body: 'x' }]),
      craftTar([{ name: '/abs', body: 'x' }]),
      craftTar([{ name: 'l', type: 'symlink', linkname: '/' }, { name: 'l/etc/evil', body: 'x' }]),
      craftTar([{ name: 'h', type: 'hardlink', linkname: '../x' }]),
    ];
    for (const b of unsafe) {
      const v = verdict(b, 3);
      assert.ok(!v.ok && v.error.code === 'UNSAFE', JSON.stringify(v));
    }
    const trunc = verdict(good.subarray(0, 5000), 1000);
    assert.ok(!trunc.ok && trunc.error.code === 'CORRUPT');
    assert.ok(verdict(END_OF_ARCHIVE, 512).ok, 'an empty layer is a layer');
  } finally {
    rmSync(src, { recursive: true, force: true });
    rmSync(root, { recursive: true, force: true });
  }
});

test('scanTarFileHeaders lists a tar by seeking past bodies: same headers as the streaming reader, CORRUPT when truncated', async () => {
  const { scanTarFileHeaders, readTar } = await import('../../src/image/tar-format.js');
  const { mkdtempSync, writeFileSync, truncateSync, rmSync, readFileSync: readAll } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { execFileSync } = await import('node:child_process');
  const d = mkdtempSync(join(tmpdir(), 'tsb-scan-'));
  try {
    writeFileSync(join(d, 'a'), 'x'.repeat(1500));
    writeFileSync(join(d, 'n'.repeat(150)), 'long name');
    execFileSync('ln', ['-s', 't'.repeat(120), join(d, 'link')]);
    execFileSync('tar', ['--format=posix', '-C', d, '-cf', join(d, 'x.tar'), 'a', 'n'.repeat(150), 'link']);
    const scanned = [...scanTarFileHeaders(join(d, 'x.tar'))].map((h) => [h.name, h.type, h.size, h.linkname]);
    const streamed: unknown[] = [];
    for await (const { header } of readTar([readAll(join(d, 'x.tar'))])) streamed.push([header.name, header.type, header.size, header.linkname]);
    assert.deepEqual(scanned, streamed);
    assert.deepEqual(scanned.map((x) => x[0]), ['a', 'n'.repeat(150), 'link']);
    truncateSync(join(d, 'x.tar'), 2000); // inside the first file's body
    assert.throws(() => [...scanTarFileHeaders(join(d, 'x.tar'))], /truncated/);
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

test('deviceNumbers: glibc dev_t, also past 12-bit majors and 20-bit minors (the one copy for diff, context and COPY)', async () => {
  const { deviceNumbers } = await import('../../src/image/layer-entry.js');
  const makedev = (ma: number, mi: number) =>
    (BigInt(ma & 0xfff) << 8n) | (BigInt(ma & ~0xfff) << 32n) | BigInt(mi & 0xff) | (BigInt(mi & ~0xff) << 12n);
  assert.deepEqual(deviceNumbers(makedev(1, 3)), { devmajor: 1, devminor: 3 });
  assert.deepEqual(deviceNumbers(Number(makedev(259, 65537))), { devmajor: 259, devminor: 65537 });
  // a minor of 2^20 puts bits above 32: a 32-bit `>>` (one of the three copies) lost them
  assert.deepEqual(deviceNumbers(Number(makedev(8, 1 << 20))), { devmajor: 8, devminor: 1 << 20 });
  assert.deepEqual(deviceNumbers(makedev(4096, 5)), { devmajor: 4096, devminor: 5 });
});
