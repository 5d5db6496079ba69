/**
 * Layer entries -> a deterministic tar stream, hashed while it is written into the blob store
 * (the blob digest of an uncompressed layer is its diff ID).
 *
 * Determinism: the writer SORTS (callers may pass entries in any order; only metadata is
 * buffered, never content): entries in byte order of their paths, which also puts every parent
 * before its children. Headers carry name, mode, uid, gid, size, mtime (whole seconds, clamped to
 * SOURCE_DATE_EPOCH when given), link name, device numbers and the one xattr Docker's layers
 * carry, security.capability (PAX `SCHILY.xattr.*`: BuildKit's exporter, containerd's tar change
 * writer, records no other, so user.* xattrs from an ADDed archive, a COPY --from source or a RUN
 * stay out of the layer, as in Docker's images); uname/gname are empty and there is no
 * atime/ctime, so no host detail leaks in.
 * Hard links: the first path of a link group in sorted order carries the content and the others
 * link to it, so a link never precedes its target in the tar.
 */
import { closeSync, existsSync, openSync, promises as fsp, readSync } from 'node:fs';
import { TsbuildError } from '../errors.js';
import type { LayerEntry } from './layer-entry.js';
import { BLOCK, encodeHeader, encodeHeaderInto, padding, END_OF_ARCHIVE, type TarHeader } from './tar-format.js';
import { GatheredBytes, type BlobInfo } from './blobs.js';
import type { ScratchSpace, StoreContent } from './store-roles.js';
import type { Snapshotter } from './snapshots.js';
import { chainIds, hexOf, sha256, type Digest } from './digest.js';
import { extractLayer } from './layer-reader.js';
import { DonorIndex, SnapshotTap } from './snapshot-writer.js';
import { listedEntry, recordListing, type ListedEntry, type ListingSink } from './layer-listing.js';
import { join } from 'node:path';

/** The only extended attribute a layer records (file capabilities are part of the image). */
const LAYER_XATTR = 'security.capability';

export interface LayerWriteOptions {
  /** Clamp mtimes to this many seconds since the epoch (SOURCE_DATE_EPOCH). */
  sourceDateEpoch?: number;
  /**
   * layerTar's consumer is done with a chunk once it asks for the next (BlobStore.put copies every
   * chunk into its writer): layerTar then reuses its buffers instead
   * of allocating ~1 MiB of fresh memory per MiB of layer (each page of which costs a page fault
   * here: ~100 ms of CPU for a 51 MB layer).
   */
  transient?: boolean;
  /** The blob's fsync and rename go on in the background (BlobStore.put's `commitLater`): the
   *  caller gets that commit here and waits for it before anything refers to the blob. */
  commitLater?: (commit: Promise<void>, info: BlobInfo) => void;
}

/** The minimal store surface the writer needs. */
export type BlobSink = Pick<StoreContent, 'putBlob'>;

/** Writes a layer into the store; the returned digest is the layer's diff ID. A store with a root
 *  (ImageStore) also keeps the layer's listing (layer-listing.ts), so it is never scanned. */
export async function writeLayer(
  store: BlobSink & Partial<ListingSink>,
  entries: AsyncIterable<LayerEntry> | Iterable<LayerEntry>,
  opts: LayerWriteOptions = {},
): Promise<BlobInfo> {
  const listed: ListedEntry[] = [];
  // (the blob store copies each chunk as it comes: the tar's buffers are reused)
  const info = await store.putBlob(layerTar(entries, { ...opts, transient: true }, undefined, listed), opts.commitLater ? { commitLater: opts.commitLater } : {});
  if (store.root !== undefined && store.tempPath !== undefined) recordListing(store as ListingSink, info.digest, listed);
  return info;
}

/** What writing a layer together with its snapshot needs of the store (ImageStore has it): the
 *  blob, and the listing and donor index kept beside it. */
export type SnapshotSink = Pick<StoreContent, 'putBlob' | 'blobPath'> & Pick<ScratchSpace, 'root' | 'tempPath'>;

/** What it needs of the snapshotter: an active snapshot to write into, committed or aborted, and
 *  the dirs of earlier snapshots (donors of unchanged files). */
export type SnapshotMaker = Pick<Snapshotter, 'prepare' | 'commit' | 'commitDeferred' | 'abort' | 'paths'>;

