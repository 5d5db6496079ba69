/**
 * `load`: a docker-archive (`docker save` output, old layout `<id>/layer.tar` or Docker 25's
 * `blobs/sha256/...`) or an OCI archive (skopeo/buildah/docker `oci` output), whole-archive gzip
 * and gzip'd layers included -> images in the store.
 *
 * One pass, flat memory: the outer tar is read as a stream; each member is sniffed — a gzip'd
 * member is decompressed straight into the blob store (its compressed digest hashed on the way),
 * a large one is stored as is, a small one (≤ 1 MiB: JSON, tiny layers) is kept in memory until
 * the manifests, which may come last, say what everything is. Every digest the archive claims is
 * checked; layers must match the config's diff IDs and pass the layer check (layer-check.ts:
 * nothing that could escape its root when unpacked). On any error, blobs this load stored and
 * nothing references are removed again, so a bad archive leaves the store as it was.
 */
import { posix } from 'node:path';
import { TsbuildError } from '../errors.js';
import { type Digest, isDigest, newHash, digestOfHash, sha256, hexOf } from './digest.js';
import { readTar } from './tar-format.js';
import { peek, isGzip, isZstd, gunzip, tapHash, readFileReusing, copied } from './byte-streams.js';
import { LayerCheck, checkedLayer } from './layer-check.js';
import type { StoredImage } from './store.js';
import type { ImageCatalog, LayerCompressions, Leases, StoreContent } from './store-roles.js';
import { parseConfig } from './store.js';
import { type Index, type Manifest, type Descriptor, isIndexType, REF_NAME, CONTAINERD_NAME, layerCompression } from './manifest.js';
import { hostArchitecture } from './config.js';
import { parseReference, formatReference } from './reference.js';
import type { BlobInfo } from './blobs.js';

export interface LoadResult {
  images: Array<{ image: StoredImage; tags: string[] }>;
}

/** What one archive member turned out to be. */
interface Member {
  /** Digest of the member's bytes as they are in the archive. */
  raw: Digest;
  /** Uncompressed content: in memory, or in the store under `stored`. */
  data?: Buffer;
  stored?: BlobInfo;
  gzip: boolean;
  /** For streamed members: the layer check made on the way (used if the member is a layer). */
  check?: LayerCheck;
}

const SMALL = 1 << 20;

/** Loads from a file path, or from a byte stream (stdin) named `name` in messages. */
/** What a load needs of the store. */
type LoadStore = StoreContent & ImageCatalog & Leases & LayerCompressions;

export async function loadArchive(store: LoadStore, input: string | AsyncIterable<Buffer>, name = 'stdin'): Promise<LoadResult> {
  const written: Digest[] = [];
  const file = typeof input === 'string' ? input : name;
  // A file is read into reused buffers (no page faults per read); everything below copies what
  // it keeps: the tar reader, the small members, BlobStore.put, gunzip (`copied`).
  // Closed here whatever happens (a stopped read would otherwise leave it to the GC, with a warning).
  const reader = typeof input === 'string' ? readFileReusing(input) : undefined;
  try {
    const res = await load(store, reader ?? (input as AsyncIterable<Buffer>), file, written);
    // Members stored on the way that no image uses (e.g. large files the manifests never name).
    const used = new Set<string>(res.images.flatMap(({ image }) => image.manifest.layers.map((l) => l.digest)));
    await store.discard(written.filter((d) => !used.has(d)));
    return res;
  } catch (e) {
    await store.discard(written);
    if (e instanceof TsbuildError) throw e;
    throw new TsbuildError('CORRUPT', `${file}: ${(e as Error).message}`);
  } finally {
    await reader?.return(undefined);
  }
}

