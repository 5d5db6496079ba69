/**
 * OCI manifests, indexes and descriptors, and the Docker media types we accept on input. The store
 * always writes OCI media types with uncompressed layers (`...layer.v1.tar`): the layer blob's
 * digest is then its diff ID.
 */
import type { Digest } from './digest.js';

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
} as const;

export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  annotations?: Record<string, string>;
  platform?: { architecture: string; os: string; variant?: string };
}

export interface Manifest {
  schemaVersion: 2;
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

export interface Index {
  schemaVersion: 2;
  mediaType?: string;
  manifests: Descriptor[];
  annotations?: Record<string, string>;
}

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
