/**
 * Content digests (`sha256:<hex>`, `sha512:<hex>`): computing them and checking bytes against them.
 * Every byte tsbuild accepts from a registry passes through one of these.
 */
import { createHash, type Hash } from 'node:crypto';
import { TsbuildError } from '../errors.js';

const ALGORITHMS: Record<string, number> = { sha256: 64, sha512: 128 };

/** Throws unless `d` is a digest we can verify. */
export function checkDigest(d: string): void {
  const colon = d.indexOf(':');
  const alg = d.slice(0, colon);
  const hex = d.slice(colon + 1);
  const len = ALGORITHMS[alg];
  if (colon < 0 || len === undefined || hex.length !== len || !/^[0-9a-f]+$/.test(hex)) {
    throw new TsbuildError('INVALID', `unsupported or malformed digest "${d}"`);
  }
}

export function digestOf(data: Buffer | string, algorithm = 'sha256'): string {
  return `${algorithm}:${createHash(algorithm).update(data).digest('hex')}`;
}

/** Incremental hashing in the algorithm of an expected digest. */
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
