/**
 * Container health checks: HEALTHCHECK from the image, `--health-*` / `--no-healthcheck` of
 * `run`/`create`, the probe the container's monitor runs (native/sandbox.c, the health part), and
 * the state it reports (`RUNDIR/health`).
 *
 * Pinned Docker behaviour (20.10: cli opts.go, daemon commit.go `merge`, daemon/health.go, state.go):
 * - `--health-cmd C` is Test ["CMD-SHELL", C]; durations are Go's (`5`: `time: missing unit in
 *   duration "5"`); a negative one: `--health-interval cannot be negative`; `--no-healthcheck`
 *   is Test ["NONE"] and conflicts with any `--health-*` set to non-zero.
 * - The image's Healthcheck fills what the user's leaves zero (or is the whole of it); a duration
 *   below 1ms: `Interval in Healthcheck cannot be less than 1ms` (Timeout, StartPeriod alike).
 * - CMD runs the exec form, CMD-SHELL `/bin/sh -c`, NONE (or nothing to run) none: no
 *   State.Health at all, `ps --filter health=none`. Defaults: interval 30s, timeout 30s, 3
 *   retries, no start period.
 * - State.Health {Status, FailingStreak, Log}: `starting` with an empty Log until a probe ends;
 *   the last 5 results {Start, End, ExitCode, Output}; a stopped container's Status is `unhealthy`.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { goDuration } from '../builder/history-text.js';
import { TsbuildError } from '../errors.js';
import type { HealthConfig } from '../image/config.js';
import { parseGoDuration } from '../parser/values.js';
import type { MonitorHealth } from '../runtime/monitor.js';
import { formatRfc3339Nano } from './log-time.js';
import type { HealthStatus } from './status-text.js';

export interface HealthcheckResult {
  /** RFC 3339 with nanoseconds. */
  Start: string;
  End: string;
  /** The probe's exit code; -1: it timed out or could not be started. */
  ExitCode: number;
  Output: string;
}

/** `inspect`'s State.Health. */
export interface HealthState {
  Status: HealthStatus;
  FailingStreak: number;
  Log: HealthcheckResult[];
}

/** The `--health-*` flags as given. */
export interface HealthFlags {
  healthCmd?: string;
  healthInterval?: string;
  healthTimeout?: string;
  healthStartPeriod?: string;
  healthRetries?: string;
  noHealthcheck: boolean;
}

export const HEALTH_STATUSES = ['starting', 'healthy', 'unhealthy', 'none'] as const;

const DEFAULT_INTERVAL_NS = 30e9;
const DEFAULT_TIMEOUT_NS = 30e9;
const DEFAULT_RETRIES = 3;
const MINIMUM_NS = 1e6;

/** The user's part of Config.Healthcheck (undefined: no flag given), as docker's CLI builds it. */
export function parseHealthFlags(f: HealthFlags, usage: (msg: string) => TsbuildError): HealthConfig | undefined {
  const duration = (flag: string, v: string | undefined): number => {
    if (v === undefined) return 0;
    try {
      return parseGoDuration(v);
    } catch (e) {
      throw usage(`invalid argument "${v}" for "--${flag}" flag: ${(e as Error).message}`);
    }
  };
  const interval = duration('health-interval', f.healthInterval);
  const timeout = duration('health-timeout', f.healthTimeout);
  const startPeriod = duration('health-start-period', f.healthStartPeriod);
  let retries = 0;
  if (f.healthRetries !== undefined) {
    if (!/^[+-]?\d+$/.test(f.healthRetries)) throw usage(`invalid argument "${f.healthRetries}" for "--health-retries" flag: strconv.ParseInt: parsing "${f.healthRetries}": invalid syntax`);
    retries = Number(f.healthRetries);
  }
  const any = !!f.healthCmd || interval !== 0 || timeout !== 0 || startPeriod !== 0 || retries !== 0;
  if (f.noHealthcheck) {
    if (any) throw usage('--no-healthcheck conflicts with --health-* options');
    return { Test: ['NONE'] };
  }
  if (!any) return undefined;
  for (const [name, v] of [['interval', interval], ['timeout', timeout], ['retries', retries], ['start-period', startPeriod]] as const) {
    if (v < 0) throw usage(`--health-${name} cannot be negative`);
  }
  return {
    ...(f.healthCmd ? { Test: ['CMD-SHELL', f.healthCmd] } : {}),
    ...(interval ? { Interval: interval } : {}),
    ...(timeout ? { Timeout: timeout } : {}),
    ...(startPeriod ? { StartPeriod: startPeriod } : {}),
    ...(retries ? { Retries: retries } : {}),
  };
}

