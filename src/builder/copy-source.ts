/**
 * Where COPY/ADD read from, behind one small interface: the build context (through BuildContext,
 * which owns .dockerignore, in-context symlink resolution and checksums) or another stage's/image's
 * rootfs (through RootfsView, resolved with that rootfs as `/`, so a source that is or goes through
 * a link to `/` stays inside it: CVE-2024-1753 class). The copier only sees SourceItems.
 */
import { readlinkSync, type Stats } from 'node:fs';
import { TsbuildError } from '../errors.js';
import { fsx } from '../native/fsx.js';
import { BuildContext, entryIdentity, hasWildcards, normalizeSourcePath, compileGlobSegment, type ContextEntry } from './context.js';
import { digestDirectory, digestLeaf, digestRegularFile, type DigestEntryType, type DigestableEntry } from './file-digest.js';
import { evictOver } from './checksum-cache.js';
import { RootfsView, compareBytes } from '../image/rootfs-view.js';
import { deviceNumbers, entryTypeOf } from '../image/layer-entry.js';

export type SourceEntryType = DigestEntryType;

/** One entry of a source item, with the metadata as the source has it (owners not yet mapped). */
export interface SourceEntry extends DigestableEntry {
  /** Path relative to the item's root ('' is the item itself), '/'-separated. */
  rel: string;
  type: SourceEntryType;
  mtimeMs: number;
  /** Absolute host path of the content. */
  hostPath: string;
  /** For the second and later paths to one inode within the item: the `rel` walked first. */
  hardlinkTo?: string;
  /** A file other paths may be hard links to (nlink > 1): the copier notes where it went. */
  linked?: boolean;
  /** Inode identity (dev, ino, size, mtime, ctime) of an image file, for memoizing digests. */
  identity?: string;
  /** A context file's identity as the walk listed it (snapshot-writer.ts's identityOf). */
  sourceIdentity?: string;
}

/** One resolved source (a wildcard yields several): a file, link target or directory. */
export interface SourceItem {
  /** The path as named after wildcard expansion, cleaned, relative to the source root. */
  path: string;
  /** The entry the source names, top-level symlinks already followed. */
  root: SourceEntry;
  /** Everything below a directory root (nothing for other roots), parents first, byte order.
   *  `maxDepth`: entries deeper than that many levels below the root may be left out.
   *  Synchronous: both sources list in place with blocking metadata calls, and a promise per
   *  entry (5,000 of them for a COPY of a context) cost more than the listing itself. */
  entries(opts?: { maxDepth?: number }): Iterable<SourceEntry>;
  /** Content digest of the whole item (no mtimes). */
  digest(): Promise<string>;
  /** Content digest of one entry of the item (cheap for context files: checksum cache). */
  entryDigest(e: SourceEntry): Promise<string>;
  /** entryDigest's answer when it is known without waiting (context items), else undefined. */
  knownDigest?(e: SourceEntry): string | undefined;
}

export interface ResolveOptions {
  /** A `**` segment matches any number of path segments, none included (COPY --parents);
   *  otherwise it is an ordinary `*`, as in Go's filepath.Match. */
  recursiveGlob?: boolean;
}

export interface SourceTree {
  /** 'context' files lose their owners (root:root); 'image' entries keep them. */
  readonly kind: 'context' | 'image';
  /** Resolves one source as written: NOT_FOUND for a missing plain path, [] for an empty wildcard. */
  resolve(src: string, opts?: ResolveOptions): Promise<SourceItem[]>;
}

export function contextSourceTree(ctx: BuildContext): SourceTree {
  return {
    kind: 'context',
    async resolve(src, opts = {}) {
      const clean = normalizeSourcePath(src);
      if (opts.recursiveGlob && hasRecursiveGlob(clean)) {
        // Walk below the literal prefix, match whole paths, then resolve each match exactly
        // (escaped, so names with glob characters stay literal) to follow top-level links.
        const { prefix, segs } = splitAtWildcard(clean);
        const out: SourceItem[] = [];
        for await (const e of ctx.walk({ under: prefix })) {
          if (!matchSegments(segs, e.relPath.split('/'))) continue;
          for (const { path, entry } of await ctx.resolveSources(escapeGlob(e.relPath), { followSymlinks: true })) {
            out.push(contextItem(ctx, path, entry));
          }
        }
        return out;
      }
      const found = await ctx.resolveSources(src, { followSymlinks: true });
      return found.map(({ path, entry }) => contextItem(ctx, path, entry));
    },
  };
}

