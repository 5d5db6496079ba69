/**
 * The build context: a directory on the host seen through `.dockerignore`. Nothing is copied or
 * sent anywhere; steps read entries in place. Rules:
 * - Walking never follows symlinks: a symlink is an entry carrying its target, wherever it points.
 * - Ignored paths do not exist for the build; a directory is skipped whole only when no `!`
 *   exception could re-include something below it (otherwise it appears as the parent of what is).
 * - COPY/ADD sources are cleaned into the context (`../x` and `/x` both mean `x`, as BuildKit does)
 *   and wildcards are Go filepath.Match patterns, one path segment at a time. When a step asks to
 *   follow symlinks in a source, they are resolved with the context as `/`, never on the host.
 * - Content digests (for cache keys) come from file-digest.ts, memoized per build and, through an
 *   optional ChecksumCache, across builds. A directory's digest is kept there too, under a key made
 *   of the stat data of its whole tree (native statDirKey: one call per directory, nothing per file
 *   in JavaScript), so an unchanged directory is answered without listing its files. A BuildContext stands for the context during ONE build:
 *   a directory's digest is memoized for its lifetime (open a new one for the next build).
 * - Every kind of entry is reported (sockets and devices included); deciding what a layer can hold
 *   is the copier's business.
 */
import { lstat, readdir, readlink } from 'node:fs/promises';
import { constants as C, lstatSync, readdirSync, readlinkSync, type BigIntStats } from 'node:fs';
import { join, resolve } from 'node:path';
import { TsbuildError } from '../errors.js';
import { constants as osConstants } from 'node:os';
import { fsx, LSTAT_FIELDS, LstatField as F } from '../native/fsx.js';
import { identityOf } from '../image/snapshot-writer.js';
import { newHash } from '../image/digest.js';
import { ChecksumCache, fingerprint, type StatIdentity } from './checksum-cache.js';
import { nowNs } from '../clock.js';
import { PatternMatcher, cleanPath, compileGlobSegment, loadDockerignore } from './dockerignore.js';

export { compileGlobSegment };
import {
  DIGEST_VERSION,
  digestDirectory,
  digestLeaf,
  digestRegularFile,
  fsContentReader,
  type ContentReader,
  type DigestEntryType,
  type DigestableEntry,
} from './file-digest.js';
import { mapLimit } from '../map-limit.js';
import { deviceNumbers } from '../image/layer-entry.js';

export type ContextEntryType = DigestEntryType;

export interface ContextEntry extends DigestableEntry {
  /** Context-relative, '/'-separated, no leading '/' or './'; '' is the context root itself. */
  relPath: string;
  type: ContextEntryType;
  /** Permission bits including setuid/setgid/sticky (mode & 0o7777). */
  mode: number;
  uid: number;
  gid: number;
  /** Bytes of content (regular files; 0 otherwise). */
  size: number;
  mtimeMs: number;
  /** Symlink target exactly as stored (never resolved). */
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  /** Extended attributes (only when the context was opened with readXattrs). */
  xattrs?: Record<string, Buffer>;
  /** Absolute host path to read content from. */
  hostPath: string;
  /** Hard link count. */
  nlink: number;
  /** Set by walk() on the second and later paths to one inode (nlink > 1): the relPath walked
   *  first, so a copier can write a tar hard link instead of the bytes again. */
  hardlinkTo?: string;
  /** lstat identity, the key of the checksum cache. */
  stat: StatIdentity;
}

/** One resolved COPY/ADD source. */
export interface ContextSource {
  /** The path as the source named it (after wildcard expansion), context-relative; names the copy. */
  path: string;
  /** What to copy: the entry at `path`, or its in-context symlink target when following links. */
  entry: ContextEntry;
}

export interface BuildContextOptions {
  /** `.dockerignore` rules (default: nothing ignored). */
  matcher?: PatternMatcher;
  /** Cross-build checksum cache (default: memory only, for this build). */
  cache?: ChecksumCache;
  /** Where file bytes are read from (tests count reads through it). */
  reader?: ContentReader;
  /** Read extended attributes of entries (they then take part in digests). */
  readXattrs?: boolean;
  /** Parallel lstat/hash operations (default 16). */
  concurrency?: number;
}

export interface OpenContextOptions extends Omit<BuildContextOptions, 'matcher' | 'cache'> {
  /** The Dockerfile's path: `<Dockerfile>.dockerignore` beside it wins over `.dockerignore`. */
  dockerfile?: string;
  /** Persist checksums here between builds (e.g. under the store's state dir). */
  checksumCacheFile?: string;
  /** Persist checksums in this directory, one file per context (wins over checksumCacheFile). */
  checksumCacheDir?: string;
}

