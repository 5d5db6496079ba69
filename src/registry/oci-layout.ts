/**
 * An OCI image layout directory (`oci-layout`, `index.json`, `blobs/<alg>/<hex>`) as a
 * ContentStore: what `skopeo copy ... oci:DIR:TAG` reads and writes. Used for interop tests and as
 * a stand-alone store until the image store adapts to ContentStore. Blob writes are verified and
 * atomic (temp file + rename).
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { TsbuildError } from '../errors.js';
import type { ContentStore, ExpectedBlob } from './content.js';
import { checkDigest, DigestHasher } from '../image/digest.js';
import { MT, type Descriptor, type Index } from '../image/manifest.js';

export const REF_NAME_ANNOTATION = 'org.opencontainers.image.ref.name';

export class OciLayoutStore implements ContentStore {
  constructor(readonly dir: string) {}

  /** Creates the layout files if missing. */
  async init(): Promise<this> {
    await mkdir(join(this.dir, 'blobs', 'sha256'), { recursive: true });
    try {
      await stat(join(this.dir, 'oci-layout'));
    } catch {
      await writeFile(join(this.dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    }
    try {
      await stat(join(this.dir, 'index.json'));
    } catch {
      await this.writeIndex({ schemaVersion: 2, mediaType: MT.ociIndex, manifests: [] });
    }
    return this;
  }

  blobPath(digest: string): string {
    checkDigest(digest);
    const [alg, hex] = digest.split(':') as [string, string];
    return join(this.dir, 'blobs', alg, hex);
  }

  async hasBlob(digest: string): Promise<boolean> {
    try {
      await stat(this.blobPath(digest));
      return true;
    } catch {
      return false;
    }
  }

  async blobSize(digest: string): Promise<number> {
    return (await stat(this.blobPath(digest))).size;
  }

  async openBlob(digest: string): Promise<Readable> {
    const p = this.blobPath(digest);
    try {
      await stat(p);
    } catch {
      throw new TsbuildError('NOT_FOUND', `blob ${digest} not found in ${this.dir}`);
    }
    return createReadStream(p, { highWaterMark: 1024 * 1024 });
  }

  async putBlob(stream: Readable, expected: ExpectedBlob): Promise<void> {
    const final = this.blobPath(expected.digest);
    await mkdir(join(final, '..'), { recursive: true });
    const tmp = `${final}.tmp-${randomBytes(6).toString('hex')}`;
    const hasher = new DigestHasher(expected.digest);
    const hashing = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        hasher.update(chunk);
        cb(null, chunk);
      },
    });
    try {
      if (expected.verified) {
        await pipeline(stream, createWriteStream(tmp));
        await rename(tmp, final);
        return;
      }
      await pipeline(stream, hashing, createWriteStream(tmp));
      const got = hasher.digest();
      if (got !== expected.digest) throw new TsbuildError('CORRUPT', `blob does not match its digest: expected ${expected.digest}, got ${got}`);
      if (expected.size !== undefined && hasher.bytes !== expected.size) {
        throw new TsbuildError('CORRUPT', `blob ${expected.digest} has ${hasher.bytes} bytes, expected ${expected.size}`);
      }
      await rename(tmp, final);
    } catch (e) {
      await rm(tmp, { force: true });
      throw e;
    }
  }

  async readIndex(): Promise<Index<string>> {
    return JSON.parse(await readFile(join(this.dir, 'index.json'), 'utf8')) as Index<string>;
  }

  /** Points a name (`org.opencontainers.image.ref.name`) at a manifest or index. */
  async setRef(name: string, desc: Descriptor<string>): Promise<void> {
    const index = await this.readIndex();
    index.manifests = index.manifests.filter((d) => d.annotations?.[REF_NAME_ANNOTATION] !== name);
    index.manifests.push({ ...desc, annotations: { ...desc.annotations, [REF_NAME_ANNOTATION]: name } });
    await this.writeIndex(index);
  }

  async resolve(name: string): Promise<Descriptor<string> | undefined> {
    const index = await this.readIndex();
    const d = index.manifests.find((m) => m.annotations?.[REF_NAME_ANNOTATION] === name);
    if (!d) return undefined;
    const { annotations: _a, ...rest } = d;
    return rest;
  }

  private async writeIndex(index: Index<string>): Promise<void> {
    const p = join(this.dir, 'index.json');
    const tmp = `${p}.tmp-${randomBytes(6).toString('hex')}`;
    await writeFile(tmp, JSON.stringify(index));
    await rename(tmp, p);
  }
}
