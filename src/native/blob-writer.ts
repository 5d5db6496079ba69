/**
 * A blob file written and hashed off the main thread (native/blob-writer.c): chunks are copied
 * into the writer and the caller goes on, while one thread computes the SHA-256 and another writes,
 * so a layer's hashing and write calls leave the main thread (which makes the tar) to the second
 * core. BlobStore.put's only way of writing.
 */
import { fsx } from './fsx.js';

export interface BlobWriter {
  /** Copies `chunk` (the caller may reuse it at once); `hash` false: written, not hashed. Waits
   *  while 32 MiB are queued; throws the writer's first error (code E<errno>). */
  push(chunk: Uint8Array, hash: boolean): void;
  /** Once every byte is written (not fsynced) and hashed: the hex SHA-256 of the hashed bytes. */
  end(): Promise<{ hex: string; size: number }>;
  /** The file's descriptor, for an fsync after end(); closed by close(). */
  readonly fd: number;
  /** Ends the threads (what is queued is still written) and closes the file. Only once end()
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

/** Creates `path` (which must not exist: code E17) with a writer for it. */
export function openBlobWriter(path: string): BlobWriter {
  const x = fsx() as unknown as BlobNative;
  if (typeof x.blobOpen !== 'function') throw new Error('native addon native/build/fsx.node has no blob writer: it is older than this tsbuild (run npm install)');
  const w = x.blobOpen(path);
  return {
    push: (chunk, hash) => x.blobPush(w, chunk, hash),
    end: () => x.blobEnd(w),
    fd: x.blobFd(w),
    close: () => x.blobClose(w),
  };
}
