/** --output types and the progress renderers, on real builds. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { buildFiles, makeBaseStore, makeContext, type TempStore } from '../helpers/build.js';
import { runCli } from '../helpers/cli.js';
import { LOG_LINE_MAX } from '../../src/builder/log-lines.js';
import { ImageStore } from '../../src/image/store.js';
import { importRootfs } from '../../src/image/import.js';
import { parseOutput } from '../../src/cli/build-flags.js';
import { plainRenderer } from '../../src/builder/progress/plain.js';
import { ttyRenderer } from '../../src/builder/progress/tty.js';
import { rawjsonRenderer } from '../../src/builder/progress/rawjson.js';
import { quietRenderer } from '../../src/builder/progress/quiet.js';
import type { BuildEvent } from '../../src/builder/events.js';

let s: TempStore;
let out: string;
before(async () => {
  s = await makeBaseStore();
  out = mkdtempSync(join(tmpdir(), 'tsb-out-'));
});
after(() => {
  s.cleanup();
  rmSync(out, { recursive: true, force: true });
});

const DOCKERFILE = 'FROM busybox\nRUN mkdir -p /app && echo built > /app/result && rm /bin/arch\nCMD ["cat", "/app/result"]\n';

test('--output docker|oci|tar|local write what skopeo and tar read, with the image applied', async () => {
  const outputs = [
    { type: 'docker' as const, dest: join(out, 'img.docker.tar') },
    { type: 'oci' as const, dest: join(out, 'img.oci.tar') },
    { type: 'tar' as const, dest: join(out, 'rootfs.tar') },
    { type: 'local' as const, dest: join(out, 'rootfs') },
  ];
  const b = await buildFiles(s.root, DOCKERFILE, {}, { tags: ['outs:1'], outputs });
  const inspect = (t: string) => JSON.parse(execFileSync('skopeo', ['inspect', '--config', t], { encoding: 'utf8' }));
  assert.deepEqual(inspect(`docker-archive:${outputs[0]!.dest}`).config.Cmd, ['cat', '/app/result']);
  assert.deepEqual(inspect(`oci-archive:${outputs[1]!.dest}`).config.Cmd, ['cat', '/app/result']);
  const listing = execFileSync('tar', ['-tf', outputs[2]!.dest], { encoding: 'utf8' }).split('\n');
  assert.ok(listing.includes('./app/result'));
  assert.ok(listing.includes('./bin/busybox'));
  assert.ok(!listing.includes('./bin/arch'), 'the whiteout of the RUN layer is applied');
  assert.equal(readFileSync(join(outputs[3]!.dest, 'app', 'result'), 'utf8'), 'built\n');
  assert.equal(existsSync(join(outputs[3]!.dest, 'bin', 'arch')), false);
  assert.match(b.imageId, /^sha256:/);
});

/** Renders a real build's events with `make` and returns what it wrote. */
async function render(make: (w: Writable & { columns?: number }) => (e: BuildEvent) => void, events: BuildEvent[]): Promise<string> {
  let text = '';
  const w = Object.assign(new Writable({ write: (c, _e, cb) => ((text += c.toString()), cb()) }), { columns: 100 });
  const r = make(w);
  for (const e of events) r(e);
  await new Promise((res) => setTimeout(res, 150));
  return text;
}

