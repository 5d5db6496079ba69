/**
 * A stat-keyed cache of file content digests, so a rebuild with an unchanged context reads no file
 * bytes at all. An entry is valid while the file's path and its lstat identity (dev, ino, size,
 * mtime and ctime in ns, mode, uid, gid) are unchanged; anything that can change content or header
 * also changes ctime. Bounded by an LRU (each entry carries the number of the session that last
 * used it). A directory of such caches keeps one per context (`loadScoped`): building another
 * context in the same store does not throw away the first one's checksums. Only the most recently
 * used few are kept there (an LRU by file mtime).
 *
 * On disk (every file written atomically: temp file + rename, so a crash leaves the old or the new
 * one; each names the format, digest version and scope, and one that does not match is ignored):
 * - `X.json`, the head, read when the cache is opened: directory entries (a directory's digest
 *   keyed by a fingerprint of the stat data of everything below it, which context.ts makes, one
 *   native call per directory), and how many shards the file entries are split into. A no-op
 *   rebuild answers a whole tree from one directory entry and reads nothing else.
 * - `X.files-<i>.json`, the shards: the file entries, a directory's files all in the shard its
 *   path hashes to. A shard is read (synchronously, once) on the first lookup of one of its files,
 *   so a one-file change reads the shard of that file's directory, not the checksums of the whole
 *   context (1.4 MB of JSON for 5,000 files), and writes only that shard back. A missing, corrupt
 *   or foreign shard only costs re-hashing its files.
 *
 * "Racy" entries are never stored: when a file's ctime is within RACY_WINDOW_NS of the moment its
 * hashing began, a write in the same timestamp tick could go unnoticed (the git index problem).
 */