export interface SnapshotWriteOptions extends LayerWriteOptions {
  /** The directory the layer's sources come from (the build context's root): its files that are
   *  unchanged since an earlier snapshot are linked from it (snapshot-writer.ts's donor index);
   *  sources elsewhere (scratch files) are always written. */
  donorRoot?: string;
  /** Commit the snapshot deferred (snapshots.ts commitDeferred): it is written without an fsync
   *  per file and appears in the store once a sync covered it and the caller settled (a build's
   *  stage runner); until then the snapshotter names it where it is. */
  deferCommit?: boolean;
}

/**
 * Writes a layer into the store and, in the same pass, its snapshot: the tar bytes go to the blob
 * (hashed, fsynced) while the snapshot is made from the same entries and bytes — straight from
 * them for a plain layer (snapshot-writer.ts, which also links files unchanged since an earlier
 * snapshot), else through the extraction a later unpack would do — so files are read once and the
 * snapshot is not made afterwards by reading the blob back. `parentChain` is the chain ID of the
 * layers below (undefined for a first layer). Order keeps a kill harmless: the snapshot (an active
 * one of the snapshotter's) is committed only after its blob is in the store (a snapshot never exists without its blob), and a
 * killed writer leaves only PID-named temp files, which prune removes. An existing snapshot of the
 * same chain is kept; a failure of either side fails the layer.
 */
export async function writeLayerWithSnapshot(
  store: SnapshotSink,
  snapshots: SnapshotMaker,
  entries: AsyncIterable<LayerEntry> | Iterable<LayerEntry>,
  parentChain: Digest | undefined,
  opts: SnapshotWriteOptions = {},
): Promise<BlobInfo> {
  // a layer's snapshot holds the layer alone (its parents are other snapshots): no lower dirs
  const active = await snapshots.prepare([]);
  const tmp = active.upperDir;
  const donors =
    opts.donorRoot !== undefined
      ? new DonorIndex(
          (hex) => snapshots.paths([`sha256:${hex}`])[0]!,
          join(store.root, 'meta'),
          opts.donorRoot,
          () => store.tempPath('donors'),
          (hex) => store.blobPath(`sha256:${hex}`),
        )
      : undefined;
  const direct = new SnapshotTap(tmp, donors);
  let tapped = false;
  const tap: LayerTap = {
    accepts: (ordered) => (tapped = direct.accepts(ordered)),
    entry: (h, e, at) => direct.entry(h, e, at),
    data: (c) => direct.data(c),
    contentSource: () => direct.contentSource(),
  };
  const pipe = new ChunkPipe();
  let extracting: Promise<unknown> | undefined;
  const listed: ListedEntry[] = [];
  let deferred = false;
  try {
    const tee = async function* (): AsyncGenerator<Buffer | GatheredBytes> {
      try {
        for await (const chunk of layerPieces(entries, { ...opts, transient: true }, tap, listed, true)) {
          if (!tapped) {
            // (untapped, no entry has a content source: only bytes come)
            if (chunk instanceof GatheredBytes) throw new Error('layer writer: file ranges without a tap');
            extracting ??= extractLayer(pipe, tmp, { mode: 'snapshot' }).then(
              () => pipe.consumerDone(), // (a reader that stops early must not leave the writer waiting)
              (e: unknown) => {
                pipe.fail(e);
                throw e;
              },
            );
            await pipe.push(Buffer.from(chunk)); // the extraction holds chunks past this turn: a copy
          }
          yield chunk;
        }
        if (tapped) direct.finish();
      } catch (e) {
        pipe.fail(e); // the extraction stops with the same error
        throw e;
      } finally {
        pipe.end();
      }
    };
    // transient: layerTar reuses its buffers once the next chunk is asked for (putBlob copies each)
    let blobCommit: Promise<void> | undefined;
    const info = await store.putBlob(tee(), opts.commitLater ? { commitLater: (p: Promise<void>, i: BlobInfo) => ((blobCommit = p), opts.commitLater!(p, i)) } : {});
    recordListing(store, info.digest, listed);
    await extracting;
    const chainId = parentChain === undefined ? info.digest : sha256(`${parentChain} ${info.digest}`);
    // (when another process made the same snapshot first, its copy is kept: as good as ours)
    if (opts.deferCommit) {
      // (it appears only after its blob: never a snapshot without its layer)
      snapshots.commitDeferred(active, chainId, blobCommit);
      deferred = true; // (the snapshotter's now: not aborted below)
    } else {
      await blobCommit;
      await snapshots.commit(active, chainId);
    }
    if (tapped && existsSync(snapshots.paths([chainId])[0]!)) donors?.save(direct.copies, hexOf(chainId), hexOf(info.digest));
    return info;
  } finally {
    direct.abort();
    donors?.close();
    pipe.end();
    await extracting?.catch(() => {});
    if (!deferred) await snapshots.abort(active); // (nothing left to do once committed)
  }
}

