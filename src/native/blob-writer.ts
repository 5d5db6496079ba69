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
  /** push() of `bytes` with file ranges inserted: `marks` holds [at, fd, offset, length]
   *  quadruples, `at` (non-decreasing) the index in `bytes` before which `length` bytes of the open
   *  file `fd` from `offset` go. The files are read on the writer's threads: they must stay open
   *  until end() settles, and one that ends early fails the blob. */
  pushGather(bytes: Uint8Array, hash: boolean, marks: Float64Array): void;
  /** Once every byte is written (not fsynced) and hashed: the hex SHA-256 of the hashed bytes. */
  end(): Promise<{ hex: string; size: number }>;
  /** The file's descriptor, for an fsync after end(); closed by close(). */
  readonly fd: number;
  /** Ends the threads (what is queued is still written) and closes the file. Only once end()
   *  settled, or before it was called. */
  close(): void;
}

interface BlobNative {
  blobOpen(path: string, durable: boolean): object;
  blobPush(w: object, chunk: Uint8Array, hash: boolean): void;
  blobPushGather(w: object, bytes: Uint8Array, hash: boolean, marks: Float64Array): void;
  blobEnd(w: object): Promise<{ hex: string; size: number }>;
  blobFd(w: object): number;
  blobClose(w: object): void;
}

/** Creates `path` (which must not exist: code E17) with a writer for it. `durable`: the caller
 *  fsyncs the file after end(), so the writer flushes the disk's cache as it goes (the final fsync
 *  then has the tail left). The bytes go to the disk without the page cache where the filesystem
 *  allows (O_DIRECT): a blob is rarely read soon after it is written, and filling fresh page-cache
 *  pages was most of the writer's CPU. */
export function openBlobWriter(path: string, durable = false): BlobWriter {
  const x = fsx() as unknown as BlobNative;
  if (typeof x.blobOpen !== 'function') throw new Error('native addon native/build/fsx.node has no blob writer: it is older than this tsbuild (run npm install)');
  const w = x.blobOpen(path, durable);
  return {
    push: (chunk, hash) => x.blobPush(w, chunk, hash),
    pushGather: (bytes, hash, marks) => x.blobPushGather(w, bytes, hash, marks),
    end: () => x.blobEnd(w),
    fd: x.blobFd(w),
    close: () => x.blobClose(w),
  };
}
