/**
 * WORKDIR: relative to the previous one; the directory is created (with its missing parents, owned
 * by the stage's USER as BuildKit does) as a layer of its own, empty when it already exists.
 * `WORKDIR /` changes only the config. An absolute path is kept as written in the config and the
 * history (a trailing slash too), as BuildKit does.
 */
import { posix } from 'node:path';
import type { WorkdirInstruction } from '../../parser/instructions.js';
import type { LayerEntry } from '../../image/layer-entry.js';
import { writeLayer } from '../../image/layer-writer.js';
import { resolveChown } from '../../runtime/index.js';
import type { StageExpander } from '../expand.js';
import { RootfsView } from '../../image/rootfs-view.js';
import type { BuildSession } from '../session.js';
import { addHistory, stateSnapshots, type StageState } from '../stage-state.js';
import { runFsStep } from './fs-step.js';

export async function workdirStep(session: BuildSession, state: StageState, ins: WorkdirInstruction, x: StageExpander, name: string): Promise<void> {
  const cfg = state.config.config;
  const wd = nextWorkdir(cfg.WorkingDir, x.word(state, ins.path, ins.location));
  cfg.WorkingDir = wd;
  // the directory to make: the path cleaned (RUN's cwd, COPY's relative destinations clean it too)
  const dir = posix.resolve('/', wd);
  if (wd === '/') {
    addHistory(state, session, `WORKDIR ${wd}`, true);
    return;
  }
  await runFsStep(session, state, {
    name,
    history: `WORKDIR ${wd}`,
    key: { kind: 'workdir', path: wd, user: cfg.User ?? '' },
    produce: async () => {
      const lowerDirs = await stateSnapshots(session, state);
      const view = new RootfsView([...lowerDirs].reverse());
      const owner = cfg.User ? await resolveChown(lowerDirs, cfg.User) : { uid: 0, gid: 0 };
      const entries = missingDirEntries(view, view.resolve(dir), owner, Date.now());
      return writeLayer(session.store, entries, session.sourceDateEpoch !== undefined ? { sourceDateEpoch: session.sourceDateEpoch } : {});
    },
  });
}

/**
 * The config's WorkingDir after `WORKDIR path`, as BuildKit writes it: an absolute path exactly as
 * given (`/tmp/` stays `/tmp/`), a relative one joined to the previous and cleaned.
 */
export function nextWorkdir(current: string | undefined, path: string): string {
  if (path.startsWith('/')) return path;
  return posix.resolve(current || '/', path);
}

/**
 * Entries that create `dir` and its missing parents. When anything is created, the existing
 * parents come along with their own metadata, as overlay copy-up records them in Docker's layers:
 * a layer that lacked them would make whoever unpacks it invent them (root-owned), hiding the
 * image's own (`/home/user` owned by its user).
 */
export function missingDirEntries(view: RootfsView, dir: string, owner: { uid: number; gid: number }, mtimeMs: number): LayerEntry[] {
  const parts = dir.split('/').filter(Boolean);
  const out: LayerEntry[] = [];
  let creating = false;
  for (let i = 1; i <= parts.length; i++) {
    const p = '/' + parts.slice(0, i).join('/');
    const e = view.lookup(p);
    if (e && e.stat.isDirectory()) {
      const st = e.stat;
      out.push({ path: p.slice(1), type: 'dir', mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, size: 0, mtimeMs: Math.floor(st.mtimeMs) });
      continue;
    }
    creating = true;
    out.push({ path: p.slice(1), type: 'dir', mode: 0o755, uid: owner.uid, gid: owner.gid, size: 0, mtimeMs });
  }
  return creating ? out : [];
}
