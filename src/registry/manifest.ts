/**
 * Manifests and indexes as registries serve them: OCI image manifest/index and Docker schema2
 * manifest/manifest list (same shapes, different media types). Pure: parse, classify, pick a
 * platform. Schema1 is refused (deprecated, unsigned content digests).
 */
import { TsbuildError } from '../errors.js';

export const MediaType = {
  OciManifest: 'application/vnd.oci.image.manifest.v1+json',
  OciIndex: 'application/vnd.oci.image.index.v1+json',
  OciConfig: 'application/vnd.oci.image.config.v1+json',
  OciLayer: 'application/vnd.oci.image.layer.v1.tar',
  OciLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  OciLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  DockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  DockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  DockerConfig: 'application/vnd.docker.container.image.v1+json',
  DockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  DockerSchema1: 'application/vnd.docker.distribution.manifest.v1+json',
  DockerSchema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
} as const;

/** What we ask registries for, best first. */
export const MANIFEST_ACCEPT = [MediaType.OciIndex, MediaType.DockerManifestList, MediaType.OciManifest, MediaType.DockerManifest];

export interface Platform {
  architecture: string;
  os: string;
  variant?: string;
  'os.version'?: string;
  'os.features'?: string[];
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  platform?: Platform;
  artifactType?: string;
}

export interface ImageManifest {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

export interface ImageIndex {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  manifests: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

export type ParsedManifest =
  | { kind: 'manifest'; mediaType: string; manifest: ImageManifest }
  | { kind: 'index'; mediaType: string; index: ImageIndex };

export function isIndexMediaType(mt: string): boolean {
  return mt === MediaType.OciIndex || mt === MediaType.DockerManifestList;
}

export function isManifestMediaType(mt: string): boolean {
  return mt === MediaType.OciManifest || mt === MediaType.DockerManifest;
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
  if (mt === MediaType.DockerSchema1 || mt === MediaType.DockerSchema1Signed || doc.schemaVersion === 1) {
    throw new TsbuildError('REGISTRY', 'Docker schema 1 manifests are not supported');
  }
  if (doc.schemaVersion !== 2) throw new TsbuildError('CORRUPT', `unsupported manifest schemaVersion ${String(doc.schemaVersion)}`);
  if (!mt) mt = Array.isArray(doc.manifests) ? MediaType.OciIndex : MediaType.OciManifest;
  if (isIndexMediaType(mt)) {
    if (!Array.isArray(doc.manifests)) throw new TsbuildError('CORRUPT', 'index has no manifests list');
    doc.manifests.forEach((d, i) => checkDescriptor(d, `manifests[${i}]`));
    return { kind: 'index', mediaType: mt, index: doc as unknown as ImageIndex };
  }
  if (isManifestMediaType(mt) || isObject(doc.config)) {
    checkDescriptor(doc.config, 'config');
    if (!Array.isArray(doc.layers)) throw new TsbuildError('CORRUPT', 'manifest has no layers list');
    doc.layers.forEach((d, i) => checkDescriptor(d, `layers[${i}]`));
    return { kind: 'manifest', mediaType: mt, manifest: doc as unknown as ImageManifest };
  }
  throw new TsbuildError('REGISTRY', `unsupported manifest media type "${mt}"`);
}

/** The platform this process runs on, in OCI terms (linux/amd64 on x86-64). */
export function hostPlatform(): Platform {
  const archMap: Record<string, [string, string?]> = {
    x64: ['amd64'],
    arm64: ['arm64', 'v8'],
    arm: ['arm', 'v7'],
    ia32: ['386'],
    ppc64: ['ppc64le'],
    s390x: ['s390x'],
    riscv64: ['riscv64'],
  };
  const [architecture, variant] = archMap[process.arch] ?? [process.arch];
  const p: Platform = { os: process.platform === 'win32' ? 'windows' : process.platform, architecture };
  if (variant) p.variant = variant;
  return p;
}

/** Parses `os/arch[/variant]` as `--platform` takes it. */
export function parsePlatform(s: string): Platform {
  const parts = s.split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => p.length === 0)) {
    throw new TsbuildError('INVALID', `invalid platform "${s}": expected os/arch[/variant]`);
  }
  const p: Platform = { os: parts[0]!.toLowerCase(), architecture: normalizeArch(parts[1]!.toLowerCase()) };
  if (parts[2]) p.variant = parts[2].toLowerCase();
  return p;
}

export function formatPlatform(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter(Boolean).join('/');
}

/**
 * Picks the entry of an index for a platform. Entries without a platform, attestation manifests
 * (`unknown/unknown`) and other OSes never match; an absent wanted variant matches any variant,
 * preferring arm64 v8 / arm v7 defaults as containerd does.
 */
export function selectPlatform(index: ImageIndex, want: Platform): Descriptor | undefined {
  const candidates = index.manifests.filter(
    (d) => d.platform && d.platform.os === want.os && normalizeArch(d.platform.architecture) === normalizeArch(want.architecture),
  );
  if (want.variant) {
    const exact = candidates.find((d) => normalizeVariant(d.platform!) === want.variant);
    if (exact) return exact;
    // arm64 entries often omit "v8".
    return candidates.find((d) => !d.platform!.variant && defaultVariant(want.architecture) === want.variant);
  }
  const def = defaultVariant(want.architecture);
  return candidates.find((d) => normalizeVariant(d.platform!) === def) ?? candidates[0];
}

function normalizeArch(a: string): string {
  if (a === 'x86_64' || a === 'x86-64') return 'amd64';
  if (a === 'aarch64') return 'arm64';
  return a;
}

function defaultVariant(arch: string): string | undefined {
  return arch === 'arm64' ? 'v8' : arch === 'arm' ? 'v7' : undefined;
}

function normalizeVariant(p: Platform): string | undefined {
  return p.variant ?? defaultVariant(normalizeArch(p.architecture));
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
