/**
 * `build --metadata-file FILE`: the build's result as buildx writes it, so CI steps that read
 * buildx's file (`jq -r '."containerimage.digest"'`) work unchanged. Keys as buildx names them:
 * `containerimage.digest` (the manifest's digest), `containerimage.config.digest` (the image ID),
 * `containerimage.descriptor` (the manifest's OCI descriptor) and `image.name` (the -t names,
 * fully qualified, joined by commas; absent without -t, as buildx leaves it out). Written only
 * after a successful build, through a temp file and a rename, so a reader never sees half a file.
 */
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { normalizeTag } from '../image/store.js';

export interface BuildMetadata {
  'containerimage.config.digest': string;
  'containerimage.descriptor': { mediaType: string; digest: string; size: number };
  'containerimage.digest': string;
  'image.name'?: string;
}

export function buildMetadata(r: { imageId: string; manifestDigest: string; manifestMediaType: string; manifestSize: number; tags: string[] }): BuildMetadata {
  const names = [...new Set(r.tags.map(normalizeTag))];
  return {
    'containerimage.config.digest': r.imageId,
    'containerimage.descriptor': { mediaType: r.manifestMediaType, digest: r.manifestDigest, size: r.manifestSize },
    'containerimage.digest': r.manifestDigest,
    ...(names.length ? { 'image.name': names.join(',') } : {}),
  };
}

/** Writes `value` as indented JSON to `path` atomically (temp file in the same dir, then rename). */
export function writeMetadataFile(path: string, value: BuildMetadata): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  try {
    writeFileSync(tmp, `${JSON.stringify(value, null, 2)}\n`);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}