/** The chain ID of the last of these layers (diff IDs bottom first), undefined for none. */
export function topChainId(diffIds: readonly Digest[]): Digest | undefined {
  return diffIds.length === 0 ? undefined : chainIds(diffIds)[diffIds.length - 1];
}

/** One producer, one consumer: chunks handed over with a few in flight (the producer waits when
 *  the consumer is that far behind); a consumer failure is raised in the producer. */
class ChunkPipe implements AsyncIterable<Buffer> {
  private readonly queue: Buffer[] = [];
  private done = false;
  private consumed = false;
  private failure: unknown;
  private wakeConsumer: (() => void) | undefined;
  private wakeProducer: (() => void) | undefined;

  async push(chunk: Buffer): Promise<void> {
    if (this.failure !== undefined) throw this.failure;
    if (this.consumed) return;
    this.queue.push(chunk);
    this.wakeConsumer?.();
    while (this.queue.length >= PIPE_DEPTH && this.failure === undefined && !this.done && !this.consumed) {
      await new Promise<void>((r) => (this.wakeProducer = r));
      this.wakeProducer = undefined;
    }
    if (this.failure !== undefined) throw this.failure;
  }

  /** The consumer has stopped reading: later chunks are dropped instead of waited for. */
  consumerDone(): void {
    this.consumed = true;
    this.queue.length = 0;
    this.wakeProducer?.();
  }

  end(): void {
    this.done = true;
    this.wakeConsumer?.();
    this.wakeProducer?.();
  }

