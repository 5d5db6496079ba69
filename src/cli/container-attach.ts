/**
 * `tsbuild attach CONTAINER`: the running container's output (stdout/stderr kept apart) through the
 * monitor's attach socket (native/sandbox.c attach_socket), and, for a container with a terminal
 * (-t), our input with the detach keys and window size (raw mode, as `run -it`), or for one started
 * with -i (and no -t), our input to its stdin, kept open after we leave. Ends when the
 * container does, with its exit code, or on the detach keys (exit 0, the container runs on).
 * Docker's words for a stopped container: "You cannot attach to a stopped container, start it first".
 */
import { connect } from 'node:net';
import { join } from 'node:path';
import { TsbuildError } from '../errors.js';
import type { Containers } from '../containers/containers.js';
import { runDir } from '../containers/record.js';
import { parseDetachKeys, terminalSession } from './container-tty.js';

export interface AttachFlags {
  noStdin?: boolean;
  detachKeys?: string;
}

export async function attachContainer(c: Containers, word: string, flags: AttachFlags): Promise<number> {
  const v = await c.find(word);
  if (!v.state.Running) throw new TsbuildError('CONFLICT', 'You cannot attach to a stopped container, start it first', undefined, 1);
  const id = v.record.Id;
  const rd = runDir(c.paths, id);
  const tty = v.record.Config.Tty === true;
  const sock = connect(join(rd, 'attach'));
  await new Promise<void>((resolve, reject) => {
    sock.once('connect', resolve);
    sock.once('error', (e) => reject(new TsbuildError('RUNTIME', `cannot attach to ${id}: ${(e as NodeJS.ErrnoException).code ?? e.message}`, undefined, 1)));
  });
  const term = tty ? terminalSession(!flags.noStdin, parseDetachKeys(flags.detachKeys)) : undefined;
  if (term) {
    term.follow(join(rd, 'ctl'));
    term.input?.on('data', (d: Buffer) => sock.write(d));
    process.kill(process.pid, 'SIGWINCH'); // our window size now, not the one the container started with
  }
  else if (v.record.Config.OpenStdin && !flags.noStdin) {
    // -di: our input goes to the command's stdin, which stays open after we leave
    process.stdin.on('data', (d: Buffer) => sock.write(d));
  }
  let pending: Buffer = Buffer.alloc(0);
  sock.on('data', (d: Buffer) => {
    pending = pending.length ? Buffer.concat([pending, d]) : d;
    while (pending.length >= 5) {
      const len = pending.readUInt32BE(1);
      if (pending.length < 5 + len) break;
      (pending[0] === 2 ? process.stderr : process.stdout).write(pending.subarray(5, 5 + len));
      pending = pending.subarray(5 + len);
    }
  });
  try {
    const detached = await Promise.race([
      new Promise<boolean>((r) => sock.on('close', () => r(false))),
      ...(term ? [term.detached.then(() => true)] : []),
    ]);
    if (detached) {
      sock.destroy();
      return 0;
    }
    return await c.wait(id);
  } finally {
    term?.restore();
    sock.destroy();
    process.stdin.pause();
  }
}
