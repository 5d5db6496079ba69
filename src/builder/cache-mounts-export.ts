/**
 * Cache mounts that travel (BuildKit #1474): with `--cache-to ...,mounts=true` the contents of the
 * `RUN --mount=type=cache` directories this build used are exported next to the build cache, and
 * `--cache-from ...,mounts=true` brings them into a fresh store before the build, so an ephemeral
 * CI runner starts with a warm package cache.
 *
 * Format: one OCI artifact manifest (`artifactType: application/vnd.tsbuild.cache-mounts.v1`)
 * under the cache's tag plus `-mounts` (`latest-mounts`; in a registry, the same repository),
 * one tar+gzip layer per mount annotated with its id and sharing, and a JSON config listing each
 * mount's id, store key (the directory name: the id and uid/gid/mode base hashed, as run-mounts.ts
 * names it), sharing, the root directory's owner and mode, its file count and bytes.
 *
 * Size: mounts are taken in the order the build first used them while their content fits in
 * `mounts-max-size` (default 1 GiB in all); a mount that does not fit is skipped and said so.
 * What was exported (or skipped) is reported as a step on the event stream, one line per mount.
 *
 * Import policy: a mount directory the store already has with anything in it is kept (this
 * machine's cache is at least as warm, and a running build may be using it); a missing or empty
 * one is filled: unpacked by the safe layer extractor into a private temp dir, then renamed into
 * place whole. Contents are not checked beyond their digests: whoever can write the cache can put
 * anything into the next build's cache mounts (the trust of the build cache itself).
 */
