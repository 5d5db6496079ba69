/**
 * The image commands: import, load, save, images, history, inspect, tag, rmi, prune. Output is
 * shaped like Docker's. What a build loads anyway is imported here; the archive readers and
 * writers, the rootfs importer and the container records only by the commands that use them
 * (every CLI start evaluates this module).
 */
import { createWriteStream, renameSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Command } from 'commander';
import { TsbuildError, isTsbuildError } from '../errors.js';
import { historyWithLayers } from '../image/config.js';
import { chainIds } from '../image/digest.js';
import * as d from '../image/display.js';
import { familiarRepository, familiarString, parseReference, repositoryName } from '../image/reference.js';
import { resolveRoot } from '../image/root.js';
import { layerListing } from '../image/layer-listing.js';
import { computeWaste } from '../image/wasted-space.js';
import { ImageStore, normalizeTag, type StoredImage } from '../image/store.js';
import type { BuildCache, StoreContent } from '../image/store-roles.js';
import { writeOut } from './write-out.js';

/** `opts.root`: the program's one `--root` (main.ts hands it to the command that runs). */
interface RootOpt {
  root?: string;
}

function openStore(opts: RootOpt): Promise<ImageStore> {
  return ImageStore.open(resolveRoot(opts.root));
}

// (straight to fd 1: a reader that went away, `images | head -1`, ends the output quietly)
const out = (s: string) => writeOut(s.endsWith('\n') ? s : `${s}\n`);
const short = (id: string) => id.replace(/^sha256:/, '').slice(0, 12);

/** `docker image inspect`'s object for an image (`inspect` itself lives in containers.ts: it
 *  looks for a container first). */
export async function imageInspectObject(store: StoreContent & BuildCache, img: StoredImage) {
  const c = img.config;
  return {
    Id: img.id,
    RepoTags: img.tags.map((t) => familiarString(parseReference(t))),
    RepoDigests: [],
    Parent: '',
    Comment: c.history?.at(-1)?.comment ?? '',
    Created: c.created ?? '',
    Author: c.author ?? '',
    Config: c.config ?? {},
    Architecture: c.architecture,
    Variant: c.variant,
    Os: c.os,
    Size: img.size,
    RootFS: { Type: 'layers', Layers: c.rootfs.diff_ids },
    Descriptor: { mediaType: img.manifest.mediaType, digest: img.manifestDigest, size: store.blobs.size(img.manifestDigest) },
    Manifest: img.manifest,
    ChainIDs: chainIds(c.rootfs.diff_ids),
    History: c.history ?? [],
    // tsbuild's addition, only for images built with --provenance: what buildx imagetools shows
    ...(await provenanceOf(store, img)),
  } as Record<string, unknown>;
}

/** `{ Provenance: { SLSA: predicate } }` when the image has a recorded provenance, else nothing. */
async function provenanceOf(store: StoreContent & BuildCache, img: StoredImage): Promise<Record<string, unknown>> {
  const { recordedPredicates } = await import('../image/attestation.js');
  const slsa = (await recordedPredicates(store, img.manifestDigest)).find((p) => p.predicateType === 'https://slsa.dev/provenance/v0.2');
  return slsa ? { Provenance: { SLSA: slsa.predicate } } : {};
}

