/**
 * Build checks in real builds: a Dockerfile breaking exactly three rules reports exactly those (as
 * events, in plain output with buildx's summary, in rawjson) and still builds; `--check` reports
 * and exits 1 without running a step; `# check=error=true` fails before any step; `skip=` and
 * BUILDKIT_DOCKERFILE_CHECK turn rules off.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { buildFails, buildFiles, makeBaseStore, makeContext, type TempStore } from '../helpers/build.js';
import { runCli } from '../helpers/cli.js';
import { ImageStore } from '../../src/image/store.js';

let base: TempStore;
before(async () => {
  base = await makeBaseStore();
});
after(() => base.cleanup());

// FromAsCasing (line 1), LegacyKeyValueFormat (line 2), JSONArgsRecommended (line 4)
const THREE = 'FROM busybox as base\nENV GREETING hello\nRUN echo $GREETING > /greeting\nCMD cat /greeting\n';
const EXPECTED = [
  "FromAsCasing: 'as' and 'FROM' keywords' casing do not match (line 1)",
  'LegacyKeyValueFormat: "ENV key=value" should be used instead of legacy "ENV key value" format (line 2)',
  'JSONArgsRecommended: JSON arguments recommended for CMD to prevent unintended behavior related to OS signals (line 4)',
];

test('a build breaking three rules reports exactly those three, and builds', async () => {
  const built = await buildFiles(base.root, THREE);
  const checks = built.events.flatMap((e) => (e.type === 'check-warning' ? [e.short] : []));
  assert.deepEqual(checks, EXPECTED);
  assert.equal(built.config.config?.Env?.includes('GREETING=hello'), true);
  const first = built.events.findIndex((e) => e.type === 'check-warning');
  const step = built.events.findIndex((e) => e.type === 'step-start');
  assert.ok(first >= 0 && first < step, 'checks come before any step');
});

test('plain progress prints WARN lines and buildx summary; rawjson carries the events', async () => {
  const ctx = makeContext({ Dockerfile: THREE });
  try {
    const plain = await runCli(['build', '--root', base.root, '--progress', 'plain', ctx]);
    assert.equal(plain.code, 0, plain.stderr);
    for (const s of EXPECTED) assert.ok(plain.stderr.includes(`WARN: ${s}\n`), plain.stderr);
    assert.ok(plain.stderr.endsWith('\n 3 warnings found (use docker --debug to expand):\n' + EXPECTED.map((s) => ` - ${s}\n`).join('')), plain.stderr);
    const raw = await runCli(['build', '--root', base.root, '--progress', 'rawjson', ctx]);
    assert.equal(raw.code, 0, raw.stderr);
    const events = raw.stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string; rule?: string; line?: number; url?: string });
    const checks = events.filter((e) => e.type === 'check-warning');
    assert.deepEqual(checks.map((e) => [e.rule, e.line]), [['FromAsCasing', 1], ['LegacyKeyValueFormat', 2], ['JSONArgsRecommended', 4]]);
    assert.equal(checks[0]!.url, 'https://docs.docker.com/go/dockerfile/rule/from-as-casing/');
  } finally {
    rmSync(ctx, { recursive: true, force: true });
  }
});

test('--check reports and exits 1 without running a step; a clean file exits 0', async () => {
  // a step that ran would fail the command with 3
  const ctx = makeContext({ Dockerfile: THREE.replace('RUN echo $GREETING > /greeting', 'RUN exit 3') });
  const clean = makeContext({ Dockerfile: 'FROM busybox\nRUN exit 3\nCMD ["sh"]\n' });
  try {
    const store = await ImageStore.open(base.root);
    const before = (await store.listImages()).length;
    await store.close();
    const r = await runCli(['build', '--root', base.root, '--check', ctx]);
    assert.equal(r.code, 1, r.stderr);
    assert.ok(r.stdout.startsWith('Check complete, 3 warnings have been found!\n'), r.stdout);
    assert.ok(r.stdout.includes('\nWARNING: FromAsCasing - https://docs.docker.com/go/dockerfile/rule/from-as-casing/\n'), r.stdout);
    assert.ok(r.stdout.includes(' >>> FROM busybox as base\n'), r.stdout);
    assert.ok(!r.stderr.includes('exit code: 3') && !r.stdout.includes('#1 '), 'no step ran');
    const ok = await runCli(['build', '--root', base.root, '--check', clean]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout, 'Check complete, no warnings found.\n');
    const after = await ImageStore.open(base.root);
    assert.equal((await after.listImages()).length, before, 'no image made');
    await after.close();
  } finally {
    rmSync(ctx, { recursive: true, force: true });
    rmSync(clean, { recursive: true, force: true });
  }
});

test('# check=error=true fails the build before any step runs', async () => {
  const f = await buildFails(base.root, '# check=error=true\n' + THREE.replace('RUN echo', 'RUN exit 3; echo'));
  assert.match(f.error.message, /^lint violation found for rules: FromAsCasing, LegacyKeyValueFormat, JSONArgsRecommended$/);
  assert.deepEqual(f.steps, [], 'no step started');
  assert.equal(f.events.filter((e) => e.type === 'check-warning').length, 3);
  // the CLI: exit 1 with the error
  const ctx = makeContext({ Dockerfile: '# check=error=true\nFROM busybox\nMAINTAINER me\n' });
  try {
    const r = await runCli(['build', '--root', base.root, '--progress', 'plain', ctx]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /lint violation found for rules: MaintainerDeprecated/);
  } finally {
    rmSync(ctx, { recursive: true, force: true });
  }
});

test('skip= in the directive and BUILDKIT_DOCKERFILE_CHECK turn rules off', async () => {
  const skipped = await buildFiles(base.root, '# check=skip=FromAsCasing,JSONArgsRecommended\n' + THREE);
  assert.deepEqual(skipped.events.flatMap((e) => (e.type === 'check-warning' ? [e.rule] : [])), ['LegacyKeyValueFormat']);
  const all = await buildFiles(base.root, THREE, {}, { buildArgs: { BUILDKIT_DOCKERFILE_CHECK: 'skip=all' } });
  assert.deepEqual(all.events.filter((e) => e.type === 'check-warning'), []);
  assert.deepEqual(all.warnings.filter((w) => w.includes('not consumed')), [], 'the check build arg is not an unused build arg');
  const f = await buildFails(base.root, '# check=skip=all\n' + THREE, {}, { buildArgs: { BUILDKIT_DOCKERFILE_CHECK: 'skip=FromAsCasing;error=true' } });
  assert.match(f.error.message, /^lint violation found for rules: LegacyKeyValueFormat, JSONArgsRecommended$/);
});
