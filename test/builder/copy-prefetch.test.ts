/**
 * The context digests of the COPY/ADD steps ahead, worked out while a RUN runs (copy-prefetch.ts):
 * what it reads (only literal context sources), that a COPY then finds them memoized and gets the
 * same key, and that a build whose RUN starts it still reports a COPY's missing source at its line.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AddressInfo } from 'node:net';
import { BuildContext } from '../../src/builder/context.js';
import { contextPrefetch } from '../../src/builder/copy-prefetch.js';
import { planBuild } from '../../src/builder/plan.js';
import { copyInputsDigest, type CopyRequest } from '../../src/builder/steps/copy.js';
import { parseDockerfile } from '../../src/parser/parse.js';
import { toInstructions } from '../../src/parser/to-instructions.js';
import { TsbuildError } from '../../src/errors.js';
import { buildFails, buildFiles, buildIn, imageFile, makeBaseStore, makeContext, type TempStore } from '../helpers/build.js';

let s: TempStore;
let server: Server;
let requests = 0;
before(async () => {
  s = await makeBaseStore();
  server = createServer((_rq, rs) => {
    requests++;
    rs.end('remote\n');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
});
after(() => {
  server?.close();
  s?.cleanup();
});

const planOf = (text: string) => {
  const parsed = parseDockerfile(text, { file: 'Dockerfile' });
  return planBuild(toInstructions(parsed), { buildArgs: {}, escapeToken: parsed.escapeToken });
};

test('copy prefetch: digests literal context sources only, once; the COPY then hashes nothing and gets the same key', async () => {
  // '$X' and '"c"' exist as names too: words taken as they are written would find them
  const dir = makeContext({ 'a/1': 'one', 'a/2': 'two', 'b.txt': 'b', 'b.log': 'log', c: 'c', '"c"': 'q', 'var.txt': 'v', $X: 'x', 'from.txt': 'f' });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/f`;
  const plan = planOf(
    [
      'FROM busybox AS other',
      'FROM busybox',
      'ARG X=var.txt',
      'RUN true',
      'COPY a /a',
      'COPY --exclude=*.log b.* /b/',
      'COPY $X /x',
      'COPY "c" /c',
      'COPY --from=other from.txt /f',
      `ADD ${url} /u`,
      'COPY <<EOF /h',
      'hi',
      'EOF',
      '',
    ].join('\n'),
  );
  const ctx = await BuildContext.open(dir);
  let opened = 0;
  const prefetch = contextPrefetch({ context: () => (opened++, Promise.resolve(ctx)) }, plan)!;
  assert.ok(prefetch, 'the plan has sources to work out');
  assert.equal(opened, 0, 'nothing happens before it is called');
  const first = prefetch();
  assert.equal(prefetch(), first, 'a second call starts nothing new');
  await first;
  assert.equal(opened, 1);
  // a/1, a/2 and b.txt: not b.log (excluded), $X or var.txt, "c" or c, from.txt (--from), the URL
  assert.equal(ctx.counters.filesHashed, 3);
  assert.equal(requests, 0, 'no URL was fetched');

  const req = (c: BuildContext, sources: string[], excludes: string[] = []): CopyRequest => ({ isAdd: false, sources, dest: '/a', workdir: '/', from: { kind: 'context', context: c }, excludes });
  const keyA = await copyInputsDigest(req(ctx, ['a']));
  const keyB = await copyInputsDigest(req(ctx, ['b.*'], ['*.log']));
  assert.equal(ctx.counters.filesHashed, 3, 'the COPY steps found their digests memoized');
  const fresh = await BuildContext.open(dir);
  assert.equal(keyA, await copyInputsDigest(req(fresh, ['a'])));
  assert.equal(keyB, await copyInputsDigest(req(fresh, ['b.*'], ['*.log'])));
});

test('copy prefetch: none for a plan without literal context sources', () => {
  assert.equal(contextPrefetch({ context: () => Promise.reject(new Error('never opened')) }, planOf('FROM busybox\nARG F=x\nRUN true\nCOPY $F /x\n')), undefined);
});

test('copy prefetch: a build whose RUN starts it still builds, and still reports a missing COPY source at its line', async () => {
  const b = await buildFiles(s.root, 'FROM busybox\nRUN echo ran > /ran\nCOPY dir /dir\nRUN cat /dir/f /ran > /both\n', { 'dir/f': 'file\n' }, { noCache: true });
  assert.equal(imageFile(b, 'both'), 'file\nran\n');
  const f = await buildFails(s.root, 'FROM busybox\nRUN true\nCOPY missing /m\n', { other: 'x' }, { noCache: true });
  assert.match(f.error.message, /missing.*not found/);
  assert.equal((f.error as TsbuildError).location?.line, 3);
});

/** Bytes this process has read so far (read(2) and friends, the thread pool's included). */
const bytesRead = () => Number(/^rchar: (\d+)$/m.exec(readFileSync('/proc/self/io', 'utf8'))![1]);

test('copy prefetch: a build that fails before its COPY stops the digests begun for it (the process is not kept busy reading)', async () => {
  // 1,000 sparse files of 16 MiB: hashing them all takes this machine half a minute; the 16 being
  // read when the build ended (the context's read slots) take a fraction of a second
  const dir = makeContext({ Dockerfile: 'FROM busybox\nRUN false\nCOPY big /big\n' });
  mkdirSync(join(dir, 'big'));
  for (let i = 0; i < 1000; i++) writeFileSync(join(dir, 'big', `f${i}`), ''), truncateSync(join(dir, 'big', `f${i}`), 16 << 20);
  try {
    await assert.rejects(buildIn(s.root, dir, undefined, { noCache: true }), /did not complete successfully/);
    await sleep(1500); // what was being read when the build ended is read to its end
    const before = bytesRead();
    await sleep(500);
    assert.ok(bytesRead() - before < 16 << 20, `read ${bytesRead() - before} bytes after the build was over`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
