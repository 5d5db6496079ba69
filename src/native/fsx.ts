/**
 * Typed access to native/build/fsx.node: mknod and xattrs on the link itself, the calls Node's fs
 * lacks and layers need (device nodes, overlay whiteouts and opaque dirs, security.capability).
 * The addon is compiled by `npm install` (native/Makefile).
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

export interface Fsx {
  /** mknod(2); `mode` includes the file type bits (fs.constants.S_IFCHR, ...). */
  mknod(path: string, mode: number, major: number, minor: number): void;
  lsetxattr(path: string, name: string, value: Buffer): void;
  /** The attribute's value, or null when the file has no such attribute. */
  lgetxattr(path: string, name: string): Buffer | null;
  llistxattr(path: string): string[];
  /** Removes an attribute; an absent one is not an error. */
  lremovexattr(path: string, name: string): void;
  /**
   * A directory's names (readdir order, no `.`/`..`) and the lstat of each: LSTAT_FIELDS values per
   * name in `stats`, indexed by the LstatField constants. Errors carry code `E<errno>`.
   */
  lstatDir(path: string): { names: string[]; stats: BigInt64Array };
  /**
   * A fingerprint of a directory's listing: `key` = [lane0, lane1, newest mtime/ctime in ns, entry
   * count]; the lanes change when any entry is added, removed, renamed or changes its lstat (dev,
   * ino, size, mtime, ctime, mode, uid, gid, nlink, rdev), whatever the readdir order. `subdirs`
   * names the entries that are directories. Errors carry code `E<errno>`. With `listing`, also the
   * listing itself, from the same lstat calls: `stats` as lstatDir's, and `names` as one buffer of
   * NUL-terminated names in the same order.
   */
  statDirKey(path: string): { key: BigInt64Array; subdirs: string[] };
  statDirKey(path: string, listing: true): { key: BigInt64Array; subdirs: string[]; names: Buffer; stats: BigInt64Array };
  /**
   * syncfs(2) of the filesystem holding `path`, on Node's thread pool: everything written to it
   * so far is on disk when the promise resolves. Errors (open: thrown; syncfs: the rejection)
   * carry code `E<errno>`.
   */
  syncfs(path: string): Promise<void>;
  /**
   * posix_spawn(3) of `path` (argv `[argv0]`, an empty environment, signals at their defaults and
   * unblocked): no fork of the Node process. For child fd i, `kinds[i]`: 'null' (/dev/null,
   * read-only on fd 0, write-only on the others), 'r' (a pipe the child reads; `fds[i]` is our
   * write end) or 'w' (one it writes; our read end); -1 for 'null'. Our ends are close-on-exec.
   * The child must be reaped with `waitpid`. `sealed`: what runs is a sealed memfd copy of `path`
   * named `argv0`, made once and kept while `path` names the same unchanged file (a script runs
   * from its path): it can be neither written nor replaced (CVE-2019-5736).
   */
  spawnPiped(path: string, argv0: string, kinds: readonly ('null' | 'r' | 'w')[], sealed?: boolean): { pid: number; fds: number[] };
  /** Waits for the child `pid` on the thread pool and reaps it: its exit code, or the signal
   *  number that ended it (the other null). */
  waitpid(pid: number): Promise<{ code: number | null; signal: number | null }>;
  /** `now`: reaps `pid` on this thread if it has exited (WNOHANG), else null. */
  waitpid(pid: number, now: true): { code: number | null; signal: number | null } | null;
  /** A queue of filesystem calls run in order on a thread of its own (see fs-ops.ts). */
  opQueue(): OpQueueHandle;
  opPush(q: OpQueueHandle, kind: number, a: string, b: string, n1: number, n2: number, soft: boolean): void;
  /** Waits for what was pushed; the new paths of soft links that failed; throws a hard failure. */
  opDrain(q: OpQueueHandle): string[];
  opClose(q: OpQueueHandle): void;
  /** Queues a new file (O_EXCL) with a copy of `bytes`, then its owner (uid -1: none), mode and mtime. */
  opFile(q: OpQueueHandle, path: string, bytes: Buffer, mode: number, uid: number, gid: number, mtime: number): void;
  /**
   * SHA-256 through the OpenSSL in the node binary (native/sha256.c), without loading node:crypto
   * (11-23 ms of a build's main thread). `data`: bytes, or a string hashed as its UTF-8 bytes as
   * Node's hash.update(string) does. Anything else is a TypeError. Use src/image/digest.ts.
   */
  sha256Hex(data: HashInput): string;
  /** An incremental SHA-256; sha256DigestHex gives the digest and resets it for a new hash. */
  sha256New(): Sha256Handle;
  sha256Update(h: Sha256Handle, data: HashInput): void;
  sha256DigestHex(h: Sha256Handle): string;
  /** Fills `view` from getrandom(2). */
  randomFill(view: NodeJS.ArrayBufferView): void;
}

/** What the native SHA-256 hashes: bytes (not copied), or a string as UTF-8. */
export type HashInput = string | NodeJS.ArrayBufferView;

/** An opaque native SHA-256 context (fsx.sha256New). */
export type Sha256Handle = { readonly __sha256: unique symbol };

/** An opaque native op queue (fsx.opQueue). */
export type OpQueueHandle = { readonly __opQueue: unique symbol };

/** Offsets of one entry's fields in lstatDir's `stats` (as native/fsx.c writes them). */
export const LstatField = { dev: 0, ino: 1, size: 2, mtimeNs: 3, ctimeNs: 4, mode: 5, uid: 6, gid: 7, nlink: 8, rdev: 9 } as const;
export const LSTAT_FIELDS = 10;

let loaded: Fsx | undefined;

/** The addon, loaded on first use (commands that never touch layers do not pay for it). */
export function fsx(): Fsx {
  if (!loaded) {
    // src/native/ and dist/native/ are both two levels below the project root
    const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
    const require = createRequire(import.meta.url);
    try {
      loaded = require(join(root, 'native', 'build', 'fsx.node')) as Fsx;
    } catch (e) {
      throw new Error(
        `native addon native/build/fsx.node is missing or broken (run npm install): ${(e as Error).message}`,
      );
    }
  }
  return loaded;
}
