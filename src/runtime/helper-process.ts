/**
 * The sandbox helper as a child process without a fork of Node: started by posix_spawn (native
 * fsx.spawnPiped: clone(CLONE_VM|CLONE_VFORK) under glibc), where child_process.spawn forks the
 * whole Node process — a copy of its page tables and a copy-on-write fault for each page it writes
 * afterwards: 10–15 ms of the main thread per RUN step here against ~2 ms. The same surface as the
 * ChildProcess sandbox.ts used: pid, the pipes as streams (stdio[i]), kill, and 'close' (code,
 * signal name) once the pipes it writes are closed and it is reaped (on the thread pool: it has
 * closed them by exiting, so the wait is short); 'error' when it cannot be started.
 * startHelper / attachHelper split the two: a helper can be started ahead of the work it will be
 * given (sandbox.ts's spare) and its pipes made streams only when that work comes.
 */
import { EventEmitter } from 'node:events';
import { closeSync } from 'node:fs';
import { Socket } from 'node:net';
import { constants } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import { fsx } from '../native/fsx.js';

export type PipeKind = 'null' | 'r' | 'w';

export interface HelperProcess extends EventEmitter {
  /** undefined when it could not be started ('error' follows). */
  readonly pid: number | undefined;
  /** Per child fd: our end of its pipe (a Writable for 'r', a Readable for 'w'), or undefined. */
  readonly stdio: (Readable | Writable | undefined)[];
  kill(signal: NodeJS.Signals): void;
  on(event: 'close', listener: (code: number | null, signal: NodeJS.Signals | null) => void): this;
  on(event: 'error', listener: (e: Error) => void): this;
}

interface WaitStatus {
  code: number | null;
  signal: number | null;
}

/** How many times (1 ms apart) an exited helper's zombie is looked for before the thread pool waits. */
const REAP_TRIES = 20;

/** A HelperProcess as it is being made. */
type HelperChild = EventEmitter & { pid: number | undefined; stdio: (Readable | Writable | undefined)[]; kill(s: NodeJS.Signals): void };

const signalNames = new Map(Object.entries(constants.signals).map(([name, n]) => [n as number, name as NodeJS.Signals]));

/** A helper that runs but whose pipes are not streams yet (startHelper): nothing of it keeps
 *  Node's event loop alive, so it can wait for its input (the spec) for as long as it must. */
export interface StartedHelper {
  readonly pid: number;
  /** Our end of each of its fds (-1 for 'null'), close-on-exec. */
  readonly fds: readonly number[];
  readonly kinds: readonly PipeKind[];
}

export interface HelperOptions {
  /** Run PATH from a sealed memfd copy (named argv0) that fsx makes once and keeps: it can be
   *  neither written nor replaced (CVE-2019-5736), and the sandbox helper, which finds itself
   *  running from one, does not copy and re-execute itself at every run. */
  sealed?: boolean;
}

/** Starts PATH with the pipes KINDS asks for; throws when it cannot be started. */
export function startHelper(path: string, argv0: string, kinds: readonly PipeKind[], opts: HelperOptions = {}): StartedHelper {
  const started = fsx().spawnPiped(path, argv0, kinds, opts.sealed === true);
  return { pid: started.pid, fds: started.fds, kinds: [...kinds] };
}

/** Ends a started helper that was never attached: SIGKILL (its PID is ours until reaped), our
 *  ends closed, reaped on the thread pool. */
export function discardHelper(h: StartedHelper): Promise<void> {
  try {
    process.kill(h.pid, 'SIGKILL');
  } catch {
    // exited already (a zombie until reaped below)
  }
  for (const fd of h.fds) if (fd >= 0) closeQuietly(fd);
  return fsx()
    .waitpid(h.pid)
    .then(
      () => undefined,
      () => undefined,
    );
}

export function spawnHelperProcess(path: string, argv0: string, kinds: readonly PipeKind[], opts: HelperOptions = {}): HelperProcess {
  let started: StartedHelper;
  try {
    started = startHelper(path, argv0, kinds, opts);
  } catch (e) {
    const child = new EventEmitter() as HelperChild;
    child.pid = undefined;
    child.stdio = kinds.map(() => undefined);
    child.kill = () => {};
    process.nextTick(() => child.emit('error', e));
    return child as HelperProcess;
  }
  return attachHelper(started);
}

/** The started helper as a HelperProcess: its pipes become streams; 'close' once it is reaped. */
export function attachHelper(started: StartedHelper): HelperProcess {
  const kinds = started.kinds;
  const child = new EventEmitter() as HelperChild;
  child.stdio = kinds.map(() => undefined);
  let reaped = false;
  child.kill = (sig) => {
    if (reaped) return; // (unreaped, its PID cannot be reused)
    try {
      process.kill(started.pid, sig);
    } catch {
      // exited already
    }
  };
  child.pid = started.pid;
  let open = 0;
  const reap = (r: WaitStatus) => {
    reaped = true;
    child.emit('close', r.code, r.signal === null ? null : (signalNames.get(r.signal) ?? null));
  };
  // It closed its pipes by exiting, but the kernel closes a process's files a moment before it
  // makes it a zombie: reaped here, tried again on a timer for a few ms, and only then waited for on
  // the thread pool (whose threads may all be in fsyncs).
  const tryReap = (tries: number) => {
    let now: WaitStatus | null;
    try {
      now = fsx().waitpid(started.pid, true);
    } catch (e) {
      child.emit('error', e);
      return;
    }
    if (now) reap(now);
    else if (tries > 0) setTimeout(() => tryReap(tries - 1), 1);
    else void fsx().waitpid(started.pid).then(reap, (e: unknown) => child.emit('error', e));
  };
  const closed = () => {
    if (--open > 0) return;
    tryReap(REAP_TRIES);
  };
  kinds.forEach((kind, i) => {
    if (kind === 'null') return;
    const s = new Socket({ fd: started.fds[i]!, readable: kind === 'w', writable: kind === 'r' });
    child.stdio[i] = s;
    if (kind === 'w') {
      open++;
      s.on('close', closed);
    }
  });
  if (open === 0) {
    open = 1;
    closed();
  }
  return child as HelperProcess;
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // closed already
  }
}
