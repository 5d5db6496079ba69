/**
 * Explained cache misses on real builds (busybox base): each step that runs says why — the
 * changed context file (with old/new digests), build-arg, instruction, base image, an earlier step,
 * --no-cache or a first build — in the events, the build result, the plain/tty/--explain output;
 * and the per-position record stays small for a big context.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { build } from '../../src/index.js';
import type { BuildEvent } from '../../src/builder/events.js';
import { missText, type MissReason } from '../../src/builder/explain-reason.js';
import { changedPaths } from '../../src/builder/explain-files.js';
import { plainRenderer } from '../../src/builder/progress/plain.js';
import { ttyRenderer } from '../../src/builder/progress/tty.js';
import { explainRenderer } from '../../src/builder/progress/explain.js';
import { buildIn, makeBaseStore, makeContext, writeContext, type Built, type TempStore } from '../helpers/build.js';
import { runCli } from '../helpers/cli.js';

let s: TempStore;
before(async () => {
  s = await makeBaseStore();
});
after(() => s?.cleanup());

/** step name → its miss reason, for the steps that ran. */
function misses(b: Built): Map<string, MissReason & { id: number }> {
  const names = new Map<number, string>();
  const out = new Map<string, MissReason & { id: number }>();
  for (const e of b.events) {
    if (e.type === 'step-start') names.set(e.id, e.name);
    if (e.type === 'step-miss') out.set(names.get(e.id)!, { ...e.reason, id: e.id });
  }
  return out;
}

function render(events: BuildEvent[], make: (out: Writable) => (e: BuildEvent) => void): string {
  let text = '';
  const out = new Writable({ write: (c, _e, cb) => ((text += String(c)), cb()) });
  const r = make(out);
  for (const e of events) r(e);
  return text;
}

const APP = `FROM busybox
COPY app /app
RUN cat /app/main.go > /out
`;

test('explain: a changed context file is named (old/new digests); the step after says an earlier step ran; a rebuild explains nothing', async () => {
  const ctx = makeContext({ 'app/main.go': 'package main // 1', 'app/util.go': 'package main' });
  const tags = ['explain-app:1'];
  const first = await buildIn(s.root, ctx, APP, { tags });
  assert.deepEqual([...misses(first).values()].map((r) => r.kind), ['first-build', 'first-build']);

  const again = await buildIn(s.root, ctx, APP, { tags });
  assert.equal(misses(again).size, 0);

  writeContext(ctx, { 'app/main.go': 'package main // 2' });
  const third = await buildIn(s.root, ctx, APP, { tags });
  const m = misses(third);
  const copy = m.get('[2/3] COPY app /app');
  assert.ok(copy && copy.kind === 'files', JSON.stringify(copy));
  assert.deepEqual(copy.paths.map((p) => p.path), ['app/main.go']);
  const [p] = copy.paths;
  assert.match(p!.old!, /^sha256:[0-9a-f]{64}$/);
  assert.match(p!.new!, /^sha256:[0-9a-f]{64}$/);
  assert.notEqual(p!.old, p!.new);
  const run = m.get('[3/3] RUN cat /app/main.go > /out');
  assert.deepEqual(run && { kind: run.kind, step: run.kind === 'earlier-step' && run.step, ran: run.kind === 'earlier-step' && run.ran }, { kind: 'earlier-step', step: copy.id, ran: true });

  const plain = render(third.events, plainRenderer);
  assert.match(plain, new RegExp(`#${copy.id} cache miss: app/main.go changed\\n`));
  assert.match(plain, new RegExp(`#${run!.id} cache miss: an earlier step ran \\(#${copy.id}\\)\\n`));
  const tty = render(third.events, (out) => ttyRenderer(Object.assign(out, { columns: 120 })));
  assert.match(tty, / => => cache miss: app\/main.go changed/);
  // rawjson is the events as JSON: the structured reason is in it
  const raw = third.events.filter((e) => e.type === 'step-miss').map((e) => JSON.parse(JSON.stringify(e)) as { reason: MissReason });
  assert.equal(raw[0]!.reason.kind, 'files');

  // an added and a removed file
  writeContext(ctx, { 'app/new.go': 'x' });
  const added = misses(await buildIn(s.root, ctx, APP, { tags })).get('[2/3] COPY app /app');
  assert.ok(added?.kind === 'files');
  assert.deepEqual(added.paths, [{ path: 'app/new.go', old: null, new: added.paths[0]!.new }]);
});

