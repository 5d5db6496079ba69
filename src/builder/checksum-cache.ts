/**
 * A stat-keyed cache of file content digests, so a rebuild with an unchanged context reads no file
 * bytes at all. An entry is valid while the file's path and its lstat identity (dev, ino, size,
 * mtime and ctime in ns, mode, uid, gid) are unchanged; anything that can change content or header
 * also changes ctime. Kept in memory in an LRU (a Map in recency order: loading a 5,000-entry
 * file into lru-cache cost ~4x more) and persisted as one JSON file at a path the caller
 * chooses (written atomically: temp file + rename, so a crash leaves the old or the new file).
 * A directory of such files keeps one per context (`loadScoped`): building another context in the
 * same store does not throw away the first one's checksums. Only the most recently used few are
 * kept there (an LRU by file mtime).
 *
 * Directories have entries too, in a second, small file loaded first: a directory's digest keyed by
 * a fingerprint of the stat data of everything below it (context.ts makes it, one native call per
 * directory). A no-op rebuild then answers a whole tree from one entry and never loads the per-file
 * file, which is read (synchronously, once) only when some directory changed.
 *
 * "Racy" entries are never stored: when a file's ctime is within RACY_WINDOW_NS of the moment its
 * hashing began, a write in the same timestamp tick could go unnoticed (the git index problem).
 */
import { createHash } from 'node:crypto';
import { readFileSync, statSync, utimesSync } from 'node:fs';
import { mkdir, readdir, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
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
}

/** A directory's digest as the context computes it. */
export interface DirDigest {
  digest: string;
  /** False for an ignored directory with nothing re-included below it. */
  hasContent: boolean;
}

/** File timestamps come from a coarse clock (a few ms); entries this fresh are not trusted. */
export const RACY_WINDOW_NS = 100_000_000n;

const FORMAT = 1;
const DEFAULT_KEEP_SCOPES = 16;
/** A used cache file's mtime is refreshed at most this often (it orders the LRU of scopes). */
const TOUCH_AFTER_MS = 3_600_000;

export class ChecksumCache {
  /** Least recently used first (a hit or a store moves the entry to the end). */
  private readonly lru = new Map<string, { fp: string; digest: string }>();
  private dirty = false;
  /** The per-file entries are read from `file` on first use (see ensureFiles). */
  private filesLoaded: boolean;
  /** Directory entries: relPath -> key (stat fingerprint of the tree) and digest; LRU order. */
  private readonly dirs = new Map<string, { key: string } & DirDigest>();
  private dirsDirty = false;
  /** For a scoped cache: its directory and how many scopes' files that directory keeps. */
  private siblings: { dir: string; keep: number } | undefined;
  readonly stats: ChecksumCacheStats = { hits: 0, misses: 0, stores: 0, racy: 0, dirHits: 0, dirMisses: 0, dirStores: 0 };

  private constructor(
    /** Where the cache is persisted; undefined for a memory-only cache. */
    readonly file: string | undefined,
    private readonly scope: string,
    private readonly max: number,
  ) {
    this.filesLoaded = file === undefined;
  }

  /** Where the directory entries are persisted (beside `file`). */
  get dirsFile(): string | undefined {
    return this.file && dirsFileOf(this.file);
  }

  /** A memory-only cache (nothing persisted). */
  static inMemory(opts: ChecksumCacheOptions = {}): ChecksumCache {
    return new ChecksumCache(undefined, opts.scope ?? '', opts.max ?? 500_000);
  }

  /** Loads the cache persisted at `file` (an absent, corrupt or foreign file gives an empty cache). */
  static async load(file: string, opts: ChecksumCacheOptions = {}): Promise<ChecksumCache> {
    const c = new ChecksumCache(file, opts.scope ?? '', opts.max ?? 500_000);
    // read synchronously, as the other small reads at a build's start: the thread pool's round
    // trips (open, stat, read, close) cost more than the read
    const dirs = c.parse<DirRow>(readOptional(c.dirsFile!));
    // Oldest first, so the LRU order after loading matches the order it was saved in.
    for (const [rel, key, digest, hasContent] of dirs ?? []) c.dirs.set(rel, { key, digest, hasContent: hasContent === 1 });
    return c;
  }

  /** The rows of a persisted file if it is intact and ours (same format, digest version, scope). */
  private parse<Row>(text: string | undefined): Row[] | undefined {
    if (text === undefined) return undefined;
    try {
      const data = JSON.parse(text) as Persisted<Row>;
      if (data.format !== FORMAT || data.digestVersion !== DIGEST_VERSION || data.scope !== this.scope || !Array.isArray(data.entries)) return undefined;
      return data.entries;
    } catch {
      // A damaged cache file only costs a rehash; it is rewritten on the next save.
      return undefined;
    }
  }

