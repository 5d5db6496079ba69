/**
 * Content digests (`sha256:<64 hex>`) and the OCI chain ID. Only sha256 is stored; other
 * algorithms in archives are rejected as CORRUPT rather than silently trusted.
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

/**
 * Chain IDs per the OCI image spec: ChainID(L0) = DiffID(L0),
 * ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln)). One per layer, bottom first.
 */
export function chainIds(diffIds: readonly Digest[]): Digest[] {
  const out: Digest[] = [];
  for (const d of diffIds) out.push(out.length === 0 ? d : sha256(`${out[out.length - 1]} ${d}`));
  return out;
}
