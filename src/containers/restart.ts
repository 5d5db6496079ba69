/**
 * Restart policies as Docker's (`--restart no|on-failure[:N]|always|unless-stopped`), applied
 * without a daemon: the container's monitor runs `tsbuild container cleanup ID` when the command
 * ends, and that process decides with `shouldRestart`, waits the back-off and starts the container
 * again. Docker's back-off: 100 ms, doubled after each restart up to 1 minute, back to 100 ms once
 * the container ran 10 seconds; a `stop` or `kill` by the user ends the restarts (until the user
 * starts it again); on-failure restarts only non-zero exits, at most N times. After a reboot
 * (`start --all`), as dockerd's restore: `always` comes back even when the user stopped it,
 * `unless-stopped` only when the user did not, `on-failure` when the last run failed (a reboot is
 * exit 255) within its retries; never a container that was never started. Pure.
 */
import { TsbuildError } from '../errors.js';

export interface RestartPolicy {
  Name: 'no' | 'always' | 'unless-stopped' | 'on-failure';
  MaximumRetryCount: number;
}

export const INITIAL_DELAY_MS = 100;
export const MAX_DELAY_MS = 60_000;
/** A run this long resets the back-off. */
export const RESET_AFTER_MS = 10_000;

/** `--restart` (docker's opts.ParseRestartPolicy). */
export function parseRestartPolicy(text: string): RestartPolicy {
  const [name, count, ...rest] = text.split(':');
  const bad = (m: string) => new TsbuildError('INVALID', m, undefined, 125);
  if (rest.length) throw bad(`invalid restart policy format: maximum retry count must be an integer`);
  if (name === '' || name === 'no') {
    if (count !== undefined) throw bad(`maximum retry count cannot be used with restart policy '${name || 'no'}'`);
    return { Name: 'no', MaximumRetryCount: 0 };
  }
  if (name === 'always' || name === 'unless-stopped') {
    if (count !== undefined) throw bad(`maximum retry count cannot be used with restart policy '${name}'`);
    return { Name: name, MaximumRetryCount: 0 };
  }
  if (name === 'on-failure') {
    if (count === undefined) return { Name: name, MaximumRetryCount: 0 };
    if (!/^\d+$/.test(count)) throw bad(`invalid restart policy format: maximum retry count must be an integer`);
    return { Name: name, MaximumRetryCount: Number(count) };
  }
  throw bad(`invalid restart policy format: unknown policy '${name}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'`);
}

/** Whether a container that ended with EXITCODE restarts. */
export function shouldRestart(p: RestartPolicy | undefined, s: { exitCode: number; restartCount: number; manualStop: boolean }): boolean {
  if (!p || p.Name === 'no' || s.manualStop) return false;
  if (p.Name === 'on-failure') return s.exitCode !== 0 && (p.MaximumRetryCount === 0 || s.restartCount < p.MaximumRetryCount);
  return true;
}

/** The wait before the next restart, from the previous one and how long the container ran. */
export function nextDelay(previousMs: number | undefined, ranMs: number): number {
  if (previousMs === undefined || ranMs >= RESET_AFTER_MS) return INITIAL_DELAY_MS;
  return Math.min(previousMs * 2, MAX_DELAY_MS);
}

/** Whether a stopped container comes back after a reboot (dockerd's restore: ShouldRestart of a
 *  container started before). */
export function startsAtBoot(p: RestartPolicy | undefined, s: { everStarted: boolean; exitCode: number; restartCount: number; manualStop: boolean }): boolean {
  if (!p || !s.everStarted) return false;
  if (p.Name === 'always') return true;
  if (p.Name === 'unless-stopped') return !s.manualStop;
  if (p.Name === 'on-failure') return s.exitCode !== 0 && (p.MaximumRetryCount === 0 || s.restartCount < p.MaximumRetryCount);
  return false;
}
