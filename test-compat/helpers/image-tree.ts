/**
 * Reads a docker-archive (`docker save` / `tsbuild save` output) and computes the image's merged
 * file tree by applying its layers in order (OCI whiteouts included), so two images can be
 * compared entry by entry: type, mode, owner, size, content digest, link target.
 */
import { createReadStream } from 'node:fs';
import { createHash } from 'node:crypto';
import { createGunzip } from 'node:zlib';
import { Readable } from 'node:stream';
import * as tar from 'tar-stream';

export interface TreeEntry {
  type: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  sha256?: string;
  linkname?: string;
}

export interface SavedImage {
  config: Record<string, any>;
  tree: Map<string, TreeEntry>;
}

export async function readDockerArchive(file: string): Promise<SavedImage> {
  const files = new Map<string, Buffer>();
  const ex = tar.extract();
  const done = new Promise<void>((resolve, reject) => {
    ex.on('entry', (h, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: unknown) => void chunks.push(c as Buffer));
      stream.on('end', () => {
        files.set(h.name.replace(/^\.\//, ''), Buffer.concat(chunks));
        next();
      });
      stream.on('error', reject);
    });
    ex.on('finish', resolve);
    ex.on('error', reject);
  });
  createReadStream(file).pipe(ex);
  await done;
  const manifest = JSON.parse(files.get('manifest.json')!.toString())[0];
  const config = JSON.parse(files.get(manifest.Config)!.toString());
  const tree = new Map<string, TreeEntry>();
  for (const layer of manifest.Layers as string[]) await applyLayer(tree, files.get(layer)!);
  return { config, tree };
}

async function applyLayer(tree: Map<string, TreeEntry>, data: Buffer): Promise<void> {
  const gz = data[0] === 0x1f && data[1] === 0x8b;
  const input = gz ? Readable.from([data]).pipe(createGunzip()) : Readable.from([data]);
  const ex = tar.extract();
  const entries: Array<[string, TreeEntry]> = [];
  await new Promise<void>((resolve, reject) => {
    ex.on('entry', (h, stream, next) => {
      const hash = createHash('sha256');
      stream.on('data', (c: unknown) => void hash.update(c as Buffer));
      stream.on('end', () => {
        const name = '/' + h.name.replace(/^\.?\/+/, '').replace(/\/+$/, '');
        entries.push([
          name,
          {
            type: h.type ?? 'file',
            mode: (h.mode ?? 0) & 0o7777,
            uid: h.uid ?? 0,
            gid: h.gid ?? 0,
            size: h.size ?? 0,
            ...(h.type === 'file' ? { sha256: hash.digest('hex') } : {}),
            ...(h.linkname ? { linkname: h.linkname } : {}),
          },
        ]);
        next();
      });
      stream.on('error', reject);
    });
    ex.on('finish', resolve);
    ex.on('error', reject);
    input.pipe(ex);
  });
  // Whiteouts hide what lower layers had, never what this layer adds: delete first, then add.
  for (const [name] of entries) {
    const base = name.slice(name.lastIndexOf('/') + 1);
    const dir = name.slice(0, name.lastIndexOf('/'));
    const gone = base === '.wh..wh..opq' ? dir : base.startsWith('.wh.') ? `${dir}/${base.slice(4)}` : null;
    if (gone === null) continue;
    for (const k of [...tree.keys()]) {
      if (k.startsWith(gone + '/') || (base !== '.wh..wh..opq' && k === gone)) tree.delete(k);
    }
  }
  for (const [name, e] of entries) {
    const base = name.slice(name.lastIndexOf('/') + 1);
    if (base.startsWith('.wh.') || name === '/') continue;
    tree.set(name, e);
  }
}
