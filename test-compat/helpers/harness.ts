/**
 * Builds one fixture with tsbuild and with Docker BuildKit from the same base image, saves both as
 * docker-archives and reads them back, loads tsbuild's archive into Docker and runs both images.
 *
 * The base: fixtures' busybox rootfs tarball, imported as BASE_IMAGE with `tsbuild import` into a
 * fresh temp store and with `docker import` into the engine (reused when the engine already holds
 * that exact layer with our history comment, so reruns do not pile up dangling images).
 */
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../../test/helpers/cli.js';
import { busyboxRootfsTar, fixturesDir } from '../../test/helpers/fixtures.js';
import { docker, execDocker, tail, type DockerEngine } from './docker.js';
import { readDockerArchive, type SavedImage } from './image-tree.js';

export const BASE_IMAGE = 'compatbase:1';
const BASE_COMMENT = 'tsbuild compat base';
export const compatFixtures = join(fixturesDir, 'compat');

export interface CompatEnv {
  engine: DockerEngine;
  work: string;
  store: string;
}

export async function setupCompat(engine: DockerEngine): Promise<CompatEnv> {
  const work = mkdtempSync(join(tmpdir(), 'tsbuild-compat-'));
  const store = join(work, 'store');
  const rootfs = busyboxRootfsTar();
  const imp = await runCli(['import', '--root', store, '-m', BASE_COMMENT, rootfs, BASE_IMAGE]);
  if (imp.code !== 0) throw new Error(`tsbuild import failed:\n${imp.stderr}`);
  const insp = await runCli(['inspect', '--root', store, BASE_IMAGE]);
  const baseLayers: string[] = JSON.parse(insp.stdout)[0]?.RootFS?.Layers ?? [];
  const have = await execDocker(engine, ['image', 'inspect', '--format', '{{json .RootFS.Layers}}|{{.Comment}}', BASE_IMAGE]);
  const [layersJson, comment] = have.stdout.trim().split('|');
  const same = have.code === 0 && comment === BASE_COMMENT && baseLayers.length === 1 && layersJson === JSON.stringify(baseLayers);
  if (!same) await docker(engine, ['import', '-m', BASE_COMMENT, rootfs, BASE_IMAGE]);
  return { engine, work, store };
}

export function teardownCompat(env: CompatEnv): void {
  rmSync(env.work, { recursive: true, force: true });
}

export interface CaseSpec {
  /** Directory under fixtures/compat/. */
  name: string;
  buildArgs?: Record<string, string>;
  /** Arguments appended to `docker run IMAGE`, compared between the two images. */
  runArgs?: string[];
  /** Extra `docker run` flags (both images), e.g. ['--user', '0']. */
  runFlags?: string[];
  /** Makes generated inputs (archives...) in the temp copy of the context. */
  prepare?: (ctx: string) => void;
  /**
   * A Dockerfile (in the case dir) that Docker builds instead when its built-in frontend rejects
   * the real one (Docker 20.10's has no heredocs and nothing can pull docker/dockerfile:1.4).
   * It must make the same files and config; history is then not comparable.
   */
  dockerFallback?: string;
  /** A parent image built first (by each builder, from this subdir of the case) under this tag. */
  parent?: { dir: string; tag: string };
}

export interface BuiltCase {
  spec: CaseSpec;
  ctx: string;
  tsbuildId: string;
  dockerId: string;
  tsb: SavedImage;
  ref: SavedImage;
  tsbArchive: string;
  tsbuildTag: string;
  dockerTag: string;
  /** Set when Docker built `dockerFallback` instead of the case's Dockerfile. */
  usedFallback?: string;
  buildLogs: { tsbuild: string; docker: string };
}

const argFlags = (args: Record<string, string> = {}) => Object.entries(args).flatMap(([k, v]) => ['--build-arg', `${k}=${v}`]);

