/**
 * `import`: a root filesystem tarball (plain or gzip'd) -> a one-layer image, as `docker import`
 * makes it. The tar is checked while it streams into the store (every name must stay inside the
 * root: no absolute names, no `..`), and only a valid one is ever stored.
 */
import { createReadStream } from 'node:fs';
import { basename } from 'node:path';
import { PassThrough } from 'node:stream';
import { once } from 'node:events';
import { TsbuildError } from '../errors.js';
import { readTar } from './tar-format.js';
import { cleanName } from './layer-reader.js';
import { peek, isGzip, isZstd, gunzip } from './byte-streams.js';
import { emptyConfig, type ImageConfig } from './config.js';
import type { ImageStore, StoredImage } from './store.js';
import { normalizeTag } from './store.js';

export interface ImportOptions {
  /** `name[:tag]` to give the image. */
  tag?: string;
  /** History comment (default `Imported from <file>`). */
  message?: string;
  /** Creation time (default now; SOURCE_DATE_EPOCH makes it reproducible). */
  created?: Date;
  /** Config fields to set (e.g. Cmd, Env). */
  config?: ImageConfig['config'];
}

export async function importRootfs(store: ImageStore, file: string, opts: ImportOptions = {}): Promise<StoredImage> {
  const tags = opts.tag ? [normalizeTag(opts.tag)] : [];
  let src: AsyncIterable<Buffer>;
  let head: Buffer;
  try {
    const p = await peek(createReadStream(file, { highWaterMark: 1 << 20 }));
    head = p.head;
    src = p.all;
  } catch (e) {
    throw new TsbuildError('NOT_FOUND', `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (isZstd(head)) throw new TsbuildError('INVALID', `${file}: zstd is not supported; use a plain or gzip'd tar`);
  if (isGzip(head)) src = gunzip(src);
  const layer = await store.putBlob(validated(src));
  const created = (opts.created ?? new Date()).toISOString().replace(/\.000Z$/, 'Z');
  const cfg = emptyConfig(created);
  if (opts.config) cfg.config = { ...opts.config };
  cfg.history = [{ created, comment: opts.message ?? `Imported from ${basename(file)}` }];
  return store.putImage({ config: cfg, layers: [layer], tags });
}

/**
 * Passes the bytes on while a tar parser reads the same bytes alongside; the stream only ends
 * (and the blob is only stored) once the parser has accepted the whole archive.
 */
async function* validated(src: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  const tee = new PassThrough({ highWaterMark: 4 << 20 });
  let entries = 0;
  const parsing = (async () => {
    for await (const { header, body } of readTar(tee)) {
      cleanName(header.name);
      if (header.type === 'hardlink') cleanName(header.linkname ?? '', 'hard link target');
      entries++;
      for await (const _ of body) void _;
    }
    // Drain anything after the end marker so the writer never blocks.
    tee.resume();
  })();
  let failed: unknown;
  parsing.catch((e) => {
    failed = e;
    tee.resume();
  });
  for await (const chunk of src) {
    if (failed) break;
    if (!tee.write(chunk)) await Promise.race([once(tee, 'drain'), parsing.catch(() => {})]);
    yield chunk;
  }
  tee.end();
  await parsing;
  if (entries === 0) throw new TsbuildError('CORRUPT', 'not a tar archive (no entries)');
}
