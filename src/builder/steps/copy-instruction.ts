/**
 * COPY and ADD as instructions: expand their words, find where they read from (the build context,
 * another stage, or an image), resolve --chown in the target image, and hand the file semantics to
 * copy.ts. The cache key covers the digest of everything read (copy.ts computes it without mtimes).
 */
import { posix } from 'node:path';
import type { AddInstruction, CopyInstruction } from '../../parser/instructions.js';
import { ShellLex } from '../../parser/word-expansion.js';
import { topChainId, writeLayer, writeLayerWithSnapshot } from '../../image/layer-writer.js';
import { commitLaterIn } from '../step-records.js';
import { resolveChown } from '../../runtime/index.js';
import { expansionEnv } from '../args.js';
import type { StageExpander } from '../expand.js';
import { copyHistory } from '../history-text.js';
import { RootfsView } from '../../image/rootfs-view.js';
import type { BuildSession } from '../session.js';
import { stateSnapshots, type StageState } from '../stage-state.js';
import { buildCopyLayer, copyInputsDigest, type CopyRequest } from './copy.js';
import { checkoutCommit, parseGitSource, redactUrl, resolveCommit } from './add-git.js';
import { isGitUrl } from './add-url.js';
import { BuildContext } from '../context.js';
import { PatternMatcher } from '../dockerignore.js';
import { checkCopyFrom } from '../plan.js';
import { TsbuildError } from '../../errors.js';
import { runFsStep } from './fs-step.js';
import { SourceFilesCollector } from '../explain-files.js';
import { rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

/** ADD of a git repository: keyed by the commit its ref names, copied like a context. */
async function addGitStep(
  session: BuildSession,
  state: StageState,
  ins: AddInstruction | CopyInstruction,
  name: string,
  req: CopyRequest,
  src: string,
  lowerDirs: () => Promise<string[]>,
): Promise<void> {
  const g = parseGitSource(src);
  const keepGitDir = ins.kind === 'add' && ins.keepGitDir;
  const scratch = await session.store.scratchDir('git');
  try {
    // git over ssh: only the agent forwarded with --ssh default (BuildKit's git source)
    const agent = session.options.ssh?.find((a) => a.id === 'default')?.socket;
    const access = agent !== undefined ? { sshAgent: agent } : {};
    const commit = await resolveCommit(g, scratch, access);
    if (req.checksum !== undefined && !commit.startsWith(req.checksum)) {
      throw new TsbuildError('CORRUPT', `ADD ${redactUrl(src)}: the ref is at commit ${commit}, which does not match --checksum=${req.checksum}`);
    }
    await runFsStep(session, state, {
      name,
      // credentials in the URL reach neither the history nor the cache key
      history: copyHistory(true, [redactUrl(src)], req.dest),
      key: { kind: 'add-git', url: redactUrl(g.url), commit, subdir: g.subdir, keepGitDir, dest: req.dest, workdir: req.workdir, chown: req.chown, chmod: req.chmod, excludes: req.excludes },
      produce: async () => {
        const repo = join(scratch, 'repo');
        await checkoutCommit(g, commit, repo, access);
        const context = new BuildContext(repo, { matcher: new PatternMatcher(keepGitDir ? [] : ['.git']) });
        const { checksum: _checksum, keepGitDir: _keep, unpack: _unpack, ...rest } = req;
        const entries = await buildCopyLayer(
          { ...rest, isAdd: false, sources: [g.subdir === '' ? '.' : g.subdir], heredocs: [], from: { kind: 'context', context } },
          new RootfsView([...(await lowerDirs())].reverse()),
          join(scratch, 'layer'),
        );
        return writeLayer(session.store, entries, session.sourceDateEpoch !== undefined ? { sourceDateEpoch: session.sourceDateEpoch } : {});
      },
    });
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/** Where `COPY --from=X` reads: the snapshots of stage/image X, bottom first. */
export type FromResolver = (from: string) => Promise<string[]>;

export async function copyStep(
  session: BuildSession,
  state: StageState,
  ins: CopyInstruction | AddInstruction,
  x: StageExpander,
  name: string,
  resolveFrom: FromResolver,
): Promise<void> {
  const isAdd = ins.kind === 'add';
  const sources = ins.sources.map((s) => x.word(state, s, ins.location));
  const dest = x.word(state, ins.dest, ins.location);
  const chownSpec = ins.chown !== undefined ? x.word(state, ins.chown, ins.location) : undefined;
  const chmod = ins.chmod !== undefined ? x.word(state, ins.chmod, ins.location) : undefined;
  const excludes = ins.exclude.map((e) => x.word(state, e, ins.location));
  const heredocLex = new ShellLex(session.escapeToken, { rawQuotes: true });
  const heredocs = ins.contents.map((h) => ({
    name: h.name,
    content: h.expand ? heredocLex.processWord(h.data, expansionEnv(state.args, state.config.config.Env)) : h.data,
  }));
  // (the plan refused a variable in the Dockerfile's own COPY --from; this is for ONBUILD triggers)
  if (ins.kind === 'copy' && ins.from !== undefined) checkCopyFrom(new ShellLex(session.escapeToken), ins.from, ins.location);
  const fromName = ins.kind === 'copy' && ins.from !== undefined ? x.word(state, ins.from, ins.location) : undefined;
  const workdir = state.config.config.WorkingDir || '/';
  const fromDirs = fromName !== undefined ? await resolveFrom(fromName) : undefined;

  // the image's unpacked layers are needed for a --chown name and for making the layer, not for a
  // cache hit: fetched on first use (a hit after a prune then unpacks nothing)
  let lower: Promise<string[]> | undefined;
  const lowerDirs = () => (lower ??= stateSnapshots(session, state));
  const chown = chownSpec !== undefined ? await resolveChown(await lowerDirs(), chownSpec) : undefined;
  const req: CopyRequest = {
    isAdd,
    sources,
    heredocs,
    dest,
    workdir,
    from: fromDirs ? { kind: 'image', view: new RootfsView([...fromDirs].reverse()) } : { kind: 'context', context: await session.context() },
    ...(chown ? { chown } : {}),
    ...(chmod !== undefined ? { chmod } : {}),
    ...(ins.kind === 'copy' ? { parents: ins.parents } : {}),
    excludes,
    link: ins.link,
    ...(ins.kind === 'add' && ins.checksum !== undefined ? { checksum: x.word(state, ins.checksum, ins.location) } : {}),
    ...(ins.kind === 'add' && ins.unpack !== undefined ? { unpack: ins.unpack } : {}),
    ...(ins.kind === 'add' ? { keepGitDir: ins.keepGitDir } : {}),
    ...(session.sourceDateEpoch !== undefined ? { nowMs: session.sourceDateEpoch * 1000 } : {}),
  };
  if (isAdd && sources.length === 1 && isGitUrl(sources[0]!)) {
    return addGitStep(session, state, ins, name, req, sources[0]!, lowerDirs);
  }
  const files = new SourceFilesCollector();
  const inputs = await copyInputsDigest(req, (item, digest) => files.add(item, digest));
  const shownSources = [...sources, ...heredocs.map((h) => `<<${h.name}`)];
  await runFsStep(session, state, {
    name,
    history: copyHistory(isAdd, shownSources, dest),
    files,
    key: {
      kind: ins.kind,
      inputs,
      dest,
      workdir: posix.normalize(workdir),
      chown,
      chmod,
      excludes,
      parents: ins.kind === 'copy' ? ins.parents : undefined,
      unpack: ins.kind === 'add' ? ins.unpack : undefined,
    },
    produce: async () => {
      // a path only: buildCopyLayer makes it for a heredoc, download or archive, none for files
      const scratch = session.store.tempPath('copy');
      try {
        const entries = await buildCopyLayer(req, new RootfsView([...(await lowerDirs())].reverse()), scratch);
        // the snapshot is made in the same pass (a following RUN need not unpack the blob)
        const below = topChainId(state.layers.map((l) => l.digest));
        return await writeLayerWithSnapshot(session.store, session.snapshotter, entries, below, {
          ...(session.sourceDateEpoch !== undefined ? { sourceDateEpoch: session.sourceDateEpoch } : {}),
          // files unchanged in the context since an earlier COPY are linked from its snapshot
          ...(req.from.kind === 'context' ? { donorRoot: req.from.context.root } : {}),
          // in the store once synced, with the RUNs' (stage-runner settles): no fsync here, and the
          // blob's own fsync and rename go on while the next step runs (step-records.ts)
          deferCommit: true,
          commitLater: commitLaterIn(session),
        });
      } finally {
        if (existsSync(scratch)) await rm(scratch, { recursive: true, force: true });
      }
    },
  });
}
