/**
 * The gzip forms of stored layers, for a push or a cache export: the store keeps layers
 * uncompressed, registries and caches take them compressed. Per layer, the remembered origin blob
 * (what a pull or load received) or our earlier gzip when the target already holds it (no
 * recompression, same digest); else tsbuild's deterministic gzip (compress.ts), compressed once
 * into a temp file in the store. As a content provider it serves those temp files and, for
 * everything else, the store's blobs; `cleanup()` removes the temp files.
 */
import { createReadStream, promises as fsp } from 'node:fs';
import type { Readable } from 'node:stream';
import { TsbuildError } from '../errors.js';
import type { BlobInfo } from './blobs.js';
import { GzipPool, gzipFile } from './compress.js';
import type { ContentInfo, ContentProvider } from './content.js';
import type { Digest } from './digest.js';
import { MT, type Descriptor } from './manifest.js';
import type { LayerCompressions, ScratchSpace, StoreContent } from './store-roles.js';

export class LayerCompressor implements ContentProvider {
  private pool: GzipPool | undefined;
  /** gzip digest → its temp file and size (made by this compressor). */
  private readonly temps = new Map<string, { path: string; size: number }>();
  private readonly memo = new Map<string, Promise<Descriptor<string>>>();
  private readonly known = new Map<string, Promise<boolean>>();

  constructor(
    readonly store: StoreContent & LayerCompressions & ScratchSpace,
    private readonly targetHas: (digest: string) => Promise<boolean>,
  ) {}

  /** Whether the target has a blob (asked once per digest). */
  readonly has = (digest: string): Promise<boolean> => {
    let v = this.known.get(digest);
    if (!v) this.known.set(digest, (v = this.targetHas(digest)));
    return v;
  };

  /** The registry descriptor (gzip) for a stored layer. */
  descriptor(layer: BlobInfo): Promise<Descriptor<string>> {
    let p = this.memo.get(layer.digest);
    if (!p) this.memo.set(layer.digest, (p = this.make(layer)));
    return p;
  }

  async info(digest: string): Promise<ContentInfo | undefined> {
    const t = this.temps.get(digest);
    return t ? { digest, size: t.size } : this.store.blobs.info(digest);
  }

  open(digest: string): Readable {
    const t = this.temps.get(digest);
    return t ? createReadStream(t.path, { highWaterMark: 1 << 20 }) : this.store.blobs.open(digest);
  }

  async cleanup(): Promise<void> {
    await this.pool?.close();
    this.pool = undefined;
    const paths = [...this.temps.values()].map((t) => t.path);
    this.temps.clear();
    await Promise.all(paths.map((p) => fsp.rm(p, { force: true })));
  }

  private async make(layer: BlobInfo): Promise<Descriptor<string>> {
    const store = this.store;
    const d = layer.digest as Digest;
    for (const kind of ['origin', 'gzip'] as const) {
      const c = store.getCompressed(d, kind);
      if (c && (await this.has(c.digest))) return { mediaType: MT.ociLayerGzip, digest: c.digest, size: c.size };
    }
    if (!store.hasBlob(d)) throw new TsbuildError('NOT_FOUND', `layer ${d} is not in the image store`);
    this.pool ??= new GzipPool(2);
    const tmp = store.tempPath('gz');
    const gz = await gzipFile(this.pool, store.blobPath(d), tmp).catch(async (e: unknown) => {
      await fsp.rm(tmp, { force: true });
      throw e;
    });
    this.temps.set(gz.digest, { path: tmp, size: gz.size });
    store.setCompressed(d, 'gzip', gz);
    return { mediaType: MT.ociLayerGzip, digest: gz.digest, size: gz.size };
  }
}
