/**
 * Real builds for builder tests: a temp store with the busybox rootfs imported as `busybox:latest`,
 * temp contexts made from `{path: content}` maps, `build()` runs that return the image, its config,
 * its layers' entries and the build's events. Nothing is mocked.
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { build } from '../../src/index.js';
import type { BuildOptions } from '../../src/builder/build.js';
import type { BuildEvent } from '../../src/builder/events.js';
import type { ImageConfig, HistoryEntry } from '../../src/image/config.js';
import type { Digest } from '../../src/image/digest.js';
import { importRootfs } from '../../src/image/import.js';
import { ImageStore, type StoredImage } from '../../src/image/store.js';
import { readTar } from '../../src/image/tar-format.js';
import { busyboxRootfsTar } from './fixtures.js';

/** The base image's creation time: fixed, so two fresh stores hold the same base image ID. */
export const BASE_CREATED = new Date('2024-01-01T00:00:00Z');

export interface TempStore {
  root: string;
  /** The imported base image's ID. */
  baseId: string;
  cleanup(): void;
}

/** A fresh store under a temp dir with busybox imported as `busybox:latest` (and `bbtest:1`). */
export async function makeBaseStore(): Promise<TempStore> {
  const dir = mkdtempSync(join(tmpdir(), 'tsb-build-'));
  const root = join(dir, 'store');
  const store = await ImageStore.open(root);
  let baseId: string;
  try {
    const img = await importRootfs(store, busyboxRootfsTar(), { tag: 'busybox:latest', created: BASE_CREATED, message: 'Imported from -' });
    await store.tag(img.id, 'bbtest:1');
    baseId = img.id;
  } finally {
    await store.close();
  }
  return { root, baseId, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A context entry: file content, or a file with a mode, or a symlink. */
export type ContextEntry = string | Buffer | { content: string | Buffer; mode: number } | { symlink: string };
export type ContextFiles = Record<string, ContextEntry>;

/** Writes `files` (paths relative to `dir`; parents made as needed) into `dir`. */
export function writeContext(dir: string, files: ContextFiles): void {
  for (const [rel, v] of Object.entries(files)) {
    const p = join(dir, rel);
    mkdirSync(dirname(p), { recursive: true });
    rmSync(p, { force: true, recursive: true });
    if (typeof v === 'string' || Buffer.isBuffer(v)) writeFileSync(p, v);
    else if ('symlink' in v) symlinkSync(v.symlink, p);
    else {
      writeFileSync(p, v.content);
      chmodSync(p, v.mode);
    }
  }
}

/** A temp context dir holding `files`; removed when the test process exits (or by the caller). */
export function makeContext(files: ContextFiles = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'tsb-ctx-'));
  if (contexts.size === 0) process.on('exit', () => contexts.forEach((d) => rmSync(d, { recursive: true, force: true })));
  contexts.add(dir);
  writeContext(dir, files);
  return dir;
}

/** Context dirs made by this test process, for the exit hook above. */
const contexts = new Set<string>();

export interface LayerFile {
  /** Path inside the image, without leading `/` or `./`, without trailing `/`. */
  path: string;
  type: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  linkname?: string;
  /** Content of regular files up to 64 KiB. */
  content?: string;
}

export interface StepRecord {
  name: string;
  cached: boolean;
  error?: string;
  logs: string;
}

export interface Built {
  imageId: string;
  image: StoredImage;
  config: ImageConfig;
  history: HistoryEntry[];
  /** Entries of each layer, bottom first (base layer included). */
  layers: LayerFile[][];
  /** The layers this build added on top of the base image. */
  newLayers: LayerFile[][];
  events: BuildEvent[];
  steps: StepRecord[];
  warnings: string[];
  /** All RUN output of the build, concatenated. */
  output: string;
}

export interface BuildFailure {
  error: Error;
  events: BuildEvent[];
  steps: StepRecord[];
}

export type BuildArgs = Omit<BuildOptions, 'root' | 'contextDir' | 'onEvent'> & { contextDir?: string };

/** Runs `build()` against the store at `root` in `contextDir` (Dockerfile given as text unless `dockerfile`). */
export async function buildIn(root: string, contextDir: string, dockerfile: string | undefined, opts: BuildArgs = {}): Promise<Built> {
  const events: BuildEvent[] = [];
  const result = await build({
    ...(dockerfile !== undefined ? { dockerfileText: dockerfile } : {}),
    ...opts,
    contextDir,
    root,
    onEvent: (e) => events.push(e),
  });
  return inspectBuilt(root, result.imageId, events);
}

/** Builds `dockerfile` with a fresh context made of `files` (removed afterwards). */
export async function buildFiles(root: string, dockerfile: string, files: ContextFiles = {}, opts: BuildArgs = {}): Promise<Built> {
  const ctx = makeContext(files);
  try {
    return await buildIn(root, ctx, dockerfile, opts);
  } finally {
    rmSync(ctx, { recursive: true, force: true });
  }
}

