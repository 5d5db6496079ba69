/**
 * The build on the one event stream (src/events.ts): its events are ProgressEvents whose cache
 * misses carry the builder's MissReason. Every progress mode (tty, plain, rawjson, quiet) and the
 * library API consume these; nothing in the builder writes to stdout itself.
 */
import { EventHub, type DistributiveOmit, type ProgressEvent } from '../events.js';
import { shortWarning, type CheckWarning } from './checks/rules.js';
import type { MissReason } from './explain-reason.js';

export type BuildEvent = ProgressEvent<MissReason>;

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

/** The build's hub: step ids and times for BuildEvents. */
export class EventEmitterHub extends EventHub<MissReason> {}
