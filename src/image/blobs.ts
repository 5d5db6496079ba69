/**
 * The content-addressed blob area of the OCI layout (`blobs/sha256/<hex>`). Every write goes to a
 * temp file under `tmp/`, is hashed while it streams, fsynced, checked against the expected digest
 * and size, and only then renamed into place: readers never see a partial blob and a mismatch is
 * never stored. Temp names carry the writer's PID so `prune` can remove a dead writer's leftovers.
 * No lock is needed: two writers of the same content rename identical bytes over each other.
 *
 * This is tsbuild's one content store implementation (content.ts's roles): the image store's blob
 * area, and an OCI image layout's when pointed at that directory (oci-layout.ts).
 */
import { createReadStream, promises as fsp, statSync, openSync, fsyncSync, closeSync, fsync } from 'node:fs';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { TsbuildError } from '../errors.js';
import { type Digest, hexOf, newHash, digestOfHash, isDigest } from './digest.js';
import type { ByteSource, ContentInfo, ContentStore, ExpectedContent } from './content.js';
import { openThreadedBlob, type ThreadedBlobWriter } from '../native/blob-writer.js';

export type { ByteSource } from './content.js';

export interface BlobInfo {
  digest: Digest;
  size: number;
}

export interface PutBlobOptions {
  /** Refuse (CORRUPT) and store nothing unless the content has this digest. */
  expectedDigest?: Digest;
  expectedSize?: number;
  /** Last check before the blob becomes visible (e.g. the compressed digest of what was gunzipped); throwing aborts. */
  beforeCommit?: (info: BlobInfo) => void | Promise<void>;
  /** The source errors unless its bytes have `expectedDigest` (a registry download): not hashed again. */
  verified?: boolean;
  /**
   * The source reuses a chunk's buffer once the next chunk is asked for (byte-streams.ts
   * readFileReusing): chunks are copied into write buffers this put reuses in turn.
   */
  transient?: boolean;
  /**
   * Return as soon as the bytes are written and checked; the fsync, the rename into place (the
   * blob becomes visible) and the directory's fsync go on in the background, as `commit`, handed
   * over with the blob's info before put returns. Until `commit` resolves the blob is not in the
   * store (has() is false); if it rejects, it never will be (its temp file is removed). For a
   * caller that needs only the digest now and waits for `commit` before anything refers to the
   * blob (a build's steps: the next step need not wait for the disk).
   */
  commitLater?: (commit: Promise<void>, info: BlobInfo) => void;
}

export class BlobStore implements ContentStore {
  readonly dir: string;
  readonly tmpDir: string;
  private readonly durable: boolean;

  /**
   * `onStored` runs after a blob's digest is known and before it becomes visible (leases).
   * Temp files go to `tmpDir` (the store's `tmp/`; an OCI layout keeps them beside its blobs).
   * `durable: false` skips the fsyncs (an OCI layout written for another tool, as skopeo's
   * `oci:` destination is): a crash may then lose a blob, never show a partial one.
   */
  constructor(
    root: string,
    private readonly onStored: (d: Digest) => void = () => {},
    opts: { tmpDir?: string; durable?: boolean; threaded?: boolean } = {},
  ) {
    this.dir = join(root, 'blobs', 'sha256');
    this.tmpDir = opts.tmpDir ?? join(root, 'tmp');
    this.durable = opts.durable ?? true;
    this.threaded = opts.threaded ?? true;
  }

  /** Whether put() hashes and writes on the native writer's thread (when the addon has it). */
  private readonly threaded: boolean;

  path(d: Digest): string {
    return join(this.dir, hexOf(d));
  }

  has(d: string): boolean {
    if (!isDigest(d)) return false;
    try {
      return statSync(this.path(d)).isFile();
    } catch {
      return false;
    }
  }

  // ---- the content store roles (content.ts) ----

  async info(digest: string): Promise<ContentInfo | undefined> {
    if (!isDigest(digest)) return undefined;
    try {
      const st = await fsp.stat(this.path(digest));
      return st.isFile() ? { digest, size: st.size } : undefined;
    } catch {
      return undefined;
    }
  }

  /** Only sha256 content is stored: another algorithm is refused before a byte is read. */
  write(source: ByteSource, expected: ExpectedContent): Promise<BlobInfo> {
    if (!isDigest(expected.digest)) {
      return Promise.reject(new TsbuildError('INVALID', `unsupported digest ${expected.digest} (only sha256 is stored)`));
    }
    return this.put(source, {
      expectedDigest: expected.digest,
      ...(expected.size !== undefined ? { expectedSize: expected.size } : {}),
      ...(expected.verified ? { verified: true } : {}),
    });
  }

  size(d: Digest): number {
    try {
      return statSync(this.path(d)).size;
    } catch {
      throw new TsbuildError('NOT_FOUND', `blob ${d} not found in the store`);
    }
  }

