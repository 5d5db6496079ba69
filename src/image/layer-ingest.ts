/**
 * Distributable layers into the image store. Registries and build caches hold layers compressed
 * (gzip, zstd) or plain; the store keeps them uncompressed (blob digest = diff ID). A layer is
 * decompressed while it streams in, its compressed digest (and size) hashed on the way and its
 * uncompressed digest checked against the diff ID when one is expected, all before anything
 * becomes visible; a gzip origin is remembered (`setCompressed(layer, 'origin', ...)`) so a push
 * can name the same blob again. Content that is not a compressed layer (a config, a manifest, a
 * plain tar) is stored as it is.
 *
 * As a content ingester it takes what a registry or cache serves under its distributable digest;
 * `info(compressedDigest)` answers with the stored layer that digest stands for.
 */
import { TsbuildError } from '../errors.js';
import type { BlobInfo } from './blobs.js';
import { peek, isGzip, isZstd, gunzip, tapHash } from './byte-streams.js';
import type { ByteSource, ContentIngester, ExpectedContent } from './content.js';
import { type Digest, isDigest, newHash, digestOfHash } from './digest.js';
import { layerCompression } from './manifest.js';
import type { LayerCompressions, Leases, StoreContent } from './store-roles.js';
import { unzstd } from './zstd.js';

export class LayerIngester implements ContentIngester {
  /** Blobs this ingester wrote (for `discardWritten` after a failure). */
  readonly written: Digest[] = [];
  /** compressed digest → the uncompressed layer it was stored as (this ingester's writes). */
  private readonly stored = new Map<string, BlobInfo>();
  /** compressed digest → what it must be, when known before it arrives. */
  private readonly hints = new Map<string, { mediaType: string; diffId: Digest }>();

  constructor(readonly store: StoreContent & Leases & LayerCompressions) {}

  /** Declares that `compressed` is a layer whose uncompressed digest must be `diffId`. */
  expect(compressed: { mediaType: string; digest: string; size?: number }, diffId: Digest): void {
    this.hints.set(compressed.digest, { mediaType: compressed.mediaType, diffId });
  }

  /** The stored (uncompressed) layer or blob a distributable digest stands for, if the store has it. */
  async info(digest: string): Promise<BlobInfo | undefined> {
    const mine = this.stored.get(digest);
    if (mine && this.store.hasBlob(mine.digest)) return mine;
    const hint = this.hints.get(digest);
    if (hint && this.store.hasBlob(hint.diffId)) return { digest: hint.diffId, size: this.store.blobs.size(hint.diffId) };
    if (isDigest(digest) && this.store.hasBlob(digest)) return { digest, size: this.store.blobs.size(digest) };
    const d = await this.store.layerOfCompressed(digest);
    if (d && this.store.hasBlob(d)) return { digest: d, size: this.store.blobs.size(d) };
    return undefined;
  }

  /**
   * Stores a layer (uncompressed) or blob; returns what was stored. Nothing is kept unless every
   * digest (and size) checks out; the source is destroyed when it is not read to its end.
   */
  async write(source: ByteSource, expected: ExpectedContent): Promise<BlobInfo> {
    try {
      return await this.ingest(source as AsyncIterable<Buffer>, expected);
    } catch (e) {
      // Whatever was not read is dropped (a download's connection is released).
      (source as { destroy?: () => void }).destroy?.();
      throw e;
    }
  }

  /** Removes blobs this ingester wrote that nothing references (after a failed transfer). */
  async discardWritten(): Promise<void> {
    await this.store.discard(this.written.splice(0));
  }

  private async ingest(source: AsyncIterable<Buffer>, expected: ExpectedContent): Promise<BlobInfo> {
    if (!isDigest(expected.digest)) {
      throw new TsbuildError('REGISTRY', `unsupported digest ${expected.digest} (only sha256 is stored)`);
    }
    const compressedDigest = expected.digest;
    const hint = this.hints.get(compressedDigest);
    let comp = hint ? layerCompression(hint.mediaType) : undefined;
    if (hint && comp === undefined) throw new TsbuildError('REGISTRY', `unsupported layer media type ${hint.mediaType}`);
    const p = await peek(source);
    if (comp === undefined) comp = isGzip(p.head) ? 'gzip' : isZstd(p.head) ? 'zstd' : 'none';
    let info: BlobInfo;
    if (comp === 'gzip' || comp === 'zstd') {
      const h = newHash();
      let rawSize = 0;
      const counted = async function* (src: AsyncIterable<Buffer>) {
        for await (const b of src) {
          rawSize += b.length;
          yield b;
        }
      };
      const raw = tapHash(counted(p.all), h);
      info = await this.store.putBlob(comp === 'gzip' ? gunzip(raw) : unzstd(raw), {
        ...(hint ? { expectedDigest: hint.diffId } : {}),
        beforeCommit: () => {
          const got = digestOfHash(h);
          if (got !== compressedDigest) throw new TsbuildError('CORRUPT', `layer does not match its digest: expected ${compressedDigest}, got ${got}`);
          if (expected.size !== undefined && rawSize !== expected.size) {
            throw new TsbuildError('CORRUPT', `layer ${compressedDigest} has ${rawSize} bytes, expected ${expected.size}`);
          }
        },
      });
      // Only gzip origins are remembered: a push names remembered blobs as gzip layers.
      if (comp === 'gzip') this.store.setCompressed(info.digest, 'origin', { digest: compressedDigest, size: rawSize });
      this.stored.set(compressedDigest, info);
    } else {
      if (hint && hint.diffId !== compressedDigest) {
        throw new TsbuildError('CORRUPT', `uncompressed layer ${compressedDigest} does not match its diff ID ${hint.diffId}`);
      }
      info = await this.store.putBlob(p.all, { expectedDigest: compressedDigest, ...(expected.size !== undefined ? { expectedSize: expected.size } : {}) });
    }
    this.written.push(info.digest);
    return info;
  }
}
