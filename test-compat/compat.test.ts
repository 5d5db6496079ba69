/**
 * Compatibility suite: every case under fixtures/compat/<case>/ is built by tsbuild and by Docker
 * BuildKit (same context, same build args, same base image), and the two images are compared:
 *   - config: Env, Cmd, Entrypoint, WorkingDir, User, ExposedPorts, Volumes, Labels, StopSignal,
 *     Healthcheck, OnBuild, Shell, ArgsEscaped (+ architecture/os)
 *   - history: count, created_by, empty_layer, comment (never `created`)
 *   - layer count, the merged file tree (type, mode, owner, size, content sha256, link target,
 *     hard-link peers, xattrs; never mtimes), and layer by layer what each layer writes/deletes
 *   - tsbuild's `save` archive loads into Docker under tsbuild's image ID and runs with the same
 *     output as Docker's own image.
 * Needs a Docker engine (DOCKER_HOST, else /run/ref-docker.sock or /var/run/docker.sock); without
 * one the whole suite is skipped with the reason. Run: npm run test:compat
 *
 * COMPAT_CASES=a,b runs only those cases; COMPAT_KEEP=1 keeps the temp work dir and the tsbcompat-* images afterwards.
 * Known differences are kept as failing comparisons marked { todo: 'DIFF: ...' } (see CASES).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, linkSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { findDocker } from './helpers/docker.js';
import { encodeHeader, padding, END_OF_ARCHIVE, type TarHeader } from '../src/image/tar-format.js';
import { compareConfig, compareHistory, compareLayerCount, compareLayers, compareTrees } from './helpers/compare.js';
import { buildCase, compatFixtures, loadIntoDocker, removeCaseImages, runImage, setupCompat, teardownCompat, type BuiltCase, type CaseSpec, type CompatEnv } from './helpers/harness.js';

type Check = 'config' | 'history' | 'layer count' | 'file tree' | 'layers' | 'load' | 'run';

interface Case extends CaseSpec {
  /** Known differences: check → 'DIFF: one line'. The check still runs and prints its diff. */
  todo?: Partial<Record<Check, string>>;
}

const allChecks = (why: string): Partial<Record<Check, string>> =>
  Object.fromEntries((['config', 'history', 'layer count', 'file tree', 'layers', 'load', 'run'] as const).map((k) => [k, why]));

/** vendor.tar.gz (owners, modes, setuid, links), plain.tar, single.gz (a gzip that is no tar). */
function prepareArchives(ctx: string): void {
  const stage = join(ctx, '..', 'archive-src');
  const pkg = join(stage, 'vendor', 'pkg');
  mkdirSync(join(pkg, 'bin'), { recursive: true });
  mkdirSync(join(pkg, 'lib'), { recursive: true });
  mkdirSync(join(pkg, 'private'), { recursive: true });
  writeFileSync(join(pkg, 'VERSION'), '1.0.0\n');
  writeFileSync(join(pkg, 'bin', 'tool'), '#!/bin/sh\necho tool\n');
  writeFileSync(join(pkg, 'bin', 'suid-tool'), '#!/bin/sh\necho suid\n');
  writeFileSync(join(pkg, 'lib', 'libx.so'), 'ELF-ish\n');
  writeFileSync(join(pkg, 'owned'), 'owned by 1000:50\n');
  writeFileSync(join(pkg, 'private', 'key'), 'k\n');
  symlinkSync('libx.so', join(pkg, 'lib', 'libx.so.1'));
  linkSync(join(pkg, 'VERSION'), join(pkg, 'VERSION.hardlink'));
  chmodSync(join(pkg, 'bin', 'tool'), 0o755);
  chmodSync(join(pkg, 'bin', 'suid-tool'), 0o4755);
  chmodSync(join(pkg, 'private'), 0o700);
  chmodSync(join(pkg, 'private', 'key'), 0o600);
  chownSync(join(pkg, 'owned'), 1000, 50);
  const tarOpts = ['--sort=name', '--mtime=2024-01-01 00:00:00Z', '--numeric-owner', '--format=posix', '--pax-option=delete=atime,delete=ctime'];
  execFileSync('tar', [...tarOpts, '-C', join(stage, 'vendor'), '-czf', join(ctx, 'vendor.tar.gz'), 'pkg']);
  const plain = join(stage, 'plain');
  mkdirSync(join(plain, 'dir'), { recursive: true });
  writeFileSync(join(plain, 'top.txt'), 'top of plain.tar\n');
  writeFileSync(join(plain, 'dir', 'nested.txt'), 'nested from plain.tar\n');
  execFileSync('tar', [...tarOpts, '-C', plain, '-cf', join(ctx, 'plain.tar'), '.']);
  writeFileSync(join(stage, 'single'), 'just gzip, no tar\n');
  execFileSync('gzip', ['-n', '-9', join(stage, 'single')]);
  execFileSync('cp', [join(stage, 'single.gz'), join(ctx, 'single.gz')]);
}

