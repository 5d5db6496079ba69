/**
 * `--progress=tty`: a live view redrawn in place, like BuildKit's: one line per step with its elapsed
 * time, CACHED/DONE/ERROR, and a short live tail of the output of steps still running.
 */
import type { Writable } from 'node:stream';
import type { ProgressEvent } from '../../events.js';
import { logLines } from '../events.js';
import { statusText } from './status-text.js';
import { checkSummary } from './check-summary.js';
import { humanSize } from '../../image/display.js';

const TAIL_LINES = 6;
const REDRAW_MS = 100;

interface StepView {
  id: number;
  name: string;
  start: number;
  end?: number;
  state: 'running' | 'cached' | 'done' | 'error';
  tail: string[];
  /** Why the step ran (a cache miss), shown under it for good. */
  miss?: string;
  /** Items in progress (layers being pulled or pushed): their latest status text. */
  items: Map<string, string>;
}

export function ttyRenderer(out: Pick<Writable, 'write'> & { columns?: number }): (e: ProgressEvent) => void {
  const steps: StepView[] = [];
  const byId = new Map<number, StepView>();
  let drawnLines = 0;
  let timer: NodeJS.Timeout | undefined;
  let begin = Date.now();
  let finished = false;
  const lines: string[] = [];
  const checks: string[] = [];

  const draw = () => {
    const width = Math.max(40, out.columns ?? 100);
    const now = Date.now();
    const view: string[] = [];
    const total = (((finished ? now : now) - begin) / 1000).toFixed(1);
    view.push(`[+] Building ${total}s (${steps.filter((s) => s.state !== 'running').length}/${steps.length})${finished ? ' FINISHED' : ''}`);
    for (const s of steps) {
      const t = (((s.end ?? now) - s.start) / 1000).toFixed(1);
      const mark = s.state === 'cached' ? 'CACHED' : s.state === 'error' ? 'ERROR' : `${t}s`;
      view.push(clip(` => ${s.state === 'cached' ? 'CACHED ' : ''}${s.name}`, width - mark.length - 1).padEnd(width - mark.length - 1) + ' ' + mark);
      if (s.miss !== undefined) view.push(clip(` => => cache miss: ${s.miss}`, width));
      if (s.state === 'running') for (const l of s.items.values()) view.push(clip(` => => ${l}`, width));
      if (s.state === 'running' || s.state === 'error') for (const l of s.tail) view.push(clip(` => => ${l}`, width));
    }
    for (const l of lines) view.push(clip(l, width));
    let buf = drawnLines > 0 ? `\x1b[${drawnLines}A\x1b[J` : '';
    buf += view.join('\n') + '\n';
    drawnLines = view.length;
    out.write(buf);
  };
  const schedule = () => {
    if (!timer && !finished) timer = setTimeout(() => ((timer = undefined), draw()), REDRAW_MS);
  };

  return (e) => {
    switch (e.type) {
      case 'build-start':
        begin = e.time;
        break;
      case 'step-start': {
        const s: StepView = { id: e.id, name: e.name, start: e.time, state: 'running', tail: [], items: new Map() };
        steps.push(s);
        byId.set(e.id, s);
        break;
      }
      case 'step-log': {
        const s = byId.get(e.id);
        if (!s) break;
        s.tail.push(...logLines(e.data).slice(-TAIL_LINES));
        if (s.tail.length > TAIL_LINES) s.tail.splice(0, s.tail.length - TAIL_LINES);
        break;
      }
      case 'step-status': {
        const s = byId.get(e.id);
        if (!s) break;
        if (e.done) s.items.delete(e.item);
        else s.items.set(e.item, statusText(e, (n) => humanSize(n, 4)));
        break;
      }
      case 'step-miss': {
        const s = byId.get(e.id);
        if (s) s.miss = e.text;
        break;
      }
      case 'step-cached':
      case 'step-done':
      case 'step-error': {
        const s = byId.get(e.id);
        if (!s) break;
        s.end = e.time;
        s.state = e.type === 'step-cached' ? 'cached' : e.type === 'step-done' ? 'done' : 'error';
        if (e.type === 'step-error') s.tail.push(e.message);
        break;
      }
      case 'message':
        lines.push(e.message);
        break;
      case 'warning':
        lines.push(`WARNING: ${e.message}`);
        break;
      case 'check-warning':
        checks.push(e.short);
        break;
      case 'build-done':
        finished = true;
        if (timer) clearTimeout(timer);
        timer = undefined;
        lines.push(` => writing image ${e.imageId}`, ...e.tags.map((t) => ` => naming to ${t}`));
        draw();
        out.write(checkSummary(checks));
        return;
    }
    schedule();
  };
}

function clip(s: string, width: number): string {
  return s.length > width ? s.slice(0, width - 1) + '…' : s;
}
