/**
 * RUN: the command runs in the sandbox on an overlay of the stage's layers; what it changed becomes
 * one layer. Shell form goes through SHELL (default `/bin/sh -c`); heredoc bodies are handed to the
 * shell with the command (a RUN that is only a heredoc runs its body as the script). The process
 * sees the image's Env plus the ARGs in scope (ENV wins), the image's USER and WORKDIR.
 */
import { chainIds, type Digest } from '../../image/digest.js';
import { TsbuildError } from '../../errors.js';
import type { RunInstruction } from '../../parser/instructions.js';
import { writeLayer } from '../../image/layer-writer.js';
import { PROXY_ARGS, envMap } from '../args.js';
import type { StageExpander } from '../expand.js';
import { runHistory } from '../history-text.js';
import { at } from '../plan.js';
import type { BuildSession } from '../session.js';
import { stateSnapshots, type StageState } from '../stage-state.js';
import { commandArgv } from './metadata.js';
import { keepMountPoints, prepareMounts } from './run-mounts.js';
import { RootfsView } from '../../image/rootfs-view.js';
import { runFsStep } from './fs-step.js';
import { removeTree } from '../../image/remove-tree.js';
import { checkRun, runtimeNetwork, stepNetwork } from '../network-policy.js';
import { LineSplitter, type Redactor } from '../log-lines.js';
import { secretRedactor } from '../secret-redaction.js';
import { blobCommit, commitLaterIn } from '../step-records.js';
import type { FromResolver } from './copy-instruction.js';
import { resolveUser, type Rootfs } from '../../runtime/index.js';
import { runLimits, warmRuns } from './run-limits.js';
import type { ActiveSnapshot } from '../../image/snapshots.js';

/** How many of the last output lines a failure message carries. */
const TAIL_LINES = 10;

/** The build's secrets, read once per build, masked in RUN output and failure messages. */
const redactors = new WeakMap<BuildSession, Redactor | undefined>();
function redactorOf(session: BuildSession): Redactor | undefined {
  if (!redactors.has(session)) redactors.set(session, secretRedactor(session.options.secrets));
  return redactors.get(session);
}

