/**
 * The whole-build memo: a `tsbuild build` command line that repeats a fully cached build is
 * answered from a record of that build before Node even starts (native/build-memo.c, which
 * bin/tsbuild runs first). BuildKit answers a no-op rebuild from its daemon's memory; a daemonless
 * tool starts a process each time, and Node's start plus the builder's load were most of such a
 * rebuild. Docker's behaviour is unchanged: the same image ID, the same output bytes, the same
 * `--iidfile`, exit 0. This module writes the record; the C program reads it.
 *
 * A record is written only after a build that ran no step (every step cached, nothing pulled,
 * nothing downloaded), only for the modes whose output does not depend on time (quiet, plain),
 * and only when the command line reads nothing that could change unseen (no --pull, --no-cache,
 * secrets, remote caches, exports, ADD of a URL, ...; cli/build.ts decides). It is used only while
 * everything that build read is as it was:
 * - the CLI bundle (its id), the user, the working directory, the arguments, the environment variables the
 *   build reads (SOURCE_DATE_EPOCH, the store's location, `--build-arg NAME` values), and stderr
 *   still not a terminal when plain progress was chosen because it was not one;
 * - every file and directory of the build context, by lstat (device, inode, size, mtime, ctime,
 *   mode, owner, links) through the per-directory listing fingerprint (native/dirkey.h, as
 *   fsx.statDirKey computes it): any entry added, removed, renamed or changed changes its
 *   directory's line;
 * - a Dockerfile given with -f, the store's image index (replaced atomically on every change: any
 *   tag, build, rmi or prune of the store sends the next build the full way), and each build cache
 *   record the build looked up (present or absent, same inode and times).
 * Nothing that changed within RACY_MS before the build began is recorded: a later write in the
 * same clock tick could keep its times. Records live in the user's cache directory beside the code
 * caches, one per working directory and command line (`build-memo/<fnv64>.rec`).
 *
 * Format (read by native/build-memo.c): "tsbuild-memo 2\n", then fields "<tag> <length>\n<bytes>\n":
 * B bundle id, P uid, C cwd, A each argument, E NAME\0VALUE, U NAME (unset), T (stderr not a terminal),
 * F PATH\0IDENTITY, N PATH (absent), R ROOT\0IDENTITY, D REL\0LANE0\0LANE1\0COUNT (directories of
 * the last R), I PATH\0CONTENT (--iidfile), O stdout, X stderr, Z end.
 */
import { closeSync, mkdirSync, openSync, readdirSync, readSync, renameSync, statSync, unlinkSync, writeFileSync, type BigIntStats } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fsx } from '../native/fsx.js';

/** What the CLI knows before the build starts. */
export interface MemoStart {
  bundleId: string;
  args: string[];
  /** Environment variables the build reads: name → value (null: unset). */
  env: Record<string, string | null>;
  /** Plain progress was chosen because stderr is not a terminal. */
  stderrNotTty: boolean;
  /** The context directory (fingerprinted when the build qualified). */
  contextDir: string;
  /** Other files the build reads by path: the store's image index, a Dockerfile given with -f. */
  files: string[];
}

/** A record begun before the build: finished (written) only if the build qualifies. */
export interface MemoRecording {
  start: MemoStart;
  file: string;
  sinceNs: bigint;
  /** Each file of `start.files` with its identity (null: absent) when the build began. */
  files: [string, string | null][];
}

/** What the build printed and wrote, and the other files it read (its cache records). */
export interface MemoResult {
  read: Iterable<string>;
  stdout: string;
  stderr: string;
  iidfile?: [string, string];
}

/** Changes this recent (before the build's start) make a file too fresh to trust its times. */
export const RACY_MS = 1000;

/** The environment variables every build reads, besides `--build-arg NAME` values. */
export const MEMO_ENV = ['SOURCE_DATE_EPOCH', 'TSBUILD_ROOT', 'XDG_DATA_HOME', 'HOME'] as const;

/**
 * Begins a record: notes the time and identifies the files now, before the build reads them.
 * Undefined when nothing can be recorded (a file too fresh or unreadable, no cache directory).
 */
export function startMemo(start: MemoStart, env: NodeJS.ProcessEnv = process.env): MemoRecording | undefined {
  try {
    const file = memoFile(env, process.cwd(), start.args);
    if (!file) return undefined;
    const sinceNs = BigInt(Date.now() - RACY_MS) * 1_000_000n;
    const files = start.files.map((f) => [resolve(f), settledIdentity(resolve(f), sinceNs)] as [string, string | null]);
    return { start, file, sinceNs, files };
  } catch {
    return undefined;
  }
}

/**
 * Writes the record of a build that qualified. Nothing is written when a file noted at the start
 * changed during the build (the build's own tag, another process), or anything read is fresh.
 * Best-effort: a failure only means no record.
 */
