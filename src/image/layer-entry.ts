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