export class BuildContext {
  readonly root: string;
  readonly matcher: PatternMatcher;
  readonly cache: ChecksumCache;
  private readonly reader: ContentReader;
  private readonly readXattrs: boolean;
  private readonly concurrency: number;
  /** Bounds open files while hashing: directory digests recurse in parallel, reads must not. */
  private readonly readSlots: Semaphore;
  /** Set by close(). */
  private closed = false;
  /** What this context did so far (tests and benchmarks read it). */
  readonly counters = { dirsRead: 0, entriesStatted: 0, filesHashed: 0, bytesHashed: 0 };
  /** Digests computed during this build: path -> [stat fingerprint, digest]. */
  private readonly memo = new Map<string, Memo>();
  /** Tree keys of directories computed during this build (null: none could be made). */
  private readonly treeKeys = new Map<string, TreeKey | null>();
  /** The listings treeKey's native calls gave (names and lstat rows): readDirSync's, for the build. */
  private readonly listings = new Map<string, { names: Buffer; stats: BigInt64Array }>();
  /** listChildren's answers for the directories in `listings` (the same state, made into entries once). */
  private readonly children = new Map<string, ContextEntry[]>();
  /** The ignored directories listChildren kept (something below them may be re-included): a set
   *  beside the lists rather than a flag object per entry, as nearly every entry is not one. */
  private readonly keptIgnored = new Set<ContextEntry>();
  /** What a directory's digest depends on besides its tree: digest version, ignore rules, xattrs. */
  private readonly keyPrefix: string;

  constructor(root: string, opts: BuildContextOptions = {}) {
    this.root = resolve(root);
    this.matcher = opts.matcher ?? new PatternMatcher([]);
    this.cache = opts.cache ?? ChecksumCache.inMemory();
    this.reader = opts.reader ?? fsContentReader;
    this.readXattrs = !!opts.readXattrs;
    this.concurrency = opts.concurrency ?? 16;
    this.readSlots = new Semaphore(this.concurrency);
    const rules = this.matcher.patterns.map((p) => `${p.exclusion ? '!' : ''}${p.source}`);
    this.keyPrefix = JSON.stringify([DIGEST_VERSION, this.readXattrs, rules]);
  }

  /** Opens a context directory with its ignore file and, if asked, a persisted checksum cache. */
  static async open(contextDir: string, opts: OpenContextOptions = {}): Promise<BuildContext> {
    const root = resolve(contextDir);
    let st;
    try {
      st = lstatSync(root); // (one syscall: no thread-pool round trip)
    } catch {
      throw new TsbuildError('NOT_FOUND', `build context ${contextDir} does not exist`);
    }
    if (!st.isDirectory()) throw new TsbuildError('INVALID', `build context ${contextDir} is not a directory`);
    const { matcher } = await loadDockerignore(root, opts.dockerfile);
    const cache = opts.checksumCacheDir
      ? await ChecksumCache.loadScoped(opts.checksumCacheDir, root)
      : opts.checksumCacheFile
        ? await ChecksumCache.load(opts.checksumCacheFile, { scope: root })
        : ChecksumCache.inMemory({ scope: root });
    return new BuildContext(root, { ...opts, matcher, cache });
  }

  /** Persists the checksum cache (no-op for a memory-only cache or when nothing changed). */
  saveCache(): Promise<void> {
    return this.cache.save();
  }

  /** The build is over: files not read yet are not read any more (their digests reject), so work
   *  begun ahead for steps that never came (copy-prefetch.ts) does not keep the process alive. */
  close(): void {
    this.closed = true;
  }

  /** Whether `.dockerignore` hides this path, as BuildKit's context walker applies it. */
  isExcluded(relPath: string): boolean {
    return this.matcher.hides(relPath);
  }

  /**
   * The entry at a context-relative path (cleaned by normalizeSourcePath; links in its directories
   * resolved inside the context, the last element never followed), or undefined if absent/ignored.
   */
  async stat(relPath: string): Promise<ContextEntry | undefined> {
    const rel = await this.realPath(relPath);
    if (rel === undefined) return undefined;
    const e = await this.lstatEntry(rel);
    if (!e || !(await this.visible(e))) return undefined;
    return e;
  }

  /**
   * Every visible entry below `under` (default: the whole context), depth first, children in byte
   * order of their names, parents before children. Symlinks are never followed (a link given as
   * `under` is resolved inside the context; nothing is yielded unless it is a directory).
   * `maxDepth`: only entries at most that many levels below `under` (1: its children), exactly
   * those the whole walk yields at those depths and in the same order; deeper dirs are not listed.
   */
  async *walk(opts: { under?: string; maxDepth?: number } = {}): AsyncGenerator<ContextEntry> {
    const under = opts.under ? await this.realPath(opts.under, true) : '';
    if (under === undefined) return;
    if (under !== '' && this.lstatEntrySync(under)?.type !== 'dir') return;
    // The walk itself is synchronous (see listChildren); each entry still goes to the consumer
    // through this async generator, so the event loop runs between them.
    yield* this.walkSync(under, opts.maxDepth);
  }

  /**
   * walk()'s entries as an array, for a caller that holds a directory entry already: `underDir`
   * must be the relPath of an entry of type 'dir' (a real path, so nothing on the way is a link).
   * A COPY of a big tree goes through this: an async generator per entry, twice nested, cost a
   * third of the layer's making when the code is still cold, and a generator per level still more
   * than the listing. Entries are shared by the walks of a build (listChildren): a hard link is
   * marked on a copy.
   */
  walkSync(underDir: string, maxDepth = Infinity): ContextEntry[] {
    const all: ContextEntry[] = [];
    this.listInto(underDir, all, maxDepth);
    let seen: Map<string, string> | undefined;
    for (let i = 0; i < all.length; i++) {
      const e = all[i]!;
      if (e.type !== 'file' || e.nlink <= 1) continue;
      // Hard links: the first path walked to an inode is the one the others link to.
      const key = `${e.stat.dev}:${e.stat.ino}`;
      const first = (seen ??= new Map()).get(key);
      if (first === undefined) seen.set(key, e.relPath);
      else all[i] = withHardlinkTo(e, first);
    }
    return all;
  }

