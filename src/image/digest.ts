/**
 * Content digests and the OCI chain ID: the one digest vocabulary of tsbuild. The store keeps
 * sha256 content only (`Digest`); other algorithms in archives are rejected as CORRUPT rather than
 * silently trusted. A registry may name content by sha512 too: such digests can be checked
 * (`checkDigest`, `DigestHasher`) on the way through, though the store keeps only sha256.
 *
 * SHA-256 (and random bytes for temporary names) come from the native addon (native/sha256.c),
 * not node:crypto: loading that cost every build 11-23 ms of the main thread (Node compiles its
 * internal crypto modules), and a build needs nothing else of it. Other algorithms
 * load node:crypto when first used.
 */
import { createRequire } from 'node:module';
import { TsbuildError } from '../errors.js';
import { fsx, type HashInput, type Sha256Handle } from '../native/fsx.js';

/** `sha256:` followed by 64 lowercase hex digits. */
export type Digest = `sha256:${string}`;

const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;

export function isDigest(s: string): s is Digest {
  return DIGEST_RE.test(s);
}

/** Validates a digest from outside (archive, user, registry); throws CORRUPT/INVALID otherwise. */
export function parseDigest(s: string, code: 'CORRUPT' | 'INVALID' = 'CORRUPT'): Digest {
  if (!isDigest(s)) throw new TsbuildError(code, `invalid digest "${s}" (only sha256 is supported)`);
  return s;
}

export function hexOf(d: Digest): string {
  return d.slice(7);
}

export function sha256(data: HashInput): Digest {
  return `sha256:${fsx().sha256Hex(data)}`;
}

/** Anything chunks can be fed to (a hash of a stream: byte-streams.ts's tapHash). */
export interface Hasher {
  update(data: Uint8Array): unknown;
}

/** Strings held before they go to the native context (most hashes are a few short strings). */
const TEXT_HELD = 1 << 16;

/**
 * Native contexts free for the next hash: a new one (an external with a finalizer and an OpenSSL
 * context) costs ~2.4 us against node:crypto's ~0.9 us for a whole createHash-digest, a reused one
 * nothing (the native digest resets it). A COPY of 5,000 files hashes each one.
 */
const idle: Sha256Handle[] = [];
const IDLE_MAX = 8;

/**
 * An incremental SHA-256 with node:crypto's Hash shape (update chains, digest once). Strings are
 * joined here and hashed with the next bytes or the digest, so a hash of short strings (a cache
 * key, a directory's entries) is one native call and no native context; bytes are hashed at once
 * (a caller may reuse its buffer as soon as update returns).
 */
export class Sha256 implements Hasher {
  private text = '';
  /** text ends with a high surrogate (checked on each piece: `text` is a rope, slow to index) */
  private highEnd = false;
  private handle: Sha256Handle | undefined;
  private done = false;

  update(data: HashInput): this {
    if (this.done) throw new Error('sha256: update after digest'); // a bug, not a user's error
    if (typeof data === 'string') {
      if (data.length === 0) return this;
      // node:crypto encodes each update on its own: a surrogate pair split between two updates is
      // two U+FFFD, not the pair joined
      if (this.highEnd && isLowSurrogate(data.charCodeAt(0))) this.flush();
      this.text += data;
      this.highEnd = isHighSurrogate(data.charCodeAt(data.length - 1));
      if (this.text.length >= TEXT_HELD) this.flush();
    } else {
      this.flush();
      fsx().sha256Update(this.handle!, data);
    }
    return this;
  }

  /** The digest of everything fed (hex by default); call once. */
  digest(encoding: 'hex' | 'base64' = 'hex'): string {
    if (this.done) throw new Error('sha256: digest taken twice');
    this.done = true;
    let hex: string;
    if (this.handle) {
      this.flush();
      hex = fsx().sha256DigestHex(this.handle);
      if (idle.length < IDLE_MAX) idle.push(this.handle);
      this.handle = undefined;
    } else {
      hex = fsx().sha256Hex(this.text);
    }
    this.text = '';
    return encoding === 'hex' ? hex : Buffer.from(hex, 'hex').toString('base64');
  }

  /** Sends the held strings to the native context (taken or made now if there is none). */
  private flush(): void {
    this.handle ??= idle.pop() ?? fsx().sha256New();
    if (this.text) fsx().sha256Update(this.handle, this.text);
    this.text = '';
    this.highEnd = false;
  }
}

const isHighSurrogate = (c: number) => c >= 0xd800 && c <= 0xdbff;
const isLowSurrogate = (c: number) => c >= 0xdc00 && c <= 0xdfff;

export function newHash(): Sha256 {
  return new Sha256();
}

export function digestOfHash(h: Sha256): Digest {
  return `sha256:${h.digest('hex')}`;
}

/** `bytes` random bytes in hex (temporary and lease names), from getrandom(2). */
export function randomHex(bytes: number): string {
  const b = Buffer.allocUnsafe(bytes);
  fsx().randomFill(b);
  return b.toString('hex');
}

let nodeCrypto: typeof import('node:crypto') | undefined;

/** node:crypto, loaded on first use: only for algorithms other than sha256. */
function crypto(): typeof import('node:crypto') {
  return (nodeCrypto ??= createRequire(import.meta.url)('node:crypto') as typeof import('node:crypto'));
}

/** A hasher in `algorithm`: sha256 natively, the others from node:crypto. */
function hasherFor(algorithm: string): { update(data: HashInput): unknown; digest(encoding: 'hex'): string } {
  return algorithm === 'sha256' ? new Sha256() : crypto().createHash(algorithm);
}

/** Algorithms a digest may use in content tsbuild verifies (hex length of each). */
const ALGORITHMS: Record<string, number> = { sha256: 64, sha512: 128 };

/** Throws INVALID unless `d` is a digest in an algorithm tsbuild can verify. */
export function checkDigest(d: string): void {
  const colon = d.indexOf(':');
  const len = ALGORITHMS[d.slice(0, colon)];
  const hex = d.slice(colon + 1);
  if (colon < 0 || len === undefined || hex.length !== len || !/^[0-9a-f]+$/.test(hex)) {
    throw new TsbuildError('INVALID', `unsupported or malformed digest "${d}"`);
  }
}

/** The digest of `data` in `algorithm` (`sha256`, `sha512`); for sha256, `sha256()` types it. */
export function digestOf(data: Buffer | string, algorithm = 'sha256'): string {
  return algorithm === 'sha256' ? sha256(data) : `${algorithm}:${crypto().createHash(algorithm).update(data).digest('hex')}`;
}

/** Incremental hashing in the algorithm of an expected digest (a download checked as it streams). */
export class DigestHasher {
  readonly expected: string;
  private readonly hash: ReturnType<typeof hasherFor>;
  private readonly algorithm: string;
  bytes = 0;

  constructor(expected: string) {
    checkDigest(expected);
    this.expected = expected;
    this.algorithm = expected.slice(0, expected.indexOf(':'));
    this.hash = hasherFor(this.algorithm);
  }

  update(chunk: Buffer): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
  }

  /** The digest of everything seen; call once. */
  digest(): string {
    return `${this.algorithm}:${this.hash.digest('hex')}`;
  }
}

/**
 * Chain IDs per the OCI image spec: ChainID(L0) = DiffID(L0),
 * ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln)). One per layer, bottom first.
 */
export function chainIds(diffIds: readonly Digest[]): Digest[] {
  const out: Digest[] = [];
  for (const d of diffIds) out.push(out.length === 0 ? d : sha256(`${out[out.length - 1]} ${d}`));
  return out;
}
