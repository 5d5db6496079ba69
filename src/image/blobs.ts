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
import type { Readable } from 'node:stream';
import { TsbuildError } from '../errors.js';
import { type Digest, hexOf, digestOfHash, newHash, isDigest, randomHex } from './digest.js';
import type { ByteSource, ContentInfo, ContentStore, ExpectedContent } from './content.js';
import { openBlobWriter } from '../native/blob-writer.js';

export type { ByteSource } from './content.js';

/**
 * Bytes with ranges of open files inserted (`marks`: [at, fd, offset, length] quadruples, `at` the
 * index in `bytes` before which `length` bytes of `fd` from `offset` go): a layer's unchanged
 * files, whose bytes sit in an earlier layer's blob, are read by the blob writer's threads instead
 * of on the main thread. Only BlobStore.put takes them; the files must stay open until it returns.
 */
export class GatheredBytes {
  constructor(
    readonly bytes: Buffer,
    readonly marks: Float64Array,
  ) {}
}

/** What put takes: any byte source, or one that also gives GatheredBytes (layer-writer.ts). */
export type BlobSource = ByteSource | AsyncIterable<Buffer | Uint8Array | GatheredBytes>;

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
    opts: { tmpDir?: string; durable?: boolean } = {},
  ) {
    this.dir = join(root, 'blobs', 'sha256');
    this.tmpDir = opts.tmpDir ?? join(root, 'tmp');
    this.durable = opts.durable ?? true;
  }

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

  /**
   * Streams `source` into the store; see the module comment for the guarantees. The chunks are
   * handed to the native blob writer (src/native/blob-writer.ts), which copies them — the source may
   * reuse its buffers at once — and hashes and writes them on threads of its own.
   */
  async put(source: BlobSource, opts: PutBlobOptions = {}): Promise<BlobInfo> {
    const tmp = join(this.tmpDir, `${process.pid}-${randomHex(8)}`);
    const w = openBlobWriter(tmp, this.durable);
    const trusted = opts.verified && opts.expectedDigest ? opts.expectedDigest : undefined;
    let ended = false;
    let closed = false;
    const close = () => {
      if (!closed) w.close();
      closed = true;
    };
    try {
      for await (const chunk of source as AsyncIterable<Buffer | GatheredBytes>) {
        if (chunk instanceof GatheredBytes) w.pushGather(chunk.bytes, !trusted, chunk.marks);
        else w.push(chunk, !trusted);
      }
      const end = await w.end();
      ended = true;
      const info: BlobInfo = { digest: trusted ?? (`sha256:${end.hex}` as Digest), size: end.size };
      if (opts.expectedDigest && info.digest !== opts.expectedDigest) {
        throw new TsbuildError('CORRUPT', `digest mismatch: expected ${opts.expectedDigest}, got ${info.digest}`);
      }
      if (opts.expectedSize !== undefined && info.size !== opts.expectedSize) {
        throw new TsbuildError('CORRUPT', `size mismatch for ${info.digest}: expected ${opts.expectedSize}, got ${info.size}`);
      }
      const commit = async () => {
        if (this.durable) await fsyncAsync(w.fd);
        close();
        await opts.beforeCommit?.(info);
        this.onStored(info.digest);
        await fsp.rename(tmp, this.path(info.digest));
        if (this.durable) await syncDirAsync(this.dir);
      };
      if (opts.commitLater) {
        const later = commit().catch(async (e: unknown) => {
          close();
          await fsp.unlink(tmp).catch(() => {});
          throw e;
        });
        later.catch(() => {}); // (the caller's to observe)
        opts.commitLater(later, info);
        return info;
      }
      await commit();
      return info;
    } catch (e) {
      // (the writer finishes what it has before the file is closed and removed)
      if (!ended) await w.end().catch(() => {});
      close();
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

  async list(): Promise<Digest[]> {
    const names = await fsp.readdir(this.dir).catch(() => [] as string[]);
    return names.map((n) => `sha256:${n}`).filter(isDigest) as Digest[];
  }
}

const fsyncAsync = promisify(fsync);

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