/** `history --wasted`: the layers' listings (layer-listing.ts: remembered, or their headers scanned), the waste printed. */
function printWaste(store: ImageStore, img: StoredImage, opts: { trunc: boolean; human: boolean; format?: string }): void {
  if (opts.format && opts.format !== 'json') throw new TsbuildError('USAGE', `unsupported --format "${opts.format}" (json)`);
  const layers = img.manifest.layers;
  const report = computeWaste(layers.map((l) => layerListing(store, l.digest)));
  const createdBy: string[] = [];
  for (const { entry, layerIndex } of historyWithLayers(img.config)) {
    if (layerIndex !== undefined) createdBy[layerIndex] = (entry.created_by ?? '').replace(/\t/g, ' ');
  }
  const size = (n: number) => (opts.human ? d.humanSize(n) : String(n));
  const pct = `${(report.share * 100).toFixed(1)}%`;
  if (opts.format === 'json') {
    out(
      JSON.stringify({
        Image: img.id,
        TotalBytes: report.totalBytes,
        WastedBytes: report.wastedBytes,
        Share: report.share,
        Layers: report.layers.map((l) => ({
          Layer: l.layer,
          Digest: layers[l.layer]!.digest,
          CreatedBy: createdBy[l.layer] ?? '',
          WastedBytes: l.bytes,
          Paths: l.paths.map((p) => ({ Path: p.path, Bytes: p.bytes, Reason: p.reason, ByLayer: p.byLayer, ByCreatedBy: createdBy[p.byLayer] ?? '' })),
        })),
      }),
    );
    return;
  }
  if (report.wastedBytes === 0) {
    out(`No wasted space: no layer ships bytes that a later layer deletes or overwrites (image ${size(report.totalBytes)}).`);
    return;
  }
  const cut = (s: string) => (opts.trunc ? d.ellipsis(s, 40) : s);
  const rows: string[][] = [['LAYER', 'CREATED BY', 'PATH', 'SIZE', 'HIDDEN BY']];
  for (const l of report.layers) {
    for (const p of l.paths) {
      rows.push([String(l.layer), cut(createdBy[l.layer] ?? ''), p.path, size(p.bytes), `${p.reason} in layer ${p.byLayer}: ${cut(createdBy[p.byLayer] ?? '')}`]);
    }
  }
  out(d.table(rows));
  out(`Wasted: ${size(report.wastedBytes)} (${report.wastedBytes} bytes) of ${size(report.totalBytes)}, ${pct} of the image.`);
}

/** Registers the import, load, save, images, history, tag, rmi, prune commands; under `image` (as
 *  `docker image`) `images` is `ls` (or `list`) and `rmi` is `rm`. */
