/**
 * What every stage of one build shares: the parts it was given (store, snapshotter, runtime, registry), the
 * build context, the event hub, the options, and the clock. Created once per build by build.ts.
 */
import type { Snapshotter } from '../image/snapshots.js';
import type { Runtime } from '../runtime/index.js';
import type { BuildContext } from './context.js';
import type { EventEmitterHub } from './events.js';
import type { BuildOptions } from './options.js';
import type { ArgScope } from './args.js';
import type { BuildRemoteCache } from './remote-cache.js';
import type { BuildStore, RegistryAccess } from './parts.js';

export interface BuildSession {
  store: BuildStore;
  snapshotter: Snapshotter;
  runtime: Runtime;
  registry: RegistryAccess;
  events: EventEmitterHub;
  options: BuildOptions;
  /** The Dockerfile's escape token (for word expansion). */
  escapeToken: string;
  /** Opened on first use: builds that copy nothing from the context never walk it. */
  context(): Promise<BuildContext>;
  /** `created` for history entries and the config (SOURCE_DATE_EPOCH when set). */
  created: string;
  /** SOURCE_DATE_EPOCH in seconds, when reproducible output was asked for. */
  sourceDateEpoch: number | undefined;
  /** Meta ARGs (before the first FROM): what `ARG NAME` inside a stage imports. */
  globalArgs: ArgScope;
  /** `--cache-from` / `--cache-to`, when given. */
  remoteCache?: BuildRemoteCache;
  /** Build args given but not declared yet (names are removed as ARGs declare them). */
  unusedBuildArgs: Set<string>;
  /** Layers this build made (not served by a cache): a build that made none was shown its hints before. */
  layersMade: number;
  /** RUN instructions of the planned stages not reached yet (ONBUILD triggers not counted): the
   *  one that leaves none tells the runtime that no run follows, so no spare sandbox is made. */
  runsAhead: number;
  /** Work a step left running that the build's last stage waits for before it ends (a RUN's
   *  rootfs removal); each promise settles, never rejects. */
  background: Set<Promise<void>>;
  /** Starts working out the context digests of the COPY/ADD steps ahead (copy-prefetch.ts), once;
   *  a RUN calls it when its command has started. Absent when no step would use them. */
  prefetch?: () => void;
}