/** Like buildFiles, but the build must fail: returns the error and the events. */
export async function buildFails(root: string, dockerfile: string, files: ContextFiles = {}, opts: BuildArgs = {}): Promise<BuildFailure> {
  const ctx = makeContext(files);
  const events: BuildEvent[] = [];
  try {
    await build({ dockerfileText: dockerfile, ...opts, contextDir: ctx, root, onEvent: (e) => events.push(e) });
  } catch (e) {
    return { error: e as Error, events, steps: stepRecords(events) };
  } finally {
    rmSync(ctx, { recursive: true, force: true });
  }
  throw new Error('build succeeded but was expected to fail');
}

export function stepRecords(events: BuildEvent[]): StepRecord[] {
  const byId = new Map<number, StepRecord>();
  for (const e of events) {
    if (e.type === 'step-start') byId.set(e.id, { name: e.name, cached: false, logs: '' });
    else if (e.type === 'step-cached') byId.get(e.id)!.cached = true;
    else if (e.type === 'step-error') byId.get(e.id)!.error = e.message;
    else if (e.type === 'step-log') byId.get(e.id)!.logs += e.data;
  }
  return [...byId.values()];
}

/** The image `id` as stored, with its layers read back. */
export async function inspectBuilt(root: string, imageId: string, events: BuildEvent[] = []): Promise<Built> {
  const store = await ImageStore.open(root);
  try {
    const image = await store.resolve(imageId);
    const layers: LayerFile[][] = [];
    for (const l of image.manifest.layers) layers.push(await readLayer(store, l.digest as Digest));
    const steps = stepRecords(events);
    return {
      imageId: image.id,
      image,
      config: image.config,
      history: image.config.history ?? [],
      layers,
      newLayers: layers.slice(1),
      events,
      steps,
      warnings: events.flatMap((e) => (e.type === 'warning' ? [e.message] : [])),
      output: steps.map((s) => s.logs).join(''),
    };
  } finally {
    await store.close();
  }
}

export async function readLayer(store: ImageStore, digest: Digest): Promise<LayerFile[]> {
  const out: LayerFile[] = [];
  for await (const { header, body } of readTar(store.openBlob(digest))) {
    const chunks: Buffer[] = [];
    let n = 0;
    for await (const c of body) {
      if (header.type === 'file' && n < 65536) chunks.push(c);
      n += c.length;
    }
    const path = header.name.replace(/^\.?\/+/, '').replace(/\/+$/, '');
    const f: LayerFile = { path, type: header.type, mode: header.mode & 0o7777, uid: header.uid, gid: header.gid, size: header.size, mtime: header.mtime };
    if (header.linkname) f.linkname = header.linkname;
    if (header.type === 'file' && header.size <= 65536) f.content = Buffer.concat(chunks).toString('utf8');
    out.push(f);
  }
  return out;
}

/** The entry for `path` as the image shows it (top layer wins; whiteouts hide). */
export function imageEntry(built: Pick<Built, 'layers'>, path: string): LayerFile | undefined {
  const p = path.replace(/^\/+/, '');
  const slash = p.lastIndexOf('/');
  const wh = (slash >= 0 ? p.slice(0, slash + 1) : '') + '.wh.' + p.slice(slash + 1);
  for (let i = built.layers.length - 1; i >= 0; i--) {
    const layer = built.layers[i]!;
    const hit = layer.find((e) => e.path === p);
    if (hit) return hit;
    if (layer.some((e) => e.path === wh)) return undefined;
  }
  return undefined;
}

/** Content of the regular file `path` in the image (undefined when absent). */
export function imageFile(built: Pick<Built, 'layers'>, path: string): string | undefined {
  return imageEntry(built, path)?.content;
}

/** Every path any of the given layers holds. */
export function allPaths(layers: LayerFile[][]): string[] {
  return layers.flatMap((l) => l.map((e) => e.path));
}

/** The names of the steps that ran (not cached), FROM loads left out. */
export function ranSteps(b: { steps: StepRecord[] }): string[] {
  return b.steps.filter((s) => !s.cached && !/\] FROM /.test(s.name)).map((s) => s.name);
}

/** The names of the steps reported CACHED. */
export function cachedSteps(b: { steps: StepRecord[] }): string[] {
  return b.steps.filter((s) => s.cached).map((s) => s.name);
}

/** Env of a config as a map. */
export function envOf(config: ImageConfig): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of config.config?.Env ?? []) {
    const eq = kv.indexOf('=');
    out[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return out;
}

/** `tsbuild save` of `names` from the store at `root` into the file `path` (docker-archive or OCI). */
export async function saveToFile(root: string, names: string[], path: string, format: 'docker' | 'oci'): Promise<void> {
  const { createWriteStream } = await import('node:fs');
  const { saveImages } = await import('../../src/image/archive-save.js');
  const store = await ImageStore.open(root);
  try {
    const out = createWriteStream(path);
    await saveImages(store, names, out, { format });
    await new Promise<void>((res, rej) => out.end((e?: Error | null) => (e ? rej(e) : res())));
  } finally {
    await store.close();
  }
}