import { hexOf, sha256 } from '../image/digest.js';
import { mkdirSync, readFileSync, readdirSync, renameSync, statSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { readdir, stat, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { DIGEST_VERSION } from './file-digest.js';

/** The lstat fields the cache key is made of (a node BigIntStats satisfies this). */
export interface StatIdentity {
  dev: bigint;
  ino: bigint;
  size: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
  mode: bigint;
  uid: bigint;
  gid: bigint;
}

export interface ChecksumCacheOptions {
  /** Most entries kept (and persisted). Default 500,000. */
  max?: number;
  /** Tag stored with the file (e.g. the context's absolute path); a file with another tag is ignored. */
  scope?: string;
}

export interface ScopedCacheOptions {
  /** Most entries kept per scope. Default 500,000. */
  max?: number;
  /** Most scopes (contexts) whose files are kept in the directory. Default 16. */
  keepScopes?: number;
}

export interface ChecksumCacheStats {
  hits: number;
  misses: number;
  stores: number;
  racy: number;
  /** Directory entries answered / not answered / stored. */
  dirHits: number;
  dirMisses: number;
  dirStores: number;
  /** Shards of file entries read from disk. */
  shardsRead: number;
}

/** A directory's digest as the context computes it. */
export interface DirDigest {
  digest: string;
  /** False for an ignored directory with nothing re-included below it. */
  hasContent: boolean;
}

/** File timestamps come from a coarse clock (a few ms); entries this fresh are not trusted. */
export const RACY_WINDOW_NS = 100_000_000n;

/** 2: head + shards (1 was one file of file entries and one of directory entries). */
const FORMAT = 2;
const DEFAULT_KEEP_SCOPES = 16;
/** A used cache file's mtime is refreshed at most this often (it orders the LRU of scopes). */
const TOUCH_AFTER_MS = 3_600_000;
/** File entries per shard aimed at (~30 KB of JSON): the shard count doubles past twice that. */
const PER_SHARD = 256;
const MAX_SHARDS = 4096;

interface FileEntry {
  fp: string;
  digest: string;
  /** The session that last used it (the LRU order). */
  used: number;
}

export class ChecksumCache {
  /** File entries of the shards read so far (and of this session's stores). */
  private readonly files = new Map<string, FileEntry>();
  /** How many shards the persisted file entries are in (0: none persisted). */
  private shards = 0;
  /** Per shard: read yet (or nothing to read), changed since, entries it held when read. */
  private loaded: boolean[] = [];
  private readonly dirtyShards = new Set<number>();
  private readonly counts: number[] = [];
  /** This session's number (the head's, plus one): entries used now are the most recent. */
  private readonly session: number;
  /** Directory entries: relPath -> key (stat fingerprint of the tree) and digest; LRU order. */
  private readonly dirs = new Map<string, { key: string } & DirDigest>();
  private dirsDirty = false;
  /** The head read was not this format's (absent, old, corrupt): stray shards may be about. */
  private readonly fresh: boolean;
  private strayChecked = false;
  /** For a scoped cache: its directory and how many scopes' files that directory keeps. */
  private siblings: { dir: string; keep: number } | undefined;
  readonly stats: ChecksumCacheStats = { hits: 0, misses: 0, stores: 0, racy: 0, dirHits: 0, dirMisses: 0, dirStores: 0, shardsRead: 0 };

  private constructor(
    /** Where the cache's head is persisted (shards beside it); undefined for a memory-only cache. */
    readonly file: string | undefined,
    private readonly scope: string,
    private readonly max: number,
    head: Head | undefined,
  ) {
    this.session = (head?.session ?? 0) + 1;
    this.fresh = head === undefined;
    if (head) {
      this.shards = head.shards;
      this.counts = head.counts.slice();
      this.loaded = head.counts.map(() => false);
      // Oldest first, so the LRU order after loading matches the order it was saved in.
      for (const [rel, key, digest, hasContent] of head.dirs) this.dirs.set(rel, { key, digest, hasContent: hasContent === 1 });
    }
  }

  /** A memory-only cache (nothing persisted). */
  static inMemory(opts: ChecksumCacheOptions = {}): ChecksumCache {
    return new ChecksumCache(undefined, opts.scope ?? '', opts.max ?? 500_000, undefined);
  }

  /** Loads the cache persisted at `file` (an absent, corrupt or foreign file gives an empty cache). */
  static async load(file: string, opts: ChecksumCacheOptions = {}): Promise<ChecksumCache> {
    const scope = opts.scope ?? '';
    // read synchronously, as the other small reads at a build's start: the thread pool's round
    // trips (open, stat, read, close) cost more than the read
    const head = parseHead(readOptional(file), scope);
    return new ChecksumCache(file, scope, opts.max ?? 500_000, head);
  }

  /**
   * The cache of `scope` (e.g. a context's absolute path) among the per-scope files in `dir`.
   * Using a scope's file refreshes its place in the directory's LRU; saving drops the files of
   * the least recently used scopes beyond `keepScopes`.
   */
  static async loadScoped(dir: string, scope: string, opts: ScopedCacheOptions = {}): Promise<ChecksumCache> {
    const file = join(dir, `${hexOf(sha256(scope)).slice(0, 32)}.json`);
    const c = await ChecksumCache.load(file, { scope, max: opts.max ?? 500_000 });
    c.siblings = { dir, keep: Math.max(1, opts.keepScopes ?? DEFAULT_KEEP_SCOPES) };
    // a no-op rebuild saves nothing; mark the scope as used anyway (not on every build: a syscall)
    const now = Date.now();
    const st = statSync(file, { throwIfNoEntry: false });
    if (st && now - st.mtimeMs > TOUCH_AFTER_MS) {
      try {
        utimesSync(file, now / 1000, now / 1000);
      } catch {
        /* only the scope's place in the LRU */
      }
    }
    return c;
  }

  /** Per-file entries held (every shard read for it). */
  get size(): number {
    this.loadAll();
    this.evict();
    return this.files.size;
  }

  /** The digest recorded for directory `relPath` if the fingerprint of its tree is still `key`. */
  getDir(relPath: string, key: string): DirDigest | undefined {
    const hit = this.peekDir(relPath, key);
    if (!hit) this.stats.dirMisses++;
    return hit;
  }

  /** getDir, but a miss is not counted (the caller asks getDir later when it computes). */
  peekDir(relPath: string, key: string): DirDigest | undefined {
    const e = this.dirs.get(relPath);
    if (!e || e.key !== key) return undefined;
    this.stats.dirHits++;
    this.dirs.delete(relPath);
    this.dirs.set(relPath, e);
    return { digest: e.digest, hasContent: e.hasContent };
  }

  /**
   * Records a directory's digest under the fingerprint `key` of its tree, which was taken starting
   * at `keyStartNs`; `newestNs` is the newest mtime/ctime seen in the tree. Racy trees (something
   * changed within RACY_WINDOW_NS of the fingerprint) are not stored.
   */
  setDir(relPath: string, key: string, value: DirDigest, newestNs: bigint, keyStartNs: bigint): void {
    if (newestNs + RACY_WINDOW_NS > keyStartNs) {
      this.stats.racy++;
      if (this.dirs.delete(relPath)) this.dirsDirty = true;
      return;
    }
    const old = this.dirs.get(relPath);
    if (old && old.key === key && old.digest === value.digest && old.hasContent === value.hasContent) return;
    this.dirs.delete(relPath);
    this.dirs.set(relPath, { key, ...value });
    if (this.dirs.size > this.max) evictOver(this.dirs, this.max);
    this.stats.dirStores++;
    this.dirsDirty = true;
  }

  /** The digest recorded for `relPath` if its stat identity is unchanged. */
  get(relPath: string, st: StatIdentity): string | undefined {
    const hit = this.peek(relPath, st);
    if (hit === undefined) this.stats.misses++;
    return hit;
  }

  /** get, but a miss is not counted (the caller asks get later when it computes). */
  peek(relPath: string, st: StatIdentity): string | undefined {
    this.loadShardOf(relPath);
    const e = this.files.get(relPath);
    if (!e || e.fp !== fingerprint(st)) return undefined;
    this.stats.hits++;
    // (re-inserted: within a session, the map's order is the order of use)
    e.used = this.session;
    this.files.delete(relPath);
    this.files.set(relPath, e);
    return e.digest;
  }

  /**
   * Records a digest computed from the file as it was at `st`. `hashStartNs` is the wall-clock time
   * (ns since the epoch) just before the content was read; racy entries are skipped.
   */
  set(relPath: string, st: StatIdentity, digest: string, hashStartNs: bigint): void {
    const shard = this.loadShardOf(relPath);
    if (st.ctimeNs + RACY_WINDOW_NS > hashStartNs || st.mtimeNs + RACY_WINDOW_NS > hashStartNs) {
      this.stats.racy++;
      if (this.files.delete(relPath) && shard >= 0) this.dirtyShards.add(shard);
      return;
    }
    const fp = fingerprint(st);
    const old = this.files.get(relPath);
    if (old && old.fp === fp && old.digest === digest) {
      old.used = this.session;
      return;
    }
    this.files.delete(relPath);
    this.files.set(relPath, { fp, digest, used: this.session });
    if (shard >= 0) this.dirtyShards.add(shard);
    else this.dirtyShards.add(-1); // (no shards yet: all get written)
    this.stats.stores++;
    // (bounded when saved or counted: the shards not read are only counted then)
  }

  /** Writes what changed since the cache was loaded or last saved: the shards with changed file
   *  entries, and the head. */
  async save(): Promise<void> {
    if (!this.file || (this.dirtyShards.size === 0 && !this.dirsDirty)) return;
    mkdirSync(dirname(this.file), { recursive: true });
    if (this.dirtyShards.size > 0) {
      const total = this.counts.reduce((n, c, i) => n + (this.loaded[i] ? 0 : c), 0) + this.files.size;
      const wanted = shardCountFor(total);
      if (total > this.max || wanted > this.shards * 2 || this.shards === 0 || this.dirtyShards.has(-1)) {
        // over the bound, or too many entries per shard: everything is read and laid out anew
        this.loadAll();
        this.evict();
        if (wanted > this.shards) this.shards = wanted;
        this.loaded = Array.from({ length: this.shards }, () => true);
        this.dirtyShards.clear();
        for (let i = 0; i < this.shards; i++) this.dirtyShards.add(i);
      }
      const rows: FileRow[][] = Array.from({ length: this.shards }, () => []);
      for (const [rel, v] of this.files) {
        const i = shardOf(rel, this.shards);
        if (this.dirtyShards.has(i)) rows[i]!.push([rel, v.fp, v.digest, v.used]);
      }
      for (const i of [...this.dirtyShards].sort((a, b) => a - b)) {
        writeAtomically(shardFile(this.file, i), { format: FORMAT, digestVersion: DIGEST_VERSION, scope: this.scope, shard: i, shards: this.shards, entries: rows[i]! } satisfies Shard);
        this.counts[i] = rows[i]!.length;
      }
      this.counts.length = this.shards;
      for (let i = 0; i < this.shards; i++) this.counts[i] ??= 0;
      this.dirtyShards.clear();
    }
    const dirs: DirRow[] = [];
    for (const [rel, v] of this.dirs) dirs.push([rel, v.key, v.digest, v.hasContent ? 1 : 0]);
    // the head last: shards it counts are in place (a crash before leaves the old head, whose
    // shards are still valid ones: each entry is checked against the file's stat anyway)
    writeAtomically(this.file, { format: FORMAT, digestVersion: DIGEST_VERSION, scope: this.scope, session: this.session, shards: this.shards, counts: this.counts, dirs } satisfies Head);
    this.dirsDirty = false;
    if (this.fresh && !this.strayChecked) {
      this.strayChecked = true;
      this.removeStrayFiles();
    }
    if (this.siblings) await pruneScopes(this.siblings.dir, this.siblings.keep, this.file);
  }

  // -------------------------------------------------------------------------------------------

  /** Reads the shard `relPath`'s entry would be in, on its first use; returns its index (-1: no
   *  shards). Synchronous, so `get` stays a plain lookup. */
  private loadShardOf(relPath: string): number {
    if (this.shards === 0) return -1;
    const i = shardOf(relPath, this.shards);
    if (!this.loaded[i]) this.loadShard(i);
    return i;
  }

  private loadShard(i: number): void {
    this.loaded[i] = true;
    this.stats.shardsRead++;
    const text = readOptional(shardFile(this.file!, i));
    const rows = parseShard(text, this.scope, i, this.shards);
    if (!rows) {
      // missing or damaged: its files are hashed again, and the shard rewritten when they are
      this.counts[i] = 0;
      return;
    }
    this.counts[i] = rows.length;
    // (an entry this session stored already is newer than the persisted one)
    for (const [rel, fp, digest, used] of rows) if (!this.files.has(rel)) this.files.set(rel, { fp, digest, used });
  }

  private loadAll(): void {
    for (let i = 0; i < this.shards; i++) if (!this.loaded[i]) this.loadShard(i);
  }

  /** Drops the least recently used entries beyond `max` (their shards are rewritten): by the
   *  session that last used them, then by the order of use within one. Every shard is read. */
  private evict(): void {
    if (this.files.size <= this.max) return;
    const byAge = [...this.files].map(([rel, e], n) => ({ rel, used: e.used, n }));
    byAge.sort((a, b) => a.used - b.used || a.n - b.n);
    for (const { rel } of byAge.slice(0, this.files.size - this.max)) {
      this.files.delete(rel);
      this.dirtyShards.add(this.shards === 0 ? -1 : shardOf(rel, this.shards));
    }
  }

  /** Shards beyond this layout's (its head was lost) and a format 1 file of directory entries. */
  private removeStrayFiles(): void {
    const dir = dirname(this.file!);
    const prefix = shardFile(this.file!, 0).slice(dir.length + 1).replace(/0\.json$/, '');
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return;
    }
    for (const n of names) {
      const m = n.startsWith(prefix) ? /^(\d+)\.json$/.exec(n.slice(prefix.length)) : null;
      if (m && Number(m[1]) >= this.shards) unlinkQuietly(join(dir, n));
    }
    unlinkQuietly(legacyDirsFile(this.file!));
  }
}

/** Drops the least recently used entries beyond `max` (a Map's insertion order: a use re-inserts). */
export function evictOver(lru: Map<string, unknown>, max: number): void {
  for (const k of lru.keys()) {
    if (lru.size <= max) return;
    lru.delete(k);
  }
}

// ---------------------------------------------------------------------------------------------

interface Persisted {
  format: number;
  digestVersion: string;
  scope: string;
}
interface Head extends Persisted {
  /** The session that wrote it (sessions count up: the LRU order of file entries). */
  session: number;
  shards: number;
  /** File entries per shard as written. */
  counts: number[];
  /** Least recently used first. */
  dirs: DirRow[];
}
interface Shard extends Persisted {
  shard: number;
  shards: number;
  entries: FileRow[];
}
/** [relPath, stat fingerprint, digest, session last used] */
type FileRow = [string, string, string, number];
/** [relPath, tree key, digest, hasContent 1/0] */
type DirRow = [string, string, string, number];

/** The head if it is intact and ours (same format, digest version, scope). */
function parseHead(text: string | undefined, scope: string): Head | undefined {
  const h = parseOurs<Head>(text, scope);
  if (!h || !Array.isArray(h.dirs) || !Array.isArray(h.counts) || !Number.isInteger(h.session)) return undefined;
  if (!Number.isInteger(h.shards) || h.shards < 0 || h.shards > MAX_SHARDS || h.counts.length !== h.shards) return undefined;
  return h;
}

/** A shard's rows if it is intact, ours, and the one the head counts on. */
function parseShard(text: string | undefined, scope: string, shard: number, shards: number): FileRow[] | undefined {
  const s = parseOurs<Shard>(text, scope);
  if (!s || s.shard !== shard || s.shards !== shards || !Array.isArray(s.entries)) return undefined;
  return s.entries;
}

function parseOurs<T extends Persisted>(text: string | undefined, scope: string): T | undefined {
  if (text === undefined) return undefined;
  try {
    const data = JSON.parse(text) as T;
    if (data.format !== FORMAT || data.digestVersion !== DIGEST_VERSION || data.scope !== scope) return undefined;
    return data;
  } catch {
    // A damaged cache file only costs a rehash; it is rewritten on the next save.
    return undefined;
  }
}

/** The shard of a file: its directory's path hashed (FNV-1a), so a directory's files are in one. */
function shardOf(relPath: string, shards: number): number {
  let h = 0x811c9dc5;
  const end = relPath.lastIndexOf('/');
  for (let i = 0; i < end; i++) h = Math.imul(h ^ relPath.charCodeAt(i), 0x01000193);
  return (h >>> 0) & (shards - 1);
}

/** The fewest shards (a power of two) that hold `entries` at about PER_SHARD each. */
function shardCountFor(entries: number): number {
  let n = 1;
  while (n < MAX_SHARDS && n * PER_SHARD < entries) n *= 2;
  return n;
}

/** `x.json` -> `x.files-3.json` (any other name: `<name>.files-3.json`). */
function shardFile(file: string, i: number): string {
  return `${file.endsWith('.json') ? file.slice(0, -5) : file}.files-${i}.json`;
}

/** Format 1's file of directory entries (`x.dirs.json`), removed when its scope is rewritten. */
function legacyDirsFile(file: string): string {
  return `${file.endsWith('.json') ? file.slice(0, -5) : file}.dirs.json`;
}

/** Written synchronously: a handful of small files, where the thread pool's round trips would
 *  cost more than the writes. */
function writeAtomically(file: string, data: unknown): void {
  const tmp = `${file}.tmp-${process.pid}-${Date.now()}`;
  try {
    writeFileSync(tmp, JSON.stringify(data));
    renameSync(tmp, file);
  } catch (e) {
    unlinkQuietly(tmp);
    throw e;
  }
}

function unlinkQuietly(file: string): void {
  try {
    unlinkSync(file);
  } catch {
    /* gone already */
  }
}

/** Removes the files of all but the `keep` most recently used scopes (`self` always stays). */
async function pruneScopes(dir: string, keep: number, self: string): Promise<void> {
  const all = await readdir(dir).catch(() => [] as string[]);
  const names = all.filter((n) => /^[0-9a-f]{32}\.json$/.test(n));
  if (names.length <= keep) return;
  const dated = await Promise.all(names.map(async (n) => ({ p: join(dir, n), t: (await stat(join(dir, n)).catch(() => undefined))?.mtimeMs ?? 0 })));
  dated.sort((a, b) => b.t - a.t);
  let kept = 1;
  for (const { p } of dated) {
    if (p === self) continue;
    if (kept < keep) kept++;
    else {
      await unlink(p).catch(() => {});
      // its shards (and a format 1 leftover) go with it
      const base = p.slice(dir.length + 1, -'.json'.length);
      for (const n of all) if (n.startsWith(`${base}.`)) await unlink(join(dir, n)).catch(() => {});
    }
  }
}

/** The stat identity as one string (the key entries are compared by). */
export function fingerprint(st: StatIdentity): string {
  return `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}:${st.mode}:${st.uid}:${st.gid}`;
}

/** A file's text, or undefined when it cannot be read (absent: nothing cached yet). */
function readOptional(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}
