/**
 * Directories that must not outlive their process (a RUN's active snapshot, the runtime's run
 * dir): removed when Node exits, or is stopped by SIGINT/SIGTERM, while they exist — as Docker's
 * builder leaves no half-made layer behind a Ctrl-C. A SIGKILL leaves them; their names carry the
 * owner's PID, so `prune` removes those of dead owners (store.ts).
 */
import { removeTreeSync } from './remove-tree.js';

const dirs = new Set<string>();
const firsts = new Set<() => void>();
let hooked = false;

/** Removes `dir` on exit or SIGINT/SIGTERM until `keepOnExit(dir)`. */
export function removeOnExit(dir: string): void {
  dirs.add(dir);
  if (!hooked) {
    hooked = true;
    process.on('exit', onExit);
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  }
}

/** Its owner has removed (or kept) `dir`: nothing to do for it on exit any more. */
export function keepOnExit(dir: string): void {
  dirs.delete(dir);
  if (dirs.size === 0) unhook();
}

/** Runs `fn` (synchronous) before the directories are removed, e.g. to stop the processes that
 *  write into them. Registering the same function twice runs it once. */
export function beforeExitRemoval(fn: () => void): void {
  firsts.add(fn);
}

function unhook(): void {
  if (!hooked) return;
  hooked = false;
  process.off('exit', onExit);
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
}

function onExit(): void {
  for (const fn of firsts) {
    try {
      fn();
    } catch {
      // best effort: the process is leaving
    }
  }
  for (const d of dirs) {
    try {
      removeTreeSync(d);
    } catch {
      // best effort: prune removes what is left (the name carries our PID)
    }
  }
  dirs.clear();
}

/* Only installed while such dirs exist. Cleans up, then lets the signal do what it would have
 * done: re-raised when nobody else listens, left to the other listeners otherwise. */
function onSignal(sig: NodeJS.Signals): void {
  onExit();
  unhook();
  if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
}
