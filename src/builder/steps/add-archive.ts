/**
 * ADD's local archives: recognised by CONTENT (plain tar, gzip, bzip2, xz, zstd — never by
 * extension),
 * then read entry by entry into layer entries under a destination directory. Nothing is
 * extracted onto the host filesystem except file bytes, into the caller's scratch dir, so an
 * archive cannot write anywhere else; names are still checked the way an extractor must:
 * no absolute names, no `..` escaping, hardlinks only to files the archive already holds (all
 * TsbuildError 'UNSAFE'; Docker instead strips a leading `/` or `../` and extracts such names
 * inside the destination). Where a member goes is the caller's `place`: Docker extracts chrooted
 * into the destination, so a member written through a symlink (even one the archive made, like
 * `l -> ..` then `l/file`) lands where that link leads with the destination as `/`.
 * bzip2/xz/zstd are decoded by the system's `bzip2 -dc` / `xz -dc` / `zstd -dc` (Node 20's zlib
 * has gzip only).
 */
import { spawn } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { TsbuildError } from '../../errors.js';
import type { LayerEntry } from '../../image/layer-entry.js';
import { readTar } from '../../image/tar-format.js';

export type ArchiveKind = 'tar' | 'gzip' | 'bzip2' | 'xz' | 'zstd';

/** The archive kind of a file, or null when it is not a (possibly compressed) tar archive. */
export async function detectArchive(hostPath: string): Promise<ArchiveKind | null> {
  const head = await readHead(hostPath, 512);
  const compression = compressionOf(head);
  if (compression === null) return isTarHeader(head) ? 'tar' : null;
  // A compressed stream is an archive only when what it holds starts with a tar header.
  let inner: Buffer;
  try {
    inner = await readHeadOf(decompressed(hostPath, compression), 512);
  } catch {
    return null;
  }
  return isTarHeader(inner) ? compression : null;
}

/**
 * The layer entries of an archive with the archive's owners and modes, one at a time in archive
 * order (later entries for one path win; the caller sorts). `place` maps a cleaned
 * archive-relative path to its layer path (the caller resolves it with the destination as root,
 * and sees its own handling of earlier entries, the archive's symlinks included). File bytes are
 * written under `scratchDir`.
 */
export async function* archiveEntries(
  hostPath: string,
  kind: ArchiveKind,
  place: (rel: string) => string,
  scratchDir: string,
): AsyncGenerator<LayerEntry> {
  const types = new Map<string, string>(); // layer path -> entry type (hardlinks as 'file')
  let n = 0;
  const source = kind === 'tar' ? createReadStream(hostPath) : decompressed(hostPath, kind);
  for await (const { header: h, body } of readTarOrCorrupt(source, hostPath)) {
    if (h.type === 'other') {
      for await (const _ of body) void _; // unknown kinds (e.g. sparse) are skipped, as Docker does
      continue;
    }
    const rel = safeName(h.name);
    if (rel === '') {
      for await (const _ of body) void _;
      continue;
    }
    const e: LayerEntry = {
      path: place(rel),
      type: h.type,
      // a symlink's mode means nothing on Linux: extracted, it is 0777 whatever the archive says
      mode: h.type === 'symlink' ? 0o777 : h.mode & 0o7777,
      uid: h.uid,
      gid: h.gid,
      size: 0,
      mtimeMs: h.mtime * 1000,
    };
    if (h.xattrs && Object.keys(h.xattrs).length > 0) e.xattrs = h.xattrs;
    if (h.type === 'symlink') e.linkname = h.linkname ?? '';
    if (h.type === 'hardlink') {
      const target = place(safeName(h.linkname ?? '', 'hardlink target'));
      if (types.get(target) !== 'file') {
        throw new TsbuildError('UNSAFE', `archive hardlink "${h.name}" points at "${h.linkname}", which is not a file earlier in the archive`);
      }
      e.linkname = target;
    }
    if (h.type === 'char' || h.type === 'block') {
      e.devmajor = h.devmajor ?? 0;
      e.devminor = h.devminor ?? 0;
    }
    if (h.type === 'file') {
      const file = join(scratchDir, `entry-${n++}`);
      await pipeline(Readable.from(body), createWriteStream(file, { mode: 0o600 }));
      e.size = h.size;
      e.sourcePath = file;
    } else {
      for await (const _ of body) void _;
    }
    types.set(e.path, h.type === 'hardlink' ? 'file' : h.type);
    yield e;
  }
}