  /**
   * Resolves one COPY/ADD source. A path without wildcards must exist (else NOT_FOUND); a
   * wildcard may match nothing (empty result). Results are sorted by path.
   * `followSymlinks`: a source that is a symlink is replaced by its target, resolved inside the
   * context (Docker follows a top-level COPY source link; a link to /etc/passwd then means
   * `<context>/etc/passwd`, never the host file). Links in intermediate directories of the source
   * path are always resolved inside the context.
   */
  async resolveSources(src: string, opts: { followSymlinks?: boolean } = {}): Promise<ContextSource[]> {
    const clean = normalizeSourcePath(src);
    const follow = !!opts.followSymlinks;
    if (!hasWildcards(clean)) {
      const hit = await this.resolveOne(clean, clean === '' ? [] : clean.split('/'), follow);
      if (!hit) throw new TsbuildError('NOT_FOUND', `${JSON.stringify(src)}: not found in the build context`);
      return [hit];
    }
    // Expand segment by segment; `real` tracks the in-context location after resolving links.
    let frontier: Array<{ path: string; real: string[] }> = [{ path: '', real: [] }];
    const segs = clean.split('/');
    for (let i = 0; i < segs.length; i++) {
      const seg = segs[i]!;
      const next: Array<{ path: string; real: string[] }> = [];
      for (const f of frontier) {
        const dirReal = i === 0 ? [] : await this.resolveInRoot(f.real, true);
        if (!dirReal) continue;
        if (hasWildcards(seg)) {
          const re = compileGlobSegment(seg);
          let names: string[];
          try {
            names = await readdir(join(this.root, ...dirReal));
          } catch {
            continue; // not a directory, or gone
          }
          for (const name of sortNames(names)) {
            if (re.test(name)) next.push({ path: joinRel(f.path, name), real: [...dirReal, name] });
          }
        } else {
          const name = unescapeGlob(seg);
          next.push({ path: joinRel(f.path, name), real: [...dirReal, name] });
        }
      }
      frontier = next;
    }
    const out: ContextSource[] = [];
    for (const f of frontier) {
      const hit = await this.resolveOne(f.path, f.real, follow);
      if (hit) out.push(hit);
    }
    return out.sort((a, b) => compareNames(a.path, b.path));
  }

  /** The content digest of the entry at an exact path (directories: recursive over visible
   *  children). Throws NOT_FOUND for an absent or ignored path. */
  async digest(relPath: string): Promise<string> {
    const rel = await this.realPath(relPath);
    const e = rel === undefined ? undefined : await this.lstatEntry(rel);
    if (!e || !(await this.visible(e))) {
      throw new TsbuildError('NOT_FOUND', `${JSON.stringify(relPath)}: not found in the build context`);
    }
    return this.digestEntry(e);
  }

  /** The content digest of an entry obtained from walk/stat/resolveSources. */
  async digestEntry(e: ContextEntry): Promise<string> {
    return (await this.digestMemo(e)).digest;
  }

  // -------------------------------------------------------------------------------------------

  /** `depth`: how many levels below relDir are yielded (1: its children only). */
  private *walkDir(relDir: string, pending: PendingDir[], depth = Infinity): Generator<ContextEntry> {
    if (depth < 1) return;
    for (const entry of this.listChildren(relDir)) {
      const excluded = this.isKeptIgnored(entry);
      if (entry.type === 'dir') {
        if (excluded) {
          yield* this.excludedDir(entry, pending, depth);
          continue;
        }
        yield* flush(pending);
        yield entry;
        yield* this.walkDir(entry.relPath, [], depth - 1);
      } else if (!excluded) {
        yield* flush(pending);
        yield entry;
      }
    }
  }

  /** An ignored directory listed by walkDir (in its directory `depth` levels deep). */
  private *excludedDir(entry: ContextEntry, pending: PendingDir[], depth: number): Generator<ContextEntry> {
    // Only here because an exception may re-include something below: show the dir only then
    // (past the depth limit its subtree is still searched for that, but not yielded).
    if (depth > 1) {
      yield* this.walkDir(entry.relPath, [...pending, { entry, emitted: false }], depth - 1);
      return;
    }
    const below = this.walkDir(entry.relPath, []);
    const shown = below.next().done === false;
    below.return(undefined);
    if (shown) {
      yield* flush(pending);
      yield entry;
    }
  }

  /** walkDir(relDir, [], depth) into an array: no generator resumed per entry and level (ignored
   *  directories, rare, still go through it). */
  private listInto(relDir: string, out: ContextEntry[], depth: number): void {
    if (depth < 1) return;
    for (const entry of this.listChildren(relDir)) {
      if (this.isKeptIgnored(entry)) {
        // (listChildren keeps an ignored entry only when it is a directory)
        for (const e of this.excludedDir(entry, [], depth)) out.push(e);
        continue;
      }
      out.push(entry);
      if (entry.type === 'dir') this.listInto(entry.relPath, out, depth - 1);
    }
  }