export async function runStep(
  session: BuildSession,
  state: StageState,
  ins: RunInstruction,
  x: StageExpander,
  name: string,
  resolveFrom: FromResolver,
): Promise<void> {
  const cfg = state.config.config;
  const argv = commandArgv(cfg.Shell, ins.form, scriptOf(ins));
  const imageEnv = envMap(cfg.Env);
  // ARGs in scope, unless an ENV of the same name shadows them (they then take part in the key)
  const argEnv = state.args.defined().filter(([k]) => !imageEnv.has(k));
  const env = [...(cfg.Env ?? []), ...argEnv.map(([k, v]) => `${k}=${v}`)];
  // undeclared proxy args reach the process but not the key or the history
  const proxies = PROXY_ARGS.filter((p) => session.options.buildArgs?.[p] !== undefined && !state.args.has(p) && !imageEnv.has(p)).map(
    (p) => `${p}=${session.options.buildArgs![p]}`,
  );
  // the step's own network unless the build's is none; host needs the entitlement (ONBUILD too)
  checkRun(ins, session.options.allow);
  const network = stepNetwork(session.options.network ?? 'default', ins.network);
  if (ins.security === 'insecure') {
    throw new TsbuildError('INVALID', 'RUN --security=insecure is not allowed (it needs the security.insecure entitlement, which tsbuild does not grant)', at(ins.location));
  }
  const workdir = cfg.WorkingDir || '/';
  // only mounts use a scratch dir: a step without any (so every cached one) makes and removes none
  const scratch = ins.mounts.length ? await session.store.scratchDir('run') : undefined;
  try {
    const m = await prepareMounts(session, state, ins, x, scratch ?? '', resolveFrom);
    await runFsStep(session, state, {
      name,
      // BuildKit lists the ARGs declared in this stage (not those a parent stage passed down, which
      // the process still sees): shadowed ones with the ENV value, unset ones empty
      history: runHistory(argv, state.args.declaredHere().map(([k, v]) => [k, imageEnv.get(k) ?? v ?? ''])),
      key: { kind: 'run', argv, env, user: cfg.User ?? '', workdir, network, mounts: m.key },
      produce: async (stepId) => {
        const lowerDirs = await stateSnapshots(session, state);
        const resolved = cfg.User ? await resolveUser(lowerDirs, cfg.User) : undefined;
        const user = resolved ?? { uid: 0, gid: 0, groups: [] as number[] };
        const home = resolved ? resolved.home : '/root';
        const procEnv = [...env, ...proxies, ...m.env];
        if (!envMap(procEnv).has('HOME')) procEnv.push(`HOME=${home || '/'}`);
        // output in lines of at most 16 KiB, secrets masked, only the last few kept here
        const tail: string[] = [];
        const redactor = redactorOf(session);
        const splitter = (stream: 'stdout' | 'stderr') =>
          new LineSplitter((lines) => {
            session.events.emit({ type: 'step-log', id: stepId, stream, data: lines.join('\n') + '\n' });
            tail.push(...lines.slice(-TAIL_LINES));
            if (tail.length > TAIL_LINES) tail.splice(0, tail.length - TAIL_LINES);
          }, redactor);
        const outLines = splitter('stdout');
        const errLines = splitter('stderr');
        const release = await m.acquire();
        const snapshots = session.snapshotter;
        const diffIds = state.layers.map((l) => l.digest as Digest);
        const parent = chainIds(diffIds);
        let active: ActiveSnapshot | undefined;
        let rootfs: Rootfs | undefined;
        try {
          // the snapshotter makes the writable layer; the runtime only mounts it
          active = await snapshots.prepare(parent);
          rootfs = await session.runtime.prepare(active);
          const r = await session.runtime.run(rootfs, {
            args: argv,
            env: procEnv,
            cwd: workdir,
            user: { uid: user.uid, gid: user.gid, groups: user.groups },
            network: runtimeNetwork(network),
            limits: runLimits(session),
            // Docker does not set no_new_privs for RUN: setuid tools (su, sudo, ping) must work
            noNewPrivileges: false,
            // no syncfs of the store's whole filesystem at each unmount (nor fsyncs inside): the
            // snapshotter syncs once for the steps that ended meanwhile (commitDeferred below)
            volatile: true,
            ...(session.runsAhead === 0 ? { last: true } : {}),
            // this thread waits for the command now: meanwhile the digests of COPY steps ahead,
            // and the next RUN's directories (made after this one's commit began, they would wait
            // for the journal)
            onStarted: () => {
              session.prefetch?.();
              warmRuns(session);
            },
            mounts: m.mounts,
            stdout: (c) => outLines.write(c),
            stderr: (c) => errLines.write(c),
            ...(session.options.signal ? { signal: session.options.signal } : {}),
          });
          outLines.end();
          errLines.end();
          if (r.aborted) throw new TsbuildError('INTERRUPTED', 'build interrupted', at(ins.location), 130);
          if (r.exitCode !== 0) {
            const memory = runLimits(session).memoryBytes;
            const why = r.oomKilled
              ? `killed: out of memory (the step's limit is ${memory ? `${Math.round(memory / 2 ** 20)} MiB` : 'unset'}; raise it with --memory)`
              : (r.execError ?? `exit code: ${r.exitCode}`);
            const lastLines = tail.length ? ` (last output: ${tail.slice(-3).join(' | ').slice(0, 300)})` : '';
            throw new TsbuildError(
              'RUN_FAILED',
              `process ${JSON.stringify(argv.join(' '))} did not complete successfully: ${why}${lastLines}`,
              at(ins.location),
              Math.min(Math.max(r.exitCode, 1), 255),
            );
          }
          keepMountPoints(active.upperDir, new RootfsView([...lowerDirs].reverse()), m.dirTargets, session.sourceDateEpoch !== undefined ? session.sourceDateEpoch * 1000 : Date.now());
          const entries = await session.runtime.diff(rootfs);
          // the blob's fsync and rename go on while the next step runs (step-records.ts)
          const layer = await writeLayer(session.store, entries, {
            ...(session.sourceDateEpoch !== undefined ? { sourceDateEpoch: session.sourceDateEpoch } : {}),
            commitLater: commitLaterIn(session),
          });
          // the runtime's mount point and /etc files go while the next step runs (their removal can
          // wait behind the thread pool's fsyncs; nothing reads them again): the stage runner
          // waits for it at the build's end, exit cleanup removes what an interruption leaves
          const released: Promise<void> = session.runtime.release(rootfs).catch(() => {});
          session.background.add(released);
          void released.then(() => session.background.delete(released));
          rootfs = undefined;
          // the upper dir already is the new layer's snapshot in overlay format (whiteouts, opaque
          // xattrs): committing it saves unpacking the layer again for the next step. Its writes
          // are not on disk yet (volatile): it appears in the store once synced (stage-runner
          // settles), and the next steps use it where it is until then
          snapshots.commitDeferred(active, chainIds([...diffIds, layer.digest as Digest]).at(-1)!, blobCommit(session, layer.digest));
          active = undefined;
          return layer;
        } finally {
          release();
          if (rootfs) await session.runtime.release(rootfs);
          if (active) await snapshots.abort(active);
        }
      },
    });
  } finally {
    if (scratch !== undefined) await removeTree(scratch); // a private cache in it may hold any depth
  }
}

/** The command text, with heredoc bodies for the shell to read (or the body alone as the script). */
function scriptOf(ins: RunInstruction): string[] {
  if (ins.form === 'exec' || ins.heredocs.length === 0) return ins.command;
  const cmd = ins.command.join(' ');
  const only = ins.heredocs.length === 1 && /^\s*[0-9]*<<-?\s*["']?[A-Za-z0-9_]+["']?\s*$/.test(cmd);
  if (only) return [ins.heredocs[0]!.data];
  let text = cmd;
  for (const h of ins.heredocs) text += `\n${h.content}${h.content.endsWith('\n') || h.content === '' ? '' : '\n'}${h.name}`;
  return [text];
}
