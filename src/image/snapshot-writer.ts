/**
 * A layer's snapshot written straight from its entries while the layer tar is made (layer-writer's
 * tap): the same dirs, files, links, owners, modes and times as unpacking the tar in snapshot mode
 * (layer-reader.ts) gives, without parsing the tar back. Only plain layers take this path: dirs,
 * files, symlinks and hard links, no whiteout names and no file capabilities (anything else is
 * unpacked by the extractor, which knows overlay's formats).
 *
 * Files already in an earlier snapshot are hard-linked instead of written: a COPY from the build
 * context that re-copies 5,000 files after one of them changed then writes one file and links the
 * rest (creating a file costs ~7x a link on ext4). The donor index records, per source file, its
 * identity when it was read (device, inode, size, mtime and ctime in ns: any write to the source
 * changes ctime) and where its copy went. A donor is taken only when the source's identity is
 * unchanged and the donor file's type, size, mode, owner and mtime are exactly the new entry's;
 * snapshots are never modified, so its content is the source's. The identity is the one the
 * context walk listed when the entry carries it (no stat per file here): the content as listed,
 * which the cache key was computed from. The index is a hint: missing, stale or unreadable, it
 * only costs the writes. Shared inodes show as a link count above 1.
 *
 * The index also records where the donor's bytes sit in the blob of the layer that wrote it (an
 * uncompressed tar, immutable and verified like every blob): a linked file's bytes for the new tar
 * are then read from there, one pread on a blob already open, instead of opening the source again;
 * without that blob they are read back from the link itself. Either way they are the linked file's
 * bytes, so tar and snapshot agree even if the source changes meanwhile. A record carries the
 * header it was written with, so no lstat of the donor is needed: a pruned donor fails the link, a
 * removed blob the open, and either only costs the read or the write.
 */
import {
  closeSync,
  constants,
  fchmodSync,
  fchownSync,
  futimesSync,
  linkSync,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  appendFileSync,
  writeFileSync,
  writeSync,
  type BigIntStats,
} from 'node:fs';
import { join } from 'node:path';
import { TsbuildError } from '../errors.js';
import { hexOf, sha256 } from './digest.js';
import type { LayerEntry } from './layer-entry.js';
import type { LayerTap } from './layer-writer.js';
import type { TarHeader } from './tar-format.js';
import { FsOps } from '../native/fs-ops.js';

const IS_ROOT = process.getuid?.() === 0;
/** Who owns what this process creates (its effective ids): no chown is needed for an entry of
 *  that owner outside a setgid directory (a build context's files are all root's). */
const EUID = process.geteuid?.() ?? -1;
const EGID = process.getegid?.() ?? -1;
/** A path with a component named `.wh.*` (a whiteout or opaque marker). */
const WHITEOUT_NAME = /(?:^|\/)\.wh\./;
const HEX = /^[0-9a-f]{64}$/;
/** Sources remembered per donor index (oldest dropped first). */
const MAX_DONORS = 100_000;
/** The donor index file's first line (version 4: a log of groups, one JSON array per line). */
const LOG_HEAD = 'tsbuild-donors 4\n';
/** Appended lines before the file is rewritten whole. */
const MAX_LINES = 200;

/** Where a source file's copy lives: [identity, snapshot dir name, path inside it, header as
 *  written (headerKey), blob hex of that layer, offset of the bytes in it]. */
type DonorRecord = [string, string, string, string, string, number];

/** A copy the tap made, for the donor index: [source, identity, path in the layer, headerKey,
 *  offset of its bytes in the layer's tar]. */
export type DonorCopy = [string, string, string, string, number];

/** Where a linked file's bytes can be read instead of its source. */
export interface ContentSource {
  /** The bytes, as slices of big reads: files copied together sit together in the earlier blob,
   *  so one read of a window serves many of them. `reuse`: the caller is done with a chunk when
   *  it asks for the next (layerTar's `transient`), so a window may be read into again. */
  chunks(reuse?: boolean): Iterable<Buffer>;
  /** Where they are: an open file (closed by DonorIndex.close) and the offset in it, for a
   *  consumer that reads them itself (the blob writer, on a thread of its own). */
  range?: { fd: number; offset: number };
}

