/**
 * Volumes, binds and tmpfs on real containers through the CLI: a named volume made on first use
 * gets the image's content, keeps its data past the container, cannot be removed while a container
 * names it; rm -v and --rm take anonymous volumes only; binds honour :ro; --tmpfs and
 * --mount type=tmpfs are tmpfs; bad flags are one line with 125 and leave nothing.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { useContainerStore } from '../helpers/containers.js';
import { parseMountFlag, parseVolumeFlag } from '../../src/containers/volumes.js';
import { rmVolumesFlag } from '../../src/cli/containers.js';

const base = useContainerStore();
let host: string;
const run = base.run;

before(async () => {
  host = mkdtempSync(join(tmpdir(), 'tsb-vol-host-'));
});

after(async () => {
  rmSync(host, { recursive: true, force: true });
});

test('-v and --mount parsing (Docker words), rm -v routing', () => {
  assert.deepEqual(parseVolumeFlag('data:/data:ro'), { type: 'volume', name: 'data', target: '/data', readonly: true, noCopy: false });
  assert.deepEqual(parseVolumeFlag('/anon'), { type: 'volume', target: '/anon', readonly: false, noCopy: false });
  assert.deepEqual(parseVolumeFlag('/h:/c', '/'), { type: 'bind', source: '/h', target: '/c', readonly: false, create: true });
  assert.deepEqual(parseMountFlag('type=tmpfs,dst=/t,tmpfs-size=1m'), { type: 'tmpfs', target: '/t', sizeBytes: 1 << 20, fromMountFlag: true });
  assert.throws(() => parseVolumeFlag('a:/x'), /"a" includes invalid characters for a local volume name/);
  assert.throws(() => parseVolumeFlag('v:rel'), /mount path must be absolute/);
  assert.throws(() => parseMountFlag('type=bind,src=/nonexistent-tsb,dst=/x'), /bind source path does not exist: \/nonexistent-tsb/);
  assert.throws(() => parseMountFlag('type=nfs,dst=/x'), /invalid type: nfs/);
  assert.deepEqual(rmVolumesFlag(['node', 'm', '--root', 'r', 'rm', '-fv', 'c']), ['node', 'm', '--root', 'r', 'rm', '--volumes', '-f', 'c']);
  assert.deepEqual(rmVolumesFlag(['node', 'm', 'ps', '-v']), ['node', 'm', 'ps', '-v']);
});

test('named, anonymous and bind volumes; in use; rm -v; --rm; tmpfs', { timeout: 180_000 }, async () => {
  writeFileSync(join(host, 'f'), 'hosty\n');
  // first use: created, the image's /etc copied in (an empty volume gets the image's content)
  const first = await run(
    'run', '--rm', '-v', 'etcv:/etc', '-v', `${host}:/h:ro`, '--tmpfs', '/scratch', '--mount', 'type=tmpfs,target=/t2', '-v', '/anon',
    'busybox', 'sh', '-c', 'echo mine > /etc/mine; cat /h/f; touch /h/g 2>/dev/null || echo ro; grep -c "^root:" /etc/passwd; grep -E " /(scratch|t2) " /proc/mounts | cut -d" " -f3',
  );
  assert.deepEqual([first.code, first.stdout], [0, 'hosty\nro\n1\ntmpfs\ntmpfs\n'], first.stderr);
  // --rm took the anonymous volume; the named one stays, with its data
  assert.equal((await run('volume', 'ls', '-q')).stdout, 'etcv\n');
  const vol = JSON.parse((await run('volume', 'inspect', 'etcv')).stdout) as { Name: string; Driver: string; Mountpoint: string; Scope: string }[];
  assert.deepEqual([vol[0]!.Name, vol[0]!.Driver, vol[0]!.Scope], ['etcv', 'local', 'local']);
  assert.equal(readFileSync(join(vol[0]!.Mountpoint, 'mine'), 'utf8'), 'mine\n');
  assert.ok(existsSync(join(vol[0]!.Mountpoint, 'passwd')));

  const keep = await run('create', '--name', 'keep', '-v', 'etcv:/etc', '-v', '/anon', 'busybox', 'cat', '/etc/mine');
  assert.equal(keep.code, 0, keep.stderr);
  const id = keep.stdout.trim();
  const mounts = JSON.parse((await run('inspect', '--format', '{{json .Mounts}}', 'keep')).stdout) as { Type: string; Name: string; Destination: string; RW: boolean }[];
  assert.deepEqual(mounts.map((m) => [m.Type, m.Destination, m.RW]), [['volume', '/etc', true], ['volume', '/anon', true]]);
  const anon = mounts[1]!.Name;
  assert.match(anon, /^[0-9a-f]{64}$/);
  const inUse = await run('volume', 'rm', 'etcv');
  assert.deepEqual([inUse.code, inUse.stderr], [1, `tsbuild: remove etcv: volume is in use - [${id}]\n`]);
  const started = await run('start', '-a', 'keep');
  assert.deepEqual([started.code, started.stdout], [0, 'mine\n']);
  // rm -v: the anonymous volume goes, the named one stays
  assert.equal((await run('rm', '-v', 'keep')).code, 0);
  assert.equal((await run('volume', 'ls', '-q')).stdout, 'etcv\n');
  // prune without -a keeps named volumes; -a removes unused ones
  assert.equal((await run('volume', 'prune', '-f')).stdout, 'Total reclaimed space: 0B\n');
  assert.match((await run('volume', 'prune', '-a', '-f')).stdout, /^Deleted Volumes:\netcv\n\nTotal reclaimed space: \d/);
  assert.equal((await run('volume', 'ls', '-q')).stdout, '');

  const bad = await run('run', '--rm', '-v', 'x:/y', 'busybox', 'true');
  assert.equal(bad.code, 125);
  assert.match(bad.stderr, /^tsbuild: create x: "x" includes invalid characters for a local volume name/);
  const missing = await run('volume', 'rm', 'nosuch');
  assert.deepEqual([missing.code, missing.stderr], [1, 'tsbuild: get nosuch: no such volume\n']);
  assert.equal((await run('ps', '-aq')).stdout, '');
});
