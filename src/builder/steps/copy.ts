/**
 * The COPY and ADD steps' file semantics, as BuildKit has them: which files a step reads (and the
 * digest of those, for the cache key) and the layer it produces, as LayerEntry objects. Nothing
 * is written into any rootfs: destinations are resolved inside the target image through its
 * RootfsView (its symlinks followed with the rootfs as `/`), and file bytes are referenced where
 * they already are (context, snapshot dirs) or materialized in a scratch dir (heredocs,
 * downloads, archive members).
 *
 * Rules pinned against Docker (docker 20.10 + its BuildKit; see test/builder/copy*.test.ts):
 * - context files become root:root, modes and mtimes kept; COPY --from keeps owners too;
 * - a directory source copies its contents; the destination dir (like every missing parent) is
 *   created 0755, owned by --chown (else root), mtime = now, and --chmod does not apply to it;
 * - existing parent dirs of the destination keep their metadata in the layer, except that those
 *   written into directly get mtime = now (the copy modified them);
 * - a file source onto an existing directory goes inside it;
 * - hardlinks within one source item stay hardlinks; inner symlinks stay links;
 * - ADD unpacks local tar archives recognised by content (an empty `x.tar.gz` is just a file),
 *   keeping the archive's owners and modes (--chown/--chmod do not reach extracted entries).
 */
import { newHash, sha256 } from '../../image/digest.js';
import { readlinkSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TsbuildError } from '../../errors.js';
import type { LayerEntry } from '../../image/layer-entry.js';
import { sortByName, type BuildContext } from '../context.js';
import { contextSourceTree, imageSourceTree, type SourceEntry, type SourceItem, type SourceTree } from '../copy-source.js';
import { PatternMatcher, cleanPath } from '../dockerignore.js';
import { digestLeaf } from '../file-digest.js';
import { RootfsView } from '../../image/rootfs-view.js';
import { archiveEntries, detectArchive, type ArchiveKind } from './add-archive.js';
import { download, isGitUrl, isHttpUrl, parseChecksum, urlFileName, urlIdentity } from './add-url.js';
import { parseChmod, type ChmodFn } from './copy-chmod.js';

export interface CopyRequest {
  isAdd: boolean;
  /** As written (variables expanded); may contain wildcards; ADD also takes http(s) URLs. */
  sources: string[];
  /** `COPY <<EOF dest`: a file named `name` holding `content`. */
  heredocs?: { name: string; content: string }[];
  /** As written; relative to `workdir`; a trailing `/` means a directory. */
  dest: string;
  /** The stage's WORKDIR (absolute). */
  workdir: string;
  from: { kind: 'context'; context: BuildContext } | { kind: 'image'; view: RootfsView };
  chown?: { uid: number; gid: number };
  /** Octal (`755`) or symbolic (`u+x,go-w`). */
  chmod?: string;
  parents?: boolean;
  excludes?: string[];
  link?: boolean;
  checksum?: string;
  /** ADD --unpack: undefined = unpack local archives only; true also unpacks downloads; false never. */
  unpack?: boolean;
  /** Accepted for git sources, which are not supported yet (they fail with a clear error). */
  keepGitDir?: boolean;
  /** mtime (ms) for what the step creates itself: missing dirs and heredoc files. Default: now,
   *  as Docker does. */
  nowMs?: number;
}

/**
 * The digest of everything the step reads: its flags, each source's resolved paths with their
 * content digests (no mtimes), heredoc contents, and for URLs the checksum/ETag/content. Cheap on
 * a warm context: file digests come from the context's checksum cache.
 */
