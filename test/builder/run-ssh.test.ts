/** RUN --mount=type=ssh with a real ssh-agent on the host. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildFiles, buildFails, makeBaseStore, type TempStore } from '../helpers/build.js';
import { parseSsh } from '../../src/cli/build-flags.js';

let s: TempStore;
let dir: string;
let agentPid: number;
let socket: string;

before(async () => {
  s = await makeBaseStore();
  dir = mkdtempSync(join(tmpdir(), 'tsb-ssh-'));
  socket = join(dir, 'agent.sock');
  const out = execFileSync('ssh-agent', ['-s', '-a', socket], { encoding: 'utf8' });
  agentPid = Number(/SSH_AGENT_PID=(\d+)/.exec(out)![1]);
});
after(() => {
  try {
    process.kill(agentPid);
  } catch {
    // gone
  }
  s.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

test('--ssh specs: default takes $SSH_AUTH_SOCK, ID=SOCKET names one, key files are refused', () => {
  assert.deepEqual(parseSsh('default', { SSH_AUTH_SOCK: '/a.sock' }), { id: 'default', socket: '/a.sock' });
  assert.deepEqual(parseSsh('gh=/b.sock', {}), { id: 'gh', socket: '/b.sock' });
  assert.throws(() => parseSsh('default', {}), /SSH_AUTH_SOCK is not set/);
  assert.throws(() => parseSsh('k=/id_rsa,/id_ed25519', {}), /key files are not supported/);
});

test('RUN --mount=type=ssh sees the agent socket at SSH_AUTH_SOCK; the mount stays out of the layer and the key', async () => {
  const df = 'FROM busybox\nRUN --mount=type=ssh [ -S "$SSH_AUTH_SOCK" ] && echo "$SSH_AUTH_SOCK" > /sock-path\n';
  const b = await buildFiles(s.root, df, {}, { ssh: [{ id: 'default', socket }] });
  const files = b.newLayers.flat();
  assert.equal(files.find((f) => f.path === 'sock-path')?.content, '/run/buildkit/ssh_agent.0\n');
  assert.ok(!files.some((f) => f.path.startsWith('run/buildkit/ssh_agent')), 'the socket is not in the layer');
  const again = await buildFiles(s.root, df, {}, { ssh: [{ id: 'default', socket: join(dir, 'elsewhere.sock') }] });
  assert.ok(again.steps.find((x) => x.name.includes('RUN'))?.cached, 'the socket path is not part of the cache key');
});

test('RUN --mount=type=ssh,required without an agent is a located error', async () => {
  const f = await buildFails(s.root, 'FROM busybox\nRUN --mount=type=ssh,id=gh,required true\n');
  assert.match(f.error.message, /ssh agent "gh" is required/);
  assert.equal((f.error as { location?: { line: number } }).location?.line, 2);
});
