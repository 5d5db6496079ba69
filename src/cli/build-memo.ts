/**
 * The whole-build memo: a `tsbuild build` command line that repeats a fully cached build is
 * answered from a record of that build, before the builder is even loaded. BuildKit answers a
 * no-op rebuild from its daemon's memory; a daemonless tool starts a process each time, and Node's
 * start plus the builder's load were most of such a rebuild. Docker's behaviour is unchanged: the
 * same image ID, the same output bytes, the same files (`--iidfile`), exit 0.
 *
 * A record is written only after a build that ran no step (every step cached, nothing pulled,
 * nothing downloaded), only for the modes whose output does not depend on time (quiet, plain),
 * and only when the command line reads nothing that could change unseen (no --pull, --no-cache,
 * secrets, remote caches, exports, ADD of a URL, ...). It is used only while everything that build
 * read is as it was when the build started:
 * - the tsbuild bundle (its id), the working directory, the arguments, the environment variables
 *   the build reads (SOURCE_DATE_EPOCH, the store's location, `--build-arg NAME` values);
 * - every file and directory of the build context, by lstat (device, inode, size, mtime, ctime,
 *   mode, owner, links) through the native per-directory fingerprint (fsx.statDirKey); a tree with
 *   anything changed within RACY_MS before the build started is not recorded (a later write in the
 *   same clock tick could keep its times);
 * - a Dockerfile outside the context, the store's image index (replaced atomically on every change:
 *   any tag, build, rmi or prune elsewhere in the store sends the next build the full way), and each
 *   build cache record the build looked up (present or absent, same inode and times).
 * Anything missing, unreadable or different: the full build runs, as if there were no record.
 * Records live in the user's cache directory beside the code caches, one per command line.
 */
import { closeSync, fstatSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, renameSync, statSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fsx } from '../native/fsx.js';

/** What a recorded build printed and wrote, and what it read. */
export interface BuildMemo {
  v: typeof VERSION;
  bundleId: string;
  cwd: string;
  args: string[];
  /** Environment variables the build read: name → value (null: unset). */
  env: Record<string, string | null>;
  /** The build chose plain progress because stderr was not a terminal: it must still not be one. */
  stderrNotTty: boolean;
  /** Files the build read: path and identity (see fileIdentity), or null for an absent one. */
  files: [string, string | null][];
  /** Directories the build read whole: path and fingerprint (see treeFingerprint). */
  trees: [string, string][];
  imageId: string;
  stdout: string;
  stderr: string;
  /** `--iidfile`: where and what. */
  iidfile?: [string, string];
}

/** What the CLI knows before the build starts. */
export interface MemoStart {
  bundleId: string;
  args: string[];
  env: Record<string, string | null>;
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
  files: [string, string | null][];
}

/** Changes this recent (before the build's start) make a file too fresh to trust its times. */
export const RACY_MS = 1000;
const VERSION = 1;

/**
 * Answers a build command line from its record: writes the recorded output (and --iidfile) and
 * returns the exit code, or returns undefined (nothing written) when there is no usable record.
 * Never throws. `bundleId` is the id of the bundle that would otherwise run the build.
 */
export function answerFromMemo(argv: readonly string[], bundleId: string, env: NodeJS.ProcessEnv = process.env): number | undefined {
  try {
    const file = memoFile(env, process.cwd(), argv.slice(2));
    if (!file) return undefined;
    const memo = JSON.parse(readFileSync(file, 'utf8')) as BuildMemo;
    if (!memoMatches(memo, bundleId, argv.slice(2), env)) return undefined;
    if (memo.iidfile) writeFileSync(memo.iidfile[0], memo.iidfile[1]);
    // written straight to the descriptors: process.stdout would set up Node's streams (~10 ms)
    writeAll(1, memo.stdout);
    writeAll(2, memo.stderr);
    return 0;
  } catch {
    return undefined;
  }
}

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
 * Writes the record of a build that qualified: `read` names the other files it read (its cache
 * records). Nothing is written when a file begun with changed during the build (the build's own
 * tag, another process) or a file read is fresh. Best-effort: a failure only means no record.
 */