  fail(e: unknown): void {
    this.failure ??= e;
    this.wakeProducer?.();
    this.wakeConsumer?.();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer> {
    for (;;) {
      if (this.failure !== undefined) throw this.failure;
      const chunk = this.queue.shift();
      if (chunk !== undefined) {
        this.wakeProducer?.();
        yield chunk;
        continue;
      }
      if (this.done) return;
      await new Promise<void>((r) => (this.wakeConsumer = r));
      this.wakeConsumer = undefined;
    }
  }
}

const PIPE_DEPTH = 8;

/** Sees every entry of a layer as it is written into the tar: its header, then its content. */
export interface LayerTap {
  /** Whether this tap can take the whole layer (asked once, before anything is written). */
  accepts(ordered: readonly LayerEntry[]): boolean;
  /** `contentOffset`: where the entry's content starts in the tar. */
  entry(h: TarHeader, e: LayerEntry, contentOffset: number): void;
  /** (With `transient`, the chunk is valid only during the call.) */
  data(chunk: Buffer): void;
  /** For the entry just given: its exact bytes from elsewhere, to use instead of reading its
   *  source (snapshot-writer's donors: an earlier layer's blob). */
  contentSource?(): { chunks(reuse?: boolean): Iterable<Buffer>; range?: { fd: number; offset: number } } | undefined;
}

/** The layer as tar bytes. A tap, if it accepts the layer, is given every entry and content chunk
 *  on the way (the same bytes, read once); `listed`, if given, gets each header's listing
 *  (layer-listing.ts) as it is written. */
export function layerTar(
  entries: AsyncIterable<LayerEntry> | Iterable<LayerEntry>,
  opts: LayerWriteOptions = {},
  tap?: LayerTap,
  listed?: ListedEntry[],
): AsyncGenerator<Buffer> {
  return layerPieces(entries, opts, tap, listed, false) as AsyncGenerator<Buffer>; // (no ranges: bytes only)
}

/** layerTar's pieces; with `ranges` (the consumer is BlobStore.put, which reads file ranges
 *  itself), a linked file's bytes in an earlier blob (the tap's contentSource with a `range`) are
 *  handed over as that range (GatheredBytes) instead of being read here. */
async function* layerPieces(
  entries: AsyncIterable<LayerEntry> | Iterable<LayerEntry>,
  opts: LayerWriteOptions,
  tap: LayerTap | undefined,
  listed: ListedEntry[] | undefined,
  ranges: boolean,
): AsyncGenerator<Buffer | GatheredBytes> {
  const list: LayerEntry[] = [];
  for await (const e of entries as AsyncIterable<LayerEntry>) {
    checkPath(e.path);
    list.push(e);
  }
  const ordered = orderEntries(list);
  const t = tap?.accepts(ordered) ? tap : undefined;
  // Headers, padding and small files' contents are written one after another into a slab and
  // handed on as one piece each time something else must go between (a big file's chunks, an
  // earlier blob's bytes): a yield is a promise round trip through every consumer, and a
  // 5,000-file layer made ~15,000 of them. A slab's bytes are never rewritten once handed on
  // (the blob store gathers pieces into writevs and holds them until written); bigger contents
  // are not copied into it (that would only cost a memcpy of the layer). With `transient`, the
  // consumer is done with a piece when it asks for the next: the slab is then written over.
  const reuse = opts.transient === true;
  let slab = Buffer.allocUnsafe(SLAB);
  let from = 0; // the slab's bytes not yet handed on: [from, pos)
  let pos = 0;
  let at = 0; // offset in the tar
  // (with `ranges`) file ranges to insert into the slab's bytes not yet handed on: [at - from, fd,
  // offset, length] each; handed on together with those bytes
  let marks: number[] = [];
  const piece = (): Buffer | GatheredBytes => {
    const bytes = slab.subarray(from, pos);
    if (marks.length === 0) return bytes;
    const g = new GatheredBytes(bytes, Float64Array.from(marks));
    marks = [];
    return g;
  };
  for (const e of ordered) {
    const h = toHeader(e, opts);
    listed?.push(listedEntry(h));
    if (pos + BLOCK > slab.length) {
      if (pos > from || marks.length > 0) yield piece();
      if (!reuse) slab = Buffer.allocUnsafe(SLAB);
      from = pos = 0;
    }
    if (encodeHeaderInto(h, slab, pos) === BLOCK) pos += BLOCK;
    else {
      // PAX records: a header of its own size
      const header = encodeHeader(h);
      if (pos > from || marks.length > 0) yield piece();
      from = pos = reuse ? 0 : pos;
      yield header;
      at += header.length - BLOCK;
    }
    at += BLOCK;
    t?.entry(h, e, at);
    if (h.type !== 'file' || h.size === 0) continue;
    if (!e.sourcePath) throw new TsbuildError('INVALID', `layer entry ${e.path} has content but no source`);
    const pad = padding(h.size);
    const donor = t?.contentSource?.();
    if (ranges && donor?.range !== undefined) {
      // read by the blob writer, from the earlier blob (the tap has no use for the bytes)
      marks.push(pos - from, donor.range.fd, donor.range.offset, h.size);
      if (pos + pad > slab.length) {
        if (pos > from || marks.length > 0) yield piece();
        if (!reuse) slab = Buffer.allocUnsafe(SLAB);
        from = pos = 0;
      }
    } else if (h.size <= SMALL_FILE) {
      if (pos + h.size + pad > slab.length) {
        if (pos > from || marks.length > 0) yield piece();
        if (!reuse || slab.length < h.size + pad) slab = Buffer.allocUnsafe(Math.max(SLAB, h.size + pad));
        from = pos = 0;
      }
      if (donor === undefined) readSmall(e.sourcePath, slab, pos, h.size, e.path);
      else {
        // an earlier blob's bytes go into the slab too: a piece handed on per small file is a
        // promise round trip through every consumer (5,000 of them for a one-file rebuild)
        let got = 0;
        for (const chunk of donor.chunks(reuse)) got += chunk.copy(slab, pos + got, 0, Math.min(chunk.length, h.size - got));
        if (got !== h.size) throw new TsbuildError('CORRUPT', `${e.path}: ${got} bytes where the layer has ${h.size}`);
      }
      t?.data(slab.subarray(pos, pos + h.size));
      pos += h.size;
    } else {
      if (pos > from || marks.length > 0) yield piece();
      from = pos = reuse ? 0 : pos;
      if (donor !== undefined) {
        for (const chunk of donor.chunks(reuse)) {
          t?.data(chunk);
          yield chunk;
        }
      } else {
        for await (const chunk of readLarge(e.sourcePath, h.size, e.path, reuse)) {
          t?.data(chunk);
          yield chunk;
        }
      }
      if (pos + pad > slab.length) {
        if (!reuse) slab = Buffer.allocUnsafe(SLAB);
        from = pos = 0;
      }
    }
    slab.fill(0, pos, pos + pad);
    pos += pad;
    at += h.size + pad;
  }
  if (pos > from || marks.length > 0) yield piece();
  yield END_OF_ARCHIVE;
}

/** A slab of header and small-file bytes (see layerTar). */
const SLAB = 128 * 1024;

/** A layer path: relative, no empty, `.` or `..` component. */
const BAD_PATH = /(?:^|\/)\.{0,2}(?:\/|$)/;

function checkPath(p: string): void {
  if (BAD_PATH.test(p)) throw new TsbuildError('INVALID', `invalid layer entry path "${p}"`);
}

function toHeader(e: LayerEntry, opts: LayerWriteOptions): TarHeader {
  let mtime = Math.floor(e.mtimeMs / 1000);
  if (opts.sourceDateEpoch !== undefined && mtime > opts.sourceDateEpoch) mtime = opts.sourceDateEpoch;
  const dev = e.type === 'char' || e.type === 'block';
  const cap = e.xattrs?.[LAYER_XATTR];
  // every field present (absent ones undefined): one object shape for all headers, so the encoder's
  // and the tap's reads of them stay monomorphic
  return {
    name: e.path,
    type: e.type,
    mode: e.mode & 0o7777,
    uid: e.uid,
    gid: e.gid,
    size: e.type === 'file' ? e.size : 0,
    mtime,
    linkname: e.linkname,
    devmajor: dev ? (e.devmajor ?? 0) : undefined,
    devminor: dev ? (e.devminor ?? 0) : undefined,
    xattrs: cap !== undefined ? { [LAYER_XATTR]: cap } : undefined,
  };
}

/** Sorted by path; hard-link groups re-pointed so the content holder comes first. */
export function orderEntries(list: LayerEntry[]): LayerEntry[] {
  const sorted = [...list].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i]!.path === sorted[i - 1]!.path) throw new TsbuildError('INVALID', `duplicate layer entry "${sorted[i]!.path}"`);
  }
  const byPath = new Map(sorted.map((e) => [e.path, e]));
  // Group each hard link with the entry holding the content (following link chains).
  const groupOf = new Map<string, LayerEntry>();
  const rootOf = (e: LayerEntry): LayerEntry => {
    const seen = new Set<string>();
    let cur = e;
    while (cur.type === 'hardlink') {
      if (seen.has(cur.path)) throw new TsbuildError('INVALID', `hard link loop at "${e.path}"`);
      seen.add(cur.path);
      const t = byPath.get(cur.linkname ?? '');
      if (!t) return cur; // target outside this layer: keep the link as it is
      cur = t;
    }
    return cur;
  };
  const members = new Map<LayerEntry, LayerEntry[]>();
  for (const e of sorted) {
    if (e.type !== 'hardlink') continue;
    const r = rootOf(e);
    if (r.type === 'hardlink') continue;
    groupOf.set(e.path, r);
    if (!members.has(r)) members.set(r, [r]);
    members.get(r)!.push(e);
  }
  const replace = new Map<string, LayerEntry>();
  for (const [root, group] of members) {
    const first = group.reduce((a, b) => (b.path < a.path ? b : a));
    for (const m of group) {
      if (m === first) replace.set(m.path, { ...root, path: m.path });
      else replace.set(m.path, { ...root, path: m.path, type: 'hardlink', linkname: first.path, size: 0, sourcePath: undefined });
    }
  }
  return sorted.map((e) => replace.get(e.path) ?? e);
}