test('progress: plain, tty, rawjson and quiet render one build event stream', async () => {
  const b = await buildFiles(s.root, 'FROM busybox\nRUN echo line-one && echo line-two\n', {}, { noCache: true });
  const plain = await render(plainRenderer, b.events);
  assert.match(plain, /^#\d+ \[2\/2\] RUN echo line-one && echo line-two$/m);
  assert.match(plain, /^#\d+ \d+\.\d line-one$/m);
  assert.match(plain, /^#\d+ DONE \d+\.\ds$/m);
  assert.match(plain, /^writing image sha256:[0-9a-f]{64} done$/m);

  const tty = await render(ttyRenderer, b.events);
  assert.match(tty, /\[\+\] Building [\d.]+s \(2\/2\) FINISHED/);
  assert.match(tty, / => \[2\/2\] RUN echo line-one/);

  const raw = (await render(rawjsonRenderer, b.events)).trim().split('\n').map((l) => JSON.parse(l) as BuildEvent);
  assert.deepEqual(raw.map((e) => e.type), b.events.map((e) => e.type));

  const quiet = await render(quietRenderer, b.events);
  assert.equal(quiet, `${b.imageId}\n`);
});

test('32 MiB of output without a newline: plain progress shows it all in 16 KiB lines, in bounded memory', async () => {
  // the CLI's peak RSS, written by the process itself as it exits
  const hook = join(out, 'rss-hook.mjs');
  const rssFile = join(out, 'rss');
  writeFileSync(hook, `import { writeFileSync } from 'node:fs';\nprocess.on('exit', () => writeFileSync(${JSON.stringify(rssFile)}, String(process.resourceUsage().maxRSS)));\n`);
  const ctx = makeContext({ Dockerfile: 'FROM busybox\nRUN head -c 33554432 /dev/zero\n' });
  try {
    const r = await runCli(['--root', s.root, 'build', '--no-cache', '--progress=plain', ctx], { env: { NODE_OPTIONS: `--import ${hook}` } });
    assert.equal(r.code, 0, r.stderr.slice(-2000));
    const lines = r.stderr.split('\n').filter((l) => l.includes('\0'));
    let zeros = 0;
    for (const l of lines) {
      const m = /^#(\d+) \d+\.\d (\0+)$/.exec(l);
      assert.ok(m, `not a log line: ${JSON.stringify(l.slice(0, 40))}`);
      assert.ok(m[2]!.length <= LOG_LINE_MAX, `a line of ${m[2]!.length} bytes`);
      zeros += m[2]!.length;
    }
    assert.equal(zeros, 33554432, 'every byte is shown');
    // today's machine: ~100 MB; re-joining the growing line on every chunk took ~0.8 GB
    const rssMb = Number(readFileSync(rssFile, 'utf8')) / 1024;
    assert.ok(rssMb < 300, `peak RSS ${rssMb.toFixed(0)} MB`);
  } finally {
    rmSync(ctx, { recursive: true, force: true });
  }
});

test('-o type=local: no setuid/setgid bits, device nodes or fifos on the host; files owned by the invoking user', async () => {
  // an image holding a setuid-root copy of busybox, a setgid file, a world-writable node of the
  // first disk and a fifo (a hostile base image can hold any of these)
  const rootfs = join(out, 'hostile-rootfs');
  mkdirSync(join(rootfs, 'bin'), { recursive: true });
  writeFileSync(join(rootfs, 'bin', 'rootcat'), '#!/bin/sh\n');
  chmodSync(join(rootfs, 'bin', 'rootcat'), 0o4755);
  writeFileSync(join(rootfs, 'bin', 'groupy'), 'x');
  chmodSync(join(rootfs, 'bin', 'groupy'), 0o2755);
  chownSync(join(rootfs, 'bin', 'groupy'), 0, 42);
  execFileSync('mknod', ['-m', '666', join(rootfs, 'disk'), 'b', '8', '0']);
  execFileSync('mkfifo', [join(rootfs, 'fifo')]);
  const tarFile = join(out, 'hostile.tar');
  execFileSync('tar', ['--numeric-owner', '-C', rootfs, '-cf', tarFile, '.']);
  const store = await ImageStore.open(s.root);
  try {
    await importRootfs(store, tarFile, { tag: 'hostile:1' });
  } finally {
    await store.close();
  }
  const dest = join(out, 'local-safe');
  process.env.SUDO_UID = '4321';
  process.env.SUDO_GID = '8765';
  try {
    await buildFiles(s.root, 'FROM hostile:1\n', {}, { outputs: [{ type: 'local', dest }] });
  } finally {
    delete process.env.SUDO_UID;
    delete process.env.SUDO_GID;
  }
  const rootcat = lstatSync(join(dest, 'bin', 'rootcat'));
  assert.equal(rootcat.mode & 0o7777, 0o755, 'setuid bit dropped, the rest kept');
  assert.equal(lstatSync(join(dest, 'bin', 'groupy')).mode & 0o7777, 0o755, 'setgid bit dropped');
  assert.equal(existsSync(join(dest, 'disk')), false, 'device node written');
  assert.equal(existsSync(join(dest, 'fifo')), false, 'fifo written');
  for (const p of ['', 'bin', 'bin/rootcat', 'bin/groupy']) {
    const st = lstatSync(join(dest, p));
    assert.deepEqual([st.uid, st.gid], [4321, 8765], `${p || '.'} is not the invoking user's`);
  }
  assert.deepEqual(readdirSync(out).filter((n) => n.includes('tsbuild-')), [], 'a work dir was left');

  // asked for explicitly, the tree comes as it is
  assert.deepEqual(parseOutput('type=local,dest=x,preserve-owner=true'), { type: 'local', dest: 'x', preserveOwner: true });
  const exact = join(out, 'local-exact');
  await buildFiles(s.root, 'FROM hostile:1\n', {}, { outputs: [{ type: 'local', dest: exact, preserveOwner: true }] });
  assert.equal(lstatSync(join(exact, 'bin', 'rootcat')).mode & 0o7777, 0o4755);
  assert.equal(lstatSync(join(exact, 'bin', 'groupy')).gid, 42);
  assert.ok(lstatSync(join(exact, 'disk')).isBlockDevice());
});