/** Issue 14's archives: one that writes through a symlink it made, one whose members carry xattrs. */
function prepareFidelity(ctx: string): void {
  const tar = (entries: Array<Partial<TarHeader> & { name: string; body?: string }>) => {
    const parts: Buffer[] = [];
    for (const e of entries) {
      const body = Buffer.from(e.body ?? '');
      parts.push(encodeHeader({ type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 1_700_000_000, size: body.length, ...e }));
      if (body.length) parts.push(body, Buffer.alloc(padding(body.length)));
    }
    parts.push(END_OF_ARCHIVE);
    return Buffer.concat(parts);
  };
  writeFileSync(join(ctx, 'through-link.tar'), tar([{ name: 'symldir1', type: 'symlink', linkname: '..' }, { name: 'symldir1/file', body: 'through the link\n' }]));
  const cap = Buffer.from([1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]); // cap_net_raw, effective
  writeFileSync(
    join(ctx, 'xattrs.tar'),
    tar([
      { name: 'capx', body: 'c\n', mode: 0o755, xattrs: { 'security.capability': cap, 'user.note': Buffer.from('n') } },
      { name: 'userx', body: 'u\n', xattrs: { 'user.note': Buffer.from('n') } },
    ]),
  );
}

const CASES: Case[] = [
  { name: 'multistage' },
  {
    name: 'config',
    runArgs: ['from', 'run'],
    todo: {
      // deliberate: tsbuild writes the text current BuildKit (0.30+) writes; 20.10's has another form
      history: 'DIFF: HEALTHCHECK created_by: tsbuild writes current BuildKit\'s {Test:[...] Interval:... StartInterval:... Retries:N}; Docker 20.10 wrote &{[...] "30s" ... \'\\x04\'}',
    },
  },
  { name: 'fs-changes' },
  { name: 'perms-links' },
  { name: 'copy-options' },
  { name: 'add-archive', prepare: prepareArchives },
  { name: 'heredoc', dockerFallback: 'Dockerfile.noheredoc' },
  { name: 'onbuild', parent: { dir: 'parent', tag: 'tsbcompat-onbuild-parent:1' }, buildArgs: { FLAVOR: 'spicy' } },
  { name: 'copy-edge' },
  { name: 'shell-forms' },
  { name: 'run-mounts' },
  { name: 'run-mount-from' },
  { name: 'build-args', buildArgs: { OVERRIDE: 'from-cli', EMPTY: '', LATE: 'cli-late', UNUSED_ARG: 'x' } },
  // issue 14: cases where Docker 20.10 and current BuildKit agree
  { name: 'dockerignore-walk' },
  { name: 'scratch-run' },
  { name: 'fidelity', prepare: prepareFidelity },
];

/** COMPAT_CASES=a,b runs only those cases. */
const only = (process.env.COMPAT_CASES ?? '').split(',').map((x) => x.trim()).filter(Boolean);
const selected = only.length ? CASES.filter((c) => only.includes(c.name)) : CASES;

function assertNoDiff(what: string, lines: string[]): void {
  if (lines.length === 0) return;
  assert.fail(`${what}: tsbuild differs from Docker (${lines.length} line${lines.length > 1 ? 's' : ''}):\n  ${lines.join('\n  ')}`);
}

