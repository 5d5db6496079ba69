/**
 * One entry of a layer, as the runtime's diff produces it and the layer tar writer consumes it.
 * This is the contract between src/runtime/ (upper dir -> entries) and src/image/ (entries -> tar):
 * neither knows how the other works.
 */

import type { Stats } from 'node:fs';

export type LayerEntryType = 'file' | 'dir' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo';

export interface LayerEntry {
  /** Layer-relative path, '/'-separated, no leading '/' or './' (e.g. `etc/passwd`). Whiteouts are
   *  spelled as OCI spells them: `dir/.wh.name` for a deleted `dir/name`, `dir/.wh..wh..opq` for an
   *  opaque directory (both with type 'file' and size 0). */
  path: string;
  type: LayerEntryType;
  /** Permission bits including setuid/setgid/sticky (mode & 0o7777). */
  mode: number;
  uid: number;
  gid: number;
  /** Content size in bytes (regular files only; 0 otherwise). */
  size: number;
  /** Modification time in milliseconds since the epoch (writers may clamp it). */
  mtimeMs: number;
  /** Symlink target, or for 'hardlink' the layer-relative path of the entry it links to. */
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  /** Extended attributes to keep (e.g. security.capability), name -> raw value. */
  xattrs?: Record<string, Buffer>;
  /** Where to read a regular file's content from (absolute host path). */
  sourcePath?: string;
  /** The source file's identity when it was listed (snapshot-writer.ts's identityOf), if the lister
   *  had its stat data: the snapshot writer then takes a donor without a stat of its own, for the
   *  content as listed (what the cache key was computed from). */
  sourceIdentity?: string;
}

/**
 * A device node's major and minor numbers from its `st_rdev`, in glibc's dev_t encoding (what
 * Linux's stat gives and Go's unix.Major/Minor read): the one copy for RUN's diff, the context
 * walk and COPY sources. Takes a bigint (`lstat(..., { bigint: true })`) or a number.
 */
export function deviceNumbers(rdev: number | bigint): { devmajor: number; devminor: number } {
  const d = BigInt(rdev);
  return {
    // glibc's gnu_dev_major / gnu_dev_minor, masks included (without them a major above 4095
    // leaks into the minor: two of the former copies had that bug)
    devmajor: Number(((d >> 8n) & 0xfffn) | ((d >> 32n) & 0xfffff000n)),
    devminor: Number((d & 0xffn) | ((d >> 12n) & 0xffffff00n)),
  };
}

/** The entry type of an lstat result; 'socket' for sockets, which no layer can hold. */
export function entryTypeOf(st: Stats): Exclude<LayerEntryType, 'hardlink'> | 'socket' {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isCharacterDevice()) return 'char';
  if (st.isBlockDevice()) return 'block';
  if (st.isFIFO()) return 'fifo';
  return 'socket';
}
