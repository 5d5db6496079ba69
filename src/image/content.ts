/**
 * The content store's roles, shaped like containerd's: a provider reads content by digest
 * (`info`, `open`), an ingester writes it (`write`, which checks the digest before anything becomes
 * visible), a manager lists and deletes it. Content is named by its digest and never changes.
 *
 * One implementation stores bytes: `BlobStore` (blobs.ts), the image store's blob area and, pointed
 * at another directory, an OCI image layout's (oci-layout.ts). Pull, push and the build cache's
 * import/export take these roles, so they work on either. Views that translate (the gzip forms of
 * stored layers, unpacking distributable layers on write) implement the same roles over it.
 */
import type { Readable } from 'node:stream';
import { TsbuildError } from '../errors.js';

export interface ContentInfo {
  digest: string;
  size: number;
}

/** What an ingester must receive. */
export interface ExpectedContent {
  digest: string;
  size?: number;
  /**
   * The source itself errors instead of ending unless its bytes match `digest` (the registry
   * client's blob streams do), so the ingester may skip hashing again and commit on a clean end.
   */
  verified?: boolean;
}

export type ByteSource = AsyncIterable<Buffer | Uint8Array> | Iterable<Buffer | Uint8Array> | Readable;

export interface ContentProvider {
  /** The content's digest and size, or undefined when the store does not hold it. */
  info(digest: string): Promise<ContentInfo | undefined>;
  /** The content's bytes; NOT_FOUND when absent. */
  open(digest: string): Readable | Promise<Readable>;
}

export interface ContentIngester {
  /**
   * Stores the source's bytes as `expected.digest`: verified (digest, and size when given) and
   * atomic; a source that errors or does not match leaves nothing behind.
   */
  write(source: ByteSource, expected: ExpectedContent): Promise<ContentInfo>;
}

export interface ContentManager {
  list(): Promise<string[]>;
  /** Removes the content (a no-op when absent). */
  delete(digest: string): Promise<unknown>;
}

export interface ContentStore extends ContentProvider, ContentIngester, ContentManager {}

/** Reads small content (a manifest, a config) whole; refuses more than `limit` bytes. */
export async function readContent(provider: ContentProvider, digest: string, limit = 64 * 1024 * 1024): Promise<Buffer> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const c of await provider.open(digest)) {
    n += (c as Buffer).length;
    if (n > limit) throw new TsbuildError('CORRUPT', `content ${digest} is larger than ${limit} bytes`);
    parts.push(c as Buffer);
  }
  return Buffer.concat(parts);
}