/** The container's Config.Healthcheck: the user's, completed from the image's (daemon `merge`),
 *  checked as the daemon checks it (exit 125). */
export function mergeHealthcheck(user: HealthConfig | undefined, image: HealthConfig | undefined): HealthConfig | undefined {
  let h = user;
  if (image) {
    if (!h) h = { ...image };
    else {
      h = { ...h };
      if (!h.Test?.length && image.Test) h.Test = image.Test;
      for (const k of ['Interval', 'Timeout', 'StartPeriod', 'Retries'] as const) if (!h[k] && image[k]) h[k] = image[k];
    }
  }
  if (!h) return undefined;
  for (const k of ['Interval', 'Timeout', 'StartPeriod'] as const) {
    const v = h[k] ?? 0;
    if (v !== 0 && v < MINIMUM_NS) throw new TsbuildError('INVALID', `${k} in Healthcheck cannot be less than 1ms`, undefined, 125);
  }
  if ((h.Retries ?? 0) < 0) throw new TsbuildError('INVALID', 'Retries in Healthcheck cannot be negative', undefined, 125);
  // the order of Docker's JSON
  const order = ['Test', 'Interval', 'Timeout', 'StartPeriod', 'StartInterval', 'Retries'] as const;
  return Object.fromEntries(order.filter((k) => h[k] !== undefined).map((k) => [k, h[k]])) as HealthConfig;
}

/** What the monitor runs, or undefined when there is no probe (none configured, NONE, nothing to run). */
export function monitorHealth(h: HealthConfig | undefined): MonitorHealth | undefined {
  const test = h?.Test ?? [];
  const kind = test[0];
  if ((kind !== 'CMD' && kind !== 'CMD-SHELL') || test.length < 2) return undefined;
  const argv = kind === 'CMD-SHELL' ? ['/bin/sh', '-c', ...test.slice(1)] : test.slice(1);
  const timeoutNs = h?.Timeout || DEFAULT_TIMEOUT_NS;
  return {
    argv,
    intervalNs: h?.Interval || DEFAULT_INTERVAL_NS,
    timeoutNs,
    startPeriodNs: h?.StartPeriod || 0,
    retries: h?.Retries && h.Retries > 0 ? h.Retries : DEFAULT_RETRIES,
    timeoutText: goDuration(timeoutNs),
  };
}

/** State.Health of a container with this config, from the monitor's file in RUNDIR (undefined:
 *  no health check, or never started since boot). A container not running reads `unhealthy`. */
export function containerHealth(h: HealthConfig | undefined, runDir: string, running: boolean): HealthState | undefined {
  if (!monitorHealth(h)) return undefined;
  const state = readHealthFile(runDir);
  return state && !running ? { ...state, Status: 'unhealthy' } : state;
}

/** Parses RUNDIR/health: "status S", "streak N", then "probe START END CODE LEN" lines each followed
 *  by LEN bytes of output and a newline. */
export function readHealthFile(runDir: string): HealthState | undefined {
  let buf: Buffer;
  try {
    buf = readFileSync(join(runDir, 'health'));
  } catch {
    return undefined;
  }
  let off = 0;
  const line = (): string[] | undefined => {
    const nl = buf.indexOf(10, off);
    if (nl < 0) return undefined;
    const words = buf.toString('utf8', off, nl).split(' ');
    off = nl + 1;
    return words;
  };
  const status = line();
  const streak = line();
  if (status?.[0] !== 'status' || streak?.[0] !== 'streak') return undefined;
  const s = status[1] as HealthStatus;
  if (!['starting', 'healthy', 'unhealthy'].includes(s)) return undefined;
  const log: HealthcheckResult[] = [];
  for (let p = line(); p && p[0] === 'probe' && p.length === 5; p = line()) {
    const len = Number(p[4]);
    // Go's JSON encoder turns invalid UTF-8 into U+FFFD, as this decoding does
    const output = buf.toString('utf8', off, off + len);
    off += len + 1;
    log.push({ Start: formatRfc3339Nano(BigInt(p[1]!)), End: formatRfc3339Nano(BigInt(p[2]!)), ExitCode: Number(p[3]), Output: output });
  }
  return { Status: s, FailingStreak: Number(streak[1]), Log: log };
}