// ---------------------------------------------------------------------------------------------

/** readTar, with decompression failures (zlib errors, a failing decoder) reported as CORRUPT. */
async function* readTarOrCorrupt(source: AsyncIterable<Buffer>, hostPath: string): ReturnType<typeof readTar> {
  try {
    yield* readTar(source);
  } catch (e) {
    if (e instanceof TsbuildError) throw e;
    throw new TsbuildError('CORRUPT', `cannot read archive ${hostPath}: ${(e as Error).message}`);
  }
}

function compressionOf(head: Buffer): Exclude<ArchiveKind, 'tar'> | null {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 3 && head.subarray(0, 3).toString('latin1') === 'BZh') return 'bzip2';
  if (head.length >= 6 && head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
  if (head.length >= 4 && head.subarray(0, 4).equals(Buffer.from([0x28, 0xb5, 0x2f, 0xfd]))) return 'zstd';
  return null;
}

/** A tar header block: its checksum (computed with the checksum field as spaces) must match. */
export function isTarHeader(b: Buffer): boolean {
  if (b.length < 512) return false;
  const field = b.subarray(148, 156).toString('latin1').replace(/[\0 ]+$/u, '').trim();
  if (!/^[0-7]+$/.test(field)) return false;
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : b[i]!;
  return sum === parseInt(field, 8);
}

function decompressed(hostPath: string, kind: Exclude<ArchiveKind, 'tar'>): AsyncIterable<Buffer> {
  if (kind === 'gzip') return createReadStream(hostPath).pipe(createGunzip());
  return spawnDecoder(kind, hostPath);
}

/** Streams `<tool> -dc < file`; a non-zero exit (corrupt input) fails the stream as CORRUPT. */
async function* spawnDecoder(tool: string, hostPath: string): AsyncGenerator<Buffer> {
  const child = spawn(tool, ['-dc'], { stdio: ['pipe', 'pipe', 'pipe'] });
  const exited = new Promise<number>((resolve, reject) => {
    child.on('error', (e) => reject(new TsbuildError('RUNTIME', `cannot run ${tool} to decompress ${hostPath}: ${e.message}`)));
    child.on('close', (code) => resolve(code ?? 1));
  });
  exited.catch(() => undefined);
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const input = createReadStream(hostPath);
  input.pipe(child.stdin);
  child.stdin.on('error', () => undefined); // the tool may stop reading early (we only wanted a head)
  let done = false;
  try {
    for await (const chunk of child.stdout) yield chunk as Buffer;
    done = true;
  } finally {
    if (!done) {
      input.destroy();
      child.kill();
    }
  }
  const code = await exited;
  if (code !== 0) throw new TsbuildError('CORRUPT', `${tool} could not decompress ${hostPath}: ${stderr.trim()}`);
}

async function readHead(hostPath: string, n: number): Promise<Buffer> {
  const fh = await open(hostPath, 'r');
  try {
    const buf = Buffer.alloc(n);
    const { bytesRead } = await fh.read(buf, 0, n, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/** The first `n` bytes of a stream (fewer if it ends), then the stream is abandoned. */
async function readHeadOf(src: AsyncIterable<Buffer>, n: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let have = 0;
  const it = src[Symbol.asyncIterator]();
  try {
    while (have < n) {
      const r = await it.next();
      if (r.done) break;
      chunks.push(r.value);
      have += r.value.length;
    }
  } finally {
    await it.return?.();
  }
  return Buffer.concat(chunks).subarray(0, n);
}

/** An archive name as a clean relative path ('' for the root); UNSAFE when it would leave it. */
function safeName(name: string, what = 'entry'): string {
  if (name.includes('\0')) throw new TsbuildError('UNSAFE', `archive ${what} name contains NUL: ${JSON.stringify(name)}`);
  if (name.startsWith('/')) throw new TsbuildError('UNSAFE', `archive ${what} has an absolute name: "${name}"`);
  const out: string[] = [];
  for (const c of name.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') {
      if (out.length === 0) throw new TsbuildError('UNSAFE', `archive ${what} leaves the destination: "${name}"`);
      out.pop();
      continue;
    }
    out.push(c);
  }
  return out.join('/');
}
