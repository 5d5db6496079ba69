/**
 * The installed command as npm links it: bin/tsbuild (shell) → bin/tsbuild.js → the one-file
 * bundle made by scripts/bundle.mjs, compiled through a V8 code cache. Pins that main() runs once,
 * that Node never parses NODE_EXTRA_CA_CERTS at start while `ADD https://` still trusts it, that a
 * corrupt, truncated or foreign code cache is ignored and replaced (also when Node was started
 * without bin/tsbuild's flags), that --cpu-prof still names the bundle's functions, and that `ps`
 * runs from the containers bundle with a code cache of its own, setting up none of the heavy
 * built-in modules (scripts/bundle.mjs loads them on first use). Each bundle file holds its id
 * line(s) and the CommonJS wrapper, compiled as it is: stack traces name the file's own lines; the
 * launcher maps it into memory through fsx.node, and reads it when the addon is missing.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import vm from 'node:vm';
import { projectRoot } from '../helpers/cli.js';
import { busyboxRootfsTar } from '../helpers/fixtures.js';
import { makeInstalledPackage, runInstalled, type InstalledRun } from '../helpers/installed-package.js';

let tmp: string;
let pkg: string;
let pkgNoFsx: string;
let cacheHome: string;
let server: Server;
let caFile: string;
let base: string;
const version = (JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8')) as { version: string }).version;

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'tsb-bundle-'));
  // an installed package's layout: bin/, dist/bundle/, native/build/, package.json
  pkg = makeInstalledPackage(join(tmp, 'pkg'));
  pkgNoFsx = makeInstalledPackage(join(tmp, 'pkg-no-fsx'), { withoutFsx: true });
  cacheHome = join(tmp, 'cache');

  caFile = join(tmp, 'ca.pem');
  const keyFile = join(tmp, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', caFile, '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  server = createServer({ key: readFileSync(keyFile), cert: readFileSync(caFile) }, (rq, rs) => {
    rs.writeHead(rq.url === '/hello.txt' ? 200 : 404, { ETag: '"h1"' });
    rs.end(rq.method === 'HEAD' ? undefined : 'hello over tls\n');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(async () => {
  await new Promise((r) => server?.close(r));
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

type Run = InstalledRun;

/** Runs `cmd args` with the test's cache home; `env` values of undefined are removed. */
function run(cmd: string, args: string[], env: Record<string, string | undefined> = {}): Promise<Run> {
  return runInstalled(cmd, args, { cacheHome, env });
}

const WRAPPER_HEAD = '(function (exports, require, module, __filename, __dirname) {';

const cacheFiles = () => readdirSync(join(cacheHome, 'tsbuild')).filter((f) => f.endsWith('.bin'));

test('bundle: runs main() once, writes its code cache, and Node never parses NODE_EXTRA_CA_CERTS', async () => {
  // npm links the command from another directory
  const link = join(tmp, 'links', 'tsbuild');
  mkdirSync(join(tmp, 'links'));
  symlinkSync(join(pkg, 'bin', 'tsbuild'), link);
  const bad = { NODE_EXTRA_CA_CERTS: join(tmp, 'no-such-ca.pem') };
  const r = await run(link, ['--version'], bad);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, `${version}\n`);
  assert.equal(r.stderr, '', 'Node did not try to load the extra CA file');
  assert.equal(cacheFiles().length, 1);
  // the control: started without the launcher, Node does parse it (and warns that it cannot)
  const direct = await run(process.execPath, [join(pkg, 'bin', 'tsbuild.js'), '--version'], bad);
  assert.match(direct.stderr, /Ignoring extra certs/);
  assert.equal(direct.stdout, `${version}\n`);
});

test('bundle: a corrupt, truncated or foreign code cache is ignored and replaced', async () => {
  const cli = join(pkg, 'bin', 'tsbuild');
  await run(cli, ['--version']);
  const file = join(cacheHome, 'tsbuild', cacheFiles()[0]!);
  const good = readFileSync(file);
  const head = good.length - good.readUInt32LE(17); // header: magic(16) kind(1) len(4) id(64)
  const flipped = Buffer.from(good);
  for (let i = head + 64; i < flipped.length; i += 97) flipped[i]! ^= 0x5a;
  // a well-formed file whose payload V8 made for another script: V8 itself must reject it
  const other = new vm.Script('globalThis.x = 1;').createCachedData();
  const foreign = Buffer.concat([good.subarray(0, head), other]);
  foreign.writeUInt32LE(other.length, 17);
  for (const [what, bytes] of [['corrupt', flipped], ['truncated', good.subarray(0, good.length >> 1)], ['foreign', foreign], ['empty', Buffer.alloc(0)]] as const) {
    writeFileSync(file, bytes);
    const r = await run(cli, ['--version']);
    assert.equal(r.code, 0, `${what}: ${r.stderr}`);
    assert.equal(r.stdout, `${version}\n`, what);
    assert.equal(r.stderr, '', what);
    const now = readFileSync(file);
    assert.ok(!now.equals(bytes) && now.subarray(0, 16).toString() === good.subarray(0, 16).toString(), `${what}: cache replaced`);
  }
});

