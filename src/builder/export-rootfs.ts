/**
 * `--output type=local,dest=DIR` and `type=tar,dest=FILE`: the final stage's root filesystem as files
 * (its layers applied in order, whiteouts honoured) or as one tar of them.
 *
 * A local export writes an untrusted image's files onto the host, so by default nothing in it can
 * give another user more rights than the invoking user has:
 * - every file belongs to the invoking user (SUDO_UID/SUDO_GID when tsbuild runs through sudo, else
 *   the process's uid/gid), as BuildKit's client does (its local exporter writes with the client's
 *   own uid/gid);
 * - setuid and setgid bits and file capabilities (security.capability) are dropped, and device
 *   nodes and fifos are left out — BuildKit keeps both, which as root puts a setuid-root binary or
 *   a world-writable node of the root disk on the host; tsbuild does not follow it there;
 * - the tree is made in a private (0700) directory next to DIR and renamed into place only when it
 *   is safe, so no other user ever sees an intermediate state.
 * `preserve-owner=true` asks for the image's tree as it is (owners, setuid/setgid bits,
 * capabilities, device nodes, fifos), e.g. to chroot into it.
 */
import { chmodSync, existsSync, lchownSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, rmdirSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { basename, dirname, join, resolve } from 'node:path';
import type { BlobInfo } from '../image/blobs.js';
import type { Digest } from '../image/digest.js';
import { extractLayer } from '../image/layer-reader.js';
import type { ScratchSpace, StoreContent } from '../image/store-roles.js';
import { fsx } from '../native/fsx.js';
import { TsbuildError } from '../errors.js';

export interface RootfsOutput {
  type: 'tar' | 'local';
  dest: string;
  /** local only: keep the image's owners, special bits and device nodes (`preserve-owner=true`). */
  preserveOwner?: boolean;
}

export async function exportRootfs(store: StoreContent & ScratchSpace, layers: BlobInfo[], out: RootfsOutput): Promise<void> {
  if (out.type === 'local') return exportLocal(store, layers, out);
  const tmp = store.tempPath('export');
  mkdirSync(tmp);
  try {
    for (const l of layers) await extractLayer(store.openBlob(l.digest as Digest), tmp, { mode: 'apply' });
    await new Promise<void>((resolve, reject) => {
      const tar = spawn('tar', ['--sort=name', '--numeric-owner', '--xattrs', '-C', tmp, '-cf', out.dest, '.'], { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      tar.stderr.on('data', (d: Buffer) => (err += d.toString()));
      tar.on('error', reject);
      tar.on('close', (code) => (code === 0 ? resolve() : reject(new TsbuildError('RUNTIME', `writing ${out.dest} failed: ${err.trim()}`))));
    });
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** The owner exported files get: the user who ran tsbuild (through sudo too). */
export function invokingUser(env: NodeJS.ProcessEnv = process.env): { uid: number; gid: number } {
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  const id = (v: string | undefined) => (v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined);
  const sudoUid = id(env.SUDO_UID);
  const sudoGid = id(env.SUDO_GID);
  if (uid === 0 && sudoUid !== undefined && sudoGid !== undefined) return { uid: sudoUid, gid: sudoGid };
  return { uid, gid };
}

async function exportLocal(store: StoreContent & ScratchSpace, layers: BlobInfo[], out: RootfsOutput): Promise<void> {
  const dest = resolve(out.dest);
  if (existsSync(dest) && readdirSync(dest).length > 0) {
    throw new TsbuildError('CONFLICT', `--output dest ${out.dest} exists and is not empty`);
  }
  mkdirSync(dirname(dest), { recursive: true });
  // private until renamed into place: made next to DEST so the rename stays on one filesystem
  const work = mkdtempSync(join(dirname(dest), `.${basename(dest)}.tsbuild-`));
  try {
    const root = join(work, 'root');
    mkdirSync(root, { mode: 0o755 });
    for (const l of layers) await extractLayer(store.openBlob(l.digest as Digest), root, { mode: 'apply' });
    if (!out.preserveOwner) {
      const owner = invokingUser();
      defang(root, owner);
      lchownSync(root, owner.uid, owner.gid);
    }
    chmodSync(root, 0o755);
    if (existsSync(dest)) rmdirSync(dest); // empty (checked above); rename needs it gone or empty
    renameSync(root, dest);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** Gives everything below `dir` to `owner`; drops setuid/setgid and capabilities; removes nodes. */
function defang(dir: string, owner: { uid: number; gid: number }): void {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const st = lstatSync(p);
    if (st.isCharacterDevice() || st.isBlockDevice() || st.isFIFO() || st.isSocket()) {
      rmSync(p);
      continue;
    }
    // chown first: it clears the special bits itself on files, chmod then settles every kind
    lchownSync(p, owner.uid, owner.gid);
    if (st.isSymbolicLink()) continue;
    if (st.isFile()) fsx().lremovexattr(p, 'security.capability');
    chmodSync(p, st.mode & 0o1777);
    if (st.isDirectory()) defang(p, owner);
  }
}
