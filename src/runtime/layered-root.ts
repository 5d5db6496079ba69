/**
 * Reads files of an image's root filesystem straight from its layer directories (overlayfs format,
 * lowest first), without mounting anything: whiteouts (char 0/0) delete, opaque directories hide
 * the layers below, and every symlink — absolute or relative, final or in the middle — resolves
 * inside the root, never on the host (CVE-2024-9676: /etc/passwd -> /host/file must stay inside).
 */
import { lstat, open, readlink } from 'node:fs/promises';
import { constants, type Stats } from 'node:fs';
import { join } from 'node:path';
import { TsbuildError } from '../errors.js';
import { fsx } from '../native/fsx.js';

export interface RootEntry {
  /** Host path of the topmost copy of the entry. */
  hostPath: string;
  stats: Stats;
}

const MAX_LINKS = 40; // as the kernel's ELOOP limit

/** Resolves PATH inside the layered root (following a final symlink too). null when absent. */
export async function lookupInRoot(lowerDirs: readonly string[], path: string): Promise<RootEntry | null> {
  const rootLayers = [...lowerDirs].reverse(); // topmost first
  if (rootLayers.length === 0) return null;
  // the directories walked so far, each with the layers that make it up (topmost first)
  let stack: { name: string; layers: string[] }[] = [];
  const layers = () => (stack.length ? stack[stack.length - 1]!.layers : rootLayers);
  const todo = path.split('/').reverse(); // a stack of components, next on top
  let hops = 0;
  while (todo.length > 0) {
    const c = todo.pop()!;
    if (c === '' || c === '.') continue;
    if (c === '..') {
      stack.pop(); // never above the root
      continue;
    }
    const rel = [...stack.map((d) => d.name), c].join('/');
    const found = await lookupName(layers(), rel);
    if (!found) return null;
    if (found.stats.isSymbolicLink()) {
      if (++hops > MAX_LINKS) throw new TsbuildError('UNSAFE', `${path}: too many levels of symbolic links`);
      const target = await readlink(found.hostPath);
      todo.push(...target.split('/').reverse());
      if (target.startsWith('/')) stack = [];
      continue;
    }
    if (todo.some((t) => t !== '' && t !== '.')) {
      if (!found.stats.isDirectory()) return null; // ENOTDIR: treat as absent
      stack.push({ name: c, layers: await childLayers(layers(), rel) });
      continue;
    }
    return found;
  }
  // the path names a directory reached through '..', '.' or a symlink: its topmost copy
  const rel = stack.map((d) => d.name).join('/');
  const top = layers()[0]!;
  const hostPath = rel ? join(top, rel) : top;
  return { hostPath, stats: await lstat(hostPath) };
}

/** The content of a regular file inside the layered root, or null when it does not exist. */
export async function readFileInRoot(lowerDirs: readonly string[], path: string, maxBytes = 16 << 20): Promise<Buffer | null> {
  const e = await lookupInRoot(lowerDirs, path);
  if (!e || !e.stats.isFile()) return null;
  if (e.stats.size > maxBytes) throw new TsbuildError('INVALID', `/${path.replace(/^\/+/, '')} is too large (${e.stats.size} bytes)`);
  // O_NOFOLLOW: the entry was checked to be a regular file, never follow anything on the host
  const fh = await open(e.hostPath, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    return await fh.readFile();
  } finally {
    await fh.close();
  }
}

// ---- helpers ----------------------------------------------------------------------------------

/* The topmost entry named REL among LAYERS (topmost first); a whiteout means absent. */
async function lookupName(layers: readonly string[], rel: string): Promise<RootEntry | null> {
  for (const l of layers) {
    const hostPath = join(l, rel);
    const st = await lstat(hostPath).catch(() => null);
    if (!st) continue;
    if (st.isCharacterDevice() && st.rdev === 0) return null;
    return { hostPath, stats: st };
  }
  return null;
}

/* Which of the parent's layers (topmost first) make up directory REL: down from the topmost that
 * has it, until one where it is opaque or is not a directory (that hides everything below). */
async function childLayers(parentLayers: readonly string[], rel: string): Promise<string[]> {
  const out: string[] = [];
  for (const l of parentLayers) {
    const hostPath = join(l, rel);
    const st = await lstat(hostPath).catch(() => null);
    if (!st) continue;
    if (!st.isDirectory()) break;
    out.push(l);
    const v = fsx().lgetxattr(hostPath, 'trusted.overlay.opaque');
    if (v && v.toString('latin1') === 'y') break;
  }
  return out;
}
