/**
 * The files a COPY/ADD read, recorded small enough to keep per step (for explained cache misses):
 * every source path and what lies below it, breadth first, at most MAX_PATHS of them, each with
 * the content digest the cache key was computed from (the context's memoized digests: nothing is
 * read again). A 5,000-file context keeps its top levels; a change deeper than what was recorded
 * is named by the deepest recorded directory above it (`src/`).
 */
import type { ChangedPath } from './explain-reason.js';
import type { SourceEntry, SourceItem } from './copy-source.js';

/** Most paths kept per step (~100 bytes each in the record). */
export const MAX_PATHS = 256;
/** Most changed paths a reason carries (the rest is counted). */
export const MAX_SHOWN = 20;

export interface SourceFiles {
  /** [path, digest, 1 for a directory], breadth first (shallow paths first), then in walk order. */
  paths: Array<[string, string, 0 | 1]>;
  /** Every read path at most this deep is in `paths`; null = every path is. */
  complete: number | null;
}

/** Collects the items a COPY/ADD resolved (copy.ts hands each over with its digest). */
export class SourceFilesCollector {
  private readonly items: Array<{ item: SourceItem; digest: string }> = [];

  add(item: SourceItem, digest: string): void {
    this.items.push({ item, digest });
  }

  /**
   * The bounded list: the shallowest MAX_PATHS paths of the items, each level in walk order. The
   * items are walked only as deep as that needs (1, 2, 3, 4, 8, ... levels, until the levels walked hold
   * more than MAX_PATHS paths or nothing lies deeper): the shallowest paths of a tree are the same
   * whether or not its deeper levels were read, so a 5,000-file context is not walked a second
   * time after the COPY's digest to keep its top levels.
   */
  async files(): Promise<SourceFiles> {
    // one level at a time at first (the top levels of a tree are small), then doubling, so a very
    // deep tree costs at most about two walks
    for (let limit = 1; ; limit = limit < 4 ? limit + 1 : limit * 2) {
      const r = await this.filesTo(limit);
      if (r) return r;
    }
  }

  /** The list from the paths at most `limit` deep, or undefined when deeper ones could belong in it. */
  private async filesTo(limit: number): Promise<SourceFiles | undefined> {
    /** `digest`: known (an item's own), else the item's entry `e` gives it. */
    type Found = { path: string; depth: number; dir: 0 | 1; digest?: string; item: SourceItem; e?: SourceEntry };
    let found: Found[] = [];
    let cutoff = Infinity;
    let dropped = false;
    let deeper = false;
    const keep = (f: Found) => {
      if (f.depth > limit) {
        deeper = true;
        return;
      }
      if (f.depth === limit && f.dir) deeper = true;
      if (f.depth > cutoff) {
        dropped = true;
        return;
      }
      found.push(f);
      if (found.length >= 4 * MAX_PATHS) cutoff = prune();
    };
    const prune = (): number => {
      found = stableByDepth(found);
      if (found.length > MAX_PATHS) {
        dropped = true;
        found.length = MAX_PATHS;
      }
      return found.length === MAX_PATHS ? found[found.length - 1]!.depth : Infinity;
    };
    for (const { item, digest } of this.items) {
      const base = depthOf(item.path);
      keep({ path: item.path, depth: base, dir: item.root.type === 'dir' ? 1 : 0, digest, item });
      if (item.root.type !== 'dir' || base >= limit) continue;
      for (const e of item.entries({ maxDepth: limit - base })) {
        if (e.rel === '') continue;
        const path = joinPath(item.path, e.rel);
        keep({ path, depth: depthOf(path), dir: e.type === 'dir' ? 1 : 0, item, e });
      }
    }
    prune();
    if (!dropped && deeper) return undefined;
    const paths: Array<[string, string, 0 | 1]> = [];
    // (mostly known already: digests the COPY's key was made of, or directory entries of the
    // checksum cache; a promise per path is taken only for the others)
    for (const f of found) paths.push([f.path, f.digest ?? f.item.knownDigest?.(f.e!) ?? (await f.item.entryDigest(f.e!)), f.dir]);
    const last = found[found.length - 1];
    // the deepest level kept whole: the one before the level the cut went through
    return { paths, complete: dropped ? (last ? last.depth - 1 : 0) : null };
  }
}

/**
 * What changed between two recordings: paths whose digest differs, or that one side lacks where
 * that side is complete. A path under an added/removed directory is left to it; a changed
 * directory is named only when nothing recorded below it explains the change.
 */
export function changedPaths(old: SourceFiles, now: SourceFiles): { paths: ChangedPath[]; more: number } {
  const a = new Map(old.paths.map(([p, d]) => [p, d]));
  const b = new Map(now.paths.map(([p, d]) => [p, d]));
  const dirs = new Set([...old.paths, ...now.paths].filter((t) => t[2] === 1).map((t) => t[0]));
  const known = (f: SourceFiles, p: string) => f.complete === null || depthOf(p) <= f.complete;
  const diff = new Map<string, ChangedPath>();
  for (const [p, d] of b) {
    const o = a.get(p);
    if (o === undefined) {
      if (known(old, p)) diff.set(p, { path: p, old: null, new: d });
    } else if (o !== d) diff.set(p, { path: p, old: o, new: d });
  }
  for (const [p, d] of a) if (!b.has(p) && known(now, p)) diff.set(p, { path: p, old: d, new: null });
  const addedOrRemoved = (p: string) => {
    const c = diff.get(p);
    return c !== undefined && (c.old === null || c.new === null);
  };
  const reported = [...diff.values()].filter((c) => !ancestors(c.path).some(addedOrRemoved));
  const paths = new Set(reported.map((c) => c.path));
  const hasReportedBelow = (p: string) => {
    const prefix = p === '' ? '' : p + '/';
    for (const q of paths) if (q !== p && q.startsWith(prefix)) return true;
    return false;
  };
  const out = reported
    .filter((c) => c.old === null || c.new === null || !hasReportedBelow(c.path))
    .map((c) => (dirs.has(c.path) ? { ...c, path: (c.path === '' ? '.' : c.path) + '/' } : c))
    .sort((x, y) => (x.path < y.path ? -1 : x.path > y.path ? 1 : 0));
  return { paths: out.slice(0, MAX_SHOWN), more: Math.max(0, out.length - MAX_SHOWN) };
}

function ancestors(p: string): string[] {
  const out: string[] = [];
  const segs = p === '' ? [] : p.split('/');
  for (let i = segs.length - 1; i >= 0; i--) out.push(segs.slice(0, i).join('/'));
  return out;
}

function stableByDepth<T extends { depth: number }>(xs: T[]): T[] {
  return xs.map((x, i) => ({ x, i })).sort((p, q) => p.x.depth - q.x.depth || p.i - q.i).map((p) => p.x);
}

function depthOf(p: string): number {
  return p === '' || p === '.' ? 0 : p.split('/').length;
}

function joinPath(dir: string, rel: string): string {
  return dir === '' || dir === '.' ? rel : `${dir}/${rel}`;
}
