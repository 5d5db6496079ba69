/**
 * `RUN --mount` types turned into sandbox mounts and cache-key parts:
 * - cache: a directory under the store's `cache-mounts/`, named by a digest of its id so no id
 *   (`../../x`, `/abs`) can point anywhere else (CVE-2024-9675); kept across builds, never in a layer;
 * - tmpfs: a fresh tmpfs;
 * - secret: the secret's bytes in a private temp file bound read-only (or an env variable); its
 *   content never reaches a layer, the history or the cache key — only its id does;
 * - bind: a context path, read-only by default; a `rw` bind gets a throwaway copy so writes never
 *   reach the context (CVE-2025-4953).
 */
import { hexOf, sha256 } from '../../image/digest.js';
import { renameSync as renameFs, chmodSync, chownSync, closeSync, constants, copyFileSync, openSync, cpSync, existsSync, lchownSync, linkSync, lstatSync, mkdirSync, readFileSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { TsbuildError } from '../../errors.js';
import type { RunMount, RunInstruction } from '../../parser/instructions.js';
import { parseMount } from '../../parser/run-mount.js';
import type { SandboxMount } from '../../runtime/index.js';
import type { StageExpander } from '../expand.js';
import { at } from '../plan.js';
import type { BuildSession } from '../session.js';
import type { StageState } from '../stage-state.js';
import { RootfsView } from '../../image/rootfs-view.js';
import type { BuildContext } from '../context.js';
import { buildCopyLayer } from './copy.js';
import type { FromResolver } from './copy-instruction.js';
import { layerTar } from '../../image/layer-writer.js';
import { extractLayer } from '../../image/layer-reader.js';
import { acquire } from '../../image/lock.js';
import { noteCacheMount } from '../cache-mount-uses.js';

export interface PreparedMounts {
  mounts: SandboxMount[];
  /** Directory mount points (bind/cache/tmpfs targets) that stay in the layer, as in BuildKit. */
  dirTargets: string[];
  /** Extra environment for `type=secret,env=NAME`. */
  env: string[];
  /** What the mounts contribute to the step's cache key (never secret content). */
  key: unknown[];
  /** Takes the cache mounts' sharing locks for the run (call when the step really runs); returns
   *  the release. `locked`: one run at a time per cache, across processes; `private`: a cache
   *  already in use is replaced by a fresh throwaway dir for this run. */
  acquire(): Promise<() => void>;
}

interface CacheClaim {
  mount: { source: string; beneath?: string };
  dir: string;
  sharing: 'locked' | 'private';
}

/** Expands and validates the step's mounts; `scratch` is a private temp dir removed after the run. */
export async function prepareMounts(
  session: BuildSession,
  state: StageState,
  ins: RunInstruction,
  x: StageExpander,
  scratch: string,
  resolveFrom: FromResolver,
): Promise<PreparedMounts> {
  const claims: CacheClaim[] = [];
  const out: PreparedMounts = { mounts: [], dirTargets: [], env: [], key: [], acquire: () => acquireCaches(claims, scratch) };
  await addMounts();
  return out;

  async function addMounts(): Promise<void> {
  const workdir = state.config.config.WorkingDir || '/';
  let n = 0;
  for (const raw of ins.mounts) {
    const m: RunMount = raw.needsExpansion ? reparse(raw.raw, (v) => x.word(state, v, ins.location), ins) : raw;
    const target = m.target !== undefined ? posix.resolve(workdir, m.target) : undefined;
    switch (m.type) {
      case 'cache': {
        if (!target) throw bad(ins, 'mount type=cache needs a target');
        const id = m.id ?? target;
        // BuildKit keys a cache on its id and its base: uid=/gid=/mode= (honoured only without a
        // source=) make the base a directory with that owner and mode, so each combination given
        // is a cache of its own (`uid=0` too: a base, unlike none)
        const perms = posix.join('/', m.source ?? '') === '/' && (m.uid !== undefined || m.gid !== undefined || m.mode !== undefined)
          ? `${m.uid ?? 0}:${m.gid ?? 0}:${(m.mode ?? 0o755).toString(8)}`
          : undefined;
        const keyHex = hexOf(sha256(perms ? `${id}\0${perms}` : id));
        const dir = session.store.cacheMountDir(keyHex);
        noteCacheMount(session, { id, key: keyHex, sharing: m.sharing ?? 'shared' });
        // with from=, a new cache starts as a copy of that stage's `source` (BuildKit: the base of
        // the cache); without, source= is a subdir of the cache
        const fromDirs = m.from !== undefined ? await resolveFrom(x.word(state, m.from, ins.location)) : undefined;
        if (!existsSync(dir)) {
          const fresh = join(scratch, `cache-new-${n++}`);
          mkdirSync(fresh, { mode: m.mode ?? 0o755 });
          if (fromDirs) await materializeFrom(fromDirs, m.source ?? '/', fresh, join(scratch, `cache-tmp-${n}`));
          chmodSync(fresh, m.mode ?? 0o755);
          chownSync(fresh, m.uid ?? 0, m.gid ?? 0);
          // appears whole or not at all; a concurrent build that made it first wins
          renameSync(fresh, dir, true);
        }
        const beneath = fromDirs ? '' : cacheSubdir(dir, m.source, ins);
        const mount: SandboxMount & { type: 'bind' } = { type: 'bind', source: dir, target, readonly: m.readOnly, ...(beneath ? { beneath } : {}) };
        out.mounts.push(mount);
        if (m.sharing === 'locked' || m.sharing === 'private') claims.push({ mount, dir, sharing: m.sharing });
        out.dirTargets.push(target);
        out.key.push({ type: 'cache', target, id, source: m.source, sharing: m.sharing ?? 'shared', ...(perms ? { perms } : {}) });
        break;
      }
      case 'tmpfs':
        if (!target) throw bad(ins, 'mount type=tmpfs needs a target');
        out.mounts.push({ type: 'tmpfs', target, ...(m.size ? { sizeBytes: m.size } : {}) });
        out.dirTargets.push(target);
        out.key.push({ type: 'tmpfs', target, size: m.size });
        break;
      case 'secret': {
        const id = m.id ?? m.source ?? (m.target ? posix.basename(m.target) : undefined);
        if (!id) throw bad(ins, 'mount type=secret needs an id or a target');
        const value = readSecret(session, id);
        if (value === undefined) {
          if (m.required) throw bad(ins, `secret ${id} is required but was not given (--secret id=${id},src=FILE)`);
          break;
        }
        if (m.env !== undefined && value.includes(0)) throw bad(ins, `secret ${id} holds a NUL byte, which an environment variable cannot (mount it as a file instead)`);
        if (m.env !== undefined && m.target === undefined) {
          out.env.push(`${m.env}=${value.toString('utf8')}`);
        } else {
          const file = join(scratch, `secret-${n++}`);
          writeFileSync(file, value, { mode: m.mode ?? 0o400 });
          chmodSync(file, m.mode ?? 0o400);
          chownSync(file, m.uid ?? 0, m.gid ?? 0);
          out.mounts.push({ type: 'bind', source: file, target: target ?? `/run/secrets/${id}`, readonly: true });
          if (m.env !== undefined) out.env.push(`${m.env}=${value.toString('utf8')}`);
        }
        out.key.push({ type: 'secret', id, target, env: m.env });
        break;
      }
      case 'bind': {
        if (!target) throw bad(ins, 'mount type=bind needs a target');
        if (m.from !== undefined) {
          // a stage's or image's files: materialized through COPY's own in-root semantics, so a
          // source that is (or goes through) a symlink to / stays in that stage (CVE-2024-1753)
          const dirs = await resolveFrom(x.word(state, m.from, ins.location));
          const dest = join(scratch, `bind-${n++}`);
          mkdirSync(dest);
          const source = m.source ?? '/';
          await materializeFrom(dirs, source, dest, join(scratch, `bind-tmp-${n}`));
          const view = new RootfsView([...dirs].reverse());
          const isFile = view.lookup(view.resolve(source))?.stat.isFile() ?? false;
          out.mounts.push({ type: 'bind', source: isFile ? join(dest, posix.basename(source)) : dest, target, readonly: m.readOnly });
          if (!isFile) out.dirTargets.push(target);
          out.key.push({ type: 'bind', target, from: dirs.map((d) => posix.basename(d)), source, rw: !m.readOnly });
          break;
        }
        const ctx = await session.context();
        // resolved like a COPY source, with the context as `/`: a symlink in the context (even the
        // source itself) never leads the bind to a host path outside it
        const hits = await ctx.resolveSources(m.source ?? '.', { followSymlinks: true }).catch((e: unknown) => {
          if (e instanceof TsbuildError && e.code === 'NOT_FOUND') throw bad(ins, `bind mount source ${JSON.stringify(m.source)} not found in the build context`);
          throw e;
        });
        if (hits.length !== 1) throw bad(ins, `bind mount source ${JSON.stringify(m.source)} must name exactly one path in the build context`);
        const entry = hits[0]!.entry;
        const rel = entry.relPath;
        const hostPath = entry.hostPath;
        const digest = await ctx.digest(rel);
        let source = hostPath;
        const readWrite = !m.readOnly;
        if (entry.type === 'dir' && !ctx.matcher.empty) {
          // .dockerignore'd files are not part of the context, for binds neither: the step sees a
          // tree of the visible files only (hard links when read-only, copies when rw)
          source = join(scratch, `bind-${n++}`);
          await materializeVisible(ctx, rel, source, readWrite);
        } else if (readWrite) {
          // a throwaway copy: what the step writes never reaches the context
          source = join(scratch, `bind-${n++}`);
          cpSync(hostPath, source, { recursive: true, verbatimSymlinks: true });
        }
        out.mounts.push({ type: 'bind', source, target, readonly: !readWrite });
        if (entry.type === 'dir') out.dirTargets.push(target);
        out.key.push({ type: 'bind', target, source: rel, digest, rw: readWrite });
        break;
      }
      case 'ssh': {
        // the host agent's socket itself, bound in: the key material never enters the build
        const id = m.id ?? 'default';
        const agent = session.options.ssh?.find((a) => a.id === id);
        if (!agent) {
          if (m.required) throw bad(ins, `ssh agent ${JSON.stringify(id)} is required but was not given (--ssh ${id}=SOCKET)`);
          break;
        }
        const sshTarget = target ?? `/run/buildkit/ssh_agent.${n++}`;
        out.mounts.push({ type: 'bind', source: agent.socket, target: sshTarget, readonly: false });
        out.env.push(`SSH_AUTH_SOCK=${sshTarget}`);
        out.key.push({ type: 'ssh', id, target: sshTarget });
        break;
      }
    }
  }
  }
}

/**
 * `source=` of a cache mount: a subdirectory of the cache, created when missing. Other steps (even
 * running right now, in a parallel stage) can write anything into the cache, a symlink to / too,
 * and swap it in at any moment. So the missing dirs are made one directory fd at a time (through
 * /proc/self/fd, never following a symlink), and the mount does not take this path on trust: the
 * sandbox helper resolves it again below the cache dir by fd with no symlinks allowed, right before
 * it clones the mount (CVE-2024-9675, CVE-2024-23651). Returns the relative sub-path ('' = the root).
 */
export function cacheSubdir(dir: string, source: string | undefined, ins: RunInstruction): string {
  const parts = posix.normalize('/' + (source ?? '')).split('/').filter(Boolean);
  if (parts.length === 0) return '';
  const flags = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;
  // another step removing or swapping a directory between our mkdir and open shows as ENOENT:
  // made again a few times, then a clear error (never a raw errno)
  const changing = (e: unknown) =>
    bad(ins, `cache mount source ${JSON.stringify(source)} kept changing while the mount was prepared (${(e as NodeJS.ErrnoException).code}): another step is modifying that cache right now`);
  let fd: number;
  try {
    fd = openSync(dir, flags);
  } catch (e) {
    throw changing(e);
  }
  try {
    for (const p of parts) {
      const next = `/proc/self/fd/${fd}/${p}`;
      let nfd: number | undefined;
      for (let attempt = 0; nfd === undefined; attempt++) {
        try {
          mkdirSync(next, { mode: 0o755 }); // never follows: an existing symlink is EEXIST
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw changing(e); // our dir itself is gone
        }
        try {
          nfd = openSync(next, flags);
        } catch (e) {
          const code = (e as NodeJS.ErrnoException).code;
          if (code === 'ELOOP' || code === 'ENOTDIR') {
            throw bad(ins, `cache mount source ${JSON.stringify(source)} is not a directory in the cache (a symlink or a file there is never followed)`);
          }
          if (code !== 'ENOENT' || attempt >= 3) throw changing(e);
        }
      }
      closeSync(fd);
      fd = nfd;
    }
  } finally {
    closeSync(fd);
  }
  return parts.join('/');
}

/** Copies `source` of a stage's or image's rootfs into `dest` with COPY's in-root semantics. */
async function materializeFrom(dirs: string[], source: string, dest: string, tmp: string): Promise<void> {
  const entries = await buildCopyLayer(
    { isAdd: false, sources: [source], dest: '/', workdir: '/', from: { kind: 'image', view: new RootfsView([...dirs].reverse()) }, nowMs: 0 },
    new RootfsView([]),
    tmp,
  );
  await extractLayer(layerTar(entries), dest, { mode: 'apply' });
}

/** rename(2) that leaves an existing destination alone (someone else made it meanwhile). */
function renameSync(from: string, to: string, dropIfExists: boolean): void {
  try {
    renameFs(from, to);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (!dropIfExists || (code !== 'EEXIST' && code !== 'ENOTEMPTY')) throw e;
  }
}

/** Recreates the visible (not ignored) part of context dir `rel` at `dest`. */
async function materializeVisible(ctx: BuildContext, rel: string, dest: string, copy: boolean): Promise<void> {
  mkdirSync(dest, { mode: 0o755 });
  const strip = rel === '' ? 0 : rel.length + 1;
  for await (const e of ctx.walk({ under: rel })) {
    const to = join(dest, e.relPath.slice(strip));
    if (e.type === 'dir') mkdirSync(to, { mode: e.mode });
    else if (e.type === 'symlink') symlinkSync(e.linkname ?? '', to);
    else if (e.type === 'file') {
      if (copy) copyFileSync(e.hostPath, to);
      else {
        try {
          linkSync(e.hostPath, to);
        } catch (err) {
          // the store and the context on different filesystems: a copy then
          if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
          copyFileSync(e.hostPath, to);
        }
      }
    }
  }
}

async function acquireCaches(claims: CacheClaim[], scratch: string): Promise<() => void> {
  const releases: Array<() => void> = [];
  const releaseAll = () => releases.splice(0).reverse().forEach((r) => r());
  try {
    for (const [i, c] of claims.entries()) {
      const lock = `${c.dir}.lock`;
      if (c.sharing === 'locked') {
        releases.push(await acquire(lock, { timeoutMs: 3_600_000 }));
        continue;
      }
      try {
        releases.push(await acquire(lock, { timeoutMs: 0 }));
      } catch (e) {
        if (!(e instanceof TsbuildError) || e.code !== 'CONFLICT') throw e;
        // in use elsewhere: this run gets an empty cache of its own, thrown away after
        const own = join(scratch, `private-cache-${i}`);
        mkdirSync(own);
        c.mount.source = own;
        delete c.mount.beneath;
      }
    }
  } catch (e) {
    releaseAll();
    throw e;
  }
  return releaseAll;
}

/**
 * Where runc mounts proc, the /dev tmpfs and sysfs for BuildKit. It makes these mount points when
 * the root lacks them, and BuildKit's stub cleaner (which takes away the /etc/hosts and
 * /etc/resolv.conf stubs, and since 0.11 an /etc left empty by that) never touches them: a RUN on
 * a root without them (`FROM scratch` + a copied busybox) has them in its layer, root 0755.
 */
const RUNTIME_MOUNT_POINTS = ['/dev', '/proc', '/sys'];

/**
 * BuildKit leaves a directory mount point that the image lacked as an empty directory in the
 * layer (the runtime's own; the step's bind/cache/tmpfs targets as Docker 20.10 does, while
 * BuildKit 0.11+ removes those when empty: see the README); the sandbox removed its stubs, so they
 * are made again in the upper dir. Parents that exist below are copied up with their own metadata
 * (as overlay does), new ones are root 0755.
 */
export function keepMountPoints(upperDir: string, view: RootfsView, targets: readonly string[], mtimeMs: number): void {
  for (const target of [...RUNTIME_MOUNT_POINTS, ...targets]) {
    const resolved = view.resolve(target);
    if (view.lookup(resolved)) continue;
    const parts = resolved.split('/').filter(Boolean);
    let host = upperDir;
    for (let i = 0; i < parts.length; i++) {
      host = join(host, parts[i]!);
      const inUpper = lstatOrNull(host);
      if (inUpper) {
        if (!inUpper.isDirectory()) break; // replaced by a file in this run: nothing to keep
        continue;
      }
      const below = view.lookup('/' + parts.slice(0, i + 1).join('/'));
      if (below && !below.stat.isDirectory()) break;
      mkdirSync(host);
      const st = below?.stat;
      chmodSync(host, st ? st.mode & 0o7777 : 0o755);
      lchownSync(host, st?.uid ?? 0, st?.gid ?? 0);
      const t = (st?.mtimeMs ?? mtimeMs) / 1000;
      utimesSync(host, t, t);
    }
  }
}

function lstatOrNull(p: string) {
  try {
    return lstatSync(p);
  } catch {
    return null;
  }
}

function readSecret(session: BuildSession, id: string): Buffer | undefined {
  const s = session.options.secrets?.find((x) => x.id === id);
  if (!s) return undefined;
  if (s.src !== undefined) {
    try {
      return readFileSync(s.src);
    } catch (e) {
      throw new TsbuildError('NOT_FOUND', `secret ${id}: cannot read ${s.src}: ${(e as NodeJS.ErrnoException).code ?? e}`);
    }
  }
  const v = process.env[s.env ?? id];
  return v === undefined ? undefined : Buffer.from(v);
}

function reparse(raw: string, expand: (v: string) => string, ins: RunInstruction): RunMount {
  try {
    return parseMount(raw, expand);
  } catch (e) {
    if (e instanceof TsbuildError) throw e;
    throw bad(ins, (e as Error).message);
  }
}

function bad(ins: RunInstruction, msg: string): TsbuildError {
  return new TsbuildError('INVALID', msg, at(ins.location));
}
