/**
 * `tsbuild build` as a user runs it (child processes through runCli): tags, history and images of
 * the result, -q, --iidfile, -f -, --progress=rawjson, a located parse error, --platform.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';
import { inspectBuilt, makeBaseStore, makeContext, type TempStore } from '../helpers/build.js';

let s: TempStore;
let ctx: string;
before(async () => {
  s = await makeBaseStore();
  ctx = makeContext({
    Dockerfile: 'FROM busybox\nCOPY a.txt /a.txt\nRUN echo built > /built\nCMD ["sh"]\n',
    'a.txt': 'a',
    'bad.Dockerfile': 'FROM busybox\nENV A=1 B\n',
  });
});
after(() => {
  s?.cleanup();
  if (ctx) rmSync(ctx, { recursive: true, force: true });
});

test('cli: build -t, then history and images show the image; -q prints only the ID; --iidfile', async () => {
  const r = await runCli(['-t', 'cli-x:1', ctx, '--root', s.root]);
  assert.equal(r.code, 0, r.stderr);
  const h = await runCli(['history', 'cli-x:1', '--root', s.root, '--no-trunc']);
  assert.equal(h.code, 0, h.stderr);
  assert.match(h.stdout, /CMD \["sh"\]/);
  assert.match(h.stdout, /RUN \/bin\/sh -c echo built > \/built # buildkit/);
  assert.match(h.stdout, /COPY a\.txt \/a\.txt # buildkit/);
  assert.match(h.stdout, /Imported from -/);
  const i = await runCli(['images', '--root', s.root]);
  assert.equal(i.code, 0, i.stderr);
  assert.match(i.stdout, /^cli-x\s+1\s+[0-9a-f]{12}\s/m);

  const iid = join(ctx, '..', `iid-${process.pid}`);
  try {
    const q = await runCli(['build', '-q', '--iidfile', iid, '--label', 'org.x=y', '--no-cache', '-t', 'cli-q:1', ctx, '--root', s.root]);
    assert.equal(q.code, 0, q.stderr);
    assert.match(q.stdout, /^sha256:[0-9a-f]{64}\n$/);
    const id = q.stdout.trim();
    assert.equal(readFileSync(iid, 'utf8').trim(), id);
    const built = await inspectBuilt(s.root, 'cli-q:1');
    assert.equal(built.imageId, id);
    assert.deepEqual(built.config.config!.Labels, { 'org.x': 'y' });
    assert.ok(!built.history.some((h) => h.created_by?.includes('org.x')), '--label adds no history entry');
  } finally {
    rmSync(iid, { force: true });
  }
});

test('cli: -f - reads the Dockerfile from stdin; --progress=rawjson prints JSON events on stdout', async () => {
  const r = await runCli(['build', '-f', '-', '--progress=rawjson', '-t', 'cli-stdin:1', ctx, '--root', s.root], {
    input: 'FROM busybox\nRUN echo from-stdin\n',
  });
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  const events = lines.map((l) => JSON.parse(l) as { type: string; data?: string; name?: string; imageId?: string });
  assert.equal(events[0]!.type, 'build-start');
  assert.equal(events.at(-1)!.type, 'build-done');
  assert.ok(events.some((e) => e.type === 'step-start' && e.name?.includes('RUN echo from-stdin')));
  assert.ok(events.some((e) => e.type === 'step-log' && e.data?.includes('from-stdin')));
  const built = await inspectBuilt(s.root, 'cli-stdin:1');
  assert.equal(events.at(-1)!.imageId, built.imageId);
  assert.equal(built.history.at(-1)!.created_by, 'RUN /bin/sh -c echo from-stdin # buildkit');
});

test('cli: a bad Dockerfile gives one line "Dockerfile:L:C: ..." and exit 1; --platform linux/s390x is a clear error', async () => {
  const r = await runCli(['build', '-f', join(ctx, 'bad.Dockerfile'), ctx, '--root', s.root]);
  assert.equal(r.code, 1, r.stderr);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0]!, /^(\S*\/)?bad\.Dockerfile:2:\d+: .*B/);
  const stdin = await runCli(['build', '-f', '-', ctx, '--root', s.root], { input: 'FROM busybox\nENV A=1 B\n' });
  assert.equal(stdin.code, 1, stdin.stderr);
  assert.match(stdin.stderr, /^Dockerfile:2:\d+: /);
  assert.equal(stdin.stderr.trim().split('\n').length, 1, stdin.stderr);

  const p = await runCli(['build', '--platform', 'linux/s390x', ctx, '--root', s.root]);
  assert.notEqual(p.code, 0);
  assert.match(p.stderr, /linux\/s390x/);
  assert.match(p.stderr, /platform/);
  assert.doesNotMatch(p.stderr, /internal error|at .*\.ts:/);
});