  /** Children of a directory in name order: visible ones, plus excluded directories that may hold
   *  re-included entries (flagged). Entries that vanish meanwhile are dropped. */
  private listChildren(relDir: string): ContextEntry[] {
    // Metadata calls are synchronous on purpose: they are answered from the dentry/inode caches in
    // microseconds, while a round trip through libuv's thread pool costs several times that
    // (measured: the async walk was ~4x slower). The walk above them is synchronous too: an async
    // generator per directory level cost a promise per entry per level.
    const known = this.children.get(relDir);
    if (known) return known;
    // (a listing the tree key took stands for the build: its entries are made once, then shared
    // by the digest, the explained miss's file list and the COPY's walk)
    const frozen = this.listings.has(relDir);
    let entries: Array<ContextEntry | undefined>;
    try {
      this.counters.dirsRead++;
      entries = this.readDirSync(relDir);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR' || code === GONE_NATIVE || code === NOT_DIR_NATIVE) return [];
      throw e;
    }
    // (without ignore rules or vanished entries, the listing as it is: no second list per directory)
    let out = entries as ContextEntry[];
    if (this.matcher.patterns.length > 0 || entries.includes(undefined)) {
      out = [];
      for (const entry of entries) {
        if (!entry) continue;
        if (this.isExcluded(entry.relPath)) {
          if (entry.type !== 'dir' || this.matcher.excludesDirEntirely(entry.relPath)) continue;
          this.keptIgnored.add(entry);
        }
        out.push(entry);
      }
    }
    if (frozen) this.children.set(relDir, out);
    return out;
  }

  /** Whether listChildren kept this entry only as an ignored directory that may hold re-included
   *  entries. */
  private isKeptIgnored(e: ContextEntry): boolean {
    return this.keptIgnored.size > 0 && this.keptIgnored.has(e);
  }

  /** Whether an entry exists for the build: not ignored, or an ignored dir that still holds
   *  re-included entries. */
  private async visible(e: ContextEntry): Promise<boolean> {
    if (!this.isExcluded(e.relPath)) return true;
    if (e.type !== 'dir' || this.matcher.excludesDirEntirely(e.relPath)) return false;
    for (const _ of this.walkDir(e.relPath, [])) return true;
    return false;
  }

  /** A caller's path as a real context path: cleaned, with symlinks in its directories (and the
   *  last element when `followLast`) resolved inside the context, so that no host lookup ever goes
   *  through a link that points elsewhere. */
  private async realPath(relPath: string, followLast = false): Promise<string | undefined> {
    const clean = normalizeSourcePath(relPath);
    if (clean === '') return '';
    return (await this.resolveInRoot(clean.split('/'), followLast))?.join('/');
  }

  private async resolveOne(path: string, real: string[], follow: boolean): Promise<ContextSource | undefined> {
    const resolved = await this.resolveInRoot(real, follow);
    if (!resolved) return undefined;
    const rel = resolved.join('/');
    if (path !== rel && this.isExcluded(path)) return undefined;
    const entry = await this.lstatEntry(rel);
    if (!entry || !(await this.visible(entry))) return undefined;
    return { path, entry };
  }

  /**
   * Resolves symlinks in `segs` with the context root as `/` (and `..` never above it); the last
   * segment only when `followLast`. Returns the real segments, or undefined when a link loop or a
   * non-directory in the middle makes the path unresolvable. The result may not exist.
   */
  private async resolveInRoot(segs: string[], followLast: boolean): Promise<string[] | undefined> {
    const todo = [...segs];
    const out: string[] = [];
    let links = 0;
    while (todo.length > 0) {
      const seg = todo.shift()!;
      if (seg === '' || seg === '.') continue;
      if (seg === '..') {
        out.pop();
        continue;
      }
      const isLast = todo.length === 0;
      const host = join(this.root, ...out, seg);
      let st;
      try {
        st = await lstat(host);
      } catch {
        if (isLast) return [...out, seg];
        return undefined;
      }
      if (st.isSymbolicLink() && (!isLast || followLast)) {
        if (++links > 255) return undefined;
        const target = await readlink(host);
        if (target.startsWith('/')) out.length = 0;
        todo.unshift(...target.split('/'));
        continue;
      }
      if (!isLast && !st.isDirectory()) return undefined;
      out.push(seg);
    }
    return out;
  }

