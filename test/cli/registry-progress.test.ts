/** The docker-style progress printer: one line per status change, or redrawn lines in a TTY. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProgressPrinter, bar } from '../../src/registry/progress.js';
import { humanSize } from '../../src/image/display.js';

const A = `sha256:${'a'.repeat(64)}`;
const B = `sha256:${'b'.repeat(64)}`;

test('plain output: one line per status change, no byte counts', () => {
  let out = '';
  const p = new ProgressPrinter({ mode: 'pull', tty: false, write: (s) => (out += s) });
  p.onEvent({ type: 'resolved', ref: 'x', layers: [A] });
  p.onEvent({ type: 'layer', layer: B, status: 'exists' });
  for (const current of [0, 10, 20]) p.onEvent({ type: 'layer', layer: A, status: 'downloading', current, total: 20 });
  p.onEvent({ type: 'layer', layer: A, status: 'complete' });
  p.line('Digest: sha256:0');
  assert.equal(out, 'aaaaaaaaaaaa: Pulling fs layer\nbbbbbbbbbbbb: Already exists\naaaaaaaaaaaa: Downloading\naaaaaaaaaaaa: Pull complete\nDigest: sha256:0\n');
});

test('TTY output: layer lines are redrawn in place with a bar', () => {
  let out = '';
  const p = new ProgressPrinter({ mode: 'push', tty: true, columns: 120, write: (s) => (out += s) });
  p.onEvent({ type: 'layer', layer: A, status: 'preparing' });
  p.onEvent({ type: 'layer', layer: B, status: 'preparing' });
  p.onEvent({ type: 'layer', layer: A, status: 'pushing', current: 1_500_000, total: 3_000_000 });
  assert.ok(out.includes(`\x1b[2A\r\x1b[2Kaaaaaaaaaaaa: Pushing [${'='.repeat(25)}>${' '.repeat(24)}]  1.5MB/3MB\x1b[2B\r`), JSON.stringify(out));
  p.onEvent({ type: 'layer', layer: B, status: 'exists' });
  assert.ok(out.endsWith('\x1b[1A\r\x1b[2Kbbbbbbbbbbbb: Layer already exists\x1b[1B\r'));
});

test('sizes as docker shows them', () => {
  assert.equal(humanSize(512, 4), '512B');
  assert.equal(humanSize(12_345, 4), '12.35kB');
  assert.equal(humanSize(3_398_000, 4), '3.398MB');
  assert.equal(bar(5, 10, 40), '5B/10B');
});

test('insecure registries from the environment and login server names', async () => {
  const { insecureHostsFromEnv, defaultRegistryClient } = await import('../../src/registry/defaults.js');
  const { serverName } = await import('../../src/cli/registry.js');
  assert.deepEqual(insecureHostsFromEnv({ TSBUILD_INSECURE_REGISTRIES: ' reg.lan:5000, http://other.lan/ ,' }), ['reg.lan:5000', 'other.lan']);
  const c = defaultRegistryClient({ env: { TSBUILD_INSECURE_REGISTRIES: 'reg.lan:5000' }, insecureHosts: ['flag.lan'] });
  try {
    assert.equal(c.transport.baseUrl('reg.lan:5000'), 'http://reg.lan:5000');
    assert.equal(c.transport.baseUrl('flag.lan:443'), 'http://flag.lan:443');
    assert.equal(c.transport.baseUrl('secure.lan'), 'https://secure.lan');
  } finally {
    c.close();
  }
  assert.equal(serverName(undefined), 'docker.io');
  assert.equal(serverName('https://index.docker.io/v1/'), 'docker.io');
  assert.equal(serverName('http://127.0.0.1:5000/v2/'), '127.0.0.1:5000');
});

test('tty progress shows each layer transfer rate once bytes have been moving a while', async () => {
  let out = '';
  const p = new ProgressPrinter({ mode: 'pull', tty: true, columns: 120, write: (s) => (out += s) });
  const layer = 'sha256:' + 'c'.repeat(64);
  p.onEvent({ type: 'layer', layer, status: 'downloading', current: 0, total: 4_000_000 });
  await new Promise((r) => setTimeout(r, 300));
  p.onEvent({ type: 'layer', layer, status: 'downloading', current: 1_000_000, total: 4_000_000 });
  assert.match(out, /Downloading \[=+>\s+\]\s+1MB\/4MB\s+\d+(\.\d+)?[kM]B\/s/);
});
