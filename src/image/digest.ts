/**
 * Content digests and the OCI chain ID: the one digest vocabulary of tsbuild. The store keeps
 * sha256 content only (`Digest`); other algorithms in archives are rejected as CORRUPT rather than
 * silently trusted. A registry may name content by sha512 too: such digests can be checked
 * (`checkDigest`, `DigestHasher`) on the way through, though the store keeps only sha256.
 */
import { createHash, type Hash } from 'node:crypto';
import { TsbuildError } from '../errors.js';

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

export function sha256(data: Buffer | string): Digest {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

export function newHash(): Hash {
  return createHash('sha256');
}

export function digestOfHash(h: Hash): Digest {
  return `sha256:${h.digest('hex')}`;
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
  return `${algorithm}:${createHash(algorithm).update(data).digest('hex')}`;
}

/** Incremental hashing in the algorithm of an expected digest (a download checked as it streams). */
export class DigestHasher {
  readonly expected: string;
  private readonly hash: Hash;
  private readonly algorithm: string;
  bytes = 0;

  constructor(expected: string) {
    checkDigest(expected);
    this.expected = expected;
    this.algorithm = expected.slice(0, expected.indexOf(':'));
    this.hash = createHash(this.algorithm);
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