/** Reads of an earlier blob through a window of WINDOW bytes (slices are handed out, never copied;
 *  a refill allocates a new window, so slices handed out earlier stay valid — unless the caller
 *  says it is done with them: `reuse` reads into the same memory again). */
class BlobWindow {
  private start = 0;
  private buf = EMPTY;
  /** The memory of the current window (buf is its filled part). */
  private mem = this.buf;
  constructor(readonly fd: number) {}

  *slice(offset: number, size: number, reuse = false): Generator<Buffer> {
    let pos = offset;
    let left = size;
    while (left > 0) {
      if (pos < this.start || pos >= this.start + this.buf.length) this.fill(pos, left, reuse);
      const from = pos - this.start;
      const n = Math.min(left, this.buf.length - from);
      yield this.buf.subarray(from, from + n);
      pos += n;
      left -= n;
    }
  }

  private fill(pos: number, want: number, reuse: boolean): void {
    const len = Math.max(WINDOW, Math.min(want, 1 << 20));
    const buf = reuse && this.mem.length >= len ? this.mem : Buffer.allocUnsafe(len);
    this.mem = buf;
    this.buf = EMPTY; // (until the read is whole: a failed one must not leave a window over other bytes)
    let got = 0;
    while (got < buf.length) {
      const n = readSync(this.fd, buf, got, buf.length - got, pos + got);
      if (n === 0) break;
      got += n;
    }
    if (got === 0) throw new TsbuildError('CORRUPT', 'a stored layer blob ends early');
    this.start = pos;
    this.buf = buf.subarray(0, got);
  }
}
const WINDOW = 1 << 20;
/** Files up to this size are written on the op thread from a copy of their bytes; bigger ones
 *  here, as their bytes go by (no copy of a big file is held). */
const SMALL_FILE = 256 << 10;
const EMPTY = Buffer.alloc(0);

/** This process's umask (from /proc: process.umask() without an argument is deprecated), read
 *  once; 0o777 (every bit masked: always chmod) where it cannot be read. */
let umaskValue: number | undefined;
function processUmask(): number {
  if (umaskValue === undefined) {
    try {
      const m = /^Umask:\s*([0-7]+)$/m.exec(readFileSync('/proc/self/status', 'latin1'));
      umaskValue = m ? parseInt(m[1]!, 8) : 0o777;
    } catch {
      umaskValue = 0o777;
    }
  }
  return umaskValue;
}

/** The header fields a donor must share with the new entry (besides its path's content). */
function headerKey(h: TarHeader): string {
  return `${h.size}:${h.mode}:${h.uid}:${h.gid}:${h.mtime}`;
}

/** The donor index of one build context (or other source root), in the store's meta/. */
export class DonorIndex {
  private records = new Map<string, DonorRecord>();
  private readonly file: string;
  private readonly under: string;

  /** `tempPath` names a temp file in the store (a killed writer's is removed by prune). */
  /** Open blobs of earlier layers (by hex; null: could not be opened), closed by close(). */
  private readonly blobs = new Map<string, BlobWindow | null>();

  constructor(
    private readonly snapshotDir: (hex: string) => string,
    metaDir: string,
    sourceRoot: string,
    private readonly tempPath: () => string,
    private readonly blobPath: (hex: string) => string = () => '/nonexistent',
  ) {
    this.under = sourceRoot.endsWith('/') ? sourceRoot : `${sourceRoot}/`;
    this.file = join(metaDir, 'copy-donors', `${hexOf(sha256(sourceRoot)).slice(0, 32)}.json`);
    try {
      const text = readFileSync(this.file, 'utf8');
      if (text.startsWith(LOG_HEAD)) {
        // version 4: a log of groups, later lines overriding earlier ones; a torn last line (a
        // killed append) or any malformed one is skipped
        const lines = text.split('\n');
        for (let i = 1; i < lines.length; i++) {
          if (lines[i] === '') continue;
          this.lines++;
          try {
            this.load([JSON.parse(lines[i]!)]);
          } catch {
            /* skipped */
          }
        }
        this.appendable = true;
      } else {
        const v = JSON.parse(text) as { v?: number; files?: Record<string, DonorRecord>; groups?: unknown };
        if (v.v === 3 && Array.isArray(v.groups)) this.load(v.groups);
        else if (v.v === 2 && v.files && typeof v.files === 'object') this.records = new Map(Object.entries(v.files));
      }
    } catch {
      /* none yet, or unreadable: no donors */
    }
  }