  open(d: string, opts: { start?: number; end?: number } = {}): Readable {
    if (!isDigest(d) || !this.has(d)) throw new TsbuildError('NOT_FOUND', `blob ${d} not found in the store`);
    return createReadStream(this.path(d), { highWaterMark: 1 << 20, ...opts });
  }

  async read(d: Digest): Promise<Buffer> {
    try {
      return await fsp.readFile(this.path(d));
    } catch {
      throw new TsbuildError('NOT_FOUND', `blob ${d} not found in the store`);
    }
  }

  async readJson<T>(d: Digest): Promise<T> {
    const buf = await this.read(d);
    try {
      return JSON.parse(buf.toString('utf8')) as T;
    } catch {
      throw new TsbuildError('CORRUPT', `blob ${d} is not valid JSON`);
    }
  }

  /** Stores a small in-memory blob (configs, manifests). */
  putBuffer(data: Buffer | string, opts: PutBlobOptions = {}): Promise<BlobInfo> {
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    // Already stored (a rebuild's unchanged config or manifest): a present blob is always whole,
    // so the temp file, fsync and rename are skipped. It is leased as a fresh write would be.
    const digest = digestOfHash(newHash().update(buf));
    if ((!opts.expectedDigest || opts.expectedDigest === digest) && !opts.beforeCommit && this.has(digest)) {
      this.onStored(digest);
      return Promise.resolve({ digest, size: buf.length });
    }
    return this.put([buf], opts);
  }

  /** Streams `source` into the store; see the module comment for the guarantees. */
  async put(source: ByteSource, opts: PutBlobOptions = {}): Promise<BlobInfo> {
    const tmp = join(this.tmpDir, `${process.pid}-${randomBytes(8).toString('hex')}`);
    const threaded = this.threaded ? openThreadedBlob(tmp) : undefined;
    if (threaded) return this.putThreaded(threaded, tmp, source, opts);
    const fh = await fsp.open(tmp, 'wx', 0o644);
    const trusted = opts.verified && opts.expectedDigest ? opts.expectedDigest : undefined;
    const hash = newHash();
    let size = 0;
    let closed = false;
    // Writes go at explicit offsets with a few in flight, so hashing the next chunk overlaps
    // writing this one; an early fdatasync every WRITEBACK bytes starts the disk work long before
    // the final fsync, which then has little left to wait for.
    const inflight = new Set<Promise<unknown>>();
    let failure: unknown;
    const track = (work: Promise<unknown>) => {
      const p: Promise<unknown> = work.then(
        () => inflight.delete(p),
        (e) => {
          failure ??= e;
          inflight.delete(p);
        },
      );
      inflight.add(p);
    };
    let synced = 0;
    // Small chunks (a socket's, gunzip's) are gathered into one writev of about BATCH bytes.
    let batch: Buffer[] = [];
    let batchAt = 0;
    // `transient`: chunks are copied into `copy` (2 x BATCH, so a chunk up to BATCH always fits
    // after a flush); a buffer goes back to `spare` once its write is done.
    const spare: Buffer[] = [];
    let copy: Buffer | undefined;
    let copyLen = 0;
    const flush = () => {
      if (copy && copyLen > 0) {
        const buf = copy;
        track(writeAll(fh, buf.subarray(0, copyLen), batchAt).then(() => void spare.push(buf)));
        copy = undefined;
      } else if (batch.length) track(writevAll(fh, batch, batchAt));
      batch = [];
      batchAt = size;
    };
    const keep = (chunk: Buffer) => {
      if (!opts.transient) return void batch.push(chunk);
      if (copy && copyLen + chunk.length > copy.length) {
        flush();
        if (copy) spare.push(copy); // empty and too small
        copy = undefined;
      }
      if (!copy) {
        copy = spare.pop() ?? Buffer.allocUnsafeSlow(Math.max(2 * BATCH, chunk.length));
        if (copy.length < chunk.length) copy = Buffer.allocUnsafeSlow(chunk.length);
        copyLen = 0;
      }
      copyLen += chunk.copy(copy, copyLen);
    };
    try {
      for await (const chunk of source as AsyncIterable<Buffer>) {
        if (!trusted) hash.update(chunk);
        keep(chunk);
        size += chunk.length;
        if (size - batchAt < BATCH) continue;
        flush();
        if (inflight.size >= MAX_INFLIGHT) await Promise.race(inflight);
        if (failure) throw failure;
        if (this.durable && size - synced >= WRITEBACK) {
          synced = size;
          track(fh.datasync());
        }
      }
      flush();
      await Promise.all(inflight);
      if (failure) throw failure;
      return await this.finishPut(tmp, { digest: trusted ?? digestOfHash(hash), size }, opts, {
        syncAndClose: async () => {
          if (this.durable) await fh.sync();
          await fh.close();
          closed = true;
        },
        closeQuietly: async () => {
          if (!closed) await fh.close().catch(() => {});
          closed = true;
        },
      });
    } catch (e) {
      await Promise.all(inflight);
      if (!closed) await fh.close().catch(() => {});
      await fsp.unlink(tmp).catch(() => {});
      throw e;
    }
  }