export async function copyInputsDigest(req: CopyRequest, onItem?: (item: SourceItem, digest: string) => void): Promise<string> {
  const plan = await planSources(req);
  const h = newHash();
  const line = (s: string) => h.update(s + '\n');
  line(
    JSON.stringify({
      v: 'tsbuild.copy.v1',
      op: req.isAdd ? 'ADD' : 'COPY',
      from: req.from.kind,
      // The destination as it resolves (WORKDIR matters only for a relative one).
      dest: destination(req),
      chown: req.chown ?? null,
      chmod: req.chmod ?? null,
      parents: !!req.parents,
      excludes: req.excludes ?? [],
      link: !!req.link,
      checksum: req.checksum ?? null,
      unpack: req.unpack ?? null,
    }),
  );
  for (const s of plan.sources) {
    if (s.kind === 'url') {
      line(`url ${await urlIdentity(s.url, req.checksum)}`);
      continue;
    }
    line(`src ${s.src}`);
    for (const item of s.items) {
      const digest = await itemDigest(item, plan.excludes);
      line(`item ${item.path} ${digest}`);
      onItem?.(item, digest);
    }
  }
  for (const d of req.heredocs ?? []) {
    line(`heredoc ${JSON.stringify(d.name)} ${sha256(d.content)}`);
  }
  return 'sha256:' + h.digest('hex');
}

/**
 * The layer of a COPY/ADD onto the image whose merged rootfs `target` shows: the destination's
 * parent dirs (existing ones with their metadata, missing ones created), then the copied entries,
 * sorted by path. Heredocs, downloads and archive members are materialized under `scratchDir`.
 */
export async function buildCopyLayer(req: CopyRequest, target: RootfsView, scratchDir: string): Promise<LayerEntry[]> {
  const plan = await planSources(req);
  const chmod = req.chmod === undefined ? undefined : parseChmod(req.chmod);
  const nowMs = req.nowMs ?? Date.now();
  // --link layers do not depend on the image below: nothing of it is looked at.
  const view = req.link ? new RootfsView([]) : target;
  const layer = new LayerBuilder(view, req.chown, nowMs);
  // Several sources (or wildcard matches) into a destination without `/` are copied one after
  // the other, as BuildKit does (no "must end with a /" error, which was the classic builder's):
  // directories merge their contents into it, a file goes into it once it is a directory, else
  // becomes it (the last one wins).
  const dest = destination(req);
  const meta: EntryOptions = { chmod, chown: req.chown, keepOwners: plan.tree.kind === 'image' };
  // made by the first heredoc, download or archive that needs it (a COPY of files makes none)
  let scratchN = 0;
  const scratch = async (name: string) => {
    const d = join(scratchDir, `${name}-${scratchN++}`);
    await mkdir(d, { recursive: true });
    return d;
  };

  for (const s of plan.sources) {
    if (s.kind === 'url') {
      const dir = await scratch('url');
      const dl = await download(s.url, join(dir, 'body'), req.checksum);
      if (req.unpack === true) {
        const kind = await detectArchive(dl.file);
        if (kind) {
          await addArchive(layer, dl.file, kind, dest.abs, dir);
          continue;
        }
      }
      // Docker: mode 0600, mtime from Last-Modified, else the epoch.
      const e: SourceEntry = { rel: '', type: 'file', mode: 0o600, uid: 0, gid: 0, size: dl.size, mtimeMs: dl.mtimeMs ?? 0, hostPath: dl.file };
      layer.add(layer.placeFile(dest, urlFileName(s.url)), toLayerEntry(e, { ...meta, keepOwners: false }));
      continue;
    }
    for (const item of s.items) {
      if (plan.excludes && plan.excludes.matchesOrParentMatches(item.path)) continue;
      if (req.isAdd && req.unpack !== false && item.root.type === 'file') {
        const kind = await detectArchive(item.root.hostPath);
        if (kind) {
          await addArchive(layer, item.root.hostPath, kind, dest.abs, await scratch('archive'));
          continue;
        }
      }
      await copyItem(layer, item, dest, req.parents ? keptPath(s.src, item.path) : undefined, plan.excludes, meta);
    }
  }
  for (const d of req.heredocs ?? []) {
    const file = join(await scratch('heredoc'), 'content');
    await writeFile(file, d.content);
    const e: SourceEntry = { rel: '', type: 'file', mode: 0o644, uid: 0, gid: 0, size: Buffer.byteLength(d.content), mtimeMs: nowMs, hostPath: file };
    layer.add(layer.placeFile(dest, d.name), toLayerEntry(e, { ...meta, keepOwners: false }));
  }
  return layer.sorted();
}

// ---------------------------------------------------------------------------------------------
// Planning: what the sources are

type PlannedSource = { kind: 'url'; url: string } | { kind: 'local'; src: string; items: SourceItem[] };