  /** Lines in the log file as read (appends since then included), and whether it may be appended
   *  to (a version-4 log: an older file is rewritten). */
  private lines = 0;
  private appendable = false;

  /**
   * Version 3 of the file: the copies of one snapshot and blob together, as
   * `[snapshotHex, blobHex, [source below the root, identity, path in the layer, headerKey, offset, ...]]`
   * (half of version 2's size for a 5,000-file COPY, where every record repeated both hexes and the
   * root: reading and writing it was ~4 % of a one-file rebuild). Malformed records are skipped.
   */
  private load(groups: unknown[]): void {
    for (const g of groups) {
      if (!Array.isArray(g) || typeof g[0] !== 'string' || typeof g[1] !== 'string' || !Array.isArray(g[2])) continue;
      const [snap, blob, flat] = g as [string, string, unknown[]];
      for (let i = 0; i + 4 < flat.length; i += 5) {
        const rel = flat[i], id = flat[i + 1], path = flat[i + 2], key = flat[i + 3], offset = flat[i + 4];
        if (typeof rel !== 'string' || typeof id !== 'string' || typeof path !== 'string' || typeof key !== 'string' || typeof offset !== 'number') continue;
        this.records.set(this.under + rel, [id, snap, path, key, blob, offset]);
      }
    }
  }

  /** The records as version 3 groups, in the map's (recency) order of each group's first record. */
  private groups(): Array<[string, string, Array<string | number>]> {
    // snapshot hex -> blob hex -> group; records of one COPY come in a run with the same pair
    const byPair = new Map<string, Map<string, [string, string, Array<string | number>]>>();
    const out: Array<[string, string, Array<string | number>]> = [];
    let last: [string, string, Array<string | number>] | undefined;
    const n = this.under.length;
    for (const [src, [id, snap, path, key, blob, offset]] of this.records) {
      if (!src.startsWith(this.under)) continue;
      let g = last;
      if (g === undefined || g[0] !== snap || g[1] !== blob) {
        let bySnap = byPair.get(snap);
        if (!bySnap) byPair.set(snap, (bySnap = new Map()));
        g = bySnap.get(blob);
        if (!g) {
          bySnap.set(blob, (g = [snap, blob, []]));
          out.push(g);
        }
        last = g;
      }
      g[2].push(src.slice(n), id, path, key, offset);
    }
    return out;
  }

  /** Whether this index takes a source at all (only files below its root). */
  covers(sourcePath: string): boolean {
    return sourcePath.startsWith(this.under);
  }

  /** A file holding exactly the content and metadata of an entry of `size` bytes whose header
   *  gives `key` (headerKey), if an earlier snapshot has one (it may have been pruned since: the
   *  caller's link then fails), and where its bytes are in a blob. */
  find(sourcePath: string, identity: string, key: string, size: number): { path: string; content: ContentSource | undefined } | undefined {
    const r = this.records.get(sourcePath);
    if (!r || r[0] !== identity || r[3] !== key) return undefined;
    const dir = this.dirOf(r[1]);
    if (dir === undefined) return undefined;
    return { path: `${dir}/${r[2]}`, content: Number.isSafeInteger(r[5]) ? this.blobAt(r[4], r[5], size) : undefined };
  }

  /** Snapshot dirs by hex (a COPY's donors sit in one or a few snapshots: computed once each). */
  private readonly dirs = new Map<string, string | undefined>();
  private dirOf(hex: string): string | undefined {
    let d = this.dirs.get(hex);
    if (d === undefined && !this.dirs.has(hex)) this.dirs.set(hex, (d = HEX.test(hex) ? this.snapshotDir(hex) : undefined));
    return d;
  }