test('bundle: builds (then from cache), and ADD https:// trusts NODE_EXTRA_CA_CERTS passed on by the launcher', async () => {
  const cli = join(pkg, 'bin', 'tsbuild');
  const root = join(tmp, 'store');
  const imp = await run(cli, ['import', '--root', root, busyboxRootfsTar(), 'busybox:latest']);
  assert.equal(imp.code, 0, imp.stderr);
  const ctx = join(tmp, 'ctx');
  mkdirSync(ctx);
  writeFileSync(join(ctx, 'Dockerfile'), `FROM busybox\nADD ${base}/hello.txt /hello.txt\nRUN cat /hello.txt > /seen\n`);
  const out = join(tmp, 'out');
  const args = ['build', '--root', root, '-q', '--network', 'none', '-o', `type=local,dest=${out}`, ctx];
  const untrusted = await run(cli, args, { NODE_EXTRA_CA_CERTS: undefined });
  assert.equal(untrusted.code, 1);
  assert.match(untrusted.stderr, /hello\.txt: download failed: .*(self[- ]signed|certificate)/i);
  const first = await run(cli, args, { NODE_EXTRA_CA_CERTS: caFile });
  assert.equal(first.code, 0, first.stderr);
  assert.equal(readFileSync(join(out, 'seen'), 'utf8'), 'hello over tls\n');
  const again = await run(cli, ['build', '--root', root, '-q', '--network', 'none', ctx], { NODE_EXTRA_CA_CERTS: caFile });
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /^sha256:[0-9a-f]{64}\n$/);
  // the launcher leaves through process.exit once the event loop is empty: the builds' background
  // work (commits, removals) was done, and nothing of theirs is left in the store's temp area
  assert.deepEqual(readdirSync(join(root, 'tmp')), []);
});

test('bundle: build runs from the build bundle with a code cache of its own, and from the whole one when that bundle is not its', async () => {
  const cli = join(pkg, 'bin', 'tsbuild');
  const root = join(tmp, 'store-b');
  assert.equal((await run(cli, ['import', '--root', root, busyboxRootfsTar(), 'busybox:latest'])).code, 0);
  const ctx = join(tmp, 'ctx-b');
  mkdirSync(ctx);
  writeFileSync(join(ctx, 'Dockerfile'), 'FROM busybox\nRUN echo b > /b\n');
  const dir = join(pkg, 'dist', 'bundle');
  const whole = readFileSync(join(dir, 'tsbuild.cjs'), 'latin1');
  const own = readFileSync(join(dir, 'tsbuild-build.cjs'), 'latin1');
  // its second line names the whole bundle made with it
  assert.equal(own.split('\n')[1], `//tsbuild-main ${whole.slice(17, 81)}`);
  const buildCaches = () => cacheFiles().filter((f) => /^v8-[0-9a-f]{16}-build-f[0-9a-f]{8}-v\d/.test(f));
  const args = ['build', '--root', root, '-q', '--no-cache', '--network', 'none', ctx];
  const first = await run(cli, args);
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stdout, /^sha256:[0-9a-f]{64}\n$/);
  assert.equal(buildCaches().length, 1);
  // made with another whole bundle (a half-updated install): not run (it would fail), the whole
  // one here runs the build
  const stale = `//tsbuild-bundle ${'1'.repeat(64)}\n//tsbuild-main ${'2'.repeat(64)}\n${WRAPPER_HEAD}\nthrow new Error('the stale build bundle ran');\n})\n`;
  writeFileSync(join(dir, 'tsbuild-build.cjs'), stale);
  try {
    const other = await run(cli, args);
    assert.equal(other.code, 0, other.stderr);
    assert.match(other.stdout, /^sha256:[0-9a-f]{64}\n$/);
  } finally {
    writeFileSync(join(dir, 'tsbuild-build.cjs'), own, 'latin1');
  }
  // and the control: a build bundle beside its whole one runs (and fails here)
  writeFileSync(join(dir, 'tsbuild-build.cjs'), stale.replace('2'.repeat(64), whole.slice(17, 81)));
  try {
    const ran = await run(cli, args);
    assert.notEqual(ran.code, 0);
    assert.match(ran.stderr, /the stale build bundle ran/);
  } finally {
    writeFileSync(join(dir, 'tsbuild-build.cjs'), own, 'latin1');
  }
});