  /**
   * A directory's entries in name order. With the native addon, one call lists the names and
   * lstats each (5,000 entries: a few ms, where an lstat per entry through Node costs ~10x);
   * without it, readdir and an lstat per name.
   */
  private readDirSync(relDir: string): Array<ContextEntry | undefined> {
    const lstatDir = nativeLstatDir();
    const listed = this.listings.get(relDir);
    if (!lstatDir && !listed) return sortNames(readdirSync(join(this.root, relDir))).map((n) => this.lstatEntrySync(joinRel(relDir, n)));
    // as the tree key saw it, when it was taken (the cache key is made of that very state)
    let names: string[];
    let stats: BigInt64Array;
    let surrogates: boolean;
    if (listed) {
      const text = listed.names.toString('utf8');
      names = text.split('\0');
      names.pop(); // (after the last NUL)
      stats = listed.stats;
      surrogates = hasSurrogates(text); // (one test for the whole directory, not one per name)
    } else {
      ({ names, stats } = lstatDir!(relDir === '' ? this.root : join(this.root, relDir)));
      surrogates = names.some(hasSurrogates);
    }
    const order: number[] = [];
    for (let i = 0; i < names.length; i++) order.push(i);
    order.sort(surrogates ? (a, b) => compareNames(names[a]!, names[b]!) : (a, b) => (names[a]! < names[b]! ? -1 : names[a]! > names[b]! ? 1 : 0));
    // The small fields are read as numbers through a 32-bit view of the rows: a BigInt read and
    // converted per field was most of the cost of making 5,000 entries (and of the GC after it).
    const u32 = new Uint32Array(stats.buffer, stats.byteOffset, stats.length * 2);
    const low = (o: number, f: number) => u32[2 * (o + f)]!;
    const rows = new Rows(stats);
    // (each path is its directory's prefix, made once, and the name: one string per entry)
    const relPrefix = relDir === '' ? '' : relDir + '/';
    const hostPrefix = relDir === '' && this.root === '/' ? '/' : this.hostPathOf(relDir) + '/';
    const out: ContextEntry[] = [];
    // mtimeHigh's products, for the next entries with the same high word of their mtime (most of a
    // directory's): each product made per entry was a double allocated per entry
    let mHigh = -1;
    let mA = 0;
    let mB = 0;
    for (let k = 0; k < order.length; k++) {
      const i = order[k]!;
      const o = i * LSTAT_FIELDS;
      const name = names[i]!;
      const relPath = relPrefix + name;
      this.counters.entriesStatted++;
      const mode = low(o, F.mode);
      const type = typeOf(mode);
      const mtimeHigh = u32[2 * (o + F.mtimeNs) + 1]! | 0;
      if (mtimeHigh !== mHigh) {
        mHigh = mtimeHigh;
        mA = mtimeHigh * 4294;
        mB = mtimeHigh * 967296;
      }
      const e = new ListedEntry(
        relPath,
        type,
        mode & 0o7777,
        low(o, F.uid),
        low(o, F.gid),
        // (sizes below 2^53 are exact; the high word of a regular file's size is small, and mostly
        // 0: then the low word as it is, a small integer rather than a double made per entry)
        type !== 'file' ? 0 : u32[2 * (o + F.size) + 1] === 0 ? low(o, F.size) : u32[2 * (o + F.size) + 1]! * 2 ** 32 + low(o, F.size),
        // floor(ns / 1e6) exactly, as 2^32 = 4294 * 1e6 + 967296 (before 1970: BigInt's truncation)
        mtimeHigh >= 0 ? mA + Math.floor((mB + low(o, F.mtimeNs)) / 1e6) : Number(stats[o + F.mtimeNs]! / 1_000_000n),
        hostPrefix + name,
        low(o, F.nlink),
        rows,
        o,
      );
      out.push(this.finishEntry(e));
    }
    return out;
  }

  /** The host path of a clean context path (no `..`, no empty segments: plain concatenation). */
  private hostPathOf(relPath: string): string {
    return relPath === '' ? this.root : this.root === '/' ? `/${relPath}` : `${this.root}/${relPath}`;
  }

  private async lstatEntry(relPath: string): Promise<ContextEntry | undefined> {
    return this.lstatEntrySync(relPath);
  }

  private lstatEntrySync(relPath: string): ContextEntry | undefined {
    const hostPath = relPath === '' ? this.root : join(this.root, relPath);
    this.counters.entriesStatted++;
    let st: BigIntStats | undefined;
    try {
      st = lstatSync(hostPath, { bigint: true, throwIfNoEntry: false });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
      throw e;
    }
    if (!st) return undefined;
    return this.entryOf(relPath, hostPath, st);
  }

  /** The entry for a path from its lstat fields (the symlink target and xattrs read here). */
  private entryOf(relPath: string, hostPath: string, st: EntryStat): ContextEntry | undefined {
    const type = typeOf(Number(st.mode));
    const e: ContextEntry = {
      relPath,
      type,
      mode: Number(st.mode & 0o7777n),
      uid: Number(st.uid),
      gid: Number(st.gid),
      size: type === 'file' ? Number(st.size) : 0,
      mtimeMs: Number(st.mtimeNs / 1_000_000n),
      hostPath,
      nlink: Number(st.nlink),
      stat: st,
    };
    return this.finishEntry(e);
  }

  /** What an entry needs besides its lstat: a symlink's target, device numbers, xattrs. */
  private finishEntry(e: ContextEntry): ContextEntry {
    const type = e.type;
    if (type === 'symlink') e.linkname = readlinkSync(e.hostPath);
    if (type === 'char' || type === 'block') {
      Object.assign(e, deviceNumbers((e.stat as EntryStat).rdev));
    }
    if (this.readXattrs && (type === 'file' || type === 'dir' || type === 'symlink')) {
      const x = readXattrs(e.hostPath);
      if (x) e.xattrs = x;
    }
    return e;
  }

  /** A digest that needs no I/O: a leaf, or a file the checksum cache knows as it is now. */
  private quickDigest(e: ContextEntry): DirResult | undefined {
    if (e.type === 'dir') return undefined;
    if (e.type !== 'file') return { digest: digestLeaf(baseName(e.relPath), e), hasContent: true };
    if (this.memo.has(e.relPath)) return undefined;
    const cached = this.cache.get(e.relPath, e.stat);
    return cached ? { digest: cached, hasContent: true } : undefined;
  }

