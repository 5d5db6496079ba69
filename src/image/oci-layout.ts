/**
 * An OCI image layout directory other than the store (`oci-layout`, `index.json`,
 * `blobs/sha256/<hex>`): what `skopeo copy ... oci:DIR:TAG` reads and writes, and what
 * `--cache-to type=local,dest=DIR` exports. Its blobs are served by the one content store
 * implementation (BlobStore) pointed at the directory; this module adds only the names in
 * index.json (`org.opencontainers.image.ref.name`). Temp files are kept beside the blobs (never
 * named like a digest), so the directory holds nothing but the layout. Blobs are verified and
 * renamed into place but not fsynced: the layout is an export, not the store.
 */
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TsbuildError } from '../errors.js';
import { BlobStore } from './blobs.js';
import { digestOf, randomHex } from './digest.js';
import { MT, REF_NAME, type Descriptor, type Index } from './manifest.js';

export class OciLayout {
  readonly content: BlobStore;

  constructor(readonly dir: string) {
    this.content = new BlobStore(dir, undefined, { tmpDir: join(dir, 'blobs', 'sha256'), durable: false });
  }

  /** Creates the layout's files if missing. */
  async init(): Promise<this> {
    await mkdir(this.content.dir, { recursive: true });
    if (!(await exists(join(this.dir, 'oci-layout')))) await writeFile(join(this.dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    if (!(await exists(join(this.dir, 'index.json')))) await this.writeIndex({ schemaVersion: 2, mediaType: MT.ociIndex, manifests: [] });
    return this;
  }

  async readIndex(): Promise<Index<string>> {
    return JSON.parse(await readFile(join(this.dir, 'index.json'), 'utf8')) as Index<string>;
  }

  /** Points a name at a manifest or index (replacing what the name pointed at). */
  async setRef(name: string, desc: Descriptor<string>): Promise<void> {
    const index = await this.readIndex();
    index.manifests = index.manifests.filter((d) => d.annotations?.[REF_NAME] !== name);
    index.manifests.push({ ...desc, annotations: { ...desc.annotations, [REF_NAME]: name } });
    await this.writeIndex(index);
  }

  /** The descriptor a name points at (without the name annotation), or undefined. */
  async resolve(name: string): Promise<Descriptor<string> | undefined> {
    const index = await this.readIndex();
    const d = index.manifests.find((m) => m.annotations?.[REF_NAME] === name);
    if (!d) return undefined;
    const { annotations: _a, ...rest } = d;
    return rest;
  }

  /** A small blob's bytes (a manifest, a config), checked against its digest. */
  async readBlob(digest: string): Promise<Buffer> {
    if (!this.content.has(digest)) throw new TsbuildError('NOT_FOUND', `${this.dir}: blob ${digest} is missing`);
    const parts: Buffer[] = [];
    for await (const c of this.content.open(digest)) parts.push(c as Buffer);
    const buf = Buffer.concat(parts);
    if (digestOf(buf) !== digest) throw new TsbuildError('CORRUPT', `${this.dir}: blob ${digest} does not match its digest`);
    return buf;
  }

  private async writeIndex(index: Index<string>): Promise<void> {
    const p = join(this.dir, 'index.json');
    const tmp = `${p}.tmp-${randomHex(6)}`;
    await writeFile(tmp, JSON.stringify(index));
    await rename(tmp, p);
  }
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}