interface Plan {
  tree: SourceTree;
  sources: PlannedSource[];
  excludes: PatternMatcher | undefined;
}

async function planSources(req: CopyRequest): Promise<Plan> {
  const op = req.isAdd ? 'ADD' : 'COPY';
  if (req.chmod !== undefined) parseChmod(req.chmod); // fail early, before reading anything
  const tree = req.from.kind === 'context' ? contextSourceTree(req.from.context) : imageSourceTree(req.from.view);
  const excludes = req.excludes && req.excludes.length > 0 ? new PatternMatcher(req.excludes) : undefined;
  const sources: PlannedSource[] = [];
  let anyUrl = false;
  for (const src of req.sources) {
    if (isGitUrl(src)) {
      // ADD of one git URL is handled by copy-instruction.ts (add-git.ts); anything else is not
      throw new TsbuildError('INVALID', req.isAdd ? `ADD of a git repository takes exactly one source: ${src}` : `source can't be a git URL for COPY: ${src} (use ADD)`);
    }
    if (isHttpUrl(src)) {
      if (!req.isAdd) throw new TsbuildError('INVALID', `source can't be a URL for COPY: ${src} (use ADD)`);
      if (req.from.kind === 'image') throw new TsbuildError('INVALID', `${op} --from cannot take a URL source: ${src}`);
      anyUrl = true;
      sources.push({ kind: 'url', url: src });
      continue;
    }
    sources.push({ kind: 'local', src, items: await tree.resolve(src, { recursiveGlob: !!req.parents }) });
  }
  if (req.checksum !== undefined) {
    parseChecksum(req.checksum);
    if (!anyUrl || sources.some((s) => s.kind === 'local')) {
      throw new TsbuildError('INVALID', `${op} --checksum can only be used with URL sources`);
    }
  }
  return { tree, sources, excludes };
}

/** Digest of an item, leaving out what --exclude drops (then per entry: headers + contents). */
async function itemDigest(item: SourceItem, excludes: PatternMatcher | undefined): Promise<string> {
  if (!excludes) return item.digest();
  if (excludes.matchesOrParentMatches(item.path)) return 'excluded';
  const h = newHash();
  h.update(item.root.type === 'dir' ? digestLeaf('', item.root) : await item.entryDigest(item.root));
  for (const e of item.entries()) {
    if (excludes.matchesOrParentMatches(e.rel)) continue;
    h.update(`\n${e.rel}\0${e.type === 'dir' ? digestLeaf('', e) : await item.entryDigest(e)}`);
  }
  return 'sha256:' + h.digest('hex');
}

/** --parents: the part of an item's path kept under the destination — all of it, or what follows
 *  the last `/./` pivot of the source as written. */
function keptPath(src: string, itemPath: string): string {
  const i = src.lastIndexOf('/./');
  if (i < 0) return itemPath;
  const pivot = cleanPath('/' + src.slice(0, i)).slice(1);
  const depth = pivot === '' ? 0 : pivot.split('/').length;
  return itemPath.split('/').slice(depth).join('/');
}

// ---------------------------------------------------------------------------------------------
// Destination

interface Destination {
  /** Absolute, cleaned, not yet resolved in the target image. */
  abs: string;
  /** Written as a directory (`/`, `.`, `..` at the end). */
  isDir: boolean;
}

function destination(req: CopyRequest): Destination {
  const d = req.dest;
  const isDir = d === '' || d === '.' || d === '..' || d.endsWith('/') || d.endsWith('/.') || d.endsWith('/..');
  const abs = cleanPath(d.startsWith('/') ? d : `${req.workdir}/${d}`);
  return { abs: abs.startsWith('/') ? abs : '/' + abs, isDir };
}

// ---------------------------------------------------------------------------------------------
// Building the layer

interface EntryOptions {
  chmod: ChmodFn | undefined;
  chown: { uid: number; gid: number } | undefined;
  /** Keep source owners (COPY --from); context files become root:root. */
  keepOwners: boolean;
}

/** The layer being built: entries by absolute path, parents ensured as entries are added. */
class LayerBuilder {
  private readonly entries = new Map<string, LayerEntry>();
  /** Directories entered with the image's metadata (not created by this layer). */
  private readonly fromImage = new Set<string>();
  /** Whether a directory entry was replaced by something else (see add). */
  private dirReplaced = false;

