/**
 * Attestations as BuildKit exports them: in-toto statements (v0.1) as layers
 * (`application/vnd.in-toto+json`, annotated `in-toto.io/predicate-type`) of an attestation
 * manifest whose config is `{"architecture":"unknown","os":"unknown",...}`, listed in the image
 * index next to the image manifest with platform unknown/unknown and the annotations
 * `vnd.docker.reference.type: attestation-manifest` and `vnd.docker.reference.digest: <image
 * manifest digest>`.
 *
 * The store keeps an image as its one manifest (so `save`, `docker load` and `run` see what they
 * always saw); an image's predicates are recorded beside it (a cache entry pinning their blobs) and
 * become statements and an index whenever the image is shown or pushed, with the subject digest of
 * the manifest that index holds (the pushed one is gzip-compressed, hence another digest).
 */
import { type Digest, hexOf } from './digest.js';
import { MT, type Descriptor, type Index, type Manifest } from './manifest.js';
import type { Platform } from './platform.js';
import type { BuildCache, StoreContent } from './store-roles.js';

export const IN_TOTO_MEDIA_TYPE = 'application/vnd.in-toto+json';
export const IN_TOTO_STATEMENT_V01 = 'https://in-toto.io/Statement/v0.1';
export const PREDICATE_TYPE_ANNOTATION = 'in-toto.io/predicate-type';
export const REFERENCE_TYPE_ANNOTATION = 'vnd.docker.reference.type';
export const REFERENCE_DIGEST_ANNOTATION = 'vnd.docker.reference.digest';
export const ATTESTATION_MANIFEST = 'attestation-manifest';
export const UNKNOWN_PLATFORM: Platform = { architecture: 'unknown', os: 'unknown' };

/** A predicate recorded for a stored image. */
export interface RecordedPredicate {
  predicateType: string;
  /** The blob holding the predicate's JSON. */
  digest: Digest;
}

export interface InTotoStatement {
  _type: typeof IN_TOTO_STATEMENT_V01;
  predicateType: string;
  subject: Array<{ name: string; digest: { sha256: string } }>;
  predicate: unknown;
}

const recordKey = (manifestDigest: string) => `attestations:${manifestDigest}`;

/** Records predicates for the stored image `manifestDigest` (replacing earlier ones). */
export async function recordPredicates(store: StoreContent & BuildCache, manifestDigest: Digest, predicates: Array<{ predicateType: string; predicate: unknown }>): Promise<void> {
  const recorded: RecordedPredicate[] = [];
  for (const p of predicates) {
    const blob = await store.blobs.putBuffer(Buffer.from(JSON.stringify(p.predicate)));
    recorded.push({ predicateType: p.predicateType, digest: blob.digest });
  }
  await store.cachePut(recordKey(manifestDigest), recorded, recorded.map((r) => r.digest));
}

/** The predicates recorded for a stored image (none for most images). */
export async function recordedPredicates(store: StoreContent & BuildCache, manifestDigest: string): Promise<Array<{ predicateType: string; predicate: unknown }>> {
  const recs = store.cacheGet<RecordedPredicate[]>(recordKey(manifestDigest)) ?? [];
  const out = [];
  for (const r of recs) {
    if (!store.hasBlob(r.digest)) continue;
    out.push({ predicateType: r.predicateType, predicate: JSON.parse((await store.blobs.read(r.digest)).toString('utf8')) as unknown });
  }
  return out;
}

/** `pkg:docker/NAME@TAG?platform=OS%2FARCH`: BuildKit's subject (and material) name for an image. */
export function purlOf(name: string, tag: string | undefined, platform: Platform): string {
  const p = encodeURIComponent([platform.os, platform.architecture, platform.variant].filter(Boolean).join('/'));
  return `pkg:docker/${name}${tag ? `@${tag}` : ''}?platform=${p}`;
}

export interface AttestedIndex {
  index: Descriptor;
  attestationManifest: Descriptor;
  statements: InTotoStatement[];
}

/**
 * Writes the statements (subject: `image`, named `subjectNames`), the attestation manifest and the
 * index holding `image` and it, into the store's blobs; returns the index's descriptor.
 */
export async function writeAttestedIndex(
  store: StoreContent,
  image: Descriptor<string> & { platform: Platform },
  subjectNames: readonly string[],
  predicates: ReadonlyArray<{ predicateType: string; predicate: unknown }>,
): Promise<AttestedIndex> {
  const statements: InTotoStatement[] = predicates.map((p) => ({
    _type: IN_TOTO_STATEMENT_V01,
    predicateType: p.predicateType,
    subject: subjectNames.map((name) => ({ name, digest: { sha256: hexOf(image.digest as Digest) } })),
    predicate: p.predicate,
  }));
  const layers: Descriptor[] = [];
  for (const s of statements) {
    const blob = await store.blobs.putBuffer(Buffer.from(JSON.stringify(s)));
    layers.push({ mediaType: IN_TOTO_MEDIA_TYPE, digest: blob.digest, size: blob.size, annotations: { [PREDICATE_TYPE_ANNOTATION]: s.predicateType } });
  }
  const config = await store.blobs.putBuffer(
    Buffer.from(JSON.stringify({ ...UNKNOWN_PLATFORM, config: {}, rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) } })),
  );
  const manifest: Manifest = { schemaVersion: 2, mediaType: MT.ociManifest, config: { mediaType: MT.ociConfig, digest: config.digest, size: config.size }, layers };
  const mblob = await store.blobs.putBuffer(Buffer.from(JSON.stringify(manifest, null, 2)));
  const attestationManifest: Descriptor = {
    mediaType: MT.ociManifest,
    digest: mblob.digest,
    size: mblob.size,
    annotations: { [REFERENCE_DIGEST_ANNOTATION]: image.digest, [REFERENCE_TYPE_ANNOTATION]: ATTESTATION_MANIFEST },
    platform: UNKNOWN_PLATFORM,
  };
  const index: Index<string> = {
    schemaVersion: 2,
    mediaType: MT.ociIndex,
    manifests: [{ mediaType: image.mediaType, digest: image.digest, size: image.size, platform: image.platform }, attestationManifest],
  };
  const iblob = await store.blobs.putBuffer(Buffer.from(JSON.stringify(index, null, 2)));
  return { index: { mediaType: MT.ociIndex, digest: iblob.digest, size: iblob.size }, attestationManifest, statements };
}

/** The platform an image's config names. */
export function platformOfConfig(c: { architecture?: string; os?: string; variant?: string }): Platform {
  return { architecture: c.architecture ?? 'unknown', os: c.os ?? 'unknown', ...(c.variant ? { variant: c.variant } : {}) };
}