test('explain: a build-arg, an instruction, --no-cache; the library result carries the reasons', async () => {
  const ctx = makeContext({});
  const df = (cmd: string) => `FROM busybox\nARG VERSION=0\nRUN echo $VERSION > /v\nRUN ${cmd}\n`;
  const tags = ['explain-args:1'];
  await buildIn(s.root, ctx, df('echo a > /x'), { tags, buildArgs: { VERSION: '1.0' } });
  const arg = misses(await buildIn(s.root, ctx, df('echo a > /x'), { tags, buildArgs: { VERSION: '1.1' } }));
  assert.deepEqual({ ...arg.get('[2/3] RUN echo $VERSION > /v'), id: 0 }, { kind: 'build-arg', name: 'VERSION', old: '1.0', new: '1.1', id: 0 });
  const events: BuildEvent[] = [];
  const r = await build({ root: s.root, contextDir: ctx, dockerfileText: df('echo b > /x'), tags, buildArgs: { VERSION: '1.1' }, onEvent: (e) => events.push(e) });
  assert.deepEqual(r.misses.map((x) => [x.name, x.reason.kind]), [['[3/3] RUN echo b > /x', 'instruction']]);
  const text = events.find((e) => e.type === 'step-miss');
  assert.equal(text?.type === 'step-miss' && text.text, 'instruction changed');
  // printed under its step in the plain output
  assert.match(render(events, plainRenderer), /#\d+ \[3\/3\] RUN echo b > \/x\n#\d+ cache miss: instruction changed\n/);

  const nc = await buildIn(s.root, ctx, df('echo b > /x'), { tags, buildArgs: { VERSION: '1.1' }, noCache: true });
  assert.deepEqual([...misses(nc).values()].map((m) => m.kind), ['no-cache', 'no-cache']);
  assert.match(render(nc.events, plainRenderer), /cache miss: --no-cache\n/);
  // another tag is another step position: its first build says so
  const other = await buildIn(s.root, ctx, df('echo b > /x'), { tags: ['explain-args:2'], buildArgs: { VERSION: '1.1' } });
  assert.equal(misses(other).size, 0); // same keys: cached, nothing to explain
  const otherRan = await buildIn(s.root, ctx, df('echo c > /x'), { tags: ['explain-args:3'], buildArgs: { VERSION: '1.1' } });
  assert.deepEqual([...misses(otherRan).values()].map((m) => m.kind), ['first-build']);
  assert.match(render(otherRan.events, plainRenderer), /cache miss: first build of this step\n/);
});

test('explain: a changed base image is named with its old and new IDs', async () => {
  const ctx = makeContext({});
  const baseOne = await buildIn(s.root, ctx, 'FROM busybox\nRUN echo 1 > /base\n', { tags: ['explain-base:1'] });
  const df = 'FROM explain-base:1\nRUN cat /base > /copy\n';
  await buildIn(s.root, ctx, df, { tags: ['explain-on-base:1'] });
  const baseTwo = await buildIn(s.root, makeContext({}), 'FROM busybox\nRUN echo 2 > /base\n', { tags: ['explain-base:1'] });
  const r = misses(await buildIn(s.root, ctx, df, { tags: ['explain-on-base:1'] })).get('[2/2] RUN cat /base > /copy');
  assert.deepEqual({ ...r, id: 0 }, { kind: 'base-image', ref: 'explain-base:1', old: baseOne.imageId, new: baseTwo.imageId, id: 0 });
});

test('explain: a 2,000-file context keeps a small record and still points at the change', async () => {
  const files: Record<string, string> = {};
  for (let d = 0; d < 20; d++) for (let f = 0; f < 100; f++) files[`d${String(d).padStart(2, '0')}/f${String(f).padStart(3, '0')}`] = `${d}/${f}`;
  const ctx = makeContext(files);
  const df = 'FROM busybox\nCOPY . /src\n';
  const tags = ['explain-big:1'];
  await buildIn(s.root, ctx, df, { tags });
  const records = readdirSync(join(s.root, 'cache'))
    .map((f) => join(s.root, 'cache', f))
    .filter((p) => readFileSync(p, 'utf8').startsWith('{"key":"tsbuild-explain-v1:'));
  const sizes = records.map((p) => statSync(p).size);
  assert.ok(sizes.length > 0 && Math.max(...sizes) < 48 * 1024, `record sizes ${sizes}`);

  // recorded one by one (the shallow files): named exactly
  writeContext(ctx, { 'd00/f001': 'changed' });
  const near = misses(await buildIn(s.root, ctx, df, { tags })).get('[2/2] COPY . /src');
  assert.deepEqual(near?.kind === 'files' && near.paths.map((p) => p.path), ['d00/f001']);
  // beyond what was recorded: its directory is named
  writeContext(ctx, { 'd19/f099': 'changed' });
  const deep = misses(await buildIn(s.root, ctx, df, { tags })).get('[2/2] COPY . /src');
  assert.deepEqual(deep?.kind === 'files' && deep.paths.map((p) => p.path), ['d19/']);
});

test('explain: build --explain prints only the steps that ran, and why', async () => {
  const ctx = makeContext({ 'a.txt': 'a1', 'b.txt': 'b1' });
  writeContext(ctx, { Dockerfile: 'FROM busybox\nCOPY a.txt /a\nRUN echo built\nCOPY b.txt /b\n' });
  const root = ['--root', s.root];
  const one = await runCli([...root, 'build', '--explain', '-t', 'explain-cli:1', ctx]);
  assert.equal(one.code, 0, one.stderr);
  writeContext(ctx, { 'b.txt': 'b2' });
  const two = await runCli([...root, 'build', '--explain', '-t', 'explain-cli:1', ctx]);
  assert.equal(two.code, 0, two.stderr);
  assert.match(two.stderr, /^#\d+ \[4\/4\] COPY b\.txt \/b\n#\d+ cache miss: b\.txt changed\n1 of 3 steps ran\nwriting image sha256:[0-9a-f]{64} done\n$/);
  // the output of a plain build still shows everything; explain renders only what ran
  assert.doesNotMatch(two.stderr, /COPY a\.txt|RUN echo built|CACHED/);
  // offline check of the same renderer on a fully cached build
  assert.match(render([{ type: 'step-start', id: 1, name: '[2/2] RUN x', time: 0 }, { type: 'step-cached', id: 1, time: 0 }, { type: 'build-done', imageId: 'sha256:x', tags: [], time: 0 }], explainRenderer), /^0 of 1 steps ran \(all cached\)\n/);
});

test('explain: an ENV value, a USER, and a build-arg holding a --secret value (masked in the reason and the record)', async () => {
  const ctx = makeContext({});
  const secretFile = join(makeContext({ tok: 'hunter2-secret' }), 'tok');
  const secrets = [{ id: 'tok', src: secretFile }];
  const df = (env: string, user: string) => `FROM busybox\nARG TOKEN\nENV MODE=${env}\nUSER ${user}\nRUN echo ok > /tmp/ok\n`;
  const tags = ['explain-env:1'];
  const run = '[2/2] RUN echo ok > /tmp/ok';
  await buildIn(s.root, ctx, df('a', 'root'), { tags, secrets, buildArgs: { TOKEN: 'hunter2-secret' } });
  const env = misses(await buildIn(s.root, ctx, df('b', 'root'), { tags, secrets, buildArgs: { TOKEN: 'hunter2-secret' } })).get(run);
  assert.deepEqual({ ...env, id: 0 }, { kind: 'env', name: 'MODE', old: 'a', new: 'b', id: 0 });
  const user = misses(await buildIn(s.root, ctx, df('b', 'nobody'), { tags, secrets, buildArgs: { TOKEN: 'hunter2-secret' } })).get(run);
  assert.deepEqual(user && { kind: user.kind, input: user.kind === 'input' && user.input }, { kind: 'input', input: 'USER' });
  const arg = await buildIn(s.root, ctx, df('b', 'nobody'), { tags, secrets, buildArgs: { TOKEN: 'other' } });
  assert.deepEqual({ ...misses(arg).get(run), id: 0 }, { kind: 'build-arg', name: 'TOKEN', old: '****', new: 'other', id: 0 });
  assert.match(render(arg.events, plainRenderer), /cache miss: build-arg TOKEN changed \(\*\*\*\* → other\)\n/);
  const records = readdirSync(join(s.root, 'cache')).map((f) => readFileSync(join(s.root, 'cache', f), 'utf8'));
  assert.ok(records.some((r) => r.includes('tsbuild-explain-v1:')));
  assert.ok(!records.some((r) => r.includes('hunter2')), 'the secret value is in no cache file');
});

test('explain: reason lines for many files, mixed changes, an unknown base; changed paths against a cut-off record', () => {
  const d = (n: number) => `sha256:${String(n).repeat(64).slice(0, 64)}`;
  const five = Array.from({ length: 5 }, (_, i) => ({ path: `f${i}`, old: d(1), new: d(2) }));
  assert.equal(missText({ kind: 'files', paths: five, more: 2 }), 'f0, f1, f2 changed (and 4 more)');
  assert.equal(missText({ kind: 'files', paths: [{ path: 'a', old: null, new: d(1) }, { path: 'b', old: d(1), new: null }], more: 0 }), 'a added, b removed');
  assert.equal(missText({ kind: 'base-image', ref: '', old: null, new: null }), 'base image changed');
  assert.equal(missText({ kind: 'base-image', ref: 'app', old: d(1), new: d(2) }), `base image app changed (sha256:111111111111… → sha256:222222222222…)`);
  // level 2 was cut: a path missing there is not "removed", and the changed dir is named with a slash
  const old = { paths: [['', d(1), 1], ['src', d(1), 1], ['src/a', d(1), 0]] as Array<[string, string, 0 | 1]>, complete: 1 };
  const now = { paths: [['', d(2), 1], ['src', d(2), 1], ['src/b', d(1), 0]] as Array<[string, string, 0 | 1]>, complete: 1 };
  assert.deepEqual(changedPaths(old, now).paths.map((p) => p.path), ['src/']);
});
