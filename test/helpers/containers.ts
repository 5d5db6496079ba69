/** One busybox store per container test file, the CLI bound to it, and every container removed at
 *  the end (so a failing test leaves no monitor, mount, rule or cgroup behind). */
import { after, before } from 'node:test';
import { makeBaseStore, type TempStore } from './build.js';
import { runCli, type CliResult } from './cli.js';

export interface ContainerStore {
  /** The store's root (valid once the file's `before` hook ran). */
  readonly root: string;
  /** The busybox base image's ID. */
  readonly baseId: string;
  /** `tsbuild --root ROOT ARGS...` as a user runs it. */
  run(...args: string[]): Promise<CliResult>;
}

/** Registers the file's before/after hooks; call once at the top of a test file. */
export function useContainerStore(): ContainerStore {
  let base: TempStore | undefined;
  const store: ContainerStore = {
    get root() {
      return made().root;
    },
    get baseId() {
      return made().baseId;
    },
    run: (...args) => runCli(['--root', store.root, ...args]),
  };
  const made = () => {
    if (!base) throw new Error('the container store is made in the before hook');
    return base;
  };
  before(async () => {
    base = await makeBaseStore();
  });
  after(async () => {
    if (!base) return;
    const ids = (await store.run('ps', '-aq', '--no-trunc')).stdout.split('\n').filter(Boolean);
    if (ids.length) await store.run('rm', '-f', '-v', ...ids);
    base.cleanup();
  });
  return store;
}