  /** Reads the per-file entries on first use: a rebuild that every directory entry answers never
   *  needs them. Synchronous, once per build, so `get` stays a plain lookup. */
  private ensureFiles(): void {
    if (this.filesLoaded) return;
    this.filesLoaded = true;
    let text: string | undefined;
    try {
      text = readFileSync(this.file!, 'utf8');
    } catch {
      return;
    }
    for (const [rel, fp, digest] of this.parse<FileRow>(text) ?? []) if (!this.lru.has(rel)) this.lru.set(rel, { fp, digest });
    this.evict();
  }

  /**
   * The cache of `scope` (e.g. a context's absolute path) among the per-scope files in `dir`.
   * Using a scope's file refreshes its place in the directory's LRU; saving drops the files of
   * the least recently used scopes beyond `keepScopes`.
   */
  static async loadScoped(dir: string, scope: string, opts: ScopedCacheOptions = {}): Promise<ChecksumCache> {
    const file = join(dir, `${createHash('sha256').update(scope).digest('hex').slice(0, 32)}.json`);
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

  private evict(): void {
    if (this.lru.size > this.max) evictOver(this.lru, this.max);
  }

  /** Per-file entries held. */
  get size(): number {
    this.ensureFiles();
    return this.lru.size;
  }

  /** The digest recorded for directory `relPath` if the fingerprint of its tree is still `key`. */
  getDir(relPath: string, key: string): DirDigest | undefined {
    const e = this.dirs.get(relPath);
    if (e && e.key === key) {
      this.stats.dirHits++;
      this.dirs.delete(relPath);
      this.dirs.set(relPath, e);
      return { digest: e.digest, hasContent: e.hasContent };
    }
    this.stats.dirMisses++;
    return undefined;
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
    this.ensureFiles();
    const e = this.lru.get(relPath);
    if (e && e.fp === fingerprint(st)) {
      this.stats.hits++;
      this.lru.delete(relPath);
      this.lru.set(relPath, e);
      return e.digest;
    }
    this.stats.misses++;
    return undefined;
  }

  /**
   * Records a digest computed from the file as it was at `st`. `hashStartNs` is the wall-clock time
   * (ns since the epoch) just before the content was read; racy entries are skipped.
   */
  set(relPath: string, st: StatIdentity, digest: string, hashStartNs: bigint): void {
    this.ensureFiles();
    if (st.ctimeNs + RACY_WINDOW_NS > hashStartNs || st.mtimeNs + RACY_WINDOW_NS > hashStartNs) {
      this.stats.racy++;
      this.lru.delete(relPath);
      return;
    }
    const fp = fingerprint(st);
    const old = this.lru.get(relPath);
    if (old && old.fp === fp && old.digest === digest) return;
    this.lru.delete(relPath);
    this.lru.set(relPath, { fp, digest });
    this.evict();
    this.stats.stores++;
    this.dirty = true;
  }

  /** Writes the cache to its file if anything changed since it was loaded or last saved. */
  async save(): Promise<void> {
    if (!this.file || (!this.dirty && !this.dirsDirty)) return;
    await mkdir(dirname(this.file), { recursive: true });
    // least recently used first, so reloading rebuilds the same recency order
    if (this.dirty) {
      const entries: FileRow[] = [];
      for (const [rel, v] of this.lru) entries.push([rel, v.fp, v.digest]);
      await this.writeAtomically(this.file, entries);
      this.dirty = false;
    }
    if (this.dirsDirty) {
      const entries: DirRow[] = [];
      for (const [rel, v] of this.dirs) entries.push([rel, v.key, v.digest, v.hasContent ? 1 : 0]);
      await this.writeAtomically(this.dirsFile!, entries);
      this.dirsDirty = false;
    }
    if (this.siblings) await pruneScopes(this.siblings.dir, this.siblings.keep, this.file);
  }

  private async writeAtomically<Row>(file: string, entries: Row[]): Promise<void> {
    const data: Persisted<Row> = { format: FORMAT, digestVersion: DIGEST_VERSION, scope: this.scope, entries };
    const tmp = `${file}.tmp-${process.pid}-${Date.now()}`;
    try {
      await writeFile(tmp, JSON.stringify(data));
      await rename(tmp, file);
    } catch (e) {
      await rm(tmp, { force: true });
      throw e;
    }
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

interface Persisted<Row> {
  format: number;
  digestVersion: string;
  scope: string;
  /** Least recently used first. */
  entries: Row[];
}
/** [relPath, stat fingerprint, digest] */
type FileRow = [string, string, string];
/** [relPath, tree key, digest, hasContent 1/0] */
type DirRow = [string, string, string, number];

/** `x.json` -> `x.dirs.json` (any other name: `<name>.dirs.json`). */
function dirsFileOf(file: string): string {
  return file.endsWith('.json') ? `${file.slice(0, -5)}.dirs.json` : `${file}.dirs.json`;
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
      await unlink(dirsFileOf(p)).catch(() => {});
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