export async function buildCase(env: CompatEnv, spec: CaseSpec): Promise<BuiltCase> {
  const dir = join(env.work, spec.name);
  const ctx = join(dir, 'context');
  // verbatimSymlinks: the context's relative symlinks must stay as they are, not be made absolute
  cpSync(join(compatFixtures, spec.name), ctx, { recursive: true, verbatimSymlinks: true });
  spec.prepare?.(ctx);
  const { tsbuildTag, dockerTag } = caseTags(spec);
  // Leftovers of an earlier (kept or killed) run would turn into dangling images when re-tagged.
  await removeCaseImages(env, spec);

  if (spec.parent) {
    const pctx = join(ctx, spec.parent.dir);
    const [pt, pd] = await Promise.all([
      runCli(['build', '--root', env.store, '-t', spec.parent.tag, '--network', 'none', '--progress', 'plain', pctx], { timeoutMs: 180_000 }),
      execDocker(env.engine, ['build', '--network=none', '--progress=plain', '-t', spec.parent.tag, pctx], { timeoutMs: 240_000 }),
    ]);
    if (pd.code !== 0) throw new Error(`docker build of ${spec.name}'s parent failed; fix the fixture:\n${tail(pd.stderr)}`);
    if (pt.code !== 0) throw new Error(`tsbuild build of ${spec.name}'s parent failed; Docker built it:\n${tail(pt.stderr, 12)}`);
  }

  const tsbIid = join(dir, 'tsbuild.iid');
  const dockerIid = join(dir, 'docker.iid');
  const tsbBuild = runCli(['build', '--root', env.store, '-t', tsbuildTag, '--network', 'none', '--progress', 'plain', '--iidfile', tsbIid, ...argFlags(spec.buildArgs), ctx], { timeoutMs: 180_000 });
  const dockerBuild = async (dockerfile?: string) =>
    execDocker(env.engine, ['build', '--network=none', '--progress=plain', '-t', dockerTag, '--iidfile', dockerIid, ...argFlags(spec.buildArgs), ...(dockerfile ? ['-f', join(ctx, dockerfile)] : []), ctx], { timeoutMs: 240_000 });
  const [t, firstDocker] = await Promise.all([tsbBuild, dockerBuild()]);
  let d = firstDocker;
  let usedFallback: string | undefined;
  if (d.code !== 0 && spec.dockerFallback && /unknown instruction|dockerfile parse error/i.test(d.stderr)) {
    usedFallback = spec.dockerFallback;
    d = await dockerBuild(spec.dockerFallback);
  }
  // A Docker failure means the fixture is wrong: say so first.
  if (d.code !== 0) throw new Error(`docker build of ${spec.name} failed (exit ${d.code}); fix the fixture:\n${tail(d.stderr)}`);
  if (t.code !== 0) throw new Error(`tsbuild build of ${spec.name} failed (exit ${t.code}); Docker built it:\n${tail(t.stderr, 12)}`);
  const tsbuildId = readFileSync(tsbIid, 'utf8').trim();
  const dockerId = readFileSync(dockerIid, 'utf8').trim();

  const tsbArchive = join(dir, 'tsbuild.tar');
  const refArchive = join(dir, 'docker.tar');
  const [s] = await Promise.all([
    runCli(['save', '--root', env.store, '--format', 'docker', '-o', tsbArchive, tsbuildTag]),
    docker(env.engine, ['save', '-o', refArchive, dockerTag]),
  ]);
  if (s.code !== 0) throw new Error(`tsbuild save failed:\n${tail(s.stderr)}`);
  const [tsb, ref] = await Promise.all([readDockerArchive(tsbArchive), readDockerArchive(refArchive)]);
  return {
    spec,
    ctx,
    tsbuildId,
    dockerId,
    tsb,
    ref,
    tsbArchive,
    tsbuildTag,
    dockerTag,
    ...(usedFallback ? { usedFallback } : {}),
    buildLogs: { tsbuild: t.stderr, docker: d.stderr },
  };
}

/** `docker load` of tsbuild's archive; returns the ID the engine gives the loaded image. */
export async function loadIntoDocker(env: CompatEnv, built: BuiltCase): Promise<string> {
  // Drop a previous run's image under that tag first, so the inspect below sees this load.
  await execDocker(env.engine, ['rmi', '-f', built.tsbuildTag]);
  const out = await docker(env.engine, ['load', '-i', built.tsbArchive]);
  const byId = /Loaded image ID: (sha256:[0-9a-f]{64})/.exec(out);
  if (byId) return byId[1]!;
  if (!out.includes(`Loaded image: ${built.tsbuildTag}`)) throw new Error(`docker load did not report ${built.tsbuildTag}:\n${out}`);
  return (await docker(env.engine, ['image', 'inspect', '--format', '{{.Id}}', built.tsbuildTag])).trim();
}

export interface RunOutput {
  code: number;
  stdout: string;
  stderr: string;
}

export async function runImage(env: CompatEnv, image: string, spec: CaseSpec): Promise<RunOutput> {
  const r = await execDocker(env.engine, ['run', '--rm', '--network=none', ...(spec.runFlags ?? []), image, ...(spec.runArgs ?? [])], { timeoutMs: 60_000 });
  return { code: r.code, stdout: r.stdout, stderr: r.stderr };
}

/** Removes the case's images from the engine (by tag: also after a failed build). */
export async function removeCaseImages(env: CompatEnv, spec: CaseSpec): Promise<void> {
  const { tsbuildTag, dockerTag } = caseTags(spec);
  await execDocker(env.engine, ['rmi', '-f', tsbuildTag, dockerTag, ...(spec.parent ? [spec.parent.tag] : [])]);
}

export const caseTags = (spec: CaseSpec) => ({ tsbuildTag: `tsbcompat-${spec.name}:tsbuild`, dockerTag: `tsbcompat-${spec.name}:docker` });