  constructor(
    private readonly view: RootfsView,
    private readonly chown: { uid: number; gid: number } | undefined,
    private readonly nowMs: number,
  ) {}

  /** Adds (or replaces) the entry at absolute path `abs`, ensuring its parent directories. */
  add(abs: string, e: Omit<LayerEntry, 'path'>): void {
    const parent = parentOf(abs);
    // A directory this layer holds had its parents ensured when it was added; only once one was
    // replaced by a non-directory must every component be checked again.
    if (!this.hasDir(parent)) this.ensureDir(parent);
    this.addIn(parent, abs, e);
  }

  /** add() for an entry whose parent `parent` the caller saw is a directory of this layer. */
  addIn(parent: string, abs: string, e: Omit<LayerEntry, 'path'> & { path?: string }): void {
    if (this.dirReplaced) this.ensureDir(parent);
    if (this.fromImage.has(parent)) this.entries.get(parent)!.mtimeMs = this.nowMs;
    if (e.type !== 'dir' && this.entries.get(abs)?.type === 'dir') this.dirReplaced = true;
    // (the entries copy makes are their own: given their path in place, not copied again)
    e.path = abs.slice(1);
    this.entries.set(abs, e as LayerEntry);
  }

  /** Whether this layer holds a directory at the resolved path `real`. */
  hasDir(real: string): boolean {
    return this.entries.get(real)?.type === 'dir';
  }

  /** Resolves `abs` inside the image and makes sure a directory is there (existing or created);
   *  returns the resolved path. */
  dirAt(abs: string): string {
    const real = this.view.resolve(abs, true);
    this.ensureDir(real);
    return real;
  }

  /** Where a single file named `name` goes: inside the destination when it is written as a
   *  directory or is an existing directory, else at the destination path itself. */
  placeFile(dest: Destination, name: string): string {
    let at: string;
    if (dest.isDir) at = joinAbs(this.dirAt(dest.abs), name);
    else {
      const real = this.view.resolve(dest.abs, true);
      if (!this.isDir(real)) return real;
      at = joinAbs(this.dirAt(real), name);
    }
    // Docker: "cannot replace to directory … with file".
    if (this.isDir(at)) throw new TsbuildError('INVALID', `cannot replace directory ${at} with a file`);
    return at;
  }

  /** The path for an entry `rel` below an already resolved directory. Parent components this
   *  layer already holds are taken as they are (a directory the copy put where the image had a
   *  link replaces that link, as Docker's extraction does); others are resolved in the image, so
   *  its symlinks on the way are followed within the rootfs. The last component is never followed. */
  placeBelow(baseReal: string, rel: string): string {
    const segs = rel.split('/');
    let cur = baseReal;
    for (let i = 0; i < segs.length - 1; i++) {
      const next = joinAbs(cur, segs[i]!);
      cur = this.entries.has(next) ? next : this.view.resolve(next, true);
    }
    return joinAbs(cur, segs[segs.length - 1]!);
  }

  /**
   * Where archive member `rel` goes when extracted into the resolved directory `root`, as Docker
   * extracts (chrooted into the destination): symlinks on the way, the image's and those this
   * layer already holds (the archive's own), are followed with `root` as `/`, and `..` stops
   * there, so nothing lands outside it. A link must lead to an existing directory (Docker's open
   * fails otherwise); plain missing parents are made by add(). The last component is not followed.
   */
  placeInRoot(root: string, rel: string): string {
    const todo: Array<string | typeof MUST_BE_DIR> = rel.split('/');
    const last = todo.pop() as string;
    const done: string[] = [];
    const at = (segs: readonly string[]) => (segs.length === 0 ? root : joinAbs(root, segs.join('/')));
    let hops = 0;
    while (todo.length > 0) {
      const c = todo.shift()!;
      if (c === MUST_BE_DIR) {
        if (!this.isDir(at(done))) throw new TsbuildError('NOT_FOUND', `archive entry "${rel}": ${at(done)}, where a symlink on its way leads, is no directory`);
        continue;
      }
      if (c === '' || c === '.') continue;
      if (c === '..') {
        done.pop();
        continue;
      }
      const link = this.linkAt(at([...done, c]));
      if (link === undefined) {
        done.push(c);
        continue;
      }
      if (++hops > 40) throw new TsbuildError('UNSAFE', `archive entry "${rel}": too many levels of symbolic links`);
      if (link.startsWith('/')) done.length = 0;
      todo.unshift(...link.split('/'), MUST_BE_DIR);
    }
    return joinAbs(at(done), last);
  }