export function registerImageCommands(program: Command, opts: { group: boolean } = { group: false }): void {
  program
    .command('import')
    .description('Create an image from a root filesystem tarball (plain or gzip)')
    .argument('<file>', 'rootfs tarball, or - for stdin')
    .argument('[name]', 'NAME[:TAG] to give the image')
    .option('-m, --message <text>', 'history comment')
    .action(async (file: string, name: string | undefined, opts: RootOpt & { message?: string }) => {
      if (name) normalizeTag(name); // a bad name fails before any work
      const store = await openStore(opts);
      const { importRootfs } = await import('../image/import.js');
      const epoch = process.env.SOURCE_DATE_EPOCH;
      const img = await importRootfs(store, file === '-' ? process.stdin : file, {
        tag: name,
        message: opts.message,
        created: epoch && /^\d+$/.test(epoch) ? new Date(Number(epoch) * 1000) : undefined,
      });
      out(img.id);
    });

  program
    .command('load')
    .description('Load images from a docker-archive or OCI archive (gzip too)')
    .option('-i, --input <file>', 'read from this file instead of stdin')
    .option('-q, --quiet', 'suppress the load output')
    .action(async (opts: RootOpt & { input?: string; quiet?: boolean }) => {
      const store = await openStore(opts);
      const { loadArchive } = await import('../image/archive-load.js');
      const r = await loadArchive(store, opts.input ?? process.stdin);
      if (opts.quiet) return;
      for (const { image, tags } of r.images) {
        if (tags.length === 0) out(`Loaded image ID: ${image.id}`);
        for (const t of tags) out(`Loaded image: ${familiarString(parseReference(t))}`);
      }
    });

  program
    .command('save')
    .description('Save images to a tar archive (docker-archive or OCI archive)')
    .argument('<image...>', 'images (names or IDs)')
    .option('-o, --output <file>', 'write to this file instead of stdout')
    .option('--format <format>', 'docker (uncompressed layers, docker load) or oci (gzip layers)', 'docker')
    .action(async (images: string[], opts: RootOpt & { output?: string; format: string }) => {
      if (opts.format !== 'docker' && opts.format !== 'oci') throw new TsbuildError('USAGE', `invalid --format "${opts.format}" (docker or oci)`);
      if (!opts.output && process.stdout.isTTY) {
        throw new TsbuildError('USAGE', 'cowardly refusing to save to a terminal. Use the -o flag or redirect');
      }
      const store = await openStore(opts);
      const { saveImages } = await import('../image/archive-save.js');
      if (!opts.output) {
        await saveImages(store, images, process.stdout, { format: opts.format });
        return;
      }
      // Written next to the target and renamed: a failed save leaves no partial archive.
      const tmp = join(dirname(opts.output), `.${basename(opts.output)}.tmp-${process.pid}`);
      const ws = createWriteStream(tmp, { highWaterMark: 1 << 20 });
      try {
        await saveImages(store, images, ws, { format: opts.format });
        await new Promise<void>((res, rej) => ws.end((e?: Error | null) => (e ? rej(e) : res())));
        renameSync(tmp, opts.output);
      } catch (e) {
        ws.destroy();
        rmSync(tmp, { force: true });
        throw e;
      }
    });

  const images = program.command(opts.group ? 'ls' : 'images');
  if (opts.group) images.alias('list');
  images
    .description('List images')
    .argument('[repository]', 'only this REPOSITORY[:TAG]')
    .option('-q, --quiet', 'only show image IDs')
    .option('--no-trunc', 'do not truncate IDs')
    .option('--format <format>', 'json: one JSON object per line')
    .action(async (repo: string | undefined, opts: RootOpt & { quiet?: boolean; trunc: boolean; format?: string }) => {
      const store = await openStore(opts);
      const filter = repo ? parseReference(repo, { defaultTag: false }) : undefined;
      const rows: Array<{ repo: string; tag: string; id: string; created?: string; size: number; digest: string }> = [];
      for (const img of await store.listImages()) {
        const id = opts.trunc ? short(img.id) : img.id;
        // Docker's SIZE: the content of the image's layers, not their tar lengths
        const size = (await Promise.all(img.manifest.layers.map((l) => store.layerContentSize(l.digest)))).reduce((a, b) => a + b, 0);
        const named = img.tags.map((t) => parseReference(t));
        const matching = filter ? named.filter((r) => repositoryName(r) === repositoryName(filter) && (!filter.tag || r.tag === filter.tag)) : named;
        if (filter && matching.length === 0) continue;
        if (matching.length === 0) rows.push({ repo: '<none>', tag: '<none>', id, created: img.config.created, size, digest: '<none>' });
        for (const r of matching.sort((a, b) => familiarRepository(a).localeCompare(familiarRepository(b)) || (a.tag ?? '').localeCompare(b.tag ?? ''))) {
          rows.push({ repo: familiarRepository(r), tag: r.tag ?? '<none>', id, created: img.config.created, size, digest: '<none>' });
        }
      }
      if (opts.quiet) {
        for (const r of rows) out(r.id);
        return;
      }
      if (opts.format === 'json') {
        for (const r of rows) {
          out(JSON.stringify({
            Containers: 'N/A', CreatedAt: d.goTime(r.created), CreatedSince: d.since(r.created), Digest: r.digest, ID: r.id,
            Repository: r.repo, SharedSize: 'N/A', Size: d.humanSize(r.size), Tag: r.tag, UniqueSize: 'N/A', VirtualSize: d.humanSize(r.size),
          }));
        }
        return;
      }
      if (opts.format) throw new TsbuildError('USAGE', `unsupported --format "${opts.format}" (json)`);
      out(d.table([['REPOSITORY', 'TAG', 'IMAGE ID', 'CREATED', 'SIZE'], ...rows.map((r) => [r.repo, r.tag, r.id, d.since(r.created), d.humanSize(r.size)])]));
    });

  program
    .command('history')
    .description('Show the history of an image, newest first')
    .argument('<image>')
    .option('--no-trunc', 'do not truncate output')
    .option('-q, --quiet', 'only show image IDs')
    .option('-H, --human [bool]', 'human-readable sizes and dates', 'true')
    .option('--format <format>', 'json: one JSON object per line')
    .option('--wasted', 'show the bytes layers ship that later layers delete or overwrite')
    .action(async (name: string, opts: RootOpt & { trunc: boolean; quiet?: boolean; human: string; format?: string; wasted?: boolean }) => {
      const store = await openStore(opts);
      const img = await store.resolve(name);
      const human = opts.human !== 'false';
      if (opts.wasted) {
        printWaste(store, img, { trunc: opts.trunc, human, format: opts.format });
        return;
      }
      const entries = historyWithLayers(img.config).reverse();
      // Docker's SIZE is a layer's content (its files' bytes), not the tar's length
      const sizes = await Promise.all(
        entries.map(({ layerIndex }) => {
          const l = layerIndex === undefined ? undefined : img.manifest.layers[layerIndex];
          return l ? store.layerContentSize(l.digest) : 0;
        }),
      );
      const rows = entries.map(({ entry }, i) => {
        const id = i === 0 ? (opts.trunc ? short(img.id) : img.id) : '<missing>';
        const size = sizes[i]!;
        const createdBy = (entry.created_by ?? '').replace(/\t/g, ' ');
        return {
          ID: id,
          CreatedSince: human ? d.since(entry.created) : (entry.created ?? ''),
          CreatedAt: entry.created ?? '',
          CreatedBy: opts.trunc ? d.ellipsis(createdBy, 45) : createdBy,
          Size: human ? d.humanSize(size) : String(size),
          Comment: entry.comment ?? '',
        };
      });
      if (opts.quiet) {
        for (const r of rows) out(r.ID);
        return;
      }
      if (opts.format === 'json') {
        for (const r of rows) out(JSON.stringify(r));
        return;
      }
      if (opts.format) throw new TsbuildError('USAGE', `unsupported --format "${opts.format}" (json)`);
      out(d.table([['IMAGE', 'CREATED', 'CREATED BY', 'SIZE', 'COMMENT'], ...rows.map((r) => [r.ID, r.CreatedSince, r.CreatedBy, r.Size, r.Comment])]));
    });

  program
    .command('tag')
    .description('Give an image another name')
    .argument('<source>', 'SOURCE_IMAGE[:TAG] or ID')
    .argument('<target>', 'TARGET_IMAGE[:TAG]')
    .action(async (src: string, dst: string, opts: RootOpt) => {
      normalizeTag(dst);
      const store = await openStore(opts);
      await store.tag(src, dst);
    });

  program
    .command(opts.group ? 'rm' : 'rmi')
    .description('Remove images (untag; the last name deletes the image)')
    .argument('<image...>')
    .option('-f, --force', 'remove an image with several names by ID')
    .action(async (names: string[], opts: RootOpt & { force?: boolean }) => {
      const store = await openStore(opts);
      let failed = false;
      const { Containers } = await import('../containers/containers.js');
      const { imageInUse } = await import('../containers/image-use.js');
      const containers = new Containers(store);
      for (const n of names) {
        try {
          // as Docker: an image a container uses goes only with -f, never while one runs
          await imageInUse(store, containers, n, !!opts.force);
          const r = await store.remove(n, { force: opts.force });
          for (const u of r.untagged) out(`Untagged: ${u}`);
          for (const d of r.deleted) out(`Deleted: ${d}`);
        } catch (e) {
          if (!isTsbuildError(e)) throw e;
          process.stderr.write(`tsbuild: ${e.message}\n`);
          failed = true;
        }
      }
      if (failed) process.exitCode = 1;
    });

  program
    .command('prune')
    .description('Remove dangling images and unreferenced blobs and snapshots')
    .option('-a, --all', 'also drop the build cache and what only it kept')
    .option('-f, --force', 'do not prompt (tsbuild never prompts)')
    .action(async (opts: RootOpt & { all?: boolean }) => {
      const store = await openStore(opts);
      const r = await store.prune({ all: opts.all });
      if (r.deletedImages.length) {
        out('Deleted Images:');
        for (const id of r.deletedImages) out(`deleted: ${id}`);
        out('');
      }
      out(`Total reclaimed space: ${d.humanSize(r.bytesFreed)}`);
    });
}
