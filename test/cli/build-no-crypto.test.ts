/**
 * A build never loads node:crypto: its first require cost 11-23 ms of the main thread at every
 * build (Node compiles ~15 internal crypto modules), and the build path hashes and names its temp
 * files through fsx.node instead (native/sha256.c, src/image/digest.ts). Checked on the installed
 * command (bin/tsbuild → the build bundle) with a --require'd probe that writes, at exit, which of
 * Node's crypto, TLS and HTTPS modules were loaded.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { busyboxRootfsTar } from '../helpers/fixtures.js';
import { makeInstalledPackage, runInstalled } from '../helpers/installed-package.js';

let tmp: string;
let pkg: string;
let probe: string;
let root: string;
let ctx: string;

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'tsb-nocrypto-'));
  pkg = makeInstalledPackage(join(tmp, 'pkg'));
  probe = join(tmp, 'probe.cjs');
  writeFileSync(
    probe,
    "process.on('exit', () => require('node:fs').writeFileSync(process.env.PROBE_OUT, JSON.stringify(process.moduleLoadList.filter((m) => /crypto|tls|https/.test(m)))));\n",
  );
  root = join(tmp, 'store');
  const imported = await run(['import', '--root', root, busyboxRootfsTar(), 'benchbase:1']);
  assert.equal(imported.code, 0, imported.stderr);
  ctx = join(tmp, 'ctx');
  mkdirSync(join(ctx, 'd0', 'e1'), { recursive: true });
  for (let i = 0; i < 20; i++) writeFileSync(join(ctx, 'd0', i % 2 ? 'e1' : '', `f${i}.txt`), `file ${i}\n`);
  writeFileSync(join(ctx, 'big.bin'), Buffer.alloc(300_000, 7));
  // RUN, COPY of a file, a directory and the whole context, a heredoc, ADD of a local file: the
  // steps whose keys, layers, temp names and donor records hash something
  writeFileSync(
    join(ctx, 'Dockerfile'),
    [
      'FROM benchbase:1',
      'RUN mkdir -p /opt/a && echo a > /opt/a/x',
      'COPY d0 /src/d0',
      'COPY --chmod=600 big.bin /big.bin',
      'COPY <<EOF /etc/note',
      'hello',
      'EOF',
      'ADD d0/f0.txt /added.txt',
      'RUN ls /src/d0 > /opt/list',
      'COPY . /app',
      '',
    ].join('\n'),
  );
});

after(() => {
  rmSync(tmp, { recursive: true, force: true });
});

function run(args: string[], env: Record<string, string | undefined> = {}) {
  return runInstalled(join(pkg, 'bin', 'tsbuild'), args, { cacheHome: join(tmp, 'cache'), env });
}

/** Runs `args` with the probe; the crypto/TLS modules it loaded. */
async function loadedBy(args: string[], name: string): Promise<string[]> {
  const out = join(tmp, `${name}.json`);
  const r = await run(args, { NODE_OPTIONS: `--require ${probe}`, PROBE_OUT: out });
  assert.equal(r.code, 0, r.stderr);
  assert.ok(existsSync(out), `${name}: Node ran (the probe wrote its list)`);
  return JSON.parse(readFileSync(out, 'utf8')) as string[];
}

test('build: a cold build, a rebuild after a change and `build --help` load no node:crypto, TLS or HTTPS', async () => {
  assert.deepEqual(await loadedBy(['build', '--root', root, '-q', '--network', 'none', '--no-cache', ctx], 'cold'), []);
  writeFileSync(join(ctx, 'd0', 'f3.txt'), 'changed\n');
  assert.deepEqual(await loadedBy(['build', '--root', root, '-q', '--network', 'none', ctx], 'rebuild'), []);
  assert.deepEqual(await loadedBy(['build', '--root', root, '--network', 'none', '-t', 'nocrypto:1', ctx], 'tagged'), []);
  assert.deepEqual(await loadedBy(['build', '--help'], 'help'), []);
});

test('the whole bundle hashes nothing as it loads: `--version` and `images` load no node:crypto either', async () => {
  assert.deepEqual(await loadedBy(['--version'], 'version'), []);
  assert.deepEqual(await loadedBy(['images', '--root', root], 'images'), []);
});
