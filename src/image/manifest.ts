/**
 * The one OCI vocabulary: media types, descriptors, manifests and indexes (OCI and Docker schema2:
 * same shapes, different media types), and parsing manifest bytes from outside. The store always
 * writes OCI media types with uncompressed layers (`...layer.v1.tar`): a layer blob's digest is
 * then its diff ID. Docker schema 1 is refused (deprecated, unsigned content digests).
 *
 * `D` is the digest type: the store's own documents name sha256 content only (`Digest`, the
 * default); documents from a registry are `Descriptor<string>` until their digests are checked.
 */
import { TsbuildError } from '../errors.js';
import type { Digest } from './digest.js';
import type { Platform } from './platform.js';

export const MT = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerSchema1: 'application/vnd.docker.distribution.manifest.v1+json',
  dockerSchema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
} as const;

export interface Descriptor<D extends string = Digest> {
  mediaType: string;
  digest: D;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  platform?: Platform;
  artifactType?: string;
}

export interface Manifest<D extends string = Digest> {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  config: Descriptor<D>;
  layers: Descriptor<D>[];
  subject?: Descriptor<D>;
  annotations?: Record<string, string>;
}

export interface Index<D extends string = Digest> {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  manifests: Descriptor<D>[];
  subject?: Descriptor<D>;
  annotations?: Record<string, string>;
}

/** Manifest bytes from outside, classified (digests not yet checked against the store's rules). */
export type ParsedManifest =
  | { kind: 'manifest'; mediaType: string; manifest: Manifest<string> }
  | { kind: 'index'; mediaType: string; index: Index<string> };

/** The OCI annotation naming a manifest in an image layout's index.json. */
export const REF_NAME = 'org.opencontainers.image.ref.name';
/** The annotation containerd/nerdctl use for the full image name; Docker's OCI save writes it too. */
export const CONTAINERD_NAME = 'io.containerd.image.name';

export function isManifestType(mt: string | undefined): boolean {
  return mt === MT.ociManifest || mt === MT.dockerManifest;
}

export function isIndexType(mt: string | undefined): boolean {
  return mt === MT.ociIndex || mt === MT.dockerList;
}

export type LayerCompression = 'none' | 'gzip' | 'zstd';

export function layerCompression(mt: string): LayerCompression | undefined {
  switch (mt) {
    case MT.ociLayer:
    case MT.dockerLayer:
    case 'application/vnd.oci.image.layer.nondistributable.v1.tar':
      return 'none';
    case MT.ociLayerGzip:
    case MT.dockerLayerGzip:
    case 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip':
      return 'gzip';
    case MT.ociLayerZstd:
      return 'zstd';
    default:
      return undefined;
  }
}

/** The manifest the store writes for a config and its uncompressed layers. */
export function buildManifest(config: { digest: Digest; size: number }, layers: Array<{ digest: Digest; size: number }>): Manifest {
  return {
    schemaVersion: 2,
    mediaType: MT.ociManifest,
    config: { mediaType: MT.ociConfig, digest: config.digest, size: config.size },
    layers: layers.map((l) => ({ mediaType: MT.ociLayer, digest: l.digest, size: l.size })),
  };
}

/**
 * Parses manifest bytes. The media type comes from the body's `mediaType` when present, else from
 * the Content-Type the registry sent, else from the shape (`manifests` → index).
 */
export function parseManifest(bytes: Buffer, contentType?: string): ParsedManifest {
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new TsbuildError('CORRUPT', 'manifest is not valid JSON');
  }
  if (!isObject(doc)) throw new TsbuildError('CORRUPT', 'manifest is not a JSON object');
  const ct = contentType?.split(';')[0]?.trim();
  let mt = typeof doc.mediaType === 'string' ? doc.mediaType : ct && ct !== 'application/json' ? ct : '';
  if (mt === MT.dockerSchema1 || mt === MT.dockerSchema1Signed || doc.schemaVersion === 1) {
    throw new TsbuildError('REGISTRY', 'Docker schema 1 manifests are not supported');
  }
  if (doc.schemaVersion !== 2) throw new TsbuildError('CORRUPT', `unsupported manifest schemaVersion ${String(doc.schemaVersion)}`);
  if (!mt) mt = Array.isArray(doc.manifests) ? MT.ociIndex : MT.ociManifest;
  if (isIndexType(mt)) {
    if (!Array.isArray(doc.manifests)) throw new TsbuildError('CORRUPT', 'index has no manifests list');
    doc.manifests.forEach((d, i) => checkDescriptor(d, `manifests[${i}]`));
    return { kind: 'index', mediaType: mt, index: doc as unknown as Index<string> };
  }
  if (isManifestType(mt) || isObject(doc.config)) {
    checkDescriptor(doc.config, 'config');
    if (!Array.isArray(doc.layers)) throw new TsbuildError('CORRUPT', 'manifest has no layers list');
    doc.layers.forEach((d, i) => checkDescriptor(d, `layers[${i}]`));
    return { kind: 'manifest', mediaType: mt, manifest: doc as unknown as Manifest<string> };
  }
  throw new TsbuildError('REGISTRY', `unsupported manifest media type "${mt}"`);
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

const DIGEST_RE = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

function checkDescriptor(d: unknown, where: string): void {
  if (!isObject(d) || typeof d.digest !== 'string' || !DIGEST_RE.test(d.digest) || typeof d.size !== 'number' || d.size < 0) {
    throw new TsbuildError('CORRUPT', `manifest ${where} is not a valid descriptor`);
  }
  if (d.mediaType !== undefined && typeof d.mediaType !== 'string') {
    throw new TsbuildError('CORRUPT', `manifest ${where} has an invalid mediaType`);
  }
}
