/**
 * The tar encoder's bytes, pinned: a layer's digest is its identity, so a faster encoder must
 * write exactly what the first one wrote. The golden sha256s below were taken from the encoder as
 * it was before its fast path (string-built fields, one object per header); any change to them
 * changes every layer digest tsbuild has ever written.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeHeader, readTar, type TarEntryType, type TarHeader } from '../../src/image/tar-format.js';
import { layerTar } from '../../src/image/layer-writer.js';
import type { LayerEntry } from '../../src/image/layer-entry.js';
import { prng } from '../parser/mutations.js';

/** A seeded generator (the parser's mutation tests' mulberry32): the same cases on every run. */
const rng = prng;

const pick = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;

/** Names around every ustar limit: 100-byte names, 155-byte prefixes, unsplittable ones,
 *  non-ASCII (UTF-8 of 2, 3 and 4 bytes), control characters. */
function name(r: () => number): string {
  const pieces = ['a', 'bin', 'x'.repeat(99), 'y'.repeat(100), 'z'.repeat(101), 'é', '日本語', '😀', 'tab\there', 'sp ace', 'n'.repeat(60), 'q'.repeat(154)];
  const n = 1 + Math.floor(r() * 5);
  const parts: string[] = [];
  for (let i = 0; i < n; i++) parts.push(pick(r, pieces) + (r() < 0.5 ? String(Math.floor(r() * 1000)) : ''));
  return parts.join('/');
}

const NUMBERS = [0, 1, 7, 8, 0o777, 0o7777, 0o7777777 - 1, 0o7777777, 0o7777777 + 1, 65534, 4294967295];
const SIZES = [0, 1, 511, 512, 513, 10_240, 0o77777777777, 0o77777777777 + 1, 2 ** 40, Number.MAX_SAFE_INTEGER];
const MTIMES = [-5, 0, 1.75, 1_700_000_000, 1_700_000_000.9, 0o77777777777, 0o77777777777 + 5, 2 ** 40];
const TYPES: TarEntryType[] = ['file', 'dir', 'symlink', 'hardlink', 'char', 'block', 'fifo', 'other'];

function header(r: () => number): TarHeader {
  const type = pick(r, TYPES);
  const h: TarHeader = {
    name: r() < 0.1 ? `${name(r)}/` : name(r),
    type,
    mode: pick(r, [0o644, 0o755, 0o4755, 0o7777, 0o100644, 0o40755]),
    uid: pick(r, NUMBERS),
    gid: pick(r, NUMBERS),
    size: pick(r, SIZES),
    mtime: pick(r, MTIMES),
  };
  if (type === 'symlink' || type === 'hardlink' || r() < 0.1) h.linkname = r() < 0.2 ? '' : name(r);
  if (type === 'char' || type === 'block' || r() < 0.1) {
    h.devmajor = pick(r, [0, 1, 8, 259, 0o7777777, 0o7777777 + 1]);
    h.devminor = pick(r, [0, 3, 255, 1048575]);
  }
  if (r() < 0.3) {
    const xattrs: Record<string, Buffer> = {};
    const n = Math.floor(r() * 4);
    for (let i = 0; i < n; i++) {
      // values whose PAX record lengths cross 2 and 3 digits, binary bytes included
      const len = pick(r, [0, 1, 20, 84, 85, 86, 87, 88, 89, 90, 985, 986, 987, 990]);
      xattrs[pick(r, ['security.capability', 'user.note', 'user.é', 'trusted.x', 'security.selinux'])] = Buffer.from(Array.from({ length: len }, () => Math.floor(r() * 256)));
    }
    h.xattrs = xattrs;
  }
  return h;
}

const sha = (bufs: Buffer[]) => {
  const h = createHash('sha256');
  for (const b of bufs) h.update(b);
  return h.digest('hex');
};

test('tar encoder: 3,000 varied headers (PAX names, links, sizes, ids, xattrs, devices, odd times) give the pinned bytes', () => {
  const r = rng(13);
  const out: Buffer[] = [];
  for (let i = 0; i < 3000; i++) out.push(encodeHeader(header(r)));
  // every header block is a multiple of 512 bytes with a valid checksum (the reader verifies it)
  assert.ok(out.every((b) => b.length % 512 === 0));
  assert.equal(sha(out), '80fa4e0508de8a0d0fd16a992841b3f0a4751b9e6c85e1581de4b0732fa4f8fc');
});

