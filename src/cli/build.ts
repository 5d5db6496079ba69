/**
 * `tsbuild build [options] CONTEXT` — also the default command (`tsbuild -t app:1 .`). Flags as
 * `docker build` spells them. Progress goes to stderr; `-q` prints only the image ID on stdout.
 * The builder and the parts it works with (parser, runtime, store) are imported by the action:
 * every CLI start evaluates this module, and `images` or `ps` need none of them.
 */
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, Option } from 'commander';
import { plainRenderer } from '../builder/progress/plain.js';
import { quietRenderer } from '../builder/progress/quiet.js';
import { rawjsonRenderer } from '../builder/progress/rawjson.js';
import { ttyRenderer } from '../builder/progress/tty.js';
import { explainRenderer } from '../builder/progress/explain.js';
import type { Digest } from '../image/digest.js';
import { resolveRoot } from '../image/root.js';
import { parseBuildContexts } from './build-flags.js';
import { bundleIdOf, finishMemo, MEMO_ENV, startMemo, type MemoStart } from './build-memo.js';
import { checkPlatform, parseAllow, parseCacheSpec, parseBuildArgs, parseLabels, parseLimits, parseOutput, parseProvenance, parseSecret, parseSsh } from './build-flags.js';

const collect = (v: string, prev: string[]) => [...prev, v];

interface BuildFlags {
  file?: string;
  tag: string[];
  buildArg: string[];
  target?: string;
  cache: boolean;
  pull?: boolean;
  label: string[];
  network: string;
  allow: string[];
  memory?: string;
  pidsLimit?: string;
  cpuShares?: string;
  secret: string[];
  ssh: string[];
  iidfile?: string;
  metadataFile?: string;
  quiet?: boolean;
  progress: string;
  platform?: string;
  output: string[];
  cacheFrom: string[];
  cacheTo: string[];
  check?: boolean;
  provenance?: string;
  buildContext: string[];
  squash?: boolean;
  push?: boolean;
  explain?: boolean;
  /** The program's one `--root` (main.ts hands it to the command that runs). */
  root?: string;
}

