/**
 * Signal names as `docker kill -s`, `--stop-signal` and STOPSIGNAL take them (moby's
 * signal.ParseSignal): a number, or a name with or without `SIG`, any case; `RTMIN+N` too.
 * An unknown one is `Invalid signal: X`. Linux numbering (x86-64 and arm64 share it). Pure.
 */
import { TsbuildError } from '../errors.js';

export const SIGNALS: Readonly<Record<string, number>> = {
  HUP: 1, INT: 2, QUIT: 3, ILL: 4, TRAP: 5, ABRT: 6, IOT: 6, BUS: 7, FPE: 8, KILL: 9, USR1: 10, SEGV: 11, USR2: 12,
  PIPE: 13, ALRM: 14, TERM: 15, STKFLT: 16, CHLD: 17, CONT: 18, STOP: 19, TSTP: 20, TTIN: 21, TTOU: 22, URG: 23,
  XCPU: 24, XFSZ: 25, VTALRM: 26, PROF: 27, WINCH: 28, IO: 29, POLL: 29, PWR: 30, SYS: 31, RTMIN: 34, RTMAX: 64,
};

/** The signal number SPEC names. */
export function parseSignal(spec: string): number {
  const s = spec.trim();
  if (/^\d+$/.test(s)) {
    const n = Number(s);
    if (n === 0 || n > 64) throw new TsbuildError('INVALID', `Invalid signal: ${spec}`);
    return n;
  }
  const name = s.toUpperCase().replace(/^SIG/, '');
  const rt = /^RTM(IN|AX)([+-])(\d+)$/.exec(name);
  if (rt) {
    const n = (rt[1] === 'IN' ? 34 : 64) + (rt[2] === '+' ? 1 : -1) * Number(rt[3]);
    if (n >= 34 && n <= 64) return n;
  }
  const n = SIGNALS[name];
  if (n === undefined) throw new TsbuildError('INVALID', `Invalid signal: ${spec}`);
  return n;
}
