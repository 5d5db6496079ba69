/**
 * A process's output cut into lines for the progress views and a failed step's tail, in bounded
 * memory and linear time whatever the step prints (a RUN may write gigabytes without a newline).
 * Docker's log copier reads with a 16 KiB buffer and hands a longer line on in 16 KiB pieces; so
 * does this: every line is at most LOG_LINE_MAX bytes, nothing is dropped, and no byte is copied
 * more than a bounded number of times. Cuts fall on UTF-8 character boundaries.
 *
 * With a redactor, secret values are replaced before anything leaves: the unfinished line keeps
 * enough bytes back that a secret can never straddle a 16 KiB cut unseen.
 */

/** The longest line handed on, in bytes (Docker's log copier buffer). */
export const LOG_LINE_MAX = 16 * 1024;

/** Replaces known secret values in a line; `hold` is the longest value's length minus one. */
export interface Redactor {
  readonly hold: number;
  redact(line: Buffer): Buffer;
}

export class LineSplitter {
  private parts: Buffer[] = [];
  private size = 0;
  private readonly hold: number;
  /** When the unfinished line reaches this size, its head is handed on. */
  private readonly threshold: number;

  /** `emit` gets every finished line (without its newline), a batch per written chunk. */
  constructor(
    private readonly emit: (lines: string[]) => void,
    private readonly redactor?: Redactor,
  ) {
    this.hold = redactor?.hold ?? 0;
    // each cut scans at most ~threshold bytes and hands on at least max(LOG_LINE_MAX, hold) of them
    this.threshold = LOG_LINE_MAX + this.hold + Math.max(LOG_LINE_MAX, this.hold);
  }

  write(chunk: Buffer): void {
    const out: string[] = [];
    let start = 0;
    for (let nl = chunk.indexOf(0x0a); nl >= 0; nl = chunk.indexOf(0x0a, start)) {
      this.append(chunk.subarray(start, nl));
      this.cut(out, true);
      start = nl + 1;
    }
    if (start < chunk.length) {
      this.append(chunk.subarray(start));
      if (this.size >= this.threshold) this.cut(out, false);
    }
    if (out.length) this.emit(out);
  }

  /** Hands on the unfinished last line, if any (the process ended without a newline). */
  end(): void {
    if (this.size === 0) return;
    const out: string[] = [];
    this.cut(out, true);
    this.emit(out);
  }

  private append(b: Buffer): void {
    if (b.length === 0) return;
    // a copy: a chunk's slice would keep the whole chunk alive
    this.parts.push(Buffer.from(b));
    this.size += b.length;
  }

  /** Emits the pending bytes in pieces; unless `whole`, keeps back what a secret could straddle. */
  private cut(out: string[], whole: boolean): void {
    let buf = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.size);
    if (this.redactor) buf = this.redactor.redact(buf);
    let off = 0;
    const piece = () => {
      const end = charBoundary(buf, off, off + LOG_LINE_MAX);
      out.push(buf.toString('utf8', off, end));
      off = end;
    };
    if (whole) {
      if (buf.length === 0) out.push('');
      while (off < buf.length) piece();
    } else {
      // a piece goes only when `hold` bytes stay behind it: a secret starting in it is whole in buf
      while (buf.length - off >= LOG_LINE_MAX + this.hold) piece();
    }
    const rest = buf.subarray(off);
    this.parts = rest.length ? [Buffer.from(rest)] : [];
    this.size = rest.length;
  }
}

/** `end`, moved back (at most 3 bytes) so it does not split a UTF-8 sequence. */
function charBoundary(buf: Buffer, start: number, end: number): number {
  if (end >= buf.length) return buf.length;
  let e = end;
  while (e > start && e > end - 4 && (buf[e]! & 0xc0) === 0x80) e--;
  return e > start && e > end - 4 ? e : end;
}
