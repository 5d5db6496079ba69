/**
 * The end of a foreground container (`run` without -d, `start -a`): one whose monitor waits for us
 * (StartOptions.callerCleans: --rm, the rules of published ports) is settled and removed here, in
 * this process, rather than by the monitor's exit command (a second Node start); should we die
 * first, the exit command does it. Docker's CLI, too, returns only once an --rm container is gone
 * (`docker start -a` of one waits for its removal, as `docker run --rm` does).
 */
import type { Containers } from '../containers/containers.js';
import { readMonitorInfo } from '../containers/monitor-files.js';
import { runDir } from '../containers/record.js';
import type { MonitorHandle } from '../runtime/monitor.js';

/** Call right after the start (it notes the run's monitor); the function it returns, once the
 *  command ended, settles the container and resolves when the monitor is done. */
export function foregroundEnd(containers: Containers, id: string, h: MonitorHandle): () => Promise<void> {
  const monitorPid = h.callerCleans ? readMonitorInfo(runDir(containers.paths, id))?.pid : undefined;
  return async () => {
    if (h.callerCleans) {
      const cleaned = monitorPid !== undefined && (await containers.cleanup(id, undefined, monitorPid).then(() => true, () => false));
      h.cleanedUp(cleaned);
    }
    await h.done;
  };
}
