/**
 * The sandbox helper as a child process without a fork of Node: started by posix_spawn (native
 * fsx.spawnPiped: clone(CLONE_VM|CLONE_VFORK) under glibc), where child_process.spawn forks the
 * whole Node process — a copy of its page tables and a copy-on-write fault for each page it writes
 * afterwards: 10–15 ms of the main thread per RUN step here against ~2 ms. The same surface as the
 * ChildProcess sandbox.ts used: pid, the pipes as streams (stdio[i]), kill, and 'close' (code,
 * signal name) once the pipes it writes are closed and it is reaped (on the thread pool: it has
 * closed them by exiting, so the wait is short); 'error' when it cannot be started.
 */
import { EventEmitter } from 'node:events';
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

const signalNames = new Map(Object.entries(constants.signals).map(([name, n]) => [n as number, name as NodeJS.Signals]));

export function spawnHelperProcess(path: string, argv0: string, kinds: readonly PipeKind[]): HelperProcess {
  const child = new EventEmitter() as EventEmitter & { pid: number | undefined; stdio: (Readable | Writable | undefined)[]; kill(s: NodeJS.Signals): void };
  child.stdio = kinds.map(() => undefined);
  let reaped = false;
  child.kill = (sig) => {
    if (child.pid === undefined || reaped) return; // (unreaped, its PID cannot be reused)
    try {
      process.kill(child.pid, sig);
    } catch {
      // exited already
    }
  };
  let started: { pid: number; fds: number[] };
  try {
    started = fsx().spawnPiped(path, argv0, kinds);
  } catch (e) {
    child.pid = undefined;
    process.nextTick(() => child.emit('error', e));
    return child as HelperProcess;
  }
  child.pid = started.pid;
  let open = 0;
  const closed = () => {
    if (--open > 0) return;
    void fsx()
      .waitpid(started.pid)
      .then(
        (r) => {
          reaped = true;
          child.emit('close', r.code, r.signal === null ? null : (signalNames.get(r.signal) ?? null));
        },
        (e: unknown) => child.emit('error', e),
      );
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
