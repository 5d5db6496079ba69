/**
 * Reads a docker-archive (`docker save` / `tsbuild save` output) and computes the image's merged
 * file tree by applying its layers in order (OCI whiteouts included), so two images can be
 * compared entry by entry: type, mode, owner, size, content digest, link target, hard-link peers,
 * xattrs. Also keeps, per layer, what that layer changed (paths written, paths it deleted from the
 * layers below, whatever the whiteout spelling: explicit `.wh.x` or opaque `.wh..wh..opq`).
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
  /** Other paths of the merged tree that are hard links to this one (sorted). */
  hardlinks?: string[];
  /** Extended attributes (pax SCHILY.xattr.*), value sha256 per name. */
  xattrs?: Record<string, string>;
  /** Internal: hard-link group key (layer index + first path), turned into `hardlinks` at the end. */
  ino?: string;
}

export interface LayerChanges {
  /** Paths this layer writes (files, dirs, links...), hard links resolved to their target's data. */
  written: Map<string, TreeEntry>;
  /** Paths of the tree below that this layer removes (whiteouts expanded against the lower tree). */
  deleted: Set<string>;
  /** Raw whiteout entries as they appear in the tar (`/d/.wh.x`, `/d/.wh..wh..opq`). */
  whiteouts: string[];
}

export interface SavedImage {
  config: Record<string, any>;
  manifest: { Config: string; RepoTags?: string[] | null; Layers: string[] };
  tree: Map<string, TreeEntry>;
  layers: LayerChanges[];
  /** Merged tree after each layer (layers.length snapshots, the last equals `tree`). */
  snapshots: Array<Map<string, TreeEntry>>;
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
  const manifestFile = files.get('manifest.json');
  if (!manifestFile) throw new Error(`${file}: no manifest.json (not a docker-archive?)`);
  const manifest = JSON.parse(manifestFile.toString())[0];
  const configFile = files.get(manifest.Config);
  if (!configFile) throw new Error(`${file}: config ${manifest.Config} missing`);
  const config = JSON.parse(configFile.toString());
  const tree = new Map<string, TreeEntry>();
  const layers: LayerChanges[] = [];
  const snapshots: Array<Map<string, TreeEntry>> = [];
  for (const [i, layer] of (manifest.Layers as string[]).entries()) {
    const data = files.get(layer);
    if (!data) throw new Error(`${file}: layer ${layer} missing`);
    layers.push(await applyLayer(tree, data, i));
    snapshots.push(withHardlinks(tree));
  }
  return { config, manifest, tree: withHardlinks(tree), layers, snapshots };
}

const normName = (n: string) => '/' + n.replace(/^\.?\/+/, '').replace(/\/+$/, '');

async function applyLayer(tree: Map<string, TreeEntry>, data: Buffer, layerIndex: number): Promise<LayerChanges> {
  const gz = data[0] === 0x1f && data[1] === 0x8b;
  const input = gz ? Readable.from([data]).pipe(createGunzip()) : Readable.from([data]);
  const ex = tar.extract();
  const entries: Array<[string, TreeEntry]> = [];
  const byName = new Map<string, TreeEntry>();
  await new Promise<void>((resolve, reject) => {
    ex.on('entry', (h, stream, next) => {
      const hash = createHash('sha256');
      stream.on('data', (c: unknown) => void hash.update(c as Buffer));
      stream.on('end', () => {
        const name = normName(h.name);
        const xattrs: Record<string, string> = {};
        for (const [k, v] of Object.entries(h.pax ?? {})) {
          if (k.startsWith('SCHILY.xattr.')) xattrs[k.slice('SCHILY.xattr.'.length)] = createHash('sha256').update(String(v), 'latin1').digest('hex').slice(0, 16);
        }
        let e: TreeEntry = {
          type: h.type ?? 'file',
          mode: (h.mode ?? 0) & 0o7777,
          uid: h.uid ?? 0,
          gid: h.gid ?? 0,
          size: h.size ?? 0,
          ...(h.type === 'file' ? { sha256: hash.digest('hex') } : {}),
          ...(h.linkname && h.type !== 'link' ? { linkname: h.linkname } : {}),
          ...(Object.keys(xattrs).length ? { xattrs } : {}),
        };
        if (h.type === 'link' && h.linkname) {
          // A hard link carries no data of its own: it is its target (an earlier entry of this
          // layer). Which of the peers a tar writer stores first is arbitrary, so the link takes
          // the target's data and both get one group key; `hardlinks` is derived from it later.
          const targetName = normName(h.linkname);
          const target = byName.get(targetName) ?? tree.get(targetName);
          if (target) {
            target.ino ??= `${layerIndex}:${targetName}`;
            e = { ...target, ino: target.ino };
          } else {
            e = { ...e, type: 'link(dangling)', linkname: h.linkname };
          }
        }
        entries.push([name, e]);
        byName.set(name, e);
        next();
      });
      stream.on('error', reject);
    });
    ex.on('finish', resolve);
    ex.on('error', reject);
    input.pipe(ex);
  });
  // Whiteouts hide what lower layers had, never what this layer adds: delete first, then add.
  const deleted = new Set<string>();
  const whiteouts: string[] = [];
  for (const [name] of entries) {
    const base = name.slice(name.lastIndexOf('/') + 1);
    const dir = name.slice(0, name.lastIndexOf('/'));
    const opaque = base === '.wh..wh..opq';
    const gone = opaque ? dir : base.startsWith('.wh.') ? `${dir}/${base.slice(4)}` : null;
    if (gone === null) continue;
    whiteouts.push(name);
    for (const k of [...tree.keys()]) {
      if (k.startsWith(gone + '/') || (!opaque && k === gone)) {
        tree.delete(k);
        deleted.add(k);
      }
    }
  }
  const written = new Map<string, TreeEntry>();
  for (const [name, e] of entries) {
    const base = name.slice(name.lastIndexOf('/') + 1);
    if (base.startsWith('.wh.') || name === '/') continue;
    // A non-directory replacing a directory (or the reverse) drops what was under it.
    const old = tree.get(name);
    if (old && old.type === 'directory' && e.type !== 'directory') {
      for (const k of [...tree.keys()]) {
        if (k.startsWith(name + '/')) {
          tree.delete(k);
          deleted.add(k);
        }
      }
    }
    tree.set(name, e);
    written.set(name, e);
  }
  // A path deleted and then written again by this layer counts as written only.
  for (const k of written.keys()) deleted.delete(k);
  return { written, deleted, whiteouts };
}

/** A copy of the tree where each entry lists its hard-link peers instead of a group key. */
export function withHardlinks(tree: Map<string, TreeEntry>): Map<string, TreeEntry> {
  const groups = new Map<string, string[]>();
  for (const [p, e] of tree) if (e.ino) groups.set(e.ino, [...(groups.get(e.ino) ?? []), p]);
  const out = new Map<string, TreeEntry>();
  for (const [p, e] of tree) {
    const { ino, ...rest } = e;
    const peers = ino ? (groups.get(ino) ?? []).filter((x) => x !== p).sort() : [];
    out.set(p, peers.length ? { ...rest, hardlinks: peers } : rest);
  }
  return out;
}
