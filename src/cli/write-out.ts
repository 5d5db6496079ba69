/**
 * Output written straight to fd 1, for the short commands whose whole output is one string (`ps`):
 * `process.stdout` is a stream whose first use sets up node:net (a pipe), node:tty or the stream
 * modules (a file), a few ms of such a command's start. A reader that went away (`ps | head -0`)
 * ends the output quietly (Docker's CLI dies of SIGPIPE there, silently; the stream threw EPIPE).
 */
import { writeSync } from 'node:fs';

export function writeOut(text: string): void {
  const buf = Buffer.from(text);
  for (let off = 0; off < buf.length; ) {
    try {
      off += writeSync(1, buf, off, buf.length - off);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EPIPE') return;
      // fd 1 left non-blocking by whoever shares it: wait until it drains
      if (code !== 'EAGAIN') throw e;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
    }
  }
}