import { Readable } from 'node:stream';
import { chmodSync, chownSync, lstatSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { TsbuildError } from '../errors.js';
import { humanSize } from '../image/display.js';
import { isDigest, sha256, type Digest } from '../image/digest.js';
import { gunzip } from '../image/byte-streams.js';
import { acquire } from '../image/lock.js';
import { LayerCompressor } from '../image/layer-compressor.js';
import { extractLayer } from '../image/layer-reader.js';
import { writeLayer } from '../image/layer-writer.js';
import { MT, parseManifest, type Descriptor } from '../image/manifest.js';
import { OciLayout } from '../image/oci-layout.js';
import { parseReference } from '../image/reference.js';
import type { LayerCompressions, Leases, ScratchSpace, StoreContent } from '../image/store-roles.js';
import type { RegistryClient } from '../registry/client.js';
import { repositoryOf } from '../registry/client.js';
import { diffUpperDir } from '../runtime/diff.js';
import type { EventEmitterHub } from './events.js';
import type { CacheSpec } from './options.js';
import type { CacheMountUse } from './cache-mount-uses.js';

export const MOUNTS_ARTIFACT_TYPE = 'application/vnd.tsbuild.cache-mounts.v1';
export const MOUNTS_CONFIG_MEDIA_TYPE = 'application/vnd.tsbuild.cache-mounts.config.v1+json';
export const MOUNT_ID_ANNOTATION = 'dev.tsbuild.cache-mount.id';
export const MOUNT_SHARING_ANNOTATION = 'dev.tsbuild.cache-mount.sharing';
export const DEFAULT_MOUNTS_MAX_BYTES = 1024 ** 3;

export type { CacheMountUse } from './cache-mount-uses.js';

/** One line of the export report. */
export interface MountReport {
  id: string;
  files: number;
  bytes: number;
  /** The gzip blob's size, when exported. */
  compressed?: number;
  skipped?: string;
}

interface MountsConfig {
  version: 1;
  mounts: Array<{ id: string; key: string; sharing: string; mode: number; uid: number; gid: number; files: number; bytes: number; layer: string }>;
}

/** The tag the mounts artifact lives under, beside the cache's own. */
export function mountsTag(cacheTag: string): string {
  return `${cacheTag}-mounts`.slice(0, 128);
}

/** Where an artifact goes or comes from: a local layout or a registry repository. */
interface ArtifactTarget {
  name: string;
  has(digest: string): Promise<boolean>;
  put(desc: Descriptor<string>, open: () => Readable): Promise<void>;
  putManifest(bytes: Buffer): Promise<void>;
  /** The manifest's bytes, or undefined when there is none. */
  getManifest(): Promise<Buffer | undefined>;
  open(desc: Descriptor<string>): Readable;
  read(desc: Descriptor<string>): Promise<Buffer>;
}

function targetOf(spec: CacheSpec, client: () => Promise<RegistryClient>): ArtifactTarget {
  if (spec.type === 'local') {
    const layout = new OciLayout(spec.dir);
    const tag = mountsTag(spec.tag);
    const open = (d: Descriptor<string>) => Readable.from(layout.content.open(d.digest));
    return {
      name: spec.dir,
      has: async (d) => layout.content.has(d),
      put: async (d, o) => {
        await layout.init();
        if (!layout.content.has(d.digest)) await layout.content.write(o(), { digest: d.digest, size: d.size });
      },
      putManifest: async (bytes) => {
        await layout.init();
        const desc = { mediaType: MT.ociManifest, digest: sha256(bytes), size: bytes.length };
        await layout.content.write([bytes], desc);
        await layout.setRef(tag, desc);
      },
      getManifest: async () => {
        let desc;
        try {
          desc = await layout.resolve(tag);
        } catch {
          return undefined;
        }
        return desc ? layout.readBlob(desc.digest) : undefined;
      },
      open,
      read: (d) => layout.readBlob(d.digest),
    };
  }
  const ref = parseReference(spec.ref);
  const repo = repositoryOf(ref);
  const tag = mountsTag(ref.tag ?? 'latest');
  return {
    name: spec.ref,
    has: async (d) => (await (await client()).headBlob(repo, d, { forPush: true })) !== undefined,
    put: async (d, o) => {
      const c = await client();
      if ((await c.headBlob(repo, d.digest, { forPush: true })) === undefined) await c.putBlob(repo, d, o);
    },
    putManifest: async (bytes) => {
      await (await client()).putManifest(repo, tag, bytes, MT.ociManifest);
    },
    getManifest: async () => {
      const c = await client();
      try {
        const m = await c.getManifest(repo, tag, [MT.ociManifest]);
        return m.bytes;
      } catch (e) {
        if (e instanceof TsbuildError && e.code === 'NOT_FOUND') return undefined;
        throw e;
      }
    },
    open: (d) => Readable.from(streamOf(async () => (await client()).getBlob(repo, d.digest, { size: d.size }))),
    read: async (d) => (await client()).getBlobBuffer(repo, d.digest, d.size),
  };
}

async function* streamOf(open: () => Promise<Readable>): AsyncGenerator<Buffer> {
  for await (const c of await open()) yield c as Buffer;
}

/** Exports `mounts` to the cache target of `spec`; reports each mount on the event stream. */
export async function exportCacheMounts(
  store: MountsStore,
  spec: CacheSpec,
  mounts: CacheMountUse[],
  client: () => Promise<RegistryClient>,
  events?: EventEmitterHub,
): Promise<MountReport[]> {
  const target = targetOf(spec, client);
  const max = spec.mountsMaxBytes ?? DEFAULT_MOUNTS_MAX_BYTES;
  const id = events?.start(`exporting ${mounts.length} cache mount${mounts.length === 1 ? '' : 's'} to ${target.name}`);
  const compressor = new LayerCompressor(store, (d) => target.has(d));
  const report: MountReport[] = [];
  const made: Digest[] = [];
  try {
    const config: MountsConfig = { version: 1, mounts: [] };
    const layers: Descriptor<string>[] = [];
    let total = 0;
    for (const m of mounts) {
      const dir = store.cacheMountDir(m.key);
      let st;
      try {
        st = lstatSync(dir);
      } catch {
        continue; // never made (its step was cached and the mount never filled here)
      }
      // a locked or private cache is read as RUN steps use it: while no step of any build has it
      const release = m.sharing === 'shared' ? undefined : await acquire(`${dir}.lock`, { timeoutMs: 600_000 });
      let line: MountReport;
      let layer;
      try {
        const entries = await diffUpperDir(dir);
        const files = entries.filter((e) => e.type !== 'dir').length;
        const bytes = entries.reduce((n, e) => n + e.size, 0);
        line = { id: m.id, files, bytes };
        if (total + bytes > max) line.skipped = `over mounts-max-size (${humanSize(max)} in all)`;
        else {
          total += bytes;
          layer = await writeLayer(store, entries);
          made.push(layer.digest as Digest);
        }
      } finally {
        release?.();
      }
      const { files, bytes } = line;
      if (layer) {
        const desc = await compressor.descriptor(layer);
        await target.put(desc, () => compressor.open(desc.digest));
        line.compressed = desc.size;
        layers.push({ ...desc, annotations: { [MOUNT_ID_ANNOTATION]: m.id, [MOUNT_SHARING_ANNOTATION]: m.sharing } });
        config.mounts.push({ id: m.id, key: m.key, sharing: m.sharing, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, files, bytes, layer: desc.digest });
      }
      report.push(line);
      if (id !== undefined) events!.emit({ type: 'step-log', id, stream: 'stdout', data: reportLine(line) + '\n' });
    }
    const cfg = Buffer.from(JSON.stringify(config));
    const cfgDesc: Descriptor<string> = { mediaType: MOUNTS_CONFIG_MEDIA_TYPE, digest: sha256(cfg), size: cfg.length };
    await target.put(cfgDesc, () => Readable.from([cfg]));
    const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MT.ociManifest, artifactType: MOUNTS_ARTIFACT_TYPE, config: cfgDesc, layers }));
    await target.putManifest(manifest);
  } catch (e) {
    if (id !== undefined) events!.emit({ type: 'step-error', id, message: (e as Error).message });
    throw e;
  } finally {
    await compressor.cleanup();
    // the tars were only the way to the gzip blobs: the store need not keep them
    await store.discard(made).catch(() => undefined);
  }
  if (id !== undefined) events!.emit({ type: 'step-done', id });
  return report;
}