  private digestMemo(e: ContextEntry): Promise<DirResult> {
    const m = this.memo.get(e.relPath);
    if (m && sameStat(m.st, e.stat)) return m.digest;
    const digest = this.computeDigest(e);
    const memo: Memo = { st: e.stat, digest };
    this.memo.set(e.relPath, memo);
    digest.then(
      (r) => (memo.done = r),
      () => this.memo.delete(e.relPath),
    );
    return digest;
  }

  /**
   * An entry's digest when it is known without reading or waiting: computed already in this
   * build, a leaf, a file the checksum cache knows, or a directory its tree key answers; else
   * undefined (digestEntry then). The explained miss's file list asks this for its 256 paths: a
   * promise chain each cost more than the answers.
   */
  knownDigest(e: ContextEntry): string | undefined {
    const m = this.memo.get(e.relPath);
    if (m && sameStat(m.st, e.stat)) return m.done?.digest;
    let r: DirResult | undefined;
    if (e.type === 'dir') {
      const tree = this.treeKey(e.relPath);
      // (a miss is not counted here: computing the digest asks again)
      r = tree && this.cache.peekDir(e.relPath, `${fingerprint(e.stat)}/${tree.key}`);
    } else if (e.type !== 'file') r = { digest: digestLeaf(baseName(e.relPath), e), hasContent: true };
    else {
      const cached = this.cache.peek(e.relPath, e.stat);
      if (cached) r = { digest: cached, hasContent: true };
    }
    if (r) this.memo.set(e.relPath, { st: e.stat, digest: Promise.resolve(r), done: r });
    return r?.digest;
  }

  private async computeDigest(e: ContextEntry): Promise<DirResult> {
    const name = baseName(e.relPath);
    if (e.type === 'file') {
      const cached = this.cache.get(e.relPath, e.stat);
      if (cached) return { digest: cached, hasContent: true };
      const digest = await this.readSlots.run(async () => {
        if (this.closed) throw new TsbuildError('INTERRUPTED', `${e.relPath}: the build is over`);
        const start = nowNs();
        const d = await digestRegularFile(name, e, e.hostPath, this.reader);
        this.counters.filesHashed++;
        this.counters.bytesHashed += e.size;
        this.cache.set(e.relPath, e.stat, d, start);
        return d;
      });
      return { digest, hasContent: true };
    }
    if (e.type !== 'dir') return { digest: digestLeaf(name, e), hasContent: true };
    const tree = this.treeKey(e.relPath);
    // the directory's own header (mode, owner) is in its key through its own stat
    const key = tree && `${fingerprint(e.stat)}/${tree.key}`;
    const known = key ? this.cache.getDir(e.relPath, key) : undefined;
    if (known) return known;
    const computed = await this.computeDirDigest(e, name);
    if (tree && key) this.cache.setDir(e.relPath, key, computed, max(tree.newestNs, e.stat.mtimeNs, e.stat.ctimeNs), tree.startNs);
    return computed;
  }

  /**
   * The fingerprint of the stat data of everything below a directory (itself excluded): per
   * directory, the native key of its listing, and the keys of its subdirectories (those not ignored
   * entirely) by name. Memoized for the build; undefined without the native addon or when a
   * directory cannot be read (the digest then reports it the ordinary way).
   */
  private treeKey(relDir: string, startNs = nowNs()): TreeKey | undefined {
    const memo = this.treeKeys.get(relDir);
    if (memo !== undefined) return memo ?? undefined;
    const statDirKey = nativeStatDirKey();
    const host = this.hostPathOf(relDir);
    let k: TreeKey | undefined;
    if (statDirKey && Buffer.byteLength(host) < 4000) {
      try {
        // with the listing: a COPY that misses lists these dirs again right after (readDirSync),
        // and the names and rows cost little beside the lstat calls themselves
        const { key, subdirs, names, stats } = statDirKey(host, true);
        if (names && stats) this.listings.set(relDir, { names, stats });
        const h = newHash().update(this.keyPrefix).update(new Uint8Array(key.buffer, key.byteOffset, 32));
        let newestNs = key[2]!;
        k = { key: '', newestNs, startNs };
        for (const name of sortNames(subdirs)) {
          const rel = joinRel(relDir, name);
          if (this.isExcluded(rel) && this.matcher.excludesDirEntirely(rel)) continue;
          const sub = this.treeKey(rel, startNs);
          if (!sub) {
            k = undefined;
            break;
          }
          h.update(`\0${name}\0${sub.key}`);
          if (sub.newestNs > newestNs) newestNs = sub.newestNs;
          // a subtree memoized earlier was fingerprinted earlier: trust it only from then on
          if (sub.startNs < k.startNs) k.startNs = sub.startNs;
        }
        if (k) {
          k.key = h.digest('base64');
          k.newestNs = newestNs;
        }
      } catch {
        k = undefined;
      }
    }
    this.treeKeys.set(relDir, k ?? null);
    return k;
  }

