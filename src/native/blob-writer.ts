/**
 * A blob file written and hashed on a thread of its own (native/blob-writer.c): chunks are copied
 * into the writer and the caller goes on, while that thread computes the SHA-256 and writes, so a
 * layer's hashing and write calls leave the main thread (which makes the tar) to the second core.
 */
import { fsx } from './fsx.js';

export interface ThreadedBlobWriter {
  /** Copies `chunk` (the caller may reuse it at once); `hash` false: written, not hashed. Waits
   *  while 32 MiB are queued; throws the writer's first error (code E<errno>). */
  push(chunk: Uint8Array, hash: boolean): void;
  /** Once every byte is written (not fsynced) and hashed: the hex SHA-256 of the hashed bytes. */
  end(): Promise<{ hex: string; size: number }>;
  /** The file's descriptor, for an fsync after end(); closed by close(). */
  readonly fd: number;
  /** Ends the thread (what is queued is still written) and closes the file. Only once end()
   *  settled, or before it was called. */
  close(): void;
}

interface BlobNative {
  blobOpen(path: string): object;
  blobPush(w: object, chunk: Uint8Array, hash: boolean): void;
  blobEnd(w: object): Promise<{ hex: string; size: number }>;
  blobFd(w: object): number;
  blobClose(w: object): void;
}

/** Creates `path` (which must not exist) for a threaded writer; undefined when the addon lacks
 *  one (the caller writes the ordinary way). */
export function openThreadedBlob(path: string): ThreadedBlobWriter | undefined {
  let x: BlobNative;
  try {
    x = fsx() as unknown as BlobNative;
  } catch {
    return undefined;
  }
  if (typeof x.blobOpen !== 'function') return undefined;
  const w = x.blobOpen(path);
  return {
    push: (chunk, hash) => x.blobPush(w, chunk, hash),
    end: () => x.blobEnd(w),
    fd: x.blobFd(w),
    close: () => x.blobClose(w),
  };
}