/** Files up to this size are read with blocking calls: the thread-pool round trips of an async
 *  open/read/close cost far more than the read itself (layers of many small files). */
const SMALL_FILE = 64 * 1024;

/** Exactly `size` bytes of a small file into `buf` at `off`; a file that shrank since it was
 *  listed is an error. */
function readSmall(path: string, buf: Buffer, off: number, size: number, name: string): void {
  const fd = openSync(path, 'r');
  try {
    for (let got = 0; got < size; ) {
      const n = readSync(fd, buf, off + got, size - got, null);
      if (n === 0) throw new TsbuildError('CONFLICT', `${name} changed size while being written to a layer`);
      got += n;
    }
  } finally {
    closeSync(fd);
  }
}

/** Exactly `size` bytes of a file, in chunks of up to 1 MiB (`reuse`: each read into the same
 *  buffer); a file that shrank since it was listed is an error. */
async function* readLarge(path: string, size: number, name: string, reuse: boolean): AsyncGenerator<Buffer> {
  const fh = await fsp.open(path, 'r');
  try {
    let left = size;
    let buf: Buffer | undefined;
    while (left > 0) {
      if (!reuse || buf === undefined || buf.length > left) buf = Buffer.allocUnsafe(Math.min(left, 1 << 20));
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) throw new TsbuildError('CONFLICT', `${name} changed size while being written to a layer`);
      left -= bytesRead;
      yield bytesRead === buf.length ? buf : buf.subarray(0, bytesRead);
    }
  } finally {
    await fh.close();
  }
}