/** `id=npm 12.3MB in 1204 files (gzip 4.1MB)` or `id=big 3GB in 10 files: skipped, ...`. */
export function reportLine(r: MountReport): string {
  const head = `id=${r.id} ${humanSize(r.bytes)} in ${r.files} file${r.files === 1 ? '' : 's'}`;
  return r.skipped !== undefined ? `${head}: skipped, ${r.skipped}` : `${head} (gzip ${humanSize(r.compressed ?? 0)})`;
}

/** What an import did with each mount. */
export interface MountImport {
  id: string;
  key: string;
  result: 'filled' | 'kept-local';
}

/** Fills the store's missing or empty cache mount dirs from the mounts artifact of `spec`. */
export async function importCacheMounts(store: ScratchSpace, spec: CacheSpec, client: () => Promise<RegistryClient>): Promise<MountImport[]> {
  const target = targetOf(spec, client);
  const bytes = await target.getManifest();
  if (!bytes) return [];
  const p = parseManifest(bytes, MT.ociManifest);
  if (p.kind !== 'manifest' || p.manifest.config.mediaType !== MOUNTS_CONFIG_MEDIA_TYPE) throw new TsbuildError('INVALID', `${target.name}: not a tsbuild cache mounts artifact`);
  let cfg: MountsConfig;
  try {
    cfg = JSON.parse((await target.read(p.manifest.config)).toString('utf8')) as MountsConfig;
  } catch (e) {
    if (e instanceof TsbuildError) throw e;
    throw new TsbuildError('CORRUPT', `${target.name}: cache mounts config is not valid JSON`);
  }
  if (cfg.version !== 1 || !Array.isArray(cfg.mounts)) throw new TsbuildError('INVALID', `${target.name}: unsupported cache mounts version`);
  const layers = new Map(p.manifest.layers.map((d) => [d.digest, d]));
  const out: MountImport[] = [];
  for (const m of cfg.mounts) {
    // the key names a directory of the store: nothing but a digest's hex may reach the path
    if (!/^[0-9a-f]{64}$/.test(m.key)) throw new TsbuildError('CORRUPT', `${target.name}: bad cache mount key ${JSON.stringify(m.key)}`);
    const desc = layers.get(m.layer);
    if (!desc || !isDigest(desc.digest)) continue;
    const dir = store.cacheMountDir(m.key);
    if (nonEmpty(dir)) {
      out.push({ id: m.id, key: m.key, result: 'kept-local' });
      continue;
    }
    const tmp = store.tempPath('cache-mount');
    mkdirSync(tmp, { mode: 0o700 });
    try {
      const stream = target.open(desc);
      const verified = verifyDigest(stream, desc);
      await extractLayer(gunzip(verified), tmp, { mode: 'apply' });
      chmodSync(tmp, (m.mode ?? 0o755) & 0o7777);
      chownSync(tmp, m.uid ?? 0, m.gid ?? 0);
      // an empty dir left by a build that found nothing is replaced; a filled one wins
      if (!nonEmpty(dir)) {
        rmSync(dir, { recursive: true, force: true });
        renameSync(tmp, dir);
        out.push({ id: m.id, key: m.key, result: 'filled' });
      } else out.push({ id: m.id, key: m.key, result: 'kept-local' });
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }
  return out;
}

function nonEmpty(dir: string): boolean {
  try {
    return readdirSync(dir).length > 0;
  } catch {
    return false;
  }
}

/** Passes the bytes through and fails at the end unless they hash to the descriptor's digest and size. */
async function* verifyDigest(src: AsyncIterable<Buffer | Uint8Array>, d: Descriptor<string>): AsyncGenerator<Buffer> {
  const { createHash } = await import('node:crypto');
  const h = createHash('sha256');
  let n = 0;
  for await (const c of src) {
    const b = Buffer.from(c);
    h.update(b);
    n += b.length;
    yield b;
  }
  if (`sha256:${h.digest('hex')}` !== d.digest || n !== d.size) throw new TsbuildError('CORRUPT', `cache mount blob ${d.digest} does not match its digest`);
}

/** What exporting cache mounts needs of the store (importing needs only its ScratchSpace). */
export type MountsStore = StoreContent & Leases & LayerCompressions & ScratchSpace;

/** What build.ts needs for both directions. */
export interface MountsIo {
  store: MountsStore;
  events: EventEmitterHub;
  client: () => Promise<RegistryClient>;
}

/** Before the build: every `--cache-from ...,mounts=true` fills the store's empty cache mounts, as
 *  one step on the event stream (a line per mount); a source that fails is a warning, as a cache
 *  import's failure is. */
export async function importMountsForBuild(io: MountsIo, specs: CacheSpec[]): Promise<void> {
  for (const spec of specs) {
    if (!spec.mounts) continue;
    const name = spec.type === 'local' ? spec.dir : spec.ref;
    const id = io.events.start(`importing cache mounts from ${name}`);
    try {
      const got = await importCacheMounts(io.store, spec, io.client);
      const lines = got.map((g) => `id=${g.id}: ${g.result === 'filled' ? 'filled' : 'kept the local one (not empty)'}\n`).join('');
      io.events.emit({ type: 'step-log', id, stream: 'stdout', data: lines || 'no cache mounts there\n' });
      io.events.emit({ type: 'step-done', id });
    } catch (e) {
      if (!(e instanceof TsbuildError)) throw e;
      io.events.emit({ type: 'step-error', id, message: e.message });
      io.events.emit({ type: 'warning', message: `cache mounts import from ${name} failed: ${e.message}` });
    }
  }
}

/** After the build: every `--cache-to ...,mounts=true` gets the cache mounts the build used
 *  (`ignore-error=true` makes a failure a warning). */
export async function exportMountsForBuild(io: MountsIo, specs: CacheSpec[], mounts: CacheMountUse[]): Promise<void> {
  for (const spec of specs) {
    if (!spec.mounts) continue;
    try {
      await exportCacheMounts(io.store, spec, mounts, io.client, io.events);
    } catch (e) {
      if (!spec.ignoreError) throw e;
      io.events.emit({ type: 'warning', message: `cache mounts export to ${spec.type === 'local' ? spec.dir : spec.ref} failed: ${(e as Error).message}` });
    }
  }
}