export function finishMemo(rec: MemoRecording, result: { read: Iterable<string>; imageId: string; stdout: string; stderr: string; iidfile?: [string, string] }): void {
  let tmp: string | undefined;
  try {
    for (const [path, id] of rec.files) if (fileIdentity(path) !== id) return;
    // the context, fingerprinted now that the build qualified: nothing in it changed since
    // RACY_MS before the build began (else it is not recorded), so this is what the build read
    const tree = treeFingerprint(rec.start.contextDir, { freshAfterNs: rec.sinceNs });
    if (tree === undefined) return;
    const files = [...rec.files];
    for (const f of result.read) files.push([f, settledIdentity(f, rec.sinceNs)]);
    const { bundleId, args, env, stderrNotTty } = rec.start;
    const memo: BuildMemo = {
      v: VERSION, bundleId, cwd: process.cwd(), args, env, stderrNotTty, files, trees: [[resolve(rec.start.contextDir), tree]],
      imageId: result.imageId, stdout: result.stdout, stderr: result.stderr,
      ...(result.iidfile ? { iidfile: [resolve(result.iidfile[0]), result.iidfile[1]] as [string, string] } : {}),
    };
    mkdirSync(dirname(rec.file), { recursive: true, mode: 0o700 });
    tmp = `${rec.file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(memo), { mode: 0o600 });
    renameSync(tmp, rec.file);
    tmp = undefined;
    pruneOldMemos(dirname(rec.file));
  } catch {
    // no record this time
  } finally {
    if (tmp) try { unlinkSync(tmp); } catch {}
  }
}

/** The environment variables every build reads, besides `--build-arg NAME` values. */
export const MEMO_ENV = ['SOURCE_DATE_EPOCH', 'TSBUILD_ROOT', 'XDG_DATA_HOME', 'HOME'] as const;

/** A file's identity: inode, size and times (any rewrite, rename or touch changes it); null if absent. */
export function fileIdentity(path: string): string | null {
  try {
    const st = statSync(path, { bigint: true });
    return `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}:${st.mode}`;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return null;
    throw e;
  }
}

/** fileIdentity, refusing (throwing) a file changed at or after `sinceNs`. */
function settledIdentity(path: string, sinceNs: bigint): string | null {
  const id = fileIdentity(path);
  if (id !== null) {
    const st = statSync(path, { bigint: true });
    if (st.mtimeNs >= sinceNs || st.ctimeNs >= sinceNs) throw new Error(`${path} changed too recently to be trusted by its times`);
  }
  return id;
}

/** The id in a bundle's first line (`//tsbuild-bundle <sha256>`, scripts/bundle.mjs), if FILE is one. */
export function bundleIdOf(file: string): string | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(file, 'r');
    const head = Buffer.alloc(82);
    const n = readSync(fd, head, 0, head.length, 0);
    return /^\/\/tsbuild-bundle ([0-9a-f]{64})\n/.exec(head.toString('latin1', 0, n))?.[1];
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

// ---------------------------------------------------------------------------------------------

function memoMatches(memo: BuildMemo, bundleId: string, args: readonly string[], env: NodeJS.ProcessEnv): boolean {
  if (memo.v !== VERSION || memo.bundleId !== bundleId || memo.cwd !== process.cwd()) return false;
  if (memo.args.length !== args.length || memo.args.some((a, i) => a !== args[i])) return false;
  for (const [k, v] of Object.entries(memo.env)) if ((env[k] ?? null) !== v) return false;
  if (memo.stderrNotTty && mayBeTerminal(2)) return false;
  for (const [path, id] of memo.files) if (fileIdentity(path) !== id) return false;
  for (const [dir, key] of memo.trees) if (treeFingerprint(dir, { expect: key }) === undefined) return false;
  return true;
}

/** `<cache>/tsbuild/build-memo/<hash of cwd and arguments>.json`; undefined without a cache directory. */
function memoFile(env: NodeJS.ProcessEnv, cwd: string, args: readonly string[]): string | undefined {
  const base = env.XDG_CACHE_HOME || (env.HOME ? join(env.HOME, '.cache') : undefined);
  if (!base) return undefined;
  // not a digest: the record holds the whole command line and is compared with it
  return join(base, 'tsbuild', 'build-memo', `${fnv64([cwd, ...args].join('\0'))}.json`);
}

/**
 * A tree's fingerprint: the root's identity, then each directory's statDirKey lanes and entry
 * count by relative path, in a fixed order. Undefined when `freshAfterNs` is given and an entry
 * changed at or after it, or as soon as a line differs from `expect`'s (a record's check stops at
 * the first changed directory).
 */
function treeFingerprint(root: string, opts: { freshAfterNs?: bigint; expect?: string } = {}): string | undefined {
  const { statDirKey } = fsx();
  const self = fileIdentity(root);
  if (self === null) return undefined;
  const lines = [self];
  const expected = opts.expect?.split('\n');
  if (expected && expected[0] !== self) return undefined;
  const walk = (dir: string, rel: string): boolean => {
    const { key, subdirs } = statDirKey(dir);
    if (opts.freshAfterNs !== undefined && key[2]! >= opts.freshAfterNs) return false;
    const line = `${rel}\0${key[0]}\0${key[1]}\0${key[3]}`;
    if (expected && expected[lines.length] !== line) return false;
    lines.push(line);
    subdirs.sort();
    // plain concatenation: path.join's normalising was a tenth of the walk
    for (const s of subdirs) if (!walk(`${dir}/${s}`, rel ? `${rel}/${s}` : s)) return false;
    return true;
  };
  if (!walk(resolve(root), '')) return undefined;
  if (expected && expected.length !== lines.length) return undefined;
  return lines.join('\n');
}

/** Writes all of TEXT to FD, waiting out a non-blocking descriptor's EAGAIN. */
function writeAll(fd: number, text: string): void {
  const buf = Buffer.from(text);
  for (let off = 0; off < buf.length; ) {
    try {
      off += writeSync(fd, buf, off);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
    }
  }
}

/** False for a pipe, a file, a socket or /dev/null; true for any other character device. */
function mayBeTerminal(fd: number): boolean {
  const st = fstatSync(fd);
  return st.isCharacterDevice() && st.rdev !== statSync('/dev/null').rdev;
}

/** 64-bit FNV-1a as 16 hex digits (a file name, not an identity). */
function fnv64(s: string): string {
  let h = 0xcbf29ce484222325n;
  for (let i = 0; i < s.length; i++) h = BigInt.asUintN(64, (h ^ BigInt(s.charCodeAt(i))) * 0x100000001b3n);
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