  private async computeDirDigest(e: ContextEntry, name: string): Promise<DirResult> {
    const children = this.listChildren(e.relPath);
    // Cached files and leaves are answered on the spot; only what needs reading (or a directory)
    // goes through promises: a no-op rebuild then allocates next to nothing per file.
    const results: Array<DirResult | undefined> = children.map((c) => this.quickDigest(c));
    const slow = children.flatMap((c, i) => (results[i] === undefined ? [i] : []));
    const slowResults = await mapLimit(slow, this.concurrency, (i) => this.digestMemo(children[i]!));
    slow.forEach((i, k) => (results[i] = slowResults[k]));
    const digests: string[] = [];
    let hasContent = false;
    children.forEach((c, i) => {
      const r = results[i]!;
      // An ignored dir counts only as the parent of something re-included below it.
      if (!r.hasContent && this.isKeptIgnored(c)) return;
      digests.push(r.digest);
      hasContent = true;
    });
    return { digest: digestDirectory(name, e, digests), hasContent };
  }
}

/** BuildKit's cleaning of a COPY source: rooted at the context, so `..` and `/` cannot leave it.
 *  Returns '' for the context root. */
export function normalizeSourcePath(src: string): string {
  const c = cleanPath('/' + src);
  return c === '/' ? '' : c.slice(1);
}

