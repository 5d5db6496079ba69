/**
 * native/sha256.c (fsx.node's SHA-256 and random bytes) and src/image/digest.ts on top of it: the
 * digests a build computes without node:crypto. Checked against published vectors and against
 * node:crypto itself (loaded here, in the test only), for bytes, UTF-8 strings (unpaired
 * surrogates included), every split of an input, large buffers, and wrong arguments.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { fsx, type HashInput } from '../../src/native/fsx.js';
import { DigestHasher, Sha256, digestOf, newHash, digestOfHash, randomHex, sha256 } from '../../src/image/digest.js';
import { canonicalJson, rootKey } from '../../src/builder/cache-key.js';

const node = (...parts: HashInput[]): string => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest('hex');
};

/** The native incremental hash of `parts`, each one update. */
function nativeParts(...parts: HashInput[]): string {
  const h = fsx().sha256New();
  for (const p of parts) fsx().sha256Update(h, p);
  return fsx().sha256DigestHex(h);
}

/** Sha256 (digest.ts) of `parts`, each one update. */
function classParts(...parts: HashInput[]): string {
  const h = new Sha256();
  for (const p of parts) h.update(p);
  return h.digest('hex');
}

const VECTORS: [string, string][] = [
  ['', 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'],
  ['abc', 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'],
  ['abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq', '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1'],
  ['a'.repeat(1_000_000), 'cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0'],
];

test('sha256: the FIPS 180-2 vectors, as a string, a Buffer, incrementally and through digest.ts', () => {
  for (const [input, hex] of VECTORS) {
    assert.equal(fsx().sha256Hex(input), hex);
    assert.equal(fsx().sha256Hex(Buffer.from(input)), hex);
    assert.equal(nativeParts(input), hex);
    assert.equal(classParts(input), hex);
    assert.equal(sha256(input), `sha256:${hex}`);
    assert.equal(digestOf(input), `sha256:${hex}`);
  }
  // 1,000,000 × 'a' fed 1000 bytes at a time, as bytes and as strings (past digest.ts's string hold)
  const k = 'a'.repeat(1000);
  const many = (h: Sha256, x: HashInput) => {
    for (let i = 0; i < 1000; i++) h.update(x);
    return h.digest();
  };
  assert.equal(many(new Sha256(), k), VECTORS[3][1]);
  assert.equal(many(new Sha256(), Buffer.from(k)), VECTORS[3][1]);
  assert.equal(nativeParts(...Array<string>(1000).fill(k)), VECTORS[3][1]);
});

test('sha256: an input split at every offset, as bytes or ASCII/BMP strings, hashes as the whole', () => {
  for (const s of ['The quick brown fox jumps over the lazy dog.', 'é ☃ Ωmega — ünïcödé ¥€ 日本語']) {
    const whole = node(s);
    const bytes = Buffer.from(s);
    for (let i = 0; i <= bytes.length; i++) {
      assert.equal(nativeParts(bytes.subarray(0, i), bytes.subarray(i)), whole, `bytes at ${i}`);
      assert.equal(classParts(bytes.subarray(0, i), bytes.subarray(i)), whole, `class bytes at ${i}`);
      for (let j = i; j <= bytes.length; j += 7) {
        assert.equal(classParts(bytes.subarray(0, i), bytes.subarray(i, j), bytes.subarray(j)), whole);
      }
    }
    for (let i = 0; i <= s.length; i++) {
      assert.equal(nativeParts(s.slice(0, i), s.slice(i)), whole, `string at ${i}`);
      assert.equal(classParts(s.slice(0, i), s.slice(i)), whole, `class string at ${i}`);
      // strings and bytes mixed: held text goes to the native context before the bytes
      assert.equal(classParts(s.slice(0, i), Buffer.from(s.slice(i))), whole, `mixed at ${i}`);
      assert.equal(classParts(Buffer.from(s.slice(0, i)), s.slice(i)), whole, `mixed' at ${i}`);
    }
  }
});

test('sha256: strings are their UTF-8 bytes as node:crypto hashes them, unpaired surrogates included', () => {
  const strings = ['héllo', '☃', '😀 astral', '\u0000nul\u0000', '\ud800', 'x\udc00y', '\udbff\udfff', 'é'.repeat(5000), '😀'.repeat(40_000)];
  for (const s of strings) {
    assert.equal(fsx().sha256Hex(s), node(s), JSON.stringify(s.slice(0, 20)));
    assert.equal(classParts(s), node(s));
  }
  // a surrogate pair split between two updates is two unpaired halves to node:crypto: the same here
  assert.equal(classParts('a\ud83d', '\ude00b'), node('a\ud83d', '\ude00b'));
  assert.notEqual(classParts('a\ud83d', '\ude00b'), node('a\ud83d\ude00b'));
  assert.equal(nativeParts('\ud83d', '\ude00'), node('\ud83d', '\ude00'));
  // strings past the hold (64 Ki code units)
  const long = 'ab€'.repeat(50_000);
  assert.equal(classParts(long, long.slice(3), 'z'), node(long, long.slice(3), 'z'));
  // around the native side's one-pass conversion on its stack (up to 2,048 UTF-16 units)
  for (const t of ['€'.repeat(2047), '€'.repeat(2048), '€'.repeat(2049), 'x'.repeat(2047) + '😀', '😀'.repeat(1024), 'x'.repeat(6144) + 'é']) {
    assert.equal(fsx().sha256Hex(t), node(t), `${t.length} units`);
  }
});

test('sha256: large buffers and views (offsets, other element sizes, DataView) hash their bytes', () => {
  const big = randomBytes(48 << 20);
  assert.equal(fsx().sha256Hex(big), node(big));
  const h = new Sha256();
  for (let at = 0; at < big.length; at += 1 << 20) h.update(big.subarray(at, at + (1 << 20)));
  assert.equal(h.digest(), node(big));
  const view = big.subarray(13, 13 + 100_003);
  assert.equal(fsx().sha256Hex(view), node(view));
  const u32 = new Uint32Array(big.buffer, big.byteOffset + 16, 1000);
  assert.equal(fsx().sha256Hex(u32), node(u32));
  const f64 = new Float64Array(big.buffer, big.byteOffset + 64, 77);
  assert.equal(fsx().sha256Hex(f64), node(f64));
  const dv = new DataView(big.buffer, big.byteOffset + 5, 999);
  assert.equal(fsx().sha256Hex(dv), node(dv));
  assert.equal(fsx().sha256Hex(new Uint8Array(0)), VECTORS[0][1]);
});

test('sha256: wrong arguments are TypeErrors, a finished hash refuses more, nothing crashes', () => {
  const typeErr = { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' };
  for (const bad of [123, null, undefined, {}, [1, 2], true, 10n, new ArrayBuffer(4), Symbol('s'), () => 1]) {
    assert.throws(() => fsx().sha256Hex(bad as never), typeErr);
    const h = fsx().sha256New();
    assert.throws(() => fsx().sha256Update(h, bad as never), typeErr);
    assert.equal(fsx().sha256DigestHex(h), VECTORS[0][1]); // the bad update hashed nothing
    assert.throws(() => new Sha256().update(bad as never), typeErr);
  }
  assert.throws(() => (fsx().sha256Hex as () => string)(), typeErr);
  // not a hasher: other values, and another kind of native handle (an op queue)
  const q = fsx().opQueue();
  try {
    for (const notHasher of [q, {}, 'x', null, 1]) {
      assert.throws(() => fsx().sha256Update(notHasher as never, 'x'), { name: 'TypeError', message: /expected a hasher/ });
      assert.throws(() => fsx().sha256DigestHex(notHasher as never), { name: 'TypeError', message: /expected a hasher/ });
    }
  } finally {
    fsx().opClose(q);
  }
  // a native handle starts a new hash after its digest (digest.ts reuses them)
  const h = fsx().sha256New();
  fsx().sha256Update(h, 'abc');
  assert.equal(fsx().sha256DigestHex(h), VECTORS[1][1]);
  assert.equal(fsx().sha256DigestHex(h), VECTORS[0][1]);
  fsx().sha256Update(h, 'a');
  fsx().sha256Update(h, Buffer.from('bc'));
  assert.equal(fsx().sha256DigestHex(h), VECTORS[1][1]);
  // a Sha256 refuses to go on after its digest (its handle may be another hash's by then)
  const s = new Sha256().update('abc');
  assert.equal(s.digest(), VECTORS[1][1]);
  assert.throws(() => s.digest(), /digest taken twice/);
  assert.throws(() => s.update('x'), /update after digest/);
  for (const bad of ['x', 1, {}, null, new ArrayBuffer(8)]) {
    assert.throws(() => fsx().randomFill(bad as never), typeErr);
  }
});

test('sha256: hashes alive together, and later ones on reused native contexts, stay apart', () => {
  const inputs = Array.from({ length: 40 }, (_, i) => randomBytes(100 + i * 37));
  for (let round = 0; round < 3; round++) {
    // all alive at once: each takes a context of its own (more than digest.ts keeps idle)
    const hs = inputs.map((b) => new Sha256().update(`head ${round}\0`).update(b.subarray(0, 50)));
    inputs.forEach((b, i) => hs[i].update(b.subarray(50)).update('tail'));
    hs.forEach((h, i) => assert.equal(h.digest(), node(`head ${round}\0`, inputs[i], 'tail'), `round ${round} hash ${i}`));
  }
  // one left without a digest keeps its context; the others still come out right
  new Sha256().update(inputs[0]);
  for (const b of inputs) assert.equal(new Sha256().update(b).digest(), node(b));
});

test('sha256: digest.ts keeps the call sites\' shapes (chained update, hex/base64, sha512 through node:crypto)', () => {
  const buf = randomBytes(1000);
  assert.equal(digestOfHash(newHash().update(buf)), `sha256:${node(buf)}`);
  assert.equal(new Sha256().update('k').update(buf).digest('base64'), createHash('sha256').update('k').update(buf).digest('base64'));
  assert.equal(digestOf(buf, 'sha512'), `sha512:${createHash('sha512').update(buf).digest('hex')}`);
  for (const alg of ['sha256', 'sha512']) {
    const expected = digestOf(buf, alg);
    const d = new DigestHasher(expected);
    d.update(buf.subarray(0, 300));
    d.update(buf.subarray(300));
    assert.equal(d.digest(), expected);
    assert.equal(d.bytes, 1000);
  }
  // the scratch root key is written out in cache-key.ts: it must be the digest it stands for
  assert.equal(rootKey('scratch'), sha256(canonicalJson({ v: 'tsbuild-cache-v1', root: 'scratch' })));
  assert.equal(rootKey({ configDigest: 'sha256:x', diffIds: [] }), sha256(canonicalJson({ v: 'tsbuild-cache-v1', root: { configDigest: 'sha256:x', diffIds: [] } })));
});

test('randomFill / randomHex: every byte of a view filled, different each time', () => {
  const a = randomHex(6);
  assert.match(a, /^[0-9a-f]{12}$/);
  const seen = new Set(Array.from({ length: 200 }, () => randomHex(8)));
  assert.equal(seen.size, 200);
  assert.equal(randomHex(0), '');
  // a large fill (getrandom returns at most 32 MiB a call): no run of zero bytes left behind
  const big = Buffer.alloc(40 << 20);
  fsx().randomFill(big);
  let zeros = 0;
  for (let i = 0; i < big.length; i += 4096) if (big.readUInt32LE(i) === 0 && big.readUInt32LE(i + 4) === 0) zeros++;
  assert.equal(zeros, 0);
  assert.ok(big.subarray(big.length - 16).some((b) => b !== 0));
  const u16 = new Uint16Array(1000);
  fsx().randomFill(u16);
  assert.ok(u16.subarray(990).some((x) => x !== 0));
});
