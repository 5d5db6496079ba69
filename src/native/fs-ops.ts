/**
 * Filesystem calls run in order on a thread of their own (native/fsx.c's op queue) while the
 * caller goes on: what a snapshot writer does per entry (mkdir, link, symlink, lchown, chmod,
 * utimes) need not hold up the layer's tar encoding and hashing on the main thread. Ops run in
 * the order pushed, so a dir's mkdir precedes what is made in it; anything the caller does itself
 * in that tree (opening a file in a queued dir, reading a queued link) must drain() first.
 * A failure stops the queue (later ops are skipped: they may depend on it) and is thrown by the
 * next drain(), as Node's fs words it ("link SRC: No such file or directory", code E<errno>);
 * a `soft` link that fails is only reported, by drain(), so the caller can write the file instead.
 */
import { fsx, type Fsx, type OpQueueHandle } from './fsx.js';

const MKDIR = 1, LINK = 2, SYMLINK = 3, LCHOWN = 4, CHMOD = 5, UTIMES = 6;

export class FsOps {
  private readonly x: Fsx = fsx();
  private readonly q: OpQueueHandle = this.x.opQueue();
  private pending = 0;
  private closed = false;

  mkdir(path: string, mode: number): void {
    this.push(MKDIR, path, '', mode, 0);
  }
  /** A hard link `path` to `existing`; `soft`: a failure is reported by drain(), not thrown. */
  link(existing: string, path: string, soft = false): void {
    this.push(LINK, existing, path, 0, 0, soft);
  }
  symlink(target: string, path: string): void {
    this.push(SYMLINK, target, path, 0, 0);
  }
  lchown(path: string, uid: number, gid: number): void {
    this.push(LCHOWN, path, '', uid, gid);
  }
  chmod(path: string, mode: number): void {
    this.push(CHMOD, path, '', mode, 0);
  }
  /** atime and mtime to `seconds` (whole), on the link itself. */
  lutimes(path: string, seconds: number): void {
    this.push(UTIMES, path, '', seconds, 0);
  }

  /** A new file (it must not exist) with a copy of `bytes`, then its owner (unless `owner` is
   *  undefined), mode and mtime (whole seconds). */
  file(path: string, bytes: Buffer, mode: number, owner: { uid: number; gid: number } | undefined, mtime: number): void {
    this.pending++;
    this.x.opFile(this.q, path, bytes, mode, owner?.uid ?? -1, owner?.gid ?? -1, mtime);
  }

  /** Waits until every op pushed so far ran; the paths of soft links that could not be made. */
  drain(): string[] {
    if (this.pending === 0) return [];
    const failed = this.x.opDrain(this.q); // (a throw leaves `pending`: the next drain throws too)
    this.pending = 0;
    return failed;
  }

  /** Runs what is queued and ends the thread; errors are dropped (for failure paths: the caller
   *  removes the tree). Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.x.opClose(this.q);
  }

  private push(kind: number, a: string, b: string, n1: number, n2: number, soft = false): void {
    this.pending++;
    this.x.opPush(this.q, kind, a, b, n1, n2, soft);
  }
}