  async delete(d: string): Promise<number> {
    if (!isDigest(d)) return 0;
    try {
      const p = this.path(d);
      const st = await fsp.stat(p);
      await fsp.unlink(p);
      return st.size;
    } catch {
      return 0;
    }
  }

  /**
   * put() through the native writer: this thread only hands chunks over (copied there, so
   * transient sources are safe); hashing and writing happen on the writer's, with the same checks,
   * commit and cleanup as put's own path.
   */
  private async putThreaded(w: ThreadedBlobWriter, tmp: string, source: ByteSource, opts: PutBlobOptions): Promise<BlobInfo> {
    const trusted = opts.verified && opts.expectedDigest ? opts.expectedDigest : undefined;
    let ended = false;
    let closed = false;
    try {
      for await (const chunk of source as AsyncIterable<Buffer>) w.push(chunk, !trusted);
      const end = await w.end();
      ended = true;
      return await this.finishPut(tmp, { digest: trusted ?? (`sha256:${end.hex}` as Digest), size: end.size }, opts, {
        syncAndClose: async () => {
          if (this.durable) await fsyncAsync(w.fd);
          w.close();
          closed = true;
        },
        closeQuietly: async () => {
          if (!closed) w.close();
          closed = true;
        },
      });
    } catch (e) {
      // (the thread finishes what it has before the file is closed and removed)
      if (!ended) await w.end().catch(() => {});
      if (!closed) w.close();
      await fsp.unlink(tmp).catch(() => {});
      throw e;
    }
  }

  /**
   * The end both put paths share, once every byte is written: the expected digest and size
   * checked, then the commit (the temp file fsynced and closed, beforeCommit, the rename into
   * place, the directory's fsync) now, or in the background for `commitLater` (a failure there
   * closes and removes the temp file). A failed check throws to the caller, who cleans up.
   */
  private async finishPut(
    tmp: string,
    info: BlobInfo,
    opts: PutBlobOptions,
    file: { syncAndClose(): Promise<void>; closeQuietly(): Promise<void> },
  ): Promise<BlobInfo> {
    const { digest, size } = info;
    if (opts.expectedDigest && digest !== opts.expectedDigest) {
      throw new TsbuildError('CORRUPT', `digest mismatch: expected ${opts.expectedDigest}, got ${digest}`);
    }
    if (opts.expectedSize !== undefined && size !== opts.expectedSize) {
      throw new TsbuildError('CORRUPT', `size mismatch for ${digest}: expected ${opts.expectedSize}, got ${size}`);
    }
    const commit = async () => {
      await file.syncAndClose();
      await opts.beforeCommit?.(info);
      this.onStored(digest);
      await fsp.rename(tmp, this.path(digest));
      if (this.durable) await syncDirAsync(this.dir);
    };
    if (opts.commitLater) {
      const later = commit().catch(async (e: unknown) => {
        await file.closeQuietly();
        await fsp.unlink(tmp).catch(() => {});
        throw e;
      });
      later.catch(() => {}); // (the caller's to observe)
      opts.commitLater(later, info);
      return info;
    }
    await commit();
    return info;
  }

  async list(): Promise<Digest[]> {
    const names = await fsp.readdir(this.dir).catch(() => [] as string[]);
    return names.map((n) => `sha256:${n}`).filter(isDigest) as Digest[];
  }
}

const fsyncAsync = promisify(fsync);
const MAX_INFLIGHT = 4;
const BATCH = 1 << 20;
const WRITEBACK = 64 << 20;

async function writevAll(fh: fsp.FileHandle, bufs: Buffer[], position: number): Promise<void> {
  const total = bufs.reduce((n, b) => n + b.length, 0);
  const n = (await fh.writev(bufs, position)).bytesWritten;
  if (n < total) await writeAll(fh, Buffer.concat(bufs).subarray(n), position + n);
}

async function writeAll(fh: fsp.FileHandle, buf: Buffer | Uint8Array, position: number): Promise<void> {
  let off = 0;
  while (off < buf.length) off += (await fh.write(buf, off, buf.length - off, position + off)).bytesWritten;
}

/** syncDir on the thread pool: a directory's fsync commits the filesystem's journal (after a COPY,
 *  with the 5,000 links of its snapshot: 20-40 ms here), which a blob's background commit must
 *  not spend on the main thread. Best effort, as syncDir. */
export async function syncDirAsync(dir: string): Promise<void> {
  try {
    const fh = await fsp.open(dir, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch {
    /* best effort */
  }
}

/** fsync a directory so a rename in it survives a crash of the machine, not only of the process. */
export function syncDir(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    /* best effort */
  }
}