  /** The target of the symlink at a resolved path: this layer's entry there, else the image's. */
  private linkAt(real: string): string | undefined {
    const mine = this.entries.get(real);
    if (mine) return mine.type === 'symlink' ? (mine.linkname ?? '') : undefined;
    const e = this.view.lookup(real);
    return e?.stat.isSymbolicLink() ? readlinkSync(e.hostPath, 'utf8') : undefined;
  }

  sorted(): LayerEntry[] {
    return sortByName([...this.entries.values()], (e) => e.path);
  }

  /** Whether the layer or, failing that, the image has a directory at the resolved path. */
  private isDir(real: string): boolean {
    const mine = this.entries.get(real);
    if (mine) return mine.type === 'dir';
    if (real === '/') return true;
    return this.view.lookup(real)?.stat.isDirectory() ?? false;
  }

  /** Puts a directory entry at every component of `real` (an in-image resolved path) that the
   *  layer lacks: the image's own metadata where it has a dir, else a new 0755 dir. */
  private ensureDir(real: string): void {
    let cur = '';
    for (const seg of real.split('/')) {
      if (seg === '') continue;
      cur += '/' + seg;
      const mine = this.entries.get(cur);
      if (mine) {
        if (mine.type !== 'dir') throw notDir(cur);
        continue;
      }
      const existing = this.view.lookup(cur);
      if (existing) {
        if (!existing.stat.isDirectory()) throw notDir(cur);
        const st = existing.stat;
        this.entries.set(cur, { path: cur.slice(1), type: 'dir', mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, size: 0, mtimeMs: Math.floor(st.mtimeMs) });
        this.fromImage.add(cur);
      } else {
        this.touchParent(cur);
        this.entries.set(cur, { path: cur.slice(1), type: 'dir', mode: 0o755, uid: this.chown?.uid ?? 0, gid: this.chown?.gid ?? 0, size: 0, mtimeMs: this.nowMs });
      }
    }
  }

  /** Writing a name (new or replaced) into a directory of the image modifies that directory:
   *  Docker's layer then carries it with mtime = now (its other metadata unchanged). */
  private touchParent(abs: string): void {
    const parent = parentOf(abs);
    const e = this.fromImage.has(parent) ? this.entries.get(parent) : undefined;
    if (e) e.mtimeMs = this.nowMs;
  }
}

async function copyItem(layer: LayerBuilder, item: SourceItem, dest: Destination, kept: string | undefined, excludes: PatternMatcher | undefined, meta: EntryOptions): Promise<void> {
  const root = item.root;
  if (root.type === 'socket') return;
  if (root.type !== 'dir') {
    const at = kept !== undefined ? layer.placeBelow(layer.dirAt(dest.abs), kept) : layer.placeFile(dest, baseName(item.path));
    layer.add(at, toLayerEntry(root, meta));
    return;
  }
  // A directory copies its contents; with --parents the directory itself comes along.
  let base: string;
  if (kept !== undefined && kept !== '') {
    base = layer.placeBelow(layer.dirAt(dest.abs), kept);
    layer.add(base, toLayerEntry(root, meta));
  } else {
    base = layer.dirAt(dest.abs);
  }
  // Hard links: the first path copied to an inode is what later paths link to.
  const firstCopied = new Map<string, string>();
  // Where the directories the walk is in went (the walk gives parents first, depth first): an
  // entry goes right inside its parent while that is still a directory of the layer (what
  // placeBelow would find again from `base`, component by component, for thousands of entries).
  // (`prefix`: `at` and a slash, made once per directory rather than once per entry in it)
  const placed: Array<{ rel: string; at: string; prefix: string }> = [{ rel: '', at: base, prefix: dirPrefix(base) }];
  for (const e of item.entries()) {
    if (e.type === 'socket') continue;
    if (excludes && excludes.matchesOrParentMatches(e.rel)) continue;
    const slash = e.rel.lastIndexOf('/');
    while (placed.length > 1 && !isBelow(e.rel, placed[placed.length - 1]!.rel)) placed.pop();
    const parent = placed[placed.length - 1]!;
    const inside = (parent.rel === '' ? slash < 0 : slash === parent.rel.length) && layer.hasDir(parent.at);
    const at = inside ? parent.prefix + (slash < 0 ? e.rel : e.rel.slice(slash + 1)) : layer.placeBelow(base, e.rel);
    if (e.type === 'dir') placed.push({ rel: e.rel, at, prefix: dirPrefix(at) });
    const entry = toLayerEntry(e, meta);
    if (e.type === 'file' && (e.linked || e.hardlinkTo !== undefined)) {
      const first = firstCopied.get(e.hardlinkTo ?? e.rel);
      if (first !== undefined) {
        entry.type = 'hardlink';
        entry.linkname = first.slice(1);
        entry.size = 0;
        delete entry.sourcePath;
        delete entry.sourceIdentity;
      } else firstCopied.set(e.hardlinkTo ?? e.rel, at);
    }
    if (inside) layer.addIn(parent.at, at, entry);
    else layer.add(at, entry);
  }
}

