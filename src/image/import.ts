/**
 * `import`: a root filesystem tarball (plain or gzip'd) -> a one-layer image, as `docker import`
 * makes it. The tar is checked while it streams into the store (layer-check.ts), and only a
 * valid one is ever stored.
 */
import { createReadStream } from 'node:fs';
import { basename } from 'node:path';
import { TsbuildError } from '../errors.js';
import { LayerCheck, checkedLayer } from './layer-check.js';
import { peek, isGzip, isZstd, gunzip } from './byte-streams.js';
import { emptyConfig, type ImageConfig } from './config.js';
import type { StoredImage } from './store.js';
import type { ImageCatalog, StoreContent } from './store-roles.js';
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

/** Imports from a file path, or from a byte stream (stdin) named `name` in history and messages. */
export async function importRootfs(store: StoreContent & ImageCatalog, input: string | AsyncIterable<Buffer>, opts: ImportOptions = {}, name = '-'): Promise<StoredImage> {
  const file = typeof input === 'string' ? input : name;
  const tags = opts.tag ? [normalizeTag(opts.tag)] : [];
  let src: AsyncIterable<Buffer>;
  let head: Buffer;
  try {
    const p = await peek(typeof input === 'string' ? createReadStream(input, { highWaterMark: 1 << 20 }) : input);
    head = p.head;
    src = p.all;
  } catch (e) {
    throw new TsbuildError('NOT_FOUND', `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (isZstd(head)) throw new TsbuildError('INVALID', `${file}: zstd is not supported; use a plain or gzip'd tar`);
  if (isGzip(head)) src = gunzip(src);
  const layer = await store.putBlob(checkedLayer(src, new LayerCheck(), true));
  const created = (opts.created ?? new Date()).toISOString().replace(/\.000Z$/, 'Z');
  const cfg = emptyConfig(created);
  if (opts.config) cfg.config = { ...opts.config };
  cfg.history = [{ created, comment: opts.message ?? `Imported from ${basename(file)}` }];
  return store.putImage({ config: cfg, layers: [layer], tags });
}