export function finishMemo(rec: MemoRecording, result: MemoResult): void {
  let tmp: string | undefined;
  try {
    for (const [path, id] of rec.files) if (fileIdentity(path) !== id) return;
    // the context, fingerprinted now that the build qualified: nothing in it changed since
    // RACY_MS before the build began (else it is not recorded), so this is what the build read
    const root = resolve(rec.start.contextDir);
    const dirs = contextLines(root, rec.sinceNs);
    const rootId = fileIdentity(root);
    if (dirs === undefined || rootId === null) return;
    const read = [...result.read].map((f) => [f, settledIdentity(f, rec.sinceNs)] as [string, string | null]);
    const { bundleId, args, env, stderrNotTty } = rec.start;
    // the user too: the default store is per user (root's is /var/lib/tsbuild), whatever HOME says
    const fields: [string, string][] = [['B', bundleId], ['P', String(process.getuid?.() ?? -1)], ['C', process.cwd()], ...args.map((a) => ['A', a] as [string, string])];
    for (const [k, v] of Object.entries(env)) fields.push(v === null ? ['U', k] : ['E', `${k}\0${v}`]);
    if (stderrNotTty) fields.push(['T', '']);
    for (const [path, id] of [...rec.files, ...read]) fields.push(id === null ? ['N', path] : ['F', `${path}\0${id}`]);
    fields.push(['R', `${root}\0${rootId}`], ...dirs.map((d) => ['D', d] as [string, string]));
    if (result.iidfile) fields.push(['I', `${resolve(result.iidfile[0])}\0${result.iidfile[1]}`]);
    fields.push(['O', result.stdout], ['X', result.stderr], ['Z', '']);
    const body = Buffer.concat([
      Buffer.from('tsbuild-memo 2\n'),
      ...fields.flatMap(([tag, v]) => {
        const bytes = Buffer.from(v);
        return [Buffer.from(`${tag} ${bytes.length}\n`), bytes, Buffer.from('\n')];
      }),
    ]);
    mkdirSync(dirname(rec.file), { recursive: true, mode: 0o700 });
    tmp = `${rec.file}.${process.pid}.tmp`;
    writeFileSync(tmp, body, { mode: 0o600 });
    renameSync(tmp, rec.file);
    tmp = undefined;
    pruneOldMemos(dirname(rec.file));
  } catch {
    // no record this time
  } finally {
    if (tmp) try { unlinkSync(tmp); } catch {}
  }
}

/** A file's identity: device, inode, size, times and mode (any rewrite, rename or touch changes
 *  it), as native/build-memo.c formats it; null if absent. */
export function fileIdentity(path: string): string | null {
  const st = statOrNull(path);
  return st && identityOf(st);
}

/**
 * The id in a bundle's first line (`//tsbuild-bundle <sha256>`, scripts/bundle.mjs), if FILE is one;
 * for the build-only bundle, the id of the whole bundle it was made with (its second line,
 * `//tsbuild-main <sha256>`; bin/tsbuild.js runs it only beside that one): records name the whole
 * bundle, the one bin/tsbuild's front reads.
 */
export function bundleIdOf(file: string): string | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(file, 'r');
    const head = Buffer.alloc(82 + 80);
    const n = readSync(fd, head, 0, head.length, 0);
    const m = /^\/\/tsbuild-bundle ([0-9a-f]{64})\n(?:\/\/tsbuild-main ([0-9a-f]{64})\n)?/.exec(head.toString('latin1', 0, n));
    return m?.[2] ?? m?.[1];
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

// ---------------------------------------------------------------------------------------------

/** fileIdentity, refusing (throwing) a file changed at or after `sinceNs`; one stat. */
function settledIdentity(path: string, sinceNs: bigint): string | null {
  const st = statOrNull(path);
  if (st && (st.mtimeNs >= sinceNs || st.ctimeNs >= sinceNs)) throw new Error(`${path} changed too recently to be trusted by its times`);
  return st && identityOf(st);
}

function statOrNull(path: string): BigIntStats | null {
  try {
    return statSync(path, { bigint: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return null;
    throw e;
  }
}

function identityOf(st: BigIntStats): string {
  return `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}:${st.mode}`;
}

/** `<cache>/tsbuild/build-memo/<FNV-1a of cwd and arguments>.rec`; undefined without a cache directory. */
function memoFile(env: NodeJS.ProcessEnv, cwd: string, args: readonly string[]): string | undefined {
  const base = env.XDG_CACHE_HOME || (env.HOME ? join(env.HOME, '.cache') : undefined);
  if (!base) return undefined;
  // not an identity: the record holds the whole command line and is checked against it
  return join(base, 'tsbuild', 'build-memo', `${fnv64(Buffer.from([cwd, ...args].join('\0')))}.rec`);
}

/**
 * Each directory of the tree at ROOT as "REL\0LANE0\0LANE1\0COUNT" (statDirKey's lanes and entry
 * count; REL "" for the root). Undefined when an entry changed at or after `freshAfterNs`.
 */
function contextLines(root: string, freshAfterNs: bigint): string[] | undefined {
  const { statDirKey } = fsx();
  const lines: string[] = [];
  const walk = (dir: string, rel: string): boolean => {
    const { key, subdirs } = statDirKey(dir);
    if (key[2]! >= freshAfterNs) return false;
    lines.push(`${rel}\0${key[0]}\0${key[1]}\0${key[3]}`);
    // plain concatenation: path.join's normalising was a tenth of the walk
    for (const s of subdirs) if (!walk(`${dir}/${s}`, rel ? `${rel}/${s}` : s)) return false;
    return true;
  };
  return walk(root, '') ? lines : undefined;
}

/** 64-bit FNV-1a as 16 hex digits (native/build-memo.c computes the same). */
function fnv64(bytes: Buffer): string {
  let h = 0xcbf29ce484222325n;
  for (const b of bytes) h = BigInt.asUintN(64, (h ^ BigInt(b)) * 0x100000001b3n);
  return h.toString(16).padStart(16, '0');
}

/** Records untouched for a week go (a leftover .tmp after a day). */
function pruneOldMemos(dir: string): void {
  const now = Date.now();
  for (const name of readdirSync(dir)) {
    try {
      const p = join(dir, name);
      if (now - statSync(p).mtimeMs > (name.endsWith('.tmp') ? 86_400_000 : 7 * 86_400_000)) unlinkSync(p);
    } catch {}
  }
}