/** Whether `rel` lies below the directory `dir` ('' is the top: everything does). */
function isBelow(rel: string, dir: string): boolean {
  return dir === '' || (rel.length > dir.length && rel.charCodeAt(dir.length) === 0x2f && rel.startsWith(dir));
}

/** Docker keeps an archive's owners and modes: --chown/--chmod reach only the created dest dirs. */
async function addArchive(layer: LayerBuilder, file: string, kind: ArchiveKind, destAbs: string, scratchDir: string): Promise<void> {
  const base = layer.dirAt(destAbs);
  for await (const e of archiveEntries(file, kind, (rel) => layer.placeInRoot(base, rel).slice(1), scratchDir)) {
    layer.add('/' + e.path, e);
  }
}

function toLayerEntry(e: SourceEntry, o: EntryOptions): Omit<LayerEntry, 'path'> & { path?: string } {
  const type = e.type === 'socket' ? 'file' : e.type;
  const mode = o.chmod && type !== 'symlink' ? o.chmod(e.mode, type === 'dir') : e.mode;
  const uid = o.chown?.uid ?? (o.keepOwners ? e.uid : 0);
  const gid = o.chown?.gid ?? (o.keepOwners ? e.gid : 0);
  // Each kind in one literal with its final shape, `path` (set by addIn) included: fields added
  // one by one went to a second, out-of-object store, and thousands of these live until the
  // layer is written.
  let out: Omit<LayerEntry, 'path'> & { path?: string };
  if (type !== 'file') out = { path: '', type, mode, uid, gid, size: 0, mtimeMs: e.mtimeMs };
  else if (e.sourceIdentity === undefined) out = { path: '', type, mode, uid, gid, size: e.size, mtimeMs: e.mtimeMs, sourcePath: e.hostPath };
  else out = { path: '', type, mode, uid, gid, size: e.size, mtimeMs: e.mtimeMs, sourcePath: e.hostPath, sourceIdentity: e.sourceIdentity };
  if (e.linkname !== undefined) out.linkname = e.linkname;
  if (e.devmajor !== undefined) out.devmajor = e.devmajor;
  if (e.devminor !== undefined) out.devminor = e.devminor;
  if (e.xattrs !== undefined) out.xattrs = e.xattrs;
  return out;
}

function notDir(path: string): TsbuildError {
  return new TsbuildError('INVALID', `cannot copy to non-directory: ${path}`);
}

function parentOf(abs: string): string {
  const i = abs.lastIndexOf('/');
  return i <= 0 ? '/' : abs.slice(0, i);
}

/** A marker in placeInRoot's work list: the path so far, reached through a symlink, must exist. */
const MUST_BE_DIR = Symbol('must be a directory');

/** What a name below the directory `dir` is joined to. */
function dirPrefix(dir: string): string {
  return dir === '/' ? '/' : dir + '/';
}

function joinAbs(dir: string, name: string): string {
  return dirPrefix(dir) + name;
}

function baseName(p: string): string {
  return p.slice(p.lastIndexOf('/') + 1);
}
