/**
 * The builder's one event stream. Every progress mode (tty, plain, rawjson, quiet) and the library
 * API consume these; nothing in the builder writes to stdout itself.
 */
import { shortWarning, type CheckWarning } from './checks/rules.js';
import type { MissReason } from './explain-reason.js';

export type BuildEvent =
  | { type: 'build-start'; time: number }
  /** A vertex: a filesystem step (RUN/COPY/ADD/WORKDIR...), a base image load, or internal work. */
  | { type: 'step-start'; id: number; name: string; time: number }
  | { type: 'step-cached'; id: number; time: number }
  /** A step missed the cache and runs: why (explain-reason.ts), and the line every renderer shows. */
  | { type: 'step-miss'; id: number; reason: MissReason; text: string; time: number }
  /** Output of a step: whole lines, each ending in `\n` and at most 16 KiB (a longer line comes in
   *  16 KiB pieces, as Docker's log copier hands them on); a last line without newline gets one. */
  | { type: 'step-log'; id: number; stream: 'stdout' | 'stderr'; data: string; time: number }
  /** Progress of one item inside a step (a layer pulled or pushed, a base image resolved), as
   *  BuildKit's vertex statuses: `current`/`total` in bytes when known, `done` once finished. */
  | { type: 'step-status'; id: number; item: string; current?: number; total?: number; done?: boolean; time: number }
  | { type: 'step-done'; id: number; time: number }
  | { type: 'step-error'; id: number; message: string; time: number }
  | { type: 'warning'; message: string; time: number }
  /** A build check (BuildKit's linter rule, checks/rules.ts) reported, before any step ran; `short`
   *  is what build output lists: `Rule: message (line N)`. */
  | { type: 'check-warning'; rule: string; message: string; url: string; file: string; line: number; short: string; time: number }
  | { type: 'build-done'; imageId: string; tags: string[]; time: number };

export type BuildEventListener = (e: BuildEvent) => void;

/** The event for one check warning. */
export function checkWarningEvent(w: CheckWarning): DistributiveOmit<Extract<BuildEvent, { type: 'check-warning' }>, 'time'> {
  return { type: 'check-warning', rule: w.rule, message: w.message, url: w.url, file: w.file, line: w.line, short: shortWarning(w) };
}

/** The lines of a `step-log` event's data, without their newlines. */
export function logLines(data: string): string[] {
  const lines = data.split('\n');
  if (lines.length > 1 && lines[lines.length - 1] === '') lines.pop();
  return lines;
}

/** Hands out step ids and stamps times, so emitters stay one-liners. */
export class EventEmitterHub {
  private nextId = 1;
  constructor(private readonly listener: BuildEventListener = () => {}) {}

  emit(e: DistributiveOmit<BuildEvent, 'time'>): void {
    this.listener({ ...e, time: Date.now() } as BuildEvent);
  }

  /** Starts a step and returns its id. */
  start(name: string): number {
    const id = this.nextId++;
    this.emit({ type: 'step-start', id, name });
    return id;
  }
}

type DistributiveOmit<T, K extends keyof T> = T extends unknown ? Omit<T, K> : never;
