/**
 * `tsbuild pull` / `tsbuild push` in a terminal or a log: the lines `docker pull` and `docker push`
 * print (`abc123def456: Pull complete`, `Layer already exists`, bars while bytes move), rendered
 * from the one event stream like every other progress mode. In a terminal each blob keeps one line
 * that is redrawn in place (cursor up, clear line); otherwise every status change is one line and
 * byte counts are not repeated. Messages (`Digest: ...`, `Status: ...`) print as they are.
 */
import type { Writable } from 'node:stream';
import type { BlobStatus, ProgressEvent } from '../../events.js';
import { humanSize } from '../../image/display.js';

export interface TransferRendererOptions {
  /** Which of Docker's wordings (a blob that `exists` is "Already exists" in a pull). */
  direction: 'pull' | 'push';
  /** Redraw lines in place, with bars. */
  tty: boolean;
  /** Terminal width (bars are dropped when too narrow). */
  columns?: number;
}

const LABEL: Record<'pull' | 'push', Partial<Record<BlobStatus, string>>> = {
  pull: { waiting: 'Pulling fs layer', exists: 'Already exists', downloading: 'Downloading', complete: 'Pull complete' },
  push: { waiting: 'Preparing', exists: 'Layer already exists', pushing: 'Pushing', pushed: 'Pushed', mounted: 'Mounted from another repository' },
};

/** For blob lines: `sha256:abc...` → `abc...` (12). */
function shortId(d: string): string {
  return (d.includes(':') ? d.slice(d.indexOf(':') + 1) : d).slice(0, 12);
}

export function transferRenderer(out: Pick<Writable, 'write'>, opts: TransferRendererOptions): (e: ProgressEvent) => void {
  // TTY: blob IDs in line order and their last printed text
  const order: string[] = [];
  const text = new Map<string, string>();
  const lastLabel = new Map<string, string>();
  const lastDraw = new Map<string, number>();
  // when each blob started moving bytes (for its rate)
  const started = new Map<string, number>();

  const set = (id: string, label: string, detail?: string) => {
    lastLabel.set(id, label);
    const s = detail ? `${id}: ${label} ${detail}` : `${id}: ${label}`;
    if (!opts.tty) {
      out.write(`${s}\n`);
      return;
    }
    const at = order.indexOf(id);
    if (at < 0) {
      order.push(id);
      text.set(id, s);
      out.write(`${s}\n`);
      return;
    }
    if (text.get(id) === s) return;
    text.set(id, s);
    const up = order.length - at;
    out.write(`\x1b[${up}A\r\x1b[2K${s}\x1b[${up}B\r`);
  };

  return (e) => {
    if (e.type === 'message') {
      out.write(`${e.message}\n`);
      // lines above a message can no longer be redrawn reliably: forget them
      order.length = 0;
      text.clear();
      return;
    }
    // items without a blob status (a resolve, a manifest) have no line in Docker's output
    if (e.type !== 'step-status' || e.status === undefined) return;
    const id = shortId(e.item);
    const label = LABEL[opts.direction][e.status] ?? e.status;
    const moving = e.status === 'downloading' || e.status === 'pushing';
    const changed = lastLabel.get(id) !== label;
    if (!moving || !opts.tty) {
      // plain output: one line per status change, no byte counts
      if (changed) set(id, label);
      return;
    }
    // redraw at most every 100 ms per blob (and always at a status change and the last byte)
    const now = Date.now();
    const done = e.current !== undefined && e.total !== undefined && e.current >= e.total;
    if (!changed && !done && now - (lastDraw.get(id) ?? 0) < 100) return;
    lastDraw.set(id, now);
    if (!started.has(id)) started.set(id, now);
    const secs = (now - started.get(id)!) / 1000;
    const rate = secs > 0.2 ? `  ${size4((e.current ?? 0) / secs)}/s` : '';
    set(id, label, bar(e.current ?? 0, e.total ?? 0, opts.columns || 80) + rate);
  };
}

/** `[=====>      ]  1.2MB/3.4MB` as docker draws it (bar dropped on narrow terminals). */
export function bar(current: number, total: number, columns = 80): string {
  const sizes = total > 0 ? `${size4(current)}/${size4(total)}` : size4(current);
  if (total <= 0 || columns < 110) return total > 0 && columns >= 60 ? `[${meter(current, total, 20)}]  ${sizes}` : sizes;
  return `[${meter(current, total, 50)}]  ${sizes}`;
}

function meter(current: number, total: number, width: number): string {
  const n = Math.min(width, Math.floor((current / total) * width));
  return n >= width ? '='.repeat(width) : `${'='.repeat(n)}>${' '.repeat(width - n - 1)}`;
}

/** Docker's progress sizes: decimal units, 4 significant digits (`1.234MB`, `512B`). */
const size4 = (n: number) => humanSize(n, 4);
