/**
 * What pull and push need from local storage: a content-addressed blob store. The image store
 * adapts to this; `OciLayoutStore` (oci-layout.ts) implements it on an OCI image layout directory.
 */
import type { Readable } from 'node:stream';

export interface ExpectedBlob {
  digest: string;
  size?: number;
  /**
   * The stream itself errors instead of ending unless its bytes match `digest` (the registry
   * client's blob streams do), so a store may skip hashing again: commit only on a clean end.
   */
  verified?: boolean;
}

export interface ContentStore {
  hasBlob(digest: string): Promise<boolean>;
  /**
   * Stores the stream's bytes under `expected.digest`. Implementations must verify the digest
   * (and size when given) and write atomically; a stream that errors must leave nothing behind.
   */
  putBlob(stream: Readable, expected: ExpectedBlob): Promise<void>;
  openBlob(digest: string): Promise<Readable>;
}

/** Per-blob transfer progress; `current === total` once a blob is done or already present. */
export interface TransferProgress {
  /** The blob's digest. */
  layer: string;
  current: number;
  total: number;
  status: 'exists' | 'transferring' | 'done' | 'mounted';
}

export type ProgressCallback = (e: TransferProgress) => void;

/** Runs `fn` over `items` with at most `limit` in flight; rejects on the first failure. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (!failed && next < items.length) {
      const i = next++;
      try {
        out[i] = await fn(items[i]!, i);
      } catch (e) {
        failed = true;
        throw e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return out;
}