test('bundle: the command leaves with its exit code and the whole of its output (bin/tsbuild.js exits once the event loop is empty)', async () => {
  const cli = join(pkg, 'bin', 'tsbuild');
  const df = join(tmp, 'big.Dockerfile');
  writeFileSync(df, ['FROM busybox', ...Array.from({ length: 3000 }, (_, i) => `RUN echo line ${i}`)].join('\n') + '\n');
  // ~1 MB of JSON through a pipe (many times its buffer)
  const parsed = await run(cli, ['parse', df]);
  assert.equal(parsed.code, 0, parsed.stderr);
  assert.equal((JSON.parse(parsed.stdout) as { stages: { instructions: unknown[] }[] }).stages[0]!.instructions.length, 3000);
  const misuse = await run(cli, ['tag', 'a']);
  assert.equal(misuse.code, 1);
  assert.match(misuse.stderr, /^"tsbuild tag" requires exactly 2 arguments/);
});

test('bundle: --cpu-prof profiles name the bundle and its functions', async () => {
  const dir = join(tmp, 'prof');
  // sampled every 0.1 ms: a --version is over in a few, and main() must be on a sampled stack
  const r = await run(process.execPath, ['--cpu-prof', '--cpu-prof-interval', '100', '--cpu-prof-dir', dir, join(pkg, 'bin', 'tsbuild.js'), '--version']);
  assert.equal(r.code, 0, r.stderr);
  const [name] = readdirSync(dir);
  const prof = JSON.parse(readFileSync(join(dir, name!), 'utf8')) as { nodes: Array<{ callFrame: { url: string; functionName: string } }> };
  assert.ok(prof.nodes.some((n) => n.callFrame.url.endsWith('/dist/bundle/tsbuild.cjs') && n.callFrame.functionName === 'main'));
});

test('bundle: started as `node bin/tsbuild.js` (without the flags of bin/tsbuild), a corrupt code cache is still refused', async () => {
  const direct = join(pkg, 'bin', 'tsbuild.js');
  assert.equal((await run(process.execPath, [direct, '--version'])).code, 0);
  const file = join(cacheHome, 'tsbuild', cacheFiles().find((f) => /^v8-[0-9a-f]{16}-v\d/.test(f))!);
  const flipped = readFileSync(file);
  for (let i = flipped.length >> 2; i < flipped.length; i += 89) flipped[i]! ^= 0xa5;
  writeFileSync(file, flipped);
  const r = await run(process.execPath, [direct, '--version']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, `${version}\n`);
  assert.ok(!readFileSync(file).equals(flipped), 'cache replaced');
});

test('bundle: ps runs from the containers bundle with a code cache of its own and sets up no crypto, child_process, zlib or net', async () => {
  const cli = join(pkg, 'bin', 'tsbuild');
  const root = join(tmp, 'store-ps');
  assert.equal((await run(cli, ['import', '--root', root, busyboxRootfsTar(), 'busybox:latest'])).code, 0);
  const created = await run(cli, ['create', '--root', root, '--network', 'none', 'busybox', 'true']);
  assert.equal(created.code, 0, created.stderr);
  const id = created.stdout.trim();
  // the bundle is ASCII, as the launcher reads it (latin1)
  for (const f of readdirSync(join(pkg, 'dist', 'bundle'))) assert.ok(readFileSync(join(pkg, 'dist', 'bundle', f)).every((b) => b < 0x80), f);
  // which built-in modules the command set up, printed as it exits (a --require'd probe)
  const probe = join(tmp, 'probe.cjs');
  writeFileSync(probe, "process.on('exit', () => require('node:fs').writeSync(2, `loaded: ${process.moduleLoadList.filter((m) => /^NativeModule (crypto|child_process|zlib|net|stream)$/.test(m)).join(',')}\\n`));\n");
  const before = cacheFiles().length;
  for (let i = 0; i < 2; i++) {
    const ps = await run(process.execPath, ['--verify-snapshot-checksum', '--require', probe, join(pkg, 'bin', 'tsbuild.js'), 'ps', '-a', '--no-trunc', '--root', root]);
    assert.equal(ps.code, 0, ps.stderr);
    assert.match(ps.stdout, new RegExp(`^CONTAINER ID .*\\n${id} +busybox +"true" .* Created +\\S+\\n$`, 's'));
    assert.equal(ps.stderr, 'loaded: \n');
  }
  assert.equal(cacheFiles().length, before + 1);
  assert.ok(cacheFiles().some((f) => /^v8-[0-9a-f]{16}-ps-f[0-9a-f]{8}-v\d/.test(f)));
  assert.equal((await run(cli, ['rm', '--root', root, id])).code, 0);
});

