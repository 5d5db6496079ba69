/** Docker's pull/push lines rendered from the event stream: one line per status change, or redrawn lines in a TTY. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { transferRenderer, bar } from '../../src/builder/progress/transfer.js';
import { EventHub, blobStatus, type BlobStatus } from '../../src/events.js';
import { humanSize } from '../../src/image/display.js';

/** A stream whose step 1 is a transfer, rendered as Docker does; what was written. */
function render(direction: 'pull' | 'push', tty: boolean) {
  const r = { out: '' };
  const events = new EventHub(transferRenderer({ write: (s: string) => ((r.out += s), true) }, { direction, tty, columns: 120 }));
  const id = events.start(`${direction} x`);
  const blob = (digest: string, status: BlobStatus, current?: number, total?: number) => events.emit({ ...blobStatus(digest, status, current, total), id });
  const say = (message: string) => events.emit({ type: 'message', id, message });
  return { r, blob, say };
}

const A = `sha256:${'a'.repeat(64)}`;
const B = `sha256:${'b'.repeat(64)}`;

test('plain output: one line per status change, no byte counts', () => {
  const { r, blob, say } = render('pull', false);
  blob(A, 'waiting');
  blob(B, 'exists');
  for (const current of [0, 10, 20]) blob(A, 'downloading', current, 20);
  blob(A, 'complete');
  say('Digest: sha256:0');
  assert.equal(r.out, 'aaaaaaaaaaaa: Pulling fs layer\nbbbbbbbbbbbb: Already exists\naaaaaaaaaaaa: Downloading\naaaaaaaaaaaa: Pull complete\nDigest: sha256:0\n');
});

test('TTY output: layer lines are redrawn in place with a bar', () => {
  const { r, blob } = render('push', true);
  blob(A, 'waiting');
  blob(B, 'waiting');
  blob(A, 'pushing', 1_500_000, 3_000_000);
  assert.ok(r.out.includes(`\x1b[2A\r\x1b[2Kaaaaaaaaaaaa: Pushing [${'='.repeat(25)}>${' '.repeat(24)}]  1.5MB/3MB\x1b[2B\r`), JSON.stringify(r.out));
  blob(B, 'exists');
  assert.ok(r.out.endsWith('\x1b[1A\r\x1b[2Kbbbbbbbbbbbb: Layer already exists\x1b[1B\r'));
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
  const { r, blob } = render('pull', true);
  const layer = 'sha256:' + 'c'.repeat(64);
  blob(layer, 'downloading', 0, 4_000_000);
  await new Promise((res) => setTimeout(res, 300));
  blob(layer, 'downloading', 1_000_000, 4_000_000);
  assert.match(r.out, /Downloading \[=+>\s+\]\s+1MB\/4MB\s+\d+(\.\d+)?[kM]B\/s/);
});