/** COMPAT_KEEP=1 keeps the work dir (contexts, both archives) and the images, for a closer look. */
const KEEP = process.env.COMPAT_KEEP === '1';
const engine = await findDocker();
const skip = 'reason' in engine ? `${engine.reason}; the compat suite needs a Docker engine with BuildKit` : false;
if (skip) process.stderr.write(`compat suite SKIPPED: ${skip}\n`);

it('every fixtures/compat/<case> directory has an entry in CASES', () => {
  const dirs = readdirSync(compatFixtures, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);
  assert.deepEqual(dirs.filter((d) => !CASES.some((c) => c.name === d)), []);
});

describe('compat: tsbuild vs Docker BuildKit', { skip, concurrency: 1 }, () => {
  let env: CompatEnv;
  before(async () => {
    if ('reason' in engine) return;
    env = await setupCompat(engine);
  });
  after(() => {
    if (env && !KEEP) teardownCompat(env);
    else if (env) process.stderr.write(`COMPAT_KEEP: work dir ${env.work} and the tsbcompat-* images kept\n`);
  });

  for (const c of selected) {
    describe(c.name, () => {
      let built: BuiltCase | undefined;
      let buildError: unknown;
      let buildErrorShown = false;
      let loadedId: Promise<string> | undefined;
      const get = (): BuiltCase => {
        if (!built) {
          // the full build log once, a pointer to it after that
          if (buildErrorShown) throw new Error(`${c.name}: build failed (log in the first check of this case)`);
          buildErrorShown = true;
          throw buildError ?? new Error(`${c.name} was not built`);
        }
        return built;
      };
      const load = () => (loadedId ??= loadIntoDocker(env, get()));
      // A build failure is reported by every check (so a todo marks it), not by the hook.
      before(async () => {
        try {
          built = await buildCase(env, c);
        } catch (e) {
          buildError = e;
        }
      });
      after(async () => {
        if (env && !KEEP) await removeCaseImages(env, c);
      });
      const todo = (k: Check) => (c.todo?.[k] ? { todo: c.todo[k] } : {});

      it('config', todo('config'), () => {
        const b = get();
        assertNoDiff('config', compareConfig(b.tsb, b.ref));
      });
      it('history (created_by, empty_layer, comment)', todo('history'), (t) => {
        const b = get();
        if (b.usedFallback) {
          t.skip(`Docker built ${b.usedFallback} (its frontend rejects this Dockerfile), so created_by cannot match`);
          return;
        }
        assertNoDiff('history', compareHistory(b.tsb, b.ref));
      });
      it('layer count', todo('layer count'), () => {
        const b = get();
        assertNoDiff('layer count', compareLayerCount(b.tsb, b.ref));
      });
      it('merged file tree', todo('file tree'), () => {
        const b = get();
        assertNoDiff('file tree (+ only tsbuild, - only docker, ~ differ)', compareTrees(b.tsb.tree, b.ref.tree));
      });
      it('layer by layer (writes, deletes, tree after each)', todo('layers'), () => {
        const b = get();
        assertNoDiff('layers', compareLayers(b.tsb, b.ref));
      });
      it('docker load of tsbuild save keeps the image ID', todo('load'), async () => {
        const b = get();
        assert.equal(await load(), b.tsbuildId, 'image ID after docker load differs from tsbuild build --iidfile');
      });
      it('docker run: same output as Docker-built image', todo('run'), async () => {
        const b = get();
        await load();
        const [mine, theirs] = await Promise.all([runImage(env, b.tsbuildTag, c), runImage(env, b.dockerTag, c)]);
        assert.deepEqual(
          { exit: mine.code, stdout: mine.stdout.split('\n') },
          { exit: theirs.code, stdout: theirs.stdout.split('\n') },
          `docker run output differs (actual = tsbuild image, expected = Docker's)\ntsbuild stderr: ${mine.stderr}\ndocker stderr: ${theirs.stderr}`,
        );
      });
    });
  }
});