export function registerBuild(program: Command, opts: { isDefault: boolean } = { isDefault: true }): void {
  program
    .command('build', { isDefault: opts.isDefault })
    .description(opts.isDefault ? 'Build an image from a Dockerfile (the default command)' : 'Build an image from a Dockerfile')
    .argument('[context]', 'build context directory', '.')
    .option('-f, --file <path>', 'Dockerfile path (default CONTEXT/Dockerfile), or - for stdin')
    .option('-t, --tag <name>', 'name and optionally tag (name:tag); repeatable', collect, [])
    .option('--build-arg <k=v>', 'set a build-time variable; K alone takes it from the environment', collect, [])
    .option('--target <stage>', 'build this stage (and what it needs) only')
    .option('--no-cache', 'do not use the build cache')
    .option('--pull', 'always look for a newer base image in the registry')
    .option('--label <k=v>', 'set an image label; repeatable', collect, [])
    .addOption(new Option('--network <mode>', 'network for RUN steps (host needs --allow network.host)').choices(['default', 'none', 'host']).default('default'))
    .option('--allow <entitlement>', 'grant an entitlement: network.host (RUN on the host network); repeatable', collect, [])
    .option('-m, --memory <bytes>', 'memory limit of each RUN step (e.g. 512m, 2g; default: half of the host\'s memory)')
    .option('--pids-limit <n>', 'most processes of each RUN step (default 4096; -1 for no limit)')
    .option('--cpu-shares <n>', 'relative CPU weight of RUN steps (1024 = normal)')
    .option('--secret <spec>', 'secret for RUN --mount=type=secret: id=ID,src=PATH or id=ID,env=VAR', collect, [])
    .option('--ssh <spec>', 'SSH agent for RUN --mount=type=ssh: default (uses $SSH_AUTH_SOCK) or ID=SOCKET; repeatable', collect, [])
    .option('--iidfile <file>', 'write the image ID to this file')
    .option('--metadata-file <file>', 'write the build result as buildx does (containerimage.digest, image.name, ...) to this JSON file')
    .option('-q, --quiet', 'print only the image ID')
    .addOption(new Option('--progress <mode>', 'progress output').choices(['auto', 'tty', 'plain', 'quiet', 'rawjson']).default('auto'))
    .option('--platform <platform>', 'target platform (only the host platform is supported)')
    .option('-o, --output <spec>', 'type=image|docker|oci|tar|local,dest=PATH; repeatable', collect, [])
    .option('--cache-from <spec>', 'import build cache: type=registry,ref=NAME | type=local,src=DIR [,mounts=true: also RUN cache mounts]; repeatable', collect, [])
    .option('--cache-to <spec>', 'export build cache: type=registry,ref=NAME[,mode=max] | type=local,dest=DIR [,mounts=true[,mounts-max-size=1g]]; repeatable', collect, [])
    .option('--build-context <name=value>', 'named context: NAME=DIR | NAME=docker-image://REF | NAME=oci-layout://DIR[:TAG][@DIGEST]; repeatable', collect, [])
    .option('--squash', 'merge the layers this build makes into one layer on top of the base image\'s layers')
    .option('--push', 'push every -t name to its registry after the build')
    .option('--explain', 'show only the steps that ran, each with why it missed the cache (the build still runs)')
    .option('--check', "run BuildKit's build checks only (no step runs); exit 1 when any rule reports")
    .option('--provenance <value>', 'attach an SLSA provenance attestation: true (mode=min), false, mode=min or mode=max (default: none)')
    .action(async (context: string, flags: BuildFlags) => {
      const platform = checkPlatform(flags.platform);
      const provenance = parseProvenance(flags.provenance);
      const allow = parseAllow(flags.allow);
      const limits = parseLimits(flags);
      const cacheFrom = flags.cacheFrom.map((spec) => parseCacheSpec(spec, 'from'));
      const cacheTo = flags.cacheTo.map((spec) => parseCacheSpec(spec, 'to'));
      const buildContexts = parseBuildContexts(flags.buildContext, process.cwd());
      const [{ build }, { open }] = await Promise.all([import('../builder/build.js'), import('../open.js')]);
      const mode = flags.quiet ? 'quiet' : flags.progress === 'auto' ? (process.stderr.isTTY ? 'tty' : 'plain') : flags.progress;
      // --explain replaces the plain/tty view; rawjson carries the reasons anyway, quiet shows nothing
      const root = resolveRoot(flags.root);
      // a command line that repeats a fully cached build is answered from its record next time
      // (build-memo.ts; bin/tsbuild asks native/build-memo.c first): begun before the build reads anything
      // (only from the installed bundle, which bin/tsbuild.js runs on process.argv: the record's key)
      const bundleId = bundleIdOf(fileURLToPath(import.meta.url));
      const memo = bundleId !== undefined && memoable(context, flags, mode) ? startMemo(memoStart(bundleId, context, flags, root)) : undefined;
      const shown: string[] = [];
      const out = (stream: NodeJS.WriteStream) => (memo ? { write: (s: string) => (shown.push(s), stream.write(s)) } : stream);
      let quietOnly = true;
      const show =
        flags.explain && mode !== 'quiet' && mode !== 'rawjson' ? explainRenderer(process.stderr) : mode === 'quiet' ? quietRenderer(out(process.stdout)) : mode === 'rawjson' ? rawjsonRenderer(process.stdout) : mode === 'tty' ? ttyRenderer(process.stderr) : plainRenderer(out(process.stderr));
      const render: typeof show = (e) => {
        if (!MEMO_EVENTS.has(e.type)) quietOnly = false;
        show(e);
      };
      // The first SIGINT/SIGTERM stops the build cleanly (exit 130, nothing half-made kept); a
      // second one leaves at once. Listening for the whole build also tells the runtime's own
      // cleanup handler not to re-raise the signal.
      const abort = new AbortController();
      const onSignal = () => {
        if (abort.signal.aborted) process.exit(130);
        abort.abort();
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      let dockerfileText: string | undefined;
      if (flags.file === '-') dockerfileText = await readStdin();
      const parts = await open(root);
      try {
        if (flags.check) {
          const { runCheckOnly } = await import('./build-check.js');
          return await runCheckOnly(parts.store, {
            contextDir: context,
            ...(flags.file !== undefined && flags.file !== '-' ? { dockerfile: flags.file } : {}),
            ...(dockerfileText !== undefined ? { dockerfileText } : {}),
            buildArgs: parseBuildArgs(flags.buildArg, process.env),
            ...(flags.target !== undefined ? { target: flags.target } : {}),
          });
        }
        const result = await build(parts, {
          contextDir: context,
          ...(flags.file !== undefined && flags.file !== '-' ? { dockerfile: flags.file } : {}),
          ...(dockerfileText !== undefined ? { dockerfileText } : {}),
          tags: flags.tag,
          buildArgs: parseBuildArgs(flags.buildArg, process.env),
          ...(flags.target !== undefined ? { target: flags.target } : {}),
          noCache: !flags.cache,
          pull: !!flags.pull,
          push: !!flags.push,
          ...(provenance ? { provenance } : {}),
          cacheFrom,
          cacheTo,
          ...(Object.keys(buildContexts).length ? { buildContexts } : {}),
          ...(flags.squash ? { squash: true } : {}),
          ...(platform !== undefined ? { platform } : {}),
          labels: parseLabels(flags.label),
          network: flags.network as 'default' | 'none' | 'host',
          allow,
          limits,
          secrets: flags.secret.map(parseSecret),
          ssh: flags.ssh.map((v) => parseSsh(v, process.env)),
          outputs: flags.output.map(parseOutput),
          onEvent: render,
          // quiet shows the image ID alone (quiet.ts): no warning reaches anyone
          ...(mode === 'quiet' ? { warningsShown: false } : {}),
          signal: abort.signal,
        });
        if (flags.iidfile) {
          writeFileSync(flags.iidfile, result.imageId);
        }
        if (memo && quietOnly && result.misses.length === 0 && !result.remoteSources) {
          finishMemo(memo, {
            read: parts.store.cacheFilesRead,
            stdout: mode === 'quiet' ? shown.join('') : '', stderr: mode === 'quiet' ? '' : shown.join(''),
            ...(flags.iidfile ? { iidfile: [flags.iidfile, result.imageId] as [string, string] } : {}),
          });
        }
        if (flags.metadataFile) {
          const { buildMetadata, writeMetadataFile } = await import('./build-metadata.js');
          const md = result.manifestDigest as Digest; // the store's own digest, typed loosely in BuildResult
          const manifest = await parts.store.blobs.readJson<{ mediaType: string }>(md);
          writeMetadataFile(flags.metadataFile, buildMetadata({ ...result, tags: flags.tag, manifestMediaType: manifest.mediaType, manifestSize: parts.store.blobs.size(md) }));
        }
      } finally {
        await parts.close();
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    });
}

/** The events of a build that ran no step and fetched nothing (what a record may replay). */
const MEMO_EVENTS = new Set(['build-start', 'step-start', 'step-cached', 'step-done', 'warning', 'check-warning', 'build-done']);

/**
 * Whether this build's command line may be answered from a record next time: output that does not
 * depend on time (quiet, plain), and nothing read that the record could not see change
 * (registries, secrets, stdin, exports, ...).
 */
function memoable(context: string, flags: BuildFlags, mode: string): boolean {
  if ((mode !== 'quiet' && mode !== 'plain') || flags.explain || flags.check) return false;
  if (!flags.cache || flags.pull || flags.push || flags.file === '-' || flags.metadataFile || flags.provenance !== undefined) return false;
  if (flags.secret.length || flags.ssh.length || flags.output.length || flags.cacheFrom.length || flags.cacheTo.length || flags.buildContext.length) return false;
  try {
    return statSync(context).isDirectory();
  } catch {
    return false;
  }
}

function memoStart(bundleId: string, context: string, flags: BuildFlags, root: string): MemoStart {
  const env: Record<string, string | null> = {};
  for (const k of MEMO_ENV) env[k] = process.env[k] ?? null;
  // `--build-arg NAME` takes its value from the environment
  for (const a of flags.buildArg) if (!a.includes('=')) env[a] = process.env[a] ?? null;
  return {
    bundleId,
    args: process.argv.slice(2),
    env,
    stderrNotTty: flags.progress === 'auto' && !flags.quiet,
    contextDir: context,
    // a -f Dockerfile may be outside the context, and so may the `<Dockerfile>.dockerignore` beside it
    files: [join(root, 'index.json'), ...(flags.file !== undefined ? [flags.file, `${flags.file}.dockerignore`] : [])],
  };
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
