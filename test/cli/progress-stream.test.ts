/**
 * One event stream, one renderer set: `tsbuild pull`, `tsbuild push` and `build --push` against a
 * real registry emit the same event type (`--progress=rawjson`), and the text each command prints
 * is a renderer of that stream — the same events replayed through the renderers give the same
 * bytes, and each renderer draws the other command's events too.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';
import { busyboxRootfsTar } from '../helpers/fixtures.js';
import { startRegistry, type TestRegistry } from '../helpers/registry-server.js';
import { ImageStore } from '../../src/image/store.js';
import type { ProgressEvent } from '../../src/events.js';
import { transferRenderer } from '../../src/builder/progress/transfer.js';
import { plainRenderer } from '../../src/builder/progress/plain.js';
import { rawjsonRenderer } from '../../src/builder/progress/rawjson.js';

let reg: TestRegistry;
let tmp: string;

before(async () => {
  reg = await startRegistry();
  tmp = mkdtempSync(join(tmpdir(), 'tsbuild-stream-'));
});
after(async () => {
  await reg.stop();
  rmSync(tmp, { recursive: true, force: true });
});

async function ok(args: string[]) {
  const r = await runCli(args, { env: { DOCKER_CONFIG: join(tmp, 'docker'), TSBUILD_INSECURE_REGISTRIES: '' } });
  assert.equal(r.code, 0, `tsbuild ${args.join(' ')} failed: ${r.stderr}`);
  return r;
}

const events = (stdout: string) => stdout.trim().split('\n').map((l) => JSON.parse(l) as ProgressEvent);

/** What a renderer writes for `evs`. */
function replay(evs: ProgressEvent[], make: (out: { write: (s: string) => boolean }) => (e: ProgressEvent) => void): string {
  let text = '';
  const render = make({ write: (s: string) => ((text += s), true) });
  for (const e of evs) render(e);
  return text;
}

/** The events of the step named `name` (its start, statuses, messages, end). */
function stepEvents(evs: ProgressEvent[], name: string): ProgressEvent[] {
  const start = evs.find((e) => e.type === 'step-start' && e.name === name);
  assert.ok(start && start.type === 'step-start', `no step "${name}" in ${JSON.stringify(evs.map((e) => e.type))}`);
  return evs.filter((e) => 'id' in e && e.id === start.id);
}

const layerStatuses = (evs: ProgressEvent[]) =>
  evs.flatMap((e) => (e.type === 'step-status' && e.status && e.done ? [`${e.item} ${e.status}`] : [])).sort();

test('pull, push and build --push: one event type, rendered by one renderer set', async () => {
  const a = join(tmp, 'a');
  const name = `${reg.host}/stream/base:1`;
  const built = `${reg.host}/stream/built:1`;
  await ok(['import', busyboxRootfsTar(), name, '--root', a]);
  const storeA = await ImageStore.open(a);
  const baseLayers = (await storeA.resolve(name)).manifest.layers.map((l) => l.digest);
  await storeA.close();

  // tsbuild push: a step "pushing NAME" whose layers are pushed, by their stored digests
  const pushed = events((await ok(['push', '--progress=rawjson', name, '--root', a])).stdout);
  const pushStep = stepEvents(pushed, `pushing ${name}`);
  assert.deepEqual(layerStatuses(pushStep), baseLayers.map((l) => `${l} pushed`).sort());
  assert.equal(pushStep.at(-1)!.type, 'step-done');

  // build --push: the same step on the build's stream (another repository: each layer pushed,
  // mounted or found there)
  const ctx = mkdtempSync(join(tmp, 'ctx-'));
  writeFileSync(join(ctx, 'Dockerfile'), `FROM ${name}\nLABEL stream=one\n`);
  const build = events((await ok(['build', '--progress=rawjson', '--push', '-t', built, '--root', a, ctx])).stdout);
  const buildPush = stepEvents(build, `pushing ${built}`);
  const finals = layerStatuses(buildPush);
  assert.equal(finals.length, baseLayers.length, JSON.stringify(finals));
  for (const l of baseLayers) assert.ok(finals.some((f) => new RegExp(`^${l} (pushed|mounted|exists)$`).test(f)), JSON.stringify(finals));
  assert.ok(build.some((e) => e.type === 'build-done'));
  // the same kinds of event, field for field, on both streams
  const shape = (evs: ProgressEvent[]) => new Set(evs.filter((e) => e.type === 'step-status' && e.status).map((e) => Object.keys(e).sort().join(',')));
  assert.deepEqual(shape(buildPush), shape(pushStep));

  // tsbuild pull into a fresh store: "pulling NAME", each layer waiting, then complete
  const pulled = events((await ok(['pull', '--progress=rawjson', built, '--root', join(tmp, 'b')])).stdout);
  const pullStep = stepEvents(pulled, `pulling ${built}`);
  const pulledBlobs = pullStep.flatMap((e) => (e.type === 'step-status' && e.status === 'waiting' ? [e.item] : []));
  assert.equal(pulledBlobs.length, baseLayers.length);
  assert.deepEqual(layerStatuses(pullStep), pulledBlobs.map((l) => `${l} complete`).sort());
  assert.ok(pullStep.some((e) => e.type === 'message' && e.message.startsWith('Status: Downloaded newer image for')));

  // the text pull prints is Docker's pull lines rendered from that stream: same bytes (non-tty)
  const pulledAgain = join(tmp, 'c');
  const text = (await ok(['pull', '--progress=plain', built, '--root', pulledAgain])).stdout;
  const fromStream = replay(pulled, (out) => transferRenderer(out, { direction: 'pull', tty: false }));
  assert.equal(text, fromStream);
  assert.match(text, /^1: Pulling from stream\/built\n[0-9a-f]{12}: Pulling fs layer\n/);
  // rawjson is the stream itself, whichever command made it
  assert.equal(replay(pulled, rawjsonRenderer), pulled.map((e) => JSON.stringify(e) + '\n').join(''));

  // and each renderer draws the other command's events: build --push's step as Docker's push lines,
  // tsbuild pull's step as BuildKit's plain lines
  const asDocker = replay(buildPush, (out) => transferRenderer(out, { direction: 'push', tty: false }));
  for (const l of baseLayers) assert.match(asDocker, new RegExp(`^${l.slice(7, 19)}: (Pushed|Mounted from another repository|Layer already exists)$`, 'm'));
  const asPlain = replay(pulled, (out) => plainRenderer(out));
  const id = pullStep[0]!.type === 'step-start' ? pullStep[0]!.id : -1;
  assert.match(asPlain, new RegExp(`^#${id} pulling ${built.replace(/[.]/g, '\\.')}\n`, 'm'));
  for (const b of pulledBlobs) assert.match(asPlain, new RegExp(`^#${id} ${b} \\S+ / \\S+ \\d+\\.\\ds done$`, 'm'));
  assert.match(asPlain, new RegExp(`^#${id} Digest: sha256:[0-9a-f]{64}$`, 'm'));
});