  private blobAt(hex: string, offset: number, size: number): ContentSource | undefined {
    let w = this.blobs.get(hex);
    if (w === undefined) {
      if (!HEX.test(hex)) return undefined; // (not remembered: a malformed record is rare)
      try {
        w = new BlobWindow(openSync(this.blobPath(hex), constants.O_RDONLY | constants.O_NOFOLLOW));
      } catch {
        w = null; // removed: the source is read instead
      }
      this.blobs.set(hex, w);
    }
    const win = w;
    return win === null ? undefined : { chunks: (reuse) => win.slice(offset, size, reuse), range: { fd: win.fd, offset } };
  }

  /** Closes the blobs opened for reading. */
  close(): void {
    for (const w of this.blobs.values()) if (w !== null) closeSync(w.fd);
    this.blobs.clear();
  }

  /**
   * Remembers where these sources' copies are now (the snapshot `snapshotHex`, the bytes in the
   * blob `blobHex`); best effort. `copies` are the files this snapshot wrote: a linked file's
   * record keeps naming its donor, which holds the same inode. They are appended to the file as
   * one line (a one-file rebuild appends one record instead of rewriting 5,000); the file is
   * rewritten whole, one line per group, when it has MAX_LINES lines, when records were dropped,
   * or when it is of an older version.
   */
  save(copies: readonly DonorCopy[], snapshotHex: string, blobHex: string): void {
    if (copies.length === 0) return;
    for (const [src, id, rel, key, offset] of copies) {
      this.records.delete(src); // re-inserted last: the map's order is recency
      this.records.set(src, [id, snapshotHex, rel, key, blobHex, offset]);
    }
    const drop = this.records.size - MAX_DONORS;
    if (drop > 0) {
      let n = 0;
      for (const k of this.records.keys()) {
        if (n++ >= drop) break;
        this.records.delete(k);
      }
    }
    try {
      if (this.appendable && drop <= 0 && this.lines < MAX_LINES) {
        const flat: Array<string | number> = [];
        const n = this.under.length;
        for (const [src, id, rel, key, offset] of copies) if (src.startsWith(this.under)) flat.push(src.slice(n), id, rel, key, offset);
        appendFileSync(this.file, `${JSON.stringify([snapshotHex, blobHex, flat])}\n`);
        this.lines++;
        return;
      }
      mkdirSync(join(this.file, '..'), { recursive: true });
      const tmp = this.tempPath();
      const groups = this.groups();
      writeFileSync(tmp, LOG_HEAD + groups.map((g) => `${JSON.stringify(g)}\n`).join(''));
      // removed first: ext4 starts writing back a file renamed over another before the rename
      // returns (auto_da_alloc), which waits behind the layer blob's own writeback (~20-30 ms); a
      // hint may be missing for a moment
      rmSync(this.file, { force: true });
      renameSync(tmp, this.file);
      this.lines = groups.length;
      this.appendable = true;
    } catch {
      /* a hint only */
    }
  }
}

/** A file written here gets the header's owner (when `chown`), mode and mtime, and is closed
 *  (whatever happens: a failure is thrown after the close). */
function finishFile(fd: number, h: TarHeader, chown: boolean): void {
  try {
    if (chown) fchownSync(fd, h.uid, h.gid);
    fchmodSync(fd, h.mode);
    futimesSync(fd, h.mtime, h.mtime);
  } finally {
    closeSync(fd);
  }
}

/** A linked file's bytes, read back from the link in chunks of at most 1 MiB. */
function linkedContent(path: string, size: number, name: string): ContentSource {
  return {
    *chunks() {
      const fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
      try {
        for (let pos = 0; pos < size; ) {
          const buf = Buffer.allocUnsafe(Math.min(size - pos, 1 << 20));
          const n = readSync(fd, buf, 0, buf.length, pos);
          if (n === 0) throw new TsbuildError('CORRUPT', `${name}: a linked snapshot file ends early`);
          pos += n;
          yield buf.subarray(0, n);
        }
      } finally {
        closeSync(fd);
      }
    },
  };
}

