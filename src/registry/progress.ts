/**
 * Per-layer progress of pulls, pushes and cache transfers (one event type for all of them), and
 * the `docker pull` / `docker push` style printer it feeds. In a terminal each layer keeps one
 * line that is redrawn in place (cursor up, clear line); otherwise every status change is one
 * line and byte counts are not repeated. The printer only formats: the CLI hands it the function
 * that writes.
 */
import { humanSize } from '../image/display.js';

/**
 * Progress of one transfer, keyed by the registry's (compressed) blob digest, or for an image
 * push by the stored layer's digest (what users see for the same layer locally).
 * `current === total` once a blob is done or already present.
 */
export type LayerProgress =
  | { type: 'resolved'; ref: string; layers: string[] }
  | { type: 'layer'; layer: string; status: LayerStatus; current?: number; total?: number };

export type LayerStatus = 'waiting' | 'exists' | 'downloading' | 'complete' | 'preparing' | 'pushing' | 'pushed' | 'mounted';

export type LayerProgressCallback = (e: LayerProgress) => void;

/** For messages: `sha256:abc...` → `abc...` (12). */
export function shortId(d: string): string {
  return (d.includes(':') ? d.slice(d.indexOf(':') + 1) : d).slice(0, 12);
}

export interface ProgressPrinterOptions {
  write: (s: string) => void;
  tty: boolean;
  /** Terminal width (bars are dropped when too narrow). */
  columns?: number;
  mode: 'pull' | 'push';
  /** `--progress=rawjson`: every event and message as one JSON object per line. */
  json?: boolean;
}

const LABEL: Record<string, Record<string, string>> = {
  pull: {
    waiting: 'Waiting',
    exists: 'Already exists',
    downloading: 'Downloading',
    complete: 'Pull complete',
  },
  push: {
    preparing: 'Preparing',
    exists: 'Layer already exists',
    pushing: 'Pushing',
    pushed: 'Pushed',
    mounted: 'Mounted from another repository',
  },
};

export class ProgressPrinter {
  /** Layer IDs in line order (TTY) and their last printed text. */
  private readonly order: string[] = [];
  private readonly text = new Map<string, string>();
  private readonly lastStatus = new Map<string, string>();
  private readonly lastDraw = new Map<string, number>();
  /** When each layer started moving bytes (for its rate). */
  private readonly started = new Map<string, number>();

  constructor(private readonly opts: ProgressPrinterOptions) {}

  /** A status message (`Status: ...`, `latest: Pulling from ...`). */
  message(s: string): void {
    this.opts.write(this.opts.json ? `${JSON.stringify({ type: 'message', message: s })}\n` : `${s}\n`);
  }

  /** A free-standing line (e.g. `Digest: ...`), printed below the layer lines. */
  line(s: string): void {
    if (this.opts.json) return this.message(s);
    this.opts.write(`${s}\n`);
    // Lines above can no longer be redrawn reliably: forget them.
    this.order.length = 0;
    this.text.clear();
  }

  readonly onEvent = (e: LayerProgress): void => {
    if (this.opts.json) {
      this.opts.write(`${JSON.stringify({ ...e, time: Date.now() })}\n`);
      return;
    }
    if (e.type === 'resolved') {
      if (this.opts.mode === 'pull') for (const l of e.layers) this.set(l, 'Pulling fs layer');
      return;
    }
    const id = shortId(e.layer);
    const label = LABEL[this.opts.mode]![e.status] ?? e.status;
    const transferring = e.status === 'downloading' || e.status === 'pushing';
    const changed = this.lastStatus.get(id) !== label;
    if (!transferring || !this.opts.tty) {
      // Plain output: one line per status change, no byte counts.
      if (changed) this.set(e.layer, label);
      return;
    }
    // Redraw at most every 100 ms per layer (and always at a status change and the last byte).
    const now = Date.now();
    const done = e.current !== undefined && e.total !== undefined && e.current >= e.total;
    if (!changed && !done && now - (this.lastDraw.get(id) ?? 0) < 100) return;
    this.lastDraw.set(id, now);
    if (!this.started.has(id)) this.started.set(id, now);
    const secs = (now - this.started.get(id)!) / 1000;
    const rate = secs > 0.2 ? `  ${size4((e.current ?? 0) / secs)}/s` : '';
    this.set(e.layer, label, bar(e.current ?? 0, e.total ?? 0, this.opts.columns || 80) + rate);
  };

  private set(layer: string, label: string, detail?: string): void {
    const id = shortId(layer);
    this.lastStatus.set(id, label);
    const s = detail ? `${id}: ${label} ${detail}` : `${id}: ${label}`;
    if (!this.opts.tty) {
      this.opts.write(`${s}\n`);
      return;
    }
    const at = this.order.indexOf(id);
    if (at < 0) {
      this.order.push(id);
      this.text.set(id, s);
      this.opts.write(`${s}\n`);
      return;
    }
    if (this.text.get(id) === s) return;
    this.text.set(id, s);
    const up = this.order.length - at;
    this.opts.write(`\x1b[${up}A\r\x1b[2K${s}\x1b[${up}B\r`);
  }
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
