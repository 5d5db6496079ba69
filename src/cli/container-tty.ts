/**
 * The terminal side of `run -t` (foreground): the container's pty is the monitor's (native/sandbox.c
 * make_console); here our terminal goes raw, our window size is the pty's first one and every
 * SIGWINCH sends `resize ROWS COLS` to the monitor's ctl FIFO, and the detach keys (Docker's default
 * ctrl-p ctrl-q; `--detach-keys`, "" disables) end the session with the container still running.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, openSync, writeSync, constants as fsc } from 'node:fs';
import { PassThrough, type Readable } from 'node:stream';
import { TsbuildError } from '../errors.js';

/** Docker's --detach-keys: comma-separated `ctrl-X` or single characters. */
export function parseDetachKeys(spec: string | undefined): number[] {
  if (spec === undefined) return [0x10, 0x11];
  if (spec === '') return [];
  return spec.split(',').map((k) => {
    const m = /^ctrl-(.)$/i.exec(k);
    if (m) {
      const c = m[1]!.toUpperCase().charCodeAt(0);
      if (c >= 0x40 && c <= 0x5f) return c & 0x1f;
    } else if (k.length === 1) return k.charCodeAt(0);
    throw new TsbuildError('USAGE', `Unknown character: '${k}'`, undefined, 125);
  });
}

export interface TerminalSession {
  /** The first window size (our terminal's, else 24x80). */
  size: { rows: number; cols: number };
  /** What to feed the container (with -i): our input less the detach keys. */
  input?: Readable;
  /** Resolves when the detach keys were typed. */
  detached: Promise<void>;
  /** Starts following the window size (once the monitor's ctl exists). */
  follow(ctlPath: string): void;
  /** Our terminal as it was. */
  restore(): void;
}

export function terminalSession(interactive: boolean, detachKeys: number[]): TerminalSession {
  const out = process.stdout;
  const size = out.isTTY && out.rows && out.columns ? { rows: out.rows, cols: out.columns } : { rows: 24, cols: 80 };
  let onDetach!: () => void;
  const detached = new Promise<void>((r) => (onDetach = r));
  const raw = interactive && process.stdin.isTTY === true;
  if (raw) process.stdin.setRawMode(true);
  // the pty already turned \n into \r\n: our terminal's output processing goes off, as Docker's raw
  // terminal (libuv's raw mode keeps it on)
  const opost = out.isTTY === true && spawnSync('stty', ['-opost'], { stdio: [1, 'ignore', 'ignore'] }).status === 0;
  let input: PassThrough | undefined;
  if (interactive) {
    input = new PassThrough();
    let matched = 0; // how many detach keys in a row were typed (held back until it is decided)
    process.stdin.on('data', (chunk: Buffer) => {
      const pass: number[] = []; // terminal input comes in small pieces
      for (const b of chunk) {
        if (detachKeys.length && b === detachKeys[matched]) {
          if (++matched === detachKeys.length) {
            if (pass.length) input!.write(Buffer.from(pass));
            return onDetach();
          }
          continue;
        }
        // not the sequence after all: what was held back goes through
        if (matched) pass.push(...detachKeys.slice(0, matched));
        matched = 0;
        if (detachKeys.length && b === detachKeys[0]) matched = 1;
        else pass.push(b);
      }
      if (pass.length) input!.write(Buffer.from(pass));
    });
    process.stdin.on('end', () => input!.end());
  }
  let ctl: string | undefined;
  const resize = () => {
    if (!ctl || !out.isTTY) return;
    try {
      const fd = openSync(ctl, fsc.O_WRONLY | fsc.O_NONBLOCK);
      try {
        writeSync(fd, `resize ${out.rows} ${out.columns}\n`);
      } finally {
        closeSync(fd);
      }
    } catch {
      /* the container is gone */
    }
  };
  return {
    size,
    ...(input ? { input } : {}),
    detached,
    follow(path: string) {
      ctl = path;
      process.on('SIGWINCH', resize);
    },
    restore() {
      process.off('SIGWINCH', resize);
      if (raw) process.stdin.setRawMode(false);
      if (opost) spawnSync('stty', ['opost'], { stdio: [1, 'ignore', 'ignore'] });
      if (interactive) process.stdin.pause();
    },
  };
}
