/**
 * The whole-build memo (src/cli/build-memo.ts writes records, native/build-memo.c answers from
 * them before Node starts), through the installed command: a command line that repeats a fully
 * cached build is answered from its record — the same bytes on stdout and stderr, the same
 * --iidfile — without the CLI bundle being run; anything the build read that
 * changed (a context file, the environment, the store's images, its build cache, the arguments)
 * sends it the full way again. "Answered from the record" is seen from outside: the copy's CLI
 * bundles are replaced by ones that only fail (their id lines kept), so a build that still
 * succeeds never ran them.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { busyboxRootfsTar } from '../helpers/fixtures.js';
import { makeInstalledPackage, runInstalled, type InstalledRun } from '../helpers/installed-package.js';

let tmp: string;
let cli: string;
let bundleFile: string;
let realBundle: Buffer;
let buildBundleFile: string;
let realBuildBundle: Buffer;
let root: string;
let ctx: string;
const FAILS = 'the full CLI ran';

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'tsb-memo-'));
  const pkg = makeInstalledPackage(join(tmp, 'pkg'));
  cli = join(pkg, 'bin', 'tsbuild');
  bundleFile = join(pkg, 'dist', 'bundle', 'tsbuild.cjs');
  realBundle = readFileSync(bundleFile);
  buildBundleFile = join(pkg, 'dist', 'bundle', 'tsbuild-build.cjs');
  realBuildBundle = readFileSync(buildBundleFile);
  root = join(tmp, 'store');
  const imp = await run(['import', '--root', root, busyboxRootfsTar(), 'memobase:1']);
  assert.equal(imp.code, 0, imp.stderr);
  ctx = join(tmp, 'ctx');
  mkdirSync(join(ctx, 'sub'), { recursive: true });
  writeFileSync(join(ctx, 'Dockerfile'), 'FROM memobase:1\nARG GREETING\nCOPY . /app\nRUN echo "$GREETING" > /greeting && cat /app/sub/a > /seen\n');
  writeFileSync(join(ctx, 'sub', 'a'), 'one\n');
});
after(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

type Run = InstalledRun;

function run(args: string[], env: Record<string, string | undefined> = {}): Promise<Run> {
  return runInstalled(cli, args, { cacheHome: join(tmp, 'cache'), cwd: tmp, env });
}

/** The CLI bundles of the copy (the whole one and the build one, which `build` runs): the real
 *  ones, or ones that only fail (same id lines). */
function cliBundle(kind: 'real' | 'failing'): void {
  for (const [file, real, lines] of [
    [bundleFile, realBundle, 1],
    [buildBundleFile, realBuildBundle, 2],
  ] as const) {
    if (kind === 'real') {
      writeFileSync(file, real);
      continue;
    }
    let end = 0;
    for (let i = 0; i < lines; i++) end = real.indexOf(10, end) + 1;
    writeFileSync(file, Buffer.concat([real.subarray(0, end), Buffer.from(`throw new Error(${JSON.stringify(FAILS)});\n`)]));
  }
}

/** Builds with the real CLI, then again once what the first wrote (cache records) and any context
 *  change are older than the memo's freshness window: that second build ran no step and left its
 *  record. Returns its output. */
async function recorded(args: string[], env: Record<string, string | undefined> = {}): Promise<Run> {
  cliBundle('real');
  let r = await run(args, env);
  assert.equal(r.code, 0, r.stderr);
  await sleep(1100);
  r = await run(args, env);
  assert.equal(r.code, 0, r.stderr);
  return r;
}

async function assertAnswered(args: string[], want: Run, env: Record<string, string | undefined> = {}): Promise<void> {
  cliBundle('failing');
  const r = await run(args, env);
  assert.deepEqual(r, want, 'answered from the record, byte for byte');
}

async function assertFullBuild(args: string[], env: Record<string, string | undefined> = {}, why = ''): Promise<void> {
  cliBundle('failing');
  const r = await run(args, env);
  assert.notEqual(r.code, 0, `${why}: must not be answered from the record`);
  assert.match(r.stderr, new RegExp(FAILS), why);
}

