/**
 * `save`: images -> one tar archive, in the layout Docker 25+ writes, which is both a
 * docker-archive (`manifest.json`, read by `docker load` and skopeo `docker-archive:`) and an OCI
 * image layout (`oci-layout`, `index.json`, `blobs/sha256/...`, read by skopeo `oci-archive:` and
 * umoci).
 *  - format 'docker': layers as stored (uncompressed, Docker's own choice), plus manifest.json.
 *  - format 'oci': layers gzip-compressed in parallel (compress.ts), OCI manifests naming them;
 *    the compressed digests are remembered in the store for later pushes.
 * Entries are written in a fixed order with zero mtimes and no owners: the same images give the
 * same archive bytes.
 */
import { createReadStream, promises as fsp } from 'node:fs';
import { TsbuildError } from '../errors.js';
import { type Digest, hexOf, sha256 } from './digest.js';
import { encodeHeader, padding, END_OF_ARCHIVE } from './tar-format.js';
import { type Descriptor, type Index, type Manifest, MT, REF_NAME, CONTAINERD_NAME } from './manifest.js';
import { GzipPool, gzipFile, DEFAULT_GZIP_LEVEL } from './compress.js';
import type { StoredImage } from './store.js';
import type { ImageCatalog, LayerCompressions, ScratchSpace, StoreContent } from './store-roles.js';
import { parseReference, familiarString, formatReference } from './reference.js';
import { mapLimit } from '../map-limit.js';

export type ArchiveFormat = 'docker' | 'oci';

export interface SaveOptions {
  format?: ArchiveFormat;
  gzipLevel?: number;
}

/** One file of the archive: bytes in memory or a file on disk. */
interface Member {
  name: string;
  size: number;
  data?: Buffer;
  path?: string;
}

/**
 * Writes the archive for `names` (each a name or ID as the user typed it) to `out`. A name
 * that is a tag keeps that tag in the archive; an ID saves the image with all its tags.
 */
export async function saveImages(store: StoreContent & ImageCatalog & LayerCompressions & ScratchSpace, names: string[], out: NodeJS.WritableStream, opts: SaveOptions = {}): Promise<void> {
  const format = opts.format ?? 'docker';
  const picked: Array<{ img: StoredImage; tags: string[] }> = [];
  for (const n of names) {
    const img = await store.resolve(n);
    let tags = img.tags;
    try {
      const ref = parseReference(n);
      if (!ref.digest && img.tags.includes(formatReference(ref))) tags = [formatReference(ref)];
    } catch {
      /* an ID: all its tags */
    }
    const prev = picked.find((p) => p.img.manifestDigest === img.manifestDigest);
    if (prev) prev.tags = [...new Set([...prev.tags, ...tags])];
    else picked.push({ img, tags });
  }
  const members: Member[] = [];
  const seen = new Set<string>();
  const addBlob = (d: Digest, m: Omit<Member, 'name'>) => {
    if (seen.has(d)) return;
    seen.add(d);
    members.push({ name: `blobs/sha256/${hexOf(d)}`, ...m });
  };
  const index: Index = { schemaVersion: 2, mediaType: MT.ociIndex, manifests: [] };
  const dockerManifest: Array<{ Config: string; RepoTags: string[]; Layers: string[] }> = [];
  const tempFiles: string[] = [];
  let pool: GzipPool | undefined;
  try {
    for (const { img, tags } of picked) {
      addBlob(img.id, { size: store.blobs.size(img.id), path: store.blobPath(img.id) });
      let manifest: Manifest;
      if (format === 'docker') {
        for (const l of img.manifest.layers) addBlob(l.digest, { size: l.size, path: store.blobPath(l.digest) });
        manifest = img.manifest;
        dockerManifest.push({
          Config: `blobs/sha256/${hexOf(img.id)}`,
          RepoTags: tags.map((t) => familiarString(parseReference(t))),
          Layers: img.manifest.layers.map((l) => `blobs/sha256/${hexOf(l.digest)}`),
        });
      } else {
        pool ??= new GzipPool();
        const p = pool;
        const level = opts.gzipLevel ?? DEFAULT_GZIP_LEVEL;
        // Two layers at a time keep every worker busy across layer boundaries (small layers
        // included) while bounding the chunks in memory; the pool's workers are the real limit.
        const gz = await mapLimit(img.manifest.layers, 2, async (l) => {
          const tmp = store.tempPath('gz');
          tempFiles.push(tmp);
          const r = await gzipFile(p, store.blobPath(l.digest), tmp, { level });
          if (level === DEFAULT_GZIP_LEVEL) store.setCompressed(l.digest, 'gzip', r);
          return { ...r, path: tmp };
        });
        for (const g of gz) addBlob(g.digest, { size: g.size, path: g.path });
        manifest = {
          schemaVersion: 2,
          mediaType: MT.ociManifest,
          config: img.manifest.config,
          layers: gz.map((g) => ({ mediaType: MT.ociLayerGzip, digest: g.digest, size: g.size })),
        };
      }
      const mbytes = format === 'docker' ? await store.blobs.read(img.manifestDigest) : Buffer.from(JSON.stringify(manifest));
      const mdigest = format === 'docker' ? img.manifestDigest : sha256(mbytes);
      addBlob(mdigest, { size: mbytes.length, data: mbytes });
      const desc: Descriptor = { mediaType: MT.ociManifest, digest: mdigest, size: mbytes.length };
      if (tags.length === 0) index.manifests.push(desc);
      for (const t of tags) {
        const ref = parseReference(t);
        index.manifests.push({ ...desc, annotations: { [CONTAINERD_NAME]: t, [REF_NAME]: ref.tag ?? 'latest' } });
      }
    }
    const json = (v: unknown) => Buffer.from(JSON.stringify(v));
    const tail: Member[] = [{ name: 'index.json', size: 0, data: json(index) }];
    if (format === 'docker') tail.push({ name: 'manifest.json', size: 0, data: json(dockerManifest) });
    tail.push({ name: 'oci-layout', size: 0, data: json({ imageLayoutVersion: '1.0.0' }) });
    for (const t of tail) t.size = t.data!.length;
    await writeArchive([{ name: 'blobs', size: 0 }, { name: 'blobs/sha256', size: 0 }, ...members, ...tail], out);
  } finally {
    await pool?.close();
    for (const f of tempFiles) await fsp.unlink(f).catch(() => {});
  }
}

async function writeArchive(members: Member[], out: NodeJS.WritableStream): Promise<void> {
  const write = (b: Buffer) =>
    new Promise<void>((resolve, reject) => {
      const ok = out.write(b, (e) => (e ? reject(e) : undefined));
      if (ok) resolve();
      else out.once('drain', resolve);
    });
  for (const m of members) {
    const isDir = m.data === undefined && m.path === undefined;
    await write(encodeHeader({ name: m.name, type: isDir ? 'dir' : 'file', mode: isDir ? 0o755 : 0o644, uid: 0, gid: 0, size: isDir ? 0 : m.size, mtime: 0 }));
    if (isDir) continue;
    if (m.data) await write(m.data);
    else {
      let n = 0;
      for await (const chunk of createReadStream(m.path!, { highWaterMark: 1 << 20 })) {
        n += (chunk as Buffer).length;
        await write(chunk as Buffer);
      }
      if (n !== m.size) throw new TsbuildError('CORRUPT', `blob ${m.name} changed size while being saved`);
    }
    const pad = padding(m.size);
    if (pad) await write(Buffer.alloc(pad));
  }
  await write(END_OF_ARCHIVE);
}
