/**
 * A cross-process mutex on one store resource. Node has no flock(2), so a lock is a file created
 * with O_EXCL holding the owner's PID. Why a file and not mkdir: the PID inside lets a waiter tell
 * a crashed holder (dead PID: the lock is stale and is broken) from a slow one, so a process
 * killed at any instant never wedges the store. Breaking is race-free: the stale file is renamed
 * to a unique name (only one breaker wins the rename), and if what was moved turns out not to be
 * the stale lock we saw, it is linked back (link fails if someone else already holds it anew).
 * Locks are held for milliseconds (an index update), so waiting polls with a short backoff.
 */
import { openSync, writeSync, closeSync, readFileSync, renameSync, linkSync, unlinkSync, statSync, constants } from 'node:fs';
import { TsbuildError } from '../errors.js';
import { randomHex } from './digest.js';

export interface LockOptions {
  /** Give up after this long (default 120 s) with a CONFLICT error. */
  timeoutMs?: number;
}

/** Runs `fn` holding the lock at `path`; the lock is released however `fn` ends. */
export async function withLock<T>(path: string, fn: () => Promise<T> | T, opts: LockOptions = {}): Promise<T> {
  const release = await acquire(path, opts);
  try {
    return await fn();
  } finally {
    release();
  }
}

export async function acquire(path: string, opts: LockOptions = {}): Promise<() => void> {
  const deadline = Date.now() + (opts.timeoutMs ?? 120_000);
  let delay = 1;
  for (;;) {
    if (tryCreate(path)) {
      return () => {
        try {
          unlinkSync(path);
        } catch {
          /* already broken by someone who thought we were dead: nothing to undo */
        }
      };
    }
    breakIfStale(path);
    if (Date.now() > deadline) {
      throw new TsbuildError('CONFLICT', `timed out waiting for the store lock ${path} (held by PID ${readPid(path) ?? '?'})`);
    }
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 50);
  }
}

function tryCreate(path: string): boolean {
  let fd: number;
  try {
    fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o644);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
  try {
    writeSync(fd, `${process.pid}\n`);
  } finally {
    closeSync(fd);
  }
  return true;
}

function readPid(path: string): number | undefined {
  try {
    const n = Number.parseInt(readFileSync(path, 'utf8'), 10);
    return Number.isFinite(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

export function pidAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function breakIfStale(path: string): void {
  const pid = readPid(path);
  if (pid === undefined) {
    // An empty file is a holder between O_EXCL create and write, or one killed right there.
    if (!olderThan(path, 10_000)) return;
  } else if (pidAlive(pid)) return;
  const moved = `${path}.stale.${randomHex(6)}`;
  try {
    renameSync(path, moved);
  } catch {
    return; // someone else broke it first
  }
  if (readPid(moved) !== pid) {
    // We moved a fresh lock taken after our read: put it back unless a newer one exists.
    try {
      linkSync(moved, path);
    } catch {
      /* a newer holder exists; the one we moved lost its file, but it is about to release anyway */
    }
  }
  try {
    unlinkSync(moved);
  } catch {
    /* ignore */
  }
}

function olderThan(path: string, ms: number): boolean {
  try {
    return Date.now() - statSync(path).mtimeMs > ms;
  } catch {
    return false;
  }
}