/** Whether a path has unescaped filepath.Match metacharacters (`*`, `?`, `[`). */
export function hasWildcards(p: string): boolean {
  for (let i = 0; i < p.length; i++) {
    const ch = p[i];
    if (ch === '\\') i++;
    else if (ch === '*' || ch === '?' || ch === '[') return true;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Helpers

interface DirResult {
  digest: string;
  /** False for an ignored directory with nothing re-included below it. */
  hasContent: boolean;
}

interface Memo {
  st: StatIdentity;
  digest: Promise<DirResult>;
  /** The digest once it is there. */
  done?: DirResult;
}

interface TreeKey {
  key: string;
  /** Newest mtime/ctime of anything in the tree (the racy check). */
  newestNs: bigint;
  /** When fingerprinting the tree began. */
  startNs: bigint;
}

function max(...xs: bigint[]): bigint {
  return xs.reduce((a, b) => (b > a ? b : a));
}


interface PendingDir {
  entry: ContextEntry;
  emitted: boolean;
}

function* flush(pending: PendingDir[]): Generator<ContextEntry> {
  for (const p of pending) {
    if (!p.emitted) {
      p.emitted = true;
      yield p.entry;
    }
  }
}

function typeOf(mode: number): ContextEntryType {
  switch (mode & C.S_IFMT) {
    case C.S_IFREG:
      return 'file';
    case C.S_IFDIR:
      return 'dir';
    case C.S_IFLNK:
      return 'symlink';
    case C.S_IFCHR:
      return 'char';
    case C.S_IFBLK:
      return 'block';
    case C.S_IFIFO:
      return 'fifo';
    default:
      return 'socket';
  }
}

function sameStat(a: StatIdentity, b: StatIdentity): boolean {
  return a.ino === b.ino && a.dev === b.dev && a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs && a.mode === b.mode;
}

function readXattrs(hostPath: string): Record<string, Buffer> | undefined {
  const names = fsx().llistxattr(hostPath);
  if (names.length === 0) return undefined;
  const out: Record<string, Buffer> = {};
  for (const n of names) {
    const v = fsx().lgetxattr(hostPath, n);
    if (v) out[n] = v;
  }
  return out;
}

function joinRel(dir: string, name: string): string {
  return dir === '' ? name : dir + '/' + name;
}

function baseName(rel: string): string {
  return rel.slice(rel.lastIndexOf('/') + 1);
}

/** Byte order of the UTF-8 names (= code point order), as Go and tar writers sort (paths too:
 *  copy.ts orders a layer's entries with it). UTF-16 code unit order agrees with it below the
 *  surrogates (U+D800), so only names differing at or above there are encoded. */
export function compareNames(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    if (x < 0xd800 && y < 0xd800) return x - y;
    // (from the start of a surrogate pair that differs only in its second half)
    const from = i > 0 && (a.charCodeAt(i - 1) & 0xfc00) === 0xd800 ? i - 1 : i;
    return Buffer.compare(Buffer.from(a.slice(from), 'utf8'), Buffer.from(b.slice(from), 'utf8'));
  }
  return a.length - b.length;
}

/** The lstat fields an entry is made of (a BigIntStats has them, and so does lstatDir's row). */
type EntryStat = StatIdentity & { nlink: bigint; rdev: bigint };

/**
 * An entry made from a row of a native listing. Its `stat` (BigInts, for the checksum cache and
 * memos) is made from the row when asked for, which a big COPY does for a few entries only: each
 * entry held a RowStat of its own for the build before (40 bytes, for every entry of the context).
 * Optional fields are declared only, so an entry has them as own properties exactly when set, as a
 * plain entry does.
 */
class ListedEntry implements ContextEntry {
  declare linkname?: string;
  declare devmajor?: number;
  declare devminor?: number;
  declare xattrs?: Record<string, Buffer>;
  declare hardlinkTo?: string;
  constructor(
    readonly relPath: string,
    readonly type: ContextEntryType,
    readonly mode: number,
    readonly uid: number,
    readonly gid: number,
    readonly size: number,
    readonly mtimeMs: number,
    readonly hostPath: string,
    readonly nlink: number,
    private readonly rows: Rows,
    private readonly row: number,
  ) {}
  get stat(): EntryStat {
    return new RowStat(this.rows, this.row);
  }
  /** snapshot-writer's identityOf of the row (= identityOfRow: the bytes of dev, ino, size, mtime
   *  and ctime in base64), read from the listing's one byte view: no Buffer made per row. */
  get identity(): string {
    const at = (this.row + F.dev) * 8;
    return this.rows.bytes.toString('base64', at, at + 40);
  }
}

/** The identity the snapshot writer gives the file `e` was listed as (its identityOf), for a
 *  donor lookup without a stat of its own: from the listing's row when there is one. */
export function entryIdentity(e: ContextEntry): string {
  return e instanceof ListedEntry ? e.identity : identityOf(e.stat);
}

/** `e` as the second or later path walked to an inode: a copy (entries are shared by the walks of
 *  a build) of the same kind, with what it links to. */
function withHardlinkTo(e: ContextEntry, first: string): ContextEntry {
  return Object.assign(Object.create(Object.getPrototypeOf(e) as object) as ContextEntry, e, { hardlinkTo: first });
}

/** A native listing's rows, with a byte view of them made once for the listing (not per row). */
class Rows {
  private bytesView: Buffer | undefined;
  constructor(readonly rows: BigInt64Array) {}
  get bytes(): Buffer {
    return (this.bytesView ??= Buffer.from(this.rows.buffer, this.rows.byteOffset, this.rows.byteLength));
  }
}

/** A row of a native listing as an EntryStat: the fields are read when asked for (most entries of
 *  a big COPY never have most of them asked for as BigInts). */
class RowStat implements EntryStat {
  constructor(
    private readonly r: Rows,
    private readonly o: number,
  ) {}
  get dev(): bigint {
    return this.r.rows[this.o + F.dev]!;
  }
  get ino(): bigint {
    return this.r.rows[this.o + F.ino]!;
  }
  get size(): bigint {
    return this.r.rows[this.o + F.size]!;
  }
  get mtimeNs(): bigint {
    return this.r.rows[this.o + F.mtimeNs]!;
  }
  get ctimeNs(): bigint {
    return this.r.rows[this.o + F.ctimeNs]!;
  }
  get mode(): bigint {
    return this.r.rows[this.o + F.mode]!;
  }
  get uid(): bigint {
    return this.r.rows[this.o + F.uid]!;
  }
  get gid(): bigint {
    return this.r.rows[this.o + F.gid]!;
  }
  get nlink(): bigint {
    return this.r.rows[this.o + F.nlink]!;
  }
  get rdev(): bigint {
    return this.r.rows[this.o + F.rdev]!;
  }
}
// (identityOfRow reads dev, ino, size, mtime and ctime as the row's first five fields)
if (F.dev !== 0 || F.ino !== 1 || F.size !== 2 || F.mtimeNs !== 3 || F.ctimeNs !== 4) throw new Error('lstat row layout changed: see identityOfRow');

/** Error codes of the native lstatDir for a directory that is gone or is not one. */
const GONE_NATIVE = `E${osConstants.errno.ENOENT}`;
const NOT_DIR_NATIVE = `E${osConstants.errno.ENOTDIR}`;

type LstatDirFn = (path: string) => { names: string[]; stats: BigInt64Array };
type StatDirKeyFn = (path: string, listing: true) => { key: BigInt64Array; subdirs: string[]; names?: Buffer; stats?: BigInt64Array };
const nativeFns = new Map<string, unknown>();
/** A call of the addon, or null when the addon is missing or older than that call. */
function nativeFn<T>(name: 'lstatDir' | 'statDirKey'): T | null {
  if (!nativeFns.has(name)) {
    let fn: unknown = null;
    try {
      const x = fsx();
      if (typeof x[name] === 'function') fn = x[name].bind(x);
    } catch {
      /* no addon: the slower Node path */
    }
    nativeFns.set(name, fn);
  }
  return nativeFns.get(name) as T | null;
}
const nativeLstatDir = () => nativeFn<LstatDirFn>('lstatDir');
const nativeStatDirKey = () => nativeFn<StatDirKeyFn>('statDirKey');

function sortNames(names: string[]): string[] {
  return sortByName(names, (n) => n);
}

/**
 * Sorts `items` in place by the UTF-8 byte order of `name(item)`. Without surrogates the plain
 * string comparison is that order, and a builtin: ~2x faster than compareNames on a cold start,
 * where sorting is a fair part of listing (or laying out) 5,000 entries.
 */
export function sortByName<T>(items: T[], name: (item: T) => string): T[] {
  if (items.some((x) => hasSurrogates(name(x)))) return items.sort((a, b) => compareNames(name(a), name(b)));
  return items.sort((a, b) => {
    const x = name(a);
    const y = name(b);
    return x < y ? -1 : x > y ? 1 : 0;
  });
}

/** Whether a string has UTF-16 surrogates: only then do its code units sort apart from its UTF-8
 *  bytes (U+E000..U+FFFF sort below a pair in code units, above it in bytes). */
function hasSurrogates(s: string): boolean {
  return SURROGATE.test(s);
}
const SURROGATE = /[\uD800-\uDFFF]/;

function unescapeGlob(seg: string): string {
  return seg.replace(/\\(.)/gsu, '$1');
}

class Semaphore {
  private free: number;
  private readonly waiting: Array<() => void> = [];
  constructor(n: number) {
    this.free = n;
  }
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((r) => this.waiting.push(r));
    try {
      return await fn();
    } finally {
      const w = this.waiting.shift();
      if (w) w();
      else this.free++;
    }
  }
}