/** The identity of a source file's content as of now (see the module comment). */
export function sourceIdentity(path: string): string | undefined {
  let st: BigIntStats;
  try {
    st = lstatSync(path, { bigint: true });
  } catch {
    return undefined;
  }
  return st.isFile() ? identityOf(st) : undefined;
}

/** A file's identity from its stat data (lstat's with bigint, or a listing's): dev, ino, size,
 *  mtime and ctime (ns) as five int64s, in base64 — what identityOfRow gives for a listing's row. */
export function identityOf(st: { dev: bigint; ino: bigint; size: bigint; mtimeNs: bigint; ctimeNs: bigint }): string {
  const a = new BigInt64Array([st.dev, st.ino, st.size, st.mtimeNs, st.ctimeNs].map((v) => BigInt.asIntN(64, v)));
  return Buffer.from(a.buffer).toString('base64');
}

/** identityOf of the row at `at` of a native listing (fsx lstatDir/statDirKey rows: dev, ino, size,
 *  mtime and ctime are its first five fields), without making a BigInt of any: the five fields'
 *  bytes as they are (5,000 files' identities as text were ~12 ms of a one-file rebuild). */
export function identityOfRow(rows: BigInt64Array, at: number): string {
  return Buffer.from(rows.buffer, rows.byteOffset + at * 8, 40).toString('base64');
}

/**
 * Writes the snapshot into `root` (an empty dir) as the tar's entries go by. Dirs, links, symlinks
 * and metadata go through an op queue that runs them on a thread of its own (fs-ops.ts), in order,
 * while the tar is encoded and hashed; a file written here waits for the queue first (its dir must
 * be there). A donor link that fails on that thread (its snapshot pruned meanwhile) is written from
 * the donor's blob bytes instead, when the queue is next drained.
 */
export class SnapshotTap implements LayerTap {
  /** Files this snapshot wrote from a source (linked ones keep their donor's record): for the
   *  donor index once the snapshot is in place. */
  readonly copies: DonorCopy[] = [];
  /** Set by entry() for a linked file whose bytes can come from an earlier blob. */
  private content: ContentSource | undefined;
  private fd: number | undefined;
  private readonly made = new Set<string>(['']);
  /** Dirs made here whose mode has the setgid bit (what is made in them takes their group), and
   *  whether the root is one (looked up on first need). */
  private readonly setgidDirs = new Set<string>();
  private rootSetgid: boolean | undefined;
  private readonly dirTimes: Array<[string, number]> = [];
  private readonly ops = new FsOps();
  /** Donor links queued since the last drain: new path -> how to write it should the link fail. */
  private readonly queuedLinks = new Map<string, { h: TarHeader; content: ContentSource; chown: boolean; copy: DonorCopy }>();

  constructor(
    private readonly root: string,
    private readonly donors: DonorIndex | undefined,
  ) {}

  accepts(ordered: readonly LayerEntry[]): boolean {
    return ordered.every(
      (e) =>
        (e.type === 'dir' || e.type === 'file' || e.type === 'symlink' || e.type === 'hardlink') &&
        e.xattrs?.['security.capability'] === undefined &&
        !WHITEOUT_NAME.test(e.path),
    );
  }