test('tar encoder: edge headers, one by one, give the pinned bytes', () => {
  const base = { mode: 0o644, uid: 0, gid: 0, size: 0, mtime: 1_700_000_000 };
  const cases: TarHeader[] = [
    { ...base, name: 'a', type: 'file' },
    { ...base, name: 'd', type: 'dir', mode: 0o755 },
    { ...base, name: 'd/', type: 'dir' },
    { ...base, name: 'x'.repeat(100), type: 'file' },
    { ...base, name: 'x'.repeat(101), type: 'file' },
    { ...base, name: `${'p'.repeat(155)}/${'n'.repeat(100)}`, type: 'file' },
    { ...base, name: `${'p'.repeat(156)}/${'n'.repeat(10)}`, type: 'file' },
    { ...base, name: `${'p'.repeat(10)}/${'n'.repeat(101)}`, type: 'file' },
    { ...base, name: 'ünïcode/名前', type: 'file' },
    { ...base, name: 'l', type: 'symlink', linkname: 't'.repeat(100) },
    { ...base, name: 'l', type: 'symlink', linkname: 't'.repeat(101) },
    { ...base, name: 'l', type: 'hardlink', linkname: 'é' },
    { ...base, name: 'c', type: 'char', devmajor: 1, devminor: 3 },
    { ...base, name: 'b', type: 'block', devmajor: 0o7777777 + 9, devminor: 2 ** 32 - 1 },
    { ...base, name: 'big', type: 'file', size: 0o77777777777 + 1 },
    { ...base, name: 'ids', type: 'file', uid: 0o7777777 + 1, gid: 2 ** 32 - 1 },
    { ...base, name: 'neg', type: 'file', uid: -1, mtime: -100 },
    { ...base, name: 'frac', type: 'file', mtime: 12.5, size: 3 },
    { ...base, name: 'cap', type: 'file', xattrs: { 'security.capability': Buffer.from([1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]) } },
    { ...base, name: 'empty-xattrs', type: 'file', xattrs: {} },
  ];
  const hashes = cases.map((h) => sha([encodeHeader(h)]).slice(0, 16));
  assert.deepEqual(hashes, [
    'e17203674364fb53', '225ef6734ba99278', '7c4fe587312b1c07', '3a49aa7aee811635', '515bcfc2f56aacd3',
    '55cfd9b7046cc813', 'ce0810b871161029', '2d4a7a5d17d935c7', 'b617d1811558ceea', 'a8e3b591f8e2c1d6',
    '9deee8d9146e9212', 'a200d1907a16de6a', '1f1d13b5d7e79ed3', '8d3875ba6daabfc5', 'f1443ec78416ab70',
    'b92bc62aee241aed', '30d886f33d320908', 'dd992b54fc57d256', '2aabeb5e7ac96e59', '8c59fa12c97ccaad',
  ]);
});

test('layer tar: a varied layer (hard-link groups, PAX names, xattrs, devices, clamped times) gives the pinned bytes', async () => {
  const src = mkdtempSync(join(tmpdir(), 'tsb-tarenc-'));
  try {
    const r = rng(7);
    const entries: LayerEntry[] = [];
    const e = (x: Partial<LayerEntry> & { path: string; type: LayerEntry['type'] }): LayerEntry => ({ mode: 0o644, uid: 0, gid: 0, size: 0, mtimeMs: 1_700_000_000_000, ...x });
    for (let d = 0; d < 20; d++) {
      const dir = d % 5 === 0 ? `dir${d}-${'long'.repeat(30)}` : `dir${d}`;
      entries.push(e({ path: dir, type: 'dir', mode: 0o755, mtimeMs: 1_700_000_000_000 + d * 1001 }));
      for (let f = 0; f < 30; f++) {
        const size = pick(r, [0, 1, 100, 511, 512, 513, 4096, 10_240, 70_000]);
        const file = join(src, `s${d}-${f}`);
        const bytes = Buffer.alloc(size);
        for (let i = 0; i < size; i++) bytes[i] = Math.floor(r() * 256);
        writeFileSync(file, bytes);
        entries.push(
          e({
            path: `${dir}/${f % 7 === 0 ? 'ü' : ''}f${f}`,
            type: 'file',
            size,
            sourcePath: file,
            mode: pick(r, [0o644, 0o755, 0o4755]),
            uid: pick(r, [0, 1000, 0o7777777 + 1]),
            gid: pick(r, [0, 50]),
            mtimeMs: 1_700_000_000_000 + Math.floor(r() * 1e9),
            ...(f % 11 === 0 ? { xattrs: { 'security.capability': Buffer.from([1, 2, 3]), 'user.dropped': Buffer.from('x') } } : {}),
          }),
        );
      }
      entries.push(e({ path: `${dir}/link`, type: 'symlink', linkname: d % 3 === 0 ? 'target/'.repeat(20) : 'f1' }));
      entries.push(e({ path: `${dir}/aa-hard`, type: 'hardlink', linkname: `${dir}/f2` }));
      entries.push(e({ path: `${dir}/zz-hard`, type: 'hardlink', linkname: `${dir}/aa-hard` }));
      entries.push(e({ path: `${dir}/null`, type: 'char', devmajor: 1, devminor: 3, mode: 0o666 }));
      entries.push(e({ path: `${dir}/sda`, type: 'block', devmajor: 8, devminor: 0 }));
      entries.push(e({ path: `${dir}/pipe`, type: 'fifo', mode: 0o600 }));
    }
    entries.reverse();
    const chunks: Buffer[] = [];
    const kept: Buffer[] = [];
    for await (const c of layerTar(entries, { sourceDateEpoch: 1_700_500_000 })) {
      chunks.push(Buffer.from(c));
      kept.push(c);
    }
    assert.equal(sha(chunks), 'e02980eee160fd70b548c63963b6884e8f45e12f593c02283d9c94a08b1ea2d1');
    // without `transient`, every chunk handed out stays as it was (the blob store holds them until written)
    assert.equal(sha(kept), sha(chunks));
    // with it, buffers are reused once the next chunk is asked for: a consumer that copies sees the same bytes
    const copied: Buffer[] = [];
    const held: Buffer[] = [];
    for await (const c of layerTar(entries, { sourceDateEpoch: 1_700_500_000, transient: true })) {
      copied.push(Buffer.from(c));
      held.push(c);
    }
    assert.equal(sha(copied), sha(chunks));
    assert.notEqual(sha(held), sha(chunks), 'transient chunks were written over (else the option reuses nothing)');
    // and it reads back as the entries given (a sanity check that the pinned bytes are a layer)
    let n = 0;
    for await (const _ of readTar(chunks)) n++;
    assert.equal(n, entries.length);
  } finally {
    rmSync(src, { recursive: true, force: true });
  }
});
