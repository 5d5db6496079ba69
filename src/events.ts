/**
 * The one event stream for all long work: build steps, pulls, pushes (and whatever comes next).
 * Work is a set of steps (BuildKit's vertexes); a step has items that move (a blob pulled or
 * pushed, a base image resolved) with byte counts, log lines, messages, and an end. The registry
 * reports its blobs as `step-status` items (`ItemStatus`: the event before the stream says which
 * step and when); the builder and the registry commands put them on a step of their stream. Every
 * progress mode (tty, plain, rawjson, quiet, and `docker pull`/`docker push`'s lines) renders this
 * one type; nothing that emits it writes to stdout. A neutral module (like errors.ts): every floor
 * may import it.
 */

/**
 * What happened to one blob of a transfer, as Docker's pull and push lines tell it: `waiting` (known,
 * not moving yet: "Pulling fs layer" / "Preparing"), `exists` (the other side has it), `downloading`
 * / `pushing` (bytes moving), `complete` / `pushed` / `mounted` (done).
 */
export type BlobStatus = 'waiting' | 'exists' | 'downloading' | 'complete' | 'pushing' | 'pushed' | 'mounted';

/** `R`: what a `step-miss` reason holds (the builder's MissReason; opaque to everyone else). */
export type ProgressEvent<R = unknown> =
  | { type: 'build-start'; time: number }
  /** A step: a filesystem step (RUN/COPY/...), a base image load, a pull, a push, internal work. */
  | { type: 'step-start'; id: number; name: string; time: number }
  | { type: 'step-cached'; id: number; time: number }
  /** A step missed the cache and runs: why (builder/explain-reason.ts), and the line every renderer shows. */
  | { type: 'step-miss'; id: number; reason: R; text: string; time: number }
  /** Output of a step: whole lines, each ending in `\n` and at most 16 KiB (a longer line comes in
   *  16 KiB pieces, as Docker's log copier hands them on); a last line without newline gets one. */
  | { type: 'step-log'; id: number; stream: 'stdout' | 'stderr'; data: string; time: number }
  /** Progress of one item inside a step, as BuildKit's vertex statuses: `current`/`total` in bytes
   *  when known, `done` once finished. A blob of a transfer (item: its digest) has its `status`. */
  | { type: 'step-status'; id: number; item: string; status?: BlobStatus; current?: number; total?: number; done?: boolean; time: number }
  /** A line of a step's report (`Digest: ...`, `Status: ...` of a pull). */
  | { type: 'message'; id?: number; message: string; time: number }
  | { type: 'step-done'; id: number; time: number }
  | { type: 'step-error'; id: number; message: string; time: number }
  | { type: 'warning'; message: string; time: number }
  /** A build check (BuildKit's linter rule, builder/checks/rules.ts) reported, before any step ran;
   *  `short` is what build output lists: `Rule: message (line N)`. */
  | { type: 'check-warning'; rule: string; message: string; url: string; file: string; line: number; short: string; time: number }
  | { type: 'build-done'; imageId: string; tags: string[]; time: number };

export type ProgressListener<R = unknown> = (e: ProgressEvent<R>) => void;

export type DistributiveOmit<T, K extends keyof T> = T extends unknown ? Omit<T, K> : never;

/** A `step-status` before the stream stamps it with its step and time: what a transfer reports. */
export type ItemStatus = Omit<Extract<ProgressEvent, { type: 'step-status' }>, 'id' | 'time'>;
export type ItemStatusListener = (s: ItemStatus) => void;

const FINAL: ReadonlySet<BlobStatus> = new Set(['exists', 'complete', 'pushed', 'mounted']);

/** The status of blob `digest` (done when final); bytes when known. */
export function blobStatus(digest: string, status: BlobStatus, current?: number, total?: number): ItemStatus {
  return {
    type: 'step-status',
    item: digest,
    status,
    ...(current !== undefined ? { current } : {}),
    ...(total !== undefined ? { total } : {}),
    ...(FINAL.has(status) ? { done: true } : {}),
  };
}

/** Hands out step ids and stamps times, so emitters stay one-liners. */
export class EventHub<R = unknown> {
  private nextId = 1;
  constructor(private readonly listener: ProgressListener<R> = () => {}) {}

  emit(e: DistributiveOmit<ProgressEvent<R>, 'time'>): void {
    this.listener({ ...e, time: Date.now() } as ProgressEvent<R>);
  }

  /** Starts a step and returns its id. */
  start(name: string): number {
    const id = this.nextId++;
    this.emit({ type: 'step-start', id, name });
    return id;
  }
}