async function load(store: LoadStore, input: AsyncIterable<Buffer>, file: string, written: Digest[]): Promise<LoadResult> {
  let src: AsyncIterable<Buffer>;
  try {
    const p = await peek(input);
    src = isGzip(p.head) ? gunzip(copied(p.all)) : p.all;
  } catch (e) {
    throw new TsbuildError('NOT_FOUND', `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const members = new Map<string, Member>();
  const aliases = new Map<string, string>();
  for await (const { header, body } of readTar(src)) {
    const name = posix.normalize(header.name).replace(/^(\.\/)+/, '');
    // docker save links a layer shared by two images: `<id2>/layer.tar -> ../<id1>/layer.tar`
    if (header.type === 'symlink' || header.type === 'hardlink') {
      const t = header.type === 'symlink' ? posix.join(posix.dirname(name), header.linkname ?? '') : (header.linkname ?? '');
      aliases.set(name, posix.normalize(t).replace(/^(\.\/)+/, ''));
    }
    if (header.type !== 'file') continue;
    const p = await peek(body);
    const rawHash = newHash();
    if (isZstd(p.head)) throw new TsbuildError('CORRUPT', `${name}: zstd-compressed layers are not supported`);
    if (isGzip(p.head)) {
      const check = new LayerCheck();
      const stored = await store.putBlob(checkedLayer(gunzip(copied(tapHash(p.all, rawHash))), check, false));
      written.push(stored.digest);
      members.set(name, { raw: digestOfHash(rawHash), stored, gzip: true, check });
    } else if (header.size <= SMALL) {
      const parts: Buffer[] = [];
      for await (const b of p.all) parts.push(Buffer.from(b));
      const data = Buffer.concat(parts);
      members.set(name, { raw: sha256(data), data, gzip: false });
    } else {
      const check = new LayerCheck();
      const stored = await store.putBlob(checkedLayer(p.all, check, false));
      written.push(stored.digest);
      members.set(name, { raw: stored.digest, stored, gzip: false, check });
    }
  }
  for (const [a, t] of aliases) {
    const m = members.get(t);
    if (m && !members.has(a)) members.set(a, m);
  }
  const ctx = new Ctx(store, members, written);
  if (members.has('manifest.json')) return ctx.docker();
  if (members.has('index.json')) return ctx.oci();
  throw new TsbuildError('CORRUPT', `${file}: neither a docker-archive (no manifest.json) nor an OCI archive (no index.json)`);
}

class Ctx {
  constructor(
    private readonly store: LoadStore,
    private readonly members: Map<string, Member>,
    private readonly written: Digest[],
  ) {}

  member(name: string): Member {
    const m = this.members.get(posix.normalize(name).replace(/^(\.\/)+/, ''));
    if (!m) throw new TsbuildError('CORRUPT', `archive lacks ${name}`);
    return m;
  }

  json<T>(name: string): T {
    const m = this.member(name);
    if (!m.data) throw new TsbuildError('CORRUPT', `${name} is not a JSON document`);
    try {
      return JSON.parse(m.data.toString('utf8')) as T;
    } catch {
      throw new TsbuildError('CORRUPT', `${name} is not valid JSON`);
    }
  }

  /** The member as an uncompressed layer blob in the store, once it passed the layer check. */
  async layer(name: string): Promise<BlobInfo> {
    const m = this.member(name);
    if (!m.check) {
      m.check = new LayerCheck();
      m.check.push(m.data!);
    }
    const v = m.check.verdict();
    if (!v.ok) throw new TsbuildError(v.error.code, `${name}: ${v.error.message}`);
    if (m.stored) return m.stored;
    const info = await this.store.blobs.putBuffer(m.data!);
    this.written.push(info.digest);
    m.stored = info;
    return info;
  }

  async docker(): Promise<LoadResult> {
    const items = this.json<Array<{ Config: string; RepoTags?: string[] | null; Layers: string[] }>>('manifest.json');
    if (!Array.isArray(items)) throw new TsbuildError('CORRUPT', 'manifest.json is not a list');
    const out: LoadResult = { images: [] };
    for (const it of items) {
      if (typeof it?.Config !== 'string' || !Array.isArray(it.Layers)) throw new TsbuildError('CORRUPT', 'manifest.json entry lacks Config or Layers');
      const raw = this.member(it.Config).data;
      if (!raw) throw new TsbuildError('CORRUPT', `${it.Config} is not an image config`);
      const layers = [];
      for (const l of it.Layers) layers.push(await this.layer(l));
      checkDiffIds(raw, layers);
      const tags = (it.RepoTags ?? []).map((t) => formatReference(parseReference(t)));
      const image = await this.store.putImage({ config: raw, layers, tags });
      out.images.push({ image, tags });
    }
    return out;
  }

  async oci(): Promise<LoadResult> {
    const index = this.json<Index>('index.json');
    if (!Array.isArray(index?.manifests)) throw new TsbuildError('CORRUPT', 'index.json has no manifests');
    const out: LoadResult = { images: [] };
    for (const desc of index.manifests) {
      const mdesc = this.pickManifest(desc);
      const manifest = this.blobJson<Manifest>(mdesc);
      if (!manifest.config || !Array.isArray(manifest.layers)) throw new TsbuildError('CORRUPT', `${mdesc.digest} is not an image manifest`);
      const cfgMember = this.blob(manifest.config);
      if (!cfgMember.data) throw new TsbuildError('CORRUPT', `config ${manifest.config.digest} is too large`);
      const layers: BlobInfo[] = [];
      for (const l of manifest.layers) {
        const comp = layerCompression(l.mediaType);
        if (comp === undefined) throw new TsbuildError('CORRUPT', `unsupported layer media type ${l.mediaType}`);
        if (comp === 'zstd') throw new TsbuildError('CORRUPT', 'zstd-compressed layers are not supported');
        this.blob(l);
        const info = await this.layer(`blobs/sha256/${hexOf(l.digest)}`);
        if (comp === 'gzip') this.store.setCompressed(info.digest, 'origin', { digest: l.digest, size: l.size });
        layers.push(info);
      }
      checkDiffIds(cfgMember.data, layers);
      const tags = tagsOf(desc);
      const image = await this.store.putImage({ config: cfgMember.data, layers, tags });
      out.images.push({ image, tags });
    }
    return out;
  }

  /** A descriptor's member, with its digest and size checked. */
  blob(d: Descriptor): Member {
    if (!isDigest(d.digest)) throw new TsbuildError('CORRUPT', `unsupported digest ${d.digest}`);
    const m = this.member(`blobs/sha256/${hexOf(d.digest)}`);
    if (m.raw !== d.digest) throw new TsbuildError('CORRUPT', `blob ${d.digest} does not match its digest (got ${m.raw})`);
    return m;
  }

  blobJson<T>(d: Descriptor): T {
    const m = this.blob(d);
    if (!m.data) throw new TsbuildError('CORRUPT', `${d.digest} is not a JSON document`);
    try {
      return JSON.parse(m.data.toString('utf8')) as T;
    } catch {
      throw new TsbuildError('CORRUPT', `${d.digest} is not valid JSON`);
    }
  }

  /** For an index (multi-platform, or Docker 25's nesting), the manifest for this host. */
  pickManifest(desc: Descriptor): Descriptor {
    let d = desc;
    for (let depth = 0; isIndexType(d.mediaType) || (depth === 0 && this.looksLikeIndex(d)); depth++) {
      if (depth > 4) throw new TsbuildError('CORRUPT', 'index nesting too deep');
      const idx = this.blobJson<Index>(d);
      if (!Array.isArray(idx.manifests)) break;
      const arch = hostArchitecture();
      const cands = idx.manifests.filter((m) => !m.platform || (m.platform.os === 'linux' && m.platform.architecture === arch));
      const next = cands[0] ?? idx.manifests[0];
      if (!next) throw new TsbuildError('CORRUPT', 'empty image index');
      d = { ...next, annotations: { ...(desc.annotations ?? {}), ...(next.annotations ?? {}) } };
    }
    return d;
  }

  private looksLikeIndex(d: Descriptor): boolean {
    try {
      const v = this.blobJson<{ manifests?: unknown }>(d);
      return Array.isArray(v.manifests);
    } catch {
      return false;
    }
  }
}

function checkDiffIds(rawConfig: Buffer, layers: BlobInfo[]): void {
  const cfg = parseConfig(rawConfig);
  const ids = cfg.rootfs.diff_ids;
  if (ids.length !== layers.length) throw new TsbuildError('CORRUPT', `config lists ${ids.length} layers, the archive has ${layers.length}`);
  ids.forEach((d, i) => {
    if (d !== layers[i]!.digest) throw new TsbuildError('CORRUPT', `layer ${i + 1} does not match its diff ID ${d} (got ${layers[i]!.digest})`);
  });
}

/** Names from an OCI descriptor: the full name annotation, or a ref.name that is a full reference. */
function tagsOf(desc: Descriptor): string[] {
  const full = desc.annotations?.[CONTAINERD_NAME];
  const ref = desc.annotations?.[REF_NAME];
  for (const cand of [full, ref && /[:/]/.test(ref) ? ref : undefined]) {
    if (!cand) continue;
    try {
      const r = parseReference(cand);
      if (!r.digest) return [formatReference(r)];
    } catch {
      /* not a name */
    }
  }
  return [];
}