  entry(h: TarHeader, e: LayerEntry, contentOffset = -1): void {
    this.closeFile();
    this.content = undefined;
    const rel = h.name;
    const slash = rel.lastIndexOf('/');
    const parent = slash < 0 ? '' : rel.slice(0, slash);
    this.ensureParent(parent);
    const abs = `${this.root}/${rel}`; // rel is a checked layer path (layer-writer's checkPath)
    switch (h.type) {
      case 'dir': {
        // made with its mode when mkdir gives exactly that (no umask bit, no setuid/setgid/sticky,
        // no setgid parent handing its bit down): a chmod less per directory, ~20 µs of the op
        // thread each, which the tar's end waits for; else made private and chmodded after
        const plain = (h.mode & 0o7000) === 0 && (h.mode & processUmask()) === 0 && !this.setgidAt(parent);
        this.ops.mkdir(abs, plain ? h.mode : 0o700);
        this.made.add(rel);
        if (this.needsChown(h, parent)) this.ops.lchown(abs, h.uid, h.gid);
        if (!plain) this.ops.chmod(abs, h.mode);
        if (h.mode & 0o2000) this.setgidDirs.add(rel);
        this.dirTimes.push([abs, h.mtime]);
        return;
      }
      case 'file': {
        // the identity as listed when the lister had it (no stat here: a COPY of 5,000 files saves
        // 5,000 of them); the bytes then come from a donor only for the content as listed
        const id = e.sourcePath !== undefined && this.donors?.covers(e.sourcePath) ? (e.sourceIdentity ?? sourceIdentity(e.sourcePath)) : undefined;
        const key = id !== undefined ? headerKey(h) : '';
        const donor = id !== undefined ? this.donors?.find(e.sourcePath!, id, key, h.size) : undefined;
        if (donor?.content !== undefined && h.size > 0) {
          // linked on the op thread; its bytes for the tar come from the donor's blob either way
          this.ops.link(donor.path, abs, true);
          // (a linked file's donor record stays as it is: see DonorIndex.save; one that has to be
          // written after all is recorded then)
          this.queuedLinks.set(abs, { h, content: donor.content, chown: this.needsChown(h, parent), copy: [e.sourcePath!, id!, rel, key, contentOffset] });
          this.content = donor.content;
          return;
        }
        if (donor === undefined && h.size <= SMALL_FILE) {
          // made on the op thread too, from a copy of its bytes (gathered here as they go by)
          this.small = { abs, h, chown: this.needsChown(h, parent), buf: h.size === 0 ? EMPTY : Buffer.allocUnsafe(h.size), got: 0 };
          if (id !== undefined) this.copies.push([e.sourcePath!, id, rel, key, contentOffset]);
          if (h.size === 0) this.queueSmall();
          return;
        }
        this.drainOps(); // (what is done here needs the dirs queued so far)
        if (donor !== undefined) {
          try {
            linkSync(donor.path, abs);
            this.copies.push([e.sourcePath!, id!, rel, key, contentOffset]);
            // its bytes still go by for the tar: from the donor's blob, or else read back from the
            // link (the donor's inode: snapshots are never modified), never from the source, which
            // may have changed since it was listed
            if (h.size > 0) this.content = donor.content ?? linkedContent(abs, h.size, rel);
            return;
          } catch {
            /* pruned meanwhile: write it */
          }
        }
        const fd = openSync(abs, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
        this.fd = fd;
        this.pending = { h, expect: h.size, got: 0, chown: this.needsChown(h, parent) };
        if (id !== undefined) this.copies.push([e.sourcePath!, id, rel, key, contentOffset]);
        if (h.size === 0) this.closeFile();
        return;
      }
      case 'symlink':
        this.ops.symlink(h.linkname ?? '', abs);
        if (this.needsChown(h, parent)) this.ops.lchown(abs, h.uid, h.gid);
        this.ops.lutimes(abs, h.mtime);
        return;
      case 'hardlink': {
        this.drainOps();
        const target = join(this.root, h.linkname ?? '');
        const st = h.linkname ? lstatSync(target, { throwIfNoEntry: false }) : undefined;
        if (!st || st.isDirectory()) {
          throw new TsbuildError('CORRUPT', `layer: hard link ${rel} points to missing ${h.linkname}`);
        }
        linkSync(target, abs);
        return;
      }
      default:
        throw new TsbuildError('INVALID', `snapshot writer: unexpected entry type ${h.type} for ${rel}`);
    }
  }

  private pending: { h: TarHeader; expect: number; got: number; chown: boolean } | undefined;

  /** Whether an entry just made in `parent` must be chowned to the header's owner: as root, unless
   *  it already has that owner (ours, and no setgid parent gave it another group). A chown of an
   *  entry to the owner it has still costs a journaled inode change: ~250 of them per COPY of a
   *  200-file tree. */
  private needsChown(h: TarHeader, parent: string): boolean {
    if (!IS_ROOT) return false;
    return h.uid !== EUID || h.gid !== EGID || this.setgidAt(parent);
  }

  /** Whether the dir `rel` made here (or the root, '') has the setgid bit. */
  private setgidAt(rel: string): boolean {
    if (rel !== '') return this.setgidDirs.has(rel);
    this.rootSetgid ??= (lstatSync(this.root).mode & 0o2000) !== 0;
    return this.rootSetgid;
  }

  /** Where the current entry's bytes can be read instead of its source (see DonorIndex). */
  contentSource(): ContentSource | undefined {
    return this.content;
  }

  data(chunk: Buffer): void {
    const small = this.small;
    if (small !== undefined) {
      small.got += chunk.copy(small.buf, small.got);
      if (small.got >= small.h.size) this.queueSmall();
      return;
    }
    if (this.fd === undefined) return;
    let off = 0;
    while (off < chunk.length) off += writeSync(this.fd, chunk, off, chunk.length - off);
    this.pending!.got += chunk.length;
    if (this.pending!.got >= this.pending!.expect) this.closeFile();
  }

  /** After the last entry: directory times, deepest first (as the extractor sets them). */
  finish(): void {
    this.closeFile();
    this.dirTimes.sort((a, b) => b[0].length - a[0].length);
    for (const [p, t] of this.dirTimes) this.ops.lutimes(p, t);
    this.drainOps();
    this.ops.close();
  }

  /** Afterwards, and on failure: the open file, if any, is closed and the op thread has ended
   *  (nothing is still being made in the dir when the caller removes it). */
  abort(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    this.ops.close();
  }

  /** Waits for the queued ops; a donor link that could not be made is written from its bytes. */
  private drainOps(): void {
    const failed = this.ops.drain();
    for (const abs of failed) {
      const q = this.queuedLinks.get(abs);
      if (q === undefined) throw new Error(`snapshot writer: a link nobody queued failed: ${abs}`);
      this.writeFrom(abs, q.h, q.content, q.chown);
      this.copies.push(q.copy);
    }
    this.queuedLinks.clear();
  }

  /** A file with the header's metadata and the bytes `content` gives. */
  private writeFrom(abs: string, h: TarHeader, content: ContentSource, chown: boolean): void {
    const fd = openSync(abs, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    try {
      let got = 0;
      for (const chunk of content.chunks()) {
        for (let off = 0; off < chunk.length; ) off += writeSync(fd, chunk, off, chunk.length - off);
        got += chunk.length;
      }
      if (got !== h.size) throw new TsbuildError('CORRUPT', `${h.name}: ${got} bytes where the layer has ${h.size}`);
    } catch (e) {
      closeSync(fd);
      throw e;
    }
    finishFile(fd, h, chown);
  }

  /** A small file whose bytes are all here, handed to the op thread. */
  private small: { abs: string; h: TarHeader; chown: boolean; buf: Buffer; got: number } | undefined;
  private queueSmall(): void {
    const s = this.small!;
    this.small = undefined;
    if (s.got !== s.h.size) throw new TsbuildError('CORRUPT', `${s.h.name}: ${s.got} bytes where the layer has ${s.h.size}`);
    this.ops.file(s.abs, s.buf, s.h.mode, s.chown ? s.h : undefined, s.h.mtime);
  }

  private closeFile(): void {
    if (this.small !== undefined) this.queueSmall(); // (an entry's end: short bytes are an error)
    if (this.fd === undefined) return;
    const fd = this.fd;
    const { h, chown } = this.pending!;
    this.fd = undefined;
    this.pending = undefined;
    finishFile(fd, h, chown);
  }

  /** Missing parents (a layer without its parent dirs' entries) are made 0755, as the extractor does. */
  private ensureParent(parent: string): void {
    if (this.made.has(parent)) return;
    let cur = '';
    for (const c of parent.split('/')) {
      cur = cur ? `${cur}/${c}` : c;
      if (this.made.has(cur)) continue;
      this.ops.mkdir(join(this.root, cur), 0o755);
      this.made.add(cur);
      // (a dir made in a setgid dir is setgid too: what goes in it takes that group)
      const up = cur.lastIndexOf('/');
      if (this.setgidAt(up < 0 ? '' : cur.slice(0, up))) this.setgidDirs.add(cur);
    }
  }
}