test('bundle: each file is its id line (the build one: and its whole one\'s), then the CommonJS wrapper around the code', () => {
  const dir = join(pkg, 'dist', 'bundle');
  const ids = new Map<string, string>();
  for (const name of ['tsbuild.cjs', 'tsbuild-containers.cjs', 'tsbuild-build.cjs']) {
    const text = readFileSync(join(dir, name), 'latin1');
    const m = /^\/\/tsbuild-bundle ([0-9a-f]{64})\n/.exec(text);
    assert.ok(m, name);
    const rest = text.slice(m[0].length);
    // the id is the hash of all that follows its line: another wrapper or code, another id
    assert.equal(m[1], createHash('sha256').update(rest, 'latin1').digest('hex'), name);
    ids.set(name, m[1]!);
    const lines = rest.split('\n');
    if (name === 'tsbuild-build.cjs') assert.equal(lines.shift(), `//tsbuild-main ${ids.get('tsbuild.cjs')}`);
    assert.equal(lines[0], WRAPPER_HEAD, name);
    assert.ok(rest.endsWith('\n})\n'), name);
    // compiled as it is, the file is the one function the launcher calls
    const fn = new vm.Script(text, { filename: name }).runInThisContext() as unknown;
    assert.equal(typeof fn, 'function', name);
    assert.equal((fn as (...a: unknown[]) => unknown).length, 5, name);
  }
  assert.equal(new Set(ids.values()).size, 3);
});

test('bundle: a thrown error\'s stack names the bundle file and its own lines and columns', async () => {
  const probe = join(tmp, 'throw-probe.cjs');
  writeFileSync(probe, "process.stdout.write = () => { throw new Error('probe'); };\n");
  const r = await run(process.execPath, ['--require', probe, join(pkg, 'bin', 'tsbuild.js'), '--version']);
  assert.equal(r.code, 70, r.stderr);
  assert.match(r.stderr, /^tsbuild: internal error: Error: probe\n/);
  const file = join(pkg, 'dist', 'bundle', 'tsbuild.cjs');
  const lines = readFileSync(file, 'latin1').split('\n');
  const frames = [...r.stderr.matchAll(/at (\S+) \((\/[^():]+):(\d+):(\d+)\)/g)].filter((f) => f[2] === file);
  assert.ok(frames.length >= 3, r.stderr);
  // the call into the probe: at the file's own line and column, `.write(`
  const [, , , line, col] = frames[0]!;
  assert.match(lines[Number(line) - 1]!.slice(Number(col) - 1), /^write\(/, r.stderr);
  // main's parse, where commander runs
  const parse = frames.find((f) => f[1] === 'parse');
  assert.ok(parse, r.stderr);
  assert.match(lines[Number(parse[3]) - 1]!, /\.parseAsync\(/);
});

test('bundle: the launcher maps the bundle into memory, and without fsx.node reads it, with the same output', async () => {
  // whether the bundle the command ran from is mapped, printed as it exits (a --require'd probe)
  const probe = join(tmp, 'maps-probe.cjs');
  writeFileSync(probe, "process.on('exit', () => require('node:fs').writeSync(2, `mapped: ${require('node:fs').readFileSync('/proc/self/maps', 'latin1').split('\\n').filter((l) => /\\/dist\\/bundle\\/tsbuild[-a-z]*\\.cjs$/.test(l)).map((l) => l.slice(l.lastIndexOf('/') + 1)).join(',')}\\n`));\n");
  const cacheNoFsx = join(tmp, 'cache-no-fsx');
  const root = join(tmp, 'store-map');
  const df = join(tmp, 'map.Dockerfile');
  writeFileSync(df, 'FROM busybox\nRUN echo hi\n');
  const commands: Array<[string[], string]> = [
    [['--version'], 'tsbuild.cjs'],
    [['parse', df], 'tsbuild.cjs'],
    [['ps', '-a', '--root', root], 'tsbuild-containers.cjs'],
  ];
  for (const [args, bundle] of commands) {
    // twice each: the second time from the code cache the first wrote
    for (let i = 0; i < 2; i++) {
      const mapped = await run(process.execPath, ['--require', probe, join(pkg, 'bin', 'tsbuild.js'), ...args]);
      assert.equal(mapped.code, 0, mapped.stderr);
      assert.equal(mapped.stderr, `mapped: ${bundle}\n`, args.join(' '));
      const read = await runInstalled(process.execPath, ['--require', probe, join(pkgNoFsx, 'bin', 'tsbuild.js'), ...args], { cacheHome: cacheNoFsx });
      assert.equal(read.code, 0, read.stderr);
      assert.equal(read.stderr, 'mapped: \n', args.join(' '));
      assert.equal(read.stdout, mapped.stdout, args.join(' '));
    }
  }
  assert.ok(readdirSync(join(cacheNoFsx, 'tsbuild')).some((f) => f.endsWith('.bin')), 'the fallback wrote its code cache');
});
