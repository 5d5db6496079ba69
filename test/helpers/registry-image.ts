/** Makes small test images (config + tar layers of random bytes) in an OCI layout directory. */
import { randomBytes } from 'node:crypto';
import { pack } from 'tar-stream';
import { digestOf } from '../../src/image/digest.js';
import { MT, type Descriptor } from '../../src/image/manifest.js';
import type { OciLayout } from '../../src/image/oci-layout.js';

export interface TestImage {
  manifest: Descriptor<string>;
  manifestBytes: Buffer;
  config: Descriptor<string>;
  layers: Descriptor<string>[];
}

/** A tar with one file of `size` random bytes. */
export async function randomLayerTar(size: number, name = 'data.bin'): Promise<Buffer> {
  const p = pack();
  p.entry({ name, size, mode: 0o644, mtime: new Date(0) }, randomBytes(size));
  p.finalize();
  const parts: Buffer[] = [];
  for await (const c of p) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

export async function putBytes(store: OciLayout, bytes: Buffer): Promise<string> {
  const digest = digestOf(bytes);
  await store.content.write([bytes], { digest, size: bytes.length });
  return digest;
}

/** Builds an image whose layers hold random files of the given sizes; tags it `tag` in the layout. */
export async function makeTestImage(store: OciLayout, layerSizes: number[], tag = 'latest'): Promise<TestImage> {
  const layers: Descriptor<string>[] = [];
  const diffIds: string[] = [];
  for (const [i, size] of layerSizes.entries()) {
    const tar = await randomLayerTar(size, `file${i}.bin`);
    const digest = await putBytes(store, tar);
    layers.push({ mediaType: MT.ociLayer, digest, size: tar.length });
    diffIds.push(digest);
  }
  const configBytes = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: { Env: ['PATH=/usr/bin:/bin'], Cmd: ['/bin/sh'] },
      rootfs: { type: 'layers', diff_ids: diffIds },
      history: layers.map(() => ({ created_by: 'test' })),
    }),
  );
  const config: Descriptor<string> = { mediaType: MT.ociConfig, digest: await putBytes(store, configBytes), size: configBytes.length };
  const manifestBytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MT.ociManifest, config, layers }));
  const manifest: Descriptor<string> = { mediaType: MT.ociManifest, digest: await putBytes(store, manifestBytes), size: manifestBytes.length };
  await store.setRef(tag, manifest);
  return { manifest, manifestBytes, config, layers };
}