export function imageSourceTree(view: RootfsView): SourceTree {
  return {
    kind: 'image',
    async resolve(src, opts = {}) {
      const clean = normalizeSourcePath(src);
      const paths =
        opts.recursiveGlob && hasRecursiveGlob(clean)
          ? matchInView(view, clean)
          : hasWildcards(clean)
            ? expandInView(view, clean)
            : [clean];
      const out: SourceItem[] = [];
      for (const p of paths) {
        const real = view.resolve('/' + p, true);
        const e = view.lookup(real);
        if (!e) {
          if (hasWildcards(clean)) continue;
          throw new TsbuildError('NOT_FOUND', `${JSON.stringify(src)}: not found in the source image`);
        }
        out.push(imageItem(view, p, real, e.hostPath, e.stat));
      }
      return out;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Context items

/** On an entry a context item handed out: the context's entry it was made from (for its digest). */
const ORIGIN = Symbol('context entry');
type ContextSourceEntry = SourceEntry & { [ORIGIN]?: ContextEntry };

function contextItem(ctx: BuildContext, path: string, entry: ContextEntry): SourceItem {
  const prefix = entry.relPath === '' ? '' : entry.relPath + '/';
  const fromCtx = (e: ContextEntry): SourceEntry => {
    const rel = e.relPath === entry.relPath ? '' : prefix === '' ? e.relPath : e.relPath.slice(prefix.length);
    // (the original rides along: a map from rel to it cost a hash insert per entry of a big COPY)
    let s: ContextSourceEntry;
    if (e.type === 'file') {
      // One literal with every field a plain file has, so it is made with its final shape (fields
      // added one by one went to a second, out-of-object store). A listing's row has the identity
      // ready (no BigInt made).
      s = {
        rel,
        type: e.type,
        mode: e.mode,
        uid: e.uid,
        gid: e.gid,
        size: e.size,
        mtimeMs: e.mtimeMs,
        hostPath: e.hostPath,
        sourceIdentity: entryIdentity(e),
        // (last: a literal's properties after a computed key are defined one at a time)
        [ORIGIN]: e,
      };
      if (e.nlink > 1) s.linked = true;
    } else {
      s = { rel, type: e.type, mode: e.mode, uid: e.uid, gid: e.gid, size: e.size, mtimeMs: e.mtimeMs, hostPath: e.hostPath, [ORIGIN]: e };
    }
    copyOptional(s, e);
    if (e.hardlinkTo !== undefined && e.hardlinkTo.startsWith(prefix)) s.hardlinkTo = e.hardlinkTo.slice(prefix.length);
    return s;
  };
  return {
    path,
    root: fromCtx(entry),
    entries(opts) {
      if (entry.type !== 'dir') return [];
      return mappedLazily(() => ctx.walkSync(entry.relPath, opts?.maxDepth), fromCtx);
    },
    digest: () => ctx.digestEntry(entry),
    async entryDigest(e) {
      // Entries handed out are mapped copies; their originals give the digests.
      const orig = e.rel === '' ? entry : (e as ContextSourceEntry)[ORIGIN];
      if (orig) return ctx.digestEntry(orig);
      return leafOrFileDigest(e);
    },
    knownDigest(e) {
      const orig = e.rel === '' ? entry : (e as ContextSourceEntry)[ORIGIN];
      return orig && ctx.knownDigest(orig);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Image items

function imageItem(view: RootfsView, path: string, real: string, hostPath: string, st: Stats): SourceItem {
  const root = fromStats('', hostPath, st);
  const walk = function* (): Generator<SourceEntry> {
    if (root.type !== 'dir') return;
    const seen = new Map<string, string>();
    // Depth first, parents before children, names in byte order.
    const visit = function* (rel: string): Generator<SourceEntry> {
      const abs = rel === '' ? real : `${real === '/' ? '' : real}/${rel}`;
      for (const name of view.readdir(abs) ?? []) {
        const childRel = rel === '' ? name : `${rel}/${name}`;
        const childAbs = `${real === '/' ? '' : real}/${childRel}`;
        const e = view.lookup(childAbs);
        if (!e) continue;
        const s = fromStats(childRel, e.hostPath, e.stat);
        if (s.type === 'file' && e.stat.nlink > 1) {
          s.linked = true;
          const key = `${e.stat.dev}:${e.stat.ino}`;
          const first = seen.get(key);
          if (first === undefined) seen.set(key, childRel);
          else s.hardlinkTo = first;
        }
        yield s;
        if (s.type === 'dir') yield* visit(childRel);
      }
    };
    yield* visit('');
  };
  return {
    path,
    root,
    entries: walk,
    async digest() {
      if (root.type !== 'dir') return leafOrFileDigest(root);
      // Children digests in walk order, each carrying its relative path so structure counts.
      const parts: string[] = [];
      for (const e of walk()) parts.push(`${e.rel}\0${await leafOrFileDigest(e)}`);
      return digestDirectory(baseName(path), root, parts);
    },
    entryDigest: leafOrFileDigest,
  };
}

function fromStats(rel: string, hostPath: string, st: Stats): SourceEntry {
  const type = statType(st);
  const e: SourceEntry = {
    rel,
    type,
    mode: st.mode & 0o7777,
    uid: st.uid,
    gid: st.gid,
    size: type === 'file' ? st.size : 0,
    mtimeMs: Math.floor(st.mtimeMs),
    hostPath,
  };
  if (type === 'file') e.identity = `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
  if (type === 'symlink') e.linkname = readlinkSync(hostPath, 'utf8');
  if (type === 'char' || type === 'block') {
    Object.assign(e, deviceNumbers(st.rdev));
  }
  const x = readXattrs(hostPath);
  if (x) e.xattrs = x;
  return e;
}

/** Extended attributes worth carrying into a layer (overlay's own bookkeeping is not). */
function readXattrs(hostPath: string): Record<string, Buffer> | undefined {
  let names: string[];
  try {
    names = fsx().llistxattr(hostPath);
  } catch {
    return undefined;
  }
  const out: Record<string, Buffer> = {};
  let any = false;
  for (const n of names) {
    if (n.startsWith('trusted.overlay.') || n.startsWith('user.overlay.')) continue;
    const v = fsx().lgetxattr(hostPath, n);
    if (v) {
      out[n] = v;
      any = true;
    }
  }
  return any ? out : undefined;
}

/** Expands a cleaned wildcard path segment by segment inside the view (links in the directories
 *  walked through are resolved in the view). Returns the matching paths in byte order. */
function expandInView(view: RootfsView, clean: string): string[] {
  let frontier: string[] = [''];
  for (const seg of clean.split('/')) {
    const next: string[] = [];
    for (const f of frontier) {
      if (!hasWildcards(seg)) {
        next.push(f === '' ? unescapeGlob(seg) : `${f}/${unescapeGlob(seg)}`);
        continue;
      }
      const re = compileGlobSegment(seg);
      const dir = view.resolve('/' + f, true);
      for (const name of view.readdir(dir) ?? []) {
        if (re.test(name)) next.push(f === '' ? name : `${f}/${name}`);
      }
    }
    frontier = next;
  }
  return frontier.sort(compareBytes);
}

/** `**` expansion in an image: every path below the literal prefix (links not followed) whose
 *  segments match the pattern's. */
function matchInView(view: RootfsView, clean: string): string[] {
  const { prefix, segs } = splitAtWildcard(clean);
  const out: string[] = [];
  const visit = (realDir: string, named: string) => {
    for (const name of view.readdir(realDir) ?? []) {
      const path = named === '' ? name : `${named}/${name}`;
      if (matchSegments(segs, path.split('/'))) out.push(path);
      const childReal = realDir === '/' ? `/${name}` : `${realDir}/${name}`;
      if (view.lookup(childReal)?.stat.isDirectory()) visit(childReal, path);
    }
  };
  visit(view.resolve('/' + prefix, true), prefix);
  return out.sort(compareBytes);
}

// ---------------------------------------------------------------------------------------------
// Helpers

function hasRecursiveGlob(clean: string): boolean {
  return clean.split('/').some((s) => s === '**');
}

/** The literal directory before the first wildcard segment, and all the pattern's segments. */
function splitAtWildcard(clean: string): { prefix: string; segs: string[] } {
  const segs = clean.split('/');
  const i = segs.findIndex((s) => hasWildcards(s));
  return { prefix: segs.slice(0, i).map(unescapeGlob).join('/'), segs };
}

/** Whether path segments match pattern segments (`**` = any number of segments). */
export function matchSegments(pat: readonly string[], path: readonly string[], i = 0, j = 0): boolean {
  if (i === pat.length) return j === path.length;
  const p = pat[i]!;
  if (p === '**') {
    for (let k = j; k <= path.length; k++) if (matchSegments(pat, path, i + 1, k)) return true;
    return false;
  }
  if (j === path.length) return false;
  const ok = hasWildcards(p) ? segmentRegex(p).test(path[j]!) : unescapeGlob(p) === path[j];
  return ok && matchSegments(pat, path, i + 1, j + 1);
}

const segmentRegexes = new Map<string, RegExp>();

function segmentRegex(seg: string): RegExp {
  let re = segmentRegexes.get(seg);
  if (!re) {
    re = compileGlobSegment(seg);
    segmentRegexes.set(seg, re);
  }
  return re;
}

/** A literal path as a source that names only itself: without glob characters it is taken
 *  literally already; with them, each becomes a one-character class (`[*]`, `[?]`, `[[]`) and
 *  backslashes are escaped. */
function escapeGlob(path: string): string {
  if (!/[*?[]/u.test(path)) return path;
  return path.replace(/[*?[\\]/gu, (c) => (c === '\\' ? '\\\\' : `[${c}]`));
}

/**
 * Image files never change under a snapshot dir, so their digests are memoized for the process,
 * keyed by inode identity and every header field the digest covers (COPY --from a big stage is
 * then hashed once per process, not once per build).
 */
const imageFileDigests = new Map<string, string>();
/** The memo's bound: entries beyond it go least recently used first. */
const FILE_DIGEST_MEMO_MAX = 100_000;

async function leafOrFileDigest(e: SourceEntry): Promise<string> {
  const name = baseName(e.rel);
  if (e.type !== 'file') return digestLeaf(name, e);
  const key = e.identity === undefined ? undefined : `${e.identity}\0${name}\0${e.mode}:${e.uid}:${e.gid}\0${xattrKey(e.xattrs)}`;
  if (key === undefined) return digestRegularFile(name, e, e.hostPath);
  const hit = imageFileDigests.get(key);
  imageFileDigests.delete(key);
  const d = hit ?? (await digestRegularFile(name, e, e.hostPath));
  imageFileDigests.set(key, d); // (re-)inserted: the most recently used
  evictOver(imageFileDigests, FILE_DIGEST_MEMO_MAX);
  return d;
}

function xattrKey(x: Record<string, Buffer> | undefined): string {
  if (!x) return '';
  return Object.keys(x)
    .sort()
    .map((k) => `${k}=${x[k]!.toString('hex')}`)
    .join(',');
}

/**
 * `f` of each element of the array `list()` gives (listed when iteration begins), one at a time:
 * what a generator did, without resuming a generator and making a result object per element (a
 * COPY of a 5,000-file context iterates this once). The iterator's result object is reused.
 */
function mappedLazily<T, U>(list: () => readonly T[], f: (x: T) => U): Iterable<U> {
  return {
    [Symbol.iterator](): Iterator<U> {
      const xs = list();
      let i = 0;
      const r = { done: false, value: undefined as U };
      return {
        next(): IteratorResult<U> {
          if (i < xs.length) r.value = f(xs[i++]!);
          else {
            r.done = true;
            r.value = undefined as U;
          }
          return r;
        },
      };
    },
  };
}

function copyOptional(dst: SourceEntry, src: ContextEntry): void {
  if (src.linkname !== undefined) dst.linkname = src.linkname;
  if (src.devmajor !== undefined) dst.devmajor = src.devmajor;
  if (src.devminor !== undefined) dst.devminor = src.devminor;
  if (src.xattrs !== undefined) dst.xattrs = src.xattrs;
}

const statType = (st: Stats): SourceEntryType => entryTypeOf(st);

function baseName(rel: string): string {
  return rel.slice(rel.lastIndexOf('/') + 1);
}

function unescapeGlob(seg: string): string {
  return seg.replace(/\\(.)/gsu, '$1');
}