test('build memo: a repeated cached build is answered from its record (quiet and plain), and each input it read invalidates it', async () => {
  // a non-ASCII argument: the record's file name hashes the same bytes in the C front and in Node
  const quiet = ['build', '--root', root, '-q', '--network', 'none', '--build-arg', 'GREETING', '--label', 'note=café ✓', ctx];
  const env = { GREETING: 'hello', SOURCE_DATE_EPOCH: undefined };
  // the first build runs its steps: nothing is recorded from it
  cliBundle('real');
  const cold = await run(quiet, env);
  assert.equal(cold.code, 0, cold.stderr);
  await assertFullBuild(quiet, env, 'after a build that ran steps');

  const q = await recorded(quiet, env);
  assert.equal(q.stdout, cold.stdout, 'the cached build gives the same image');
  await assertAnswered(quiet, q, env);
  await assertAnswered(quiet, q, env);
  // a record cut short or damaged is no record
  const recDir = join(tmp, 'cache', 'tsbuild', 'build-memo');
  const recFile = join(recDir, readdirSync(recDir).find((f) => f.endsWith('.rec'))!);
  const good = readFileSync(recFile);
  writeFileSync(recFile, good.subarray(0, good.length >> 1));
  await assertFullBuild(quiet, env, 'a truncated record');
  writeFileSync(recFile, Buffer.from(good.toString('latin1').replace(/\nO (\d+)\n/, (_, n) => `\nO ${Number(n) + 7}\n`), 'latin1'));
  await assertFullBuild(quiet, env, 'a record with a wrong length');
  writeFileSync(recFile, good);
  await assertAnswered(quiet, q, env);
  // what the command line and the environment say
  await assertFullBuild(quiet, { ...env, GREETING: 'other' }, 'a --build-arg NAME value from the environment changed');
  await assertFullBuild(quiet, { ...env, SOURCE_DATE_EPOCH: '0' }, 'SOURCE_DATE_EPOCH set');
  await assertFullBuild([...quiet.slice(0, -1), '--label', 'x=y', ctx], env, 'other arguments');

  // plain progress: the same lines, --iidfile written
  const iid = join(tmp, 'iid');
  const plain = ['build', '--root', root, '--progress', 'plain', '--iidfile', iid, '--network', 'none', '--build-arg', 'GREETING', '--label', 'note=café ✓', ctx];
  const p = await recorded(plain, env);
  assert.match(p.stderr, /#\d+ CACHED\n/);
  rmSync(iid);
  await assertAnswered(plain, p, env);
  assert.equal(readFileSync(iid, 'utf8'), q.stdout.trim());

  // a context file rewritten with the same size: the next build runs, and the one after is answered again
  writeFileSync(join(ctx, 'sub', 'a'), 'two\n');
  await assertFullBuild(quiet, env, 'a context file changed');
  const changed = await recorded(quiet, env);
  assert.notEqual(changed.stdout, q.stdout);
  await assertAnswered(quiet, changed, env);

  // the store: another image tagged (its index changed), then the build cache dropped
  cliBundle('real');
  assert.equal((await run(['tag', '--root', root, 'memobase:1', 'memobase:2'])).code, 0);
  await assertFullBuild(quiet, env, 'the store\'s images changed');
  // the build cache dropped alone: a tagged image, and no dangling one for `prune -a` to drop too
  // (that would change the store's images again)
  cliBundle('real');
  assert.equal((await run(['prune', '--root', root])).code, 0);
  const tagged = ['build', '--root', root, '-q', '-t', 'memo:app', '--network', 'none', '--build-arg', 'GREETING', ctx];
  const t = await recorded(tagged, env);
  await assertAnswered(tagged, t, env);
  cliBundle('real');
  const index = readFileSync(join(root, 'index.json'));
  assert.equal((await run(['prune', '--root', root, '-a'])).code, 0);
  assert.ok(readFileSync(join(root, 'index.json')).equals(index), 'prune -a left the images as they were');
  await assertFullBuild(tagged, env, 'the build cache was dropped');
  cliBundle('real');
  const rebuilt = await run(tagged, env);
  assert.equal(rebuilt.code, 0, rebuilt.stderr);
  assert.notEqual(rebuilt.stdout, t.stdout, 'after `prune -a` the steps ran again (a new image, as Docker after a builder prune)');
  cliBundle('real');
});

test('build memo: builds that read what a record cannot see are never answered from one', async () => {
  const secret = join(tmp, 'secret');
  writeFileSync(secret, 's3cret\n');
  const quiet = (...extra: string[]) => ['build', '--root', root, '-q', '--network', 'none', ...extra, ctx];
  const cases: [string, string[]][] = [
    ['--no-cache', quiet('--no-cache')],
    ['a secret', quiet('--secret', `id=s,src=${secret}`)],
    ['rawjson progress (times in its output)', ['build', '--root', root, '--progress', 'rawjson', '--network', 'none', ctx]],
  ];
  for (const [why, args] of cases) {
    cliBundle('real');
    const first = await run(args);
    assert.equal(first.code, 0, `${why}: ${first.stderr}`);
    await sleep(1100);
    assert.equal((await run(args)).code, 0, why);
    await assertFullBuild(args, {}, why);
  }
  cliBundle('real');
});

test('build memo: a -f Dockerfile outside the context, and the .dockerignore beside it, are read by the record', async () => {
  const outside = join(tmp, 'outside');
  mkdirSync(outside);
  const df = join(outside, 'Df');
  writeFileSync(df, 'FROM memobase:1\nCOPY . /app\n');
  const args = ['build', '--root', root, '-q', '--network', 'none', '-f', df, ctx];
  await assertAnswered(args, await recorded(args));
  writeFileSync(`${df}.dockerignore`, 'sub\n');
  await assertFullBuild(args, {}, 'a .dockerignore appeared beside the -f Dockerfile');
  rmSync(`${df}.dockerignore`);
  await assertAnswered(args, await recorded(args));
  writeFileSync(df, 'FROM memobase:1\nCOPY . /ap2\n');
  await assertFullBuild(args, {}, 'the -f Dockerfile changed');
  cliBundle('real');
});

test('build memo: plain progress chosen because stderr was no terminal is not replayed to a terminal', async () => {
  const args = ['build', '--root', root, '--network', 'none', ctx];
  const plain = await recorded(args);
  assert.match(plain.stderr, /#\d+ CACHED\n/);
  await assertAnswered(args, plain);
  // the same command line with a terminal on stdin/stdout/stderr (script(1) gives it a pty): the
  // full way (there it would draw tty progress), which the failing bundle shows
  cliBundle('failing');
  const quote = (a: string) => `'${a.replace(/'/g, `'\\''`)}'`;
  const r = spawnSync('script', ['-qec', [cli, ...args].map(quote).join(' '), '/dev/null'], {
    cwd: tmp, env: { ...process.env, XDG_CACHE_HOME: join(tmp, 'cache') }, encoding: 'utf8',
  });
  assert.match(r.stdout, new RegExp(FAILS), 'a terminal: not answered from the record');
  cliBundle('real');
});
