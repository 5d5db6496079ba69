/**
 * `--volumes-from CTR[:ro|:rw]` on real containers: every volume and bind of CTR at the same paths
 * (its tmpfs not), each as CTR has it or all `:ro`; the container's own mount at a path wins;
 * inspect Mounts and HostConfig.VolumesFrom; the volume counts as in use by the new container, and
 * its `rm -v` leaves the other container's anonymous volume; an unknown container or mode is one
 * line and 125, nothing made.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { useContainerStore } from '../helpers/containers.js';

const base = useContainerStore();
const run = base.run;

test('volumes and binds of another container, ro or as they are; in use; bad input', { timeout: 180_000 }, async () => {
  const host = mkdtempSync(join(tmpdir(), 'tsbuild-vfrom-'));
  try {
    writeFileSync(join(host, 'hosted'), 'from the host\n');
    const src = await run('create', '--name', 'src', '--network', 'none', '-v', 'vfvol:/data', '-v', `${host}:/b:ro`, '-v', '/anon', '--tmpfs', '/tt', 'busybox', 'true');
    assert.equal(src.code, 0, src.stderr);
    const anon = ((await run('inspect', '--format', '{{range .Mounts}}{{if eq .Destination "/anon"}}{{.Name}}{{end}}{{end}}', 'src')).stdout).trim();
    assert.match(anon, /^[0-9a-f]{64}$/);
    assert.equal((await run('run', '--rm', '--network', 'none', '-v', 'vfvol:/data', 'busybox', 'sh', '-c', 'echo kept > /data/f')).code, 0);

    // as src has them: /data writable, /b read-only, /anon there, /tt not (a tmpfs is not shared)
    const as = await run('run', '--rm', '--network', 'none', '--volumes-from', 'src', 'busybox', 'sh', '-c',
      'cat /data/f /b/hosted; echo more >> /data/f && echo data-rw; touch /b/x 2>/dev/null || echo b-ro; grep -q " /anon " /proc/mounts && echo anon; grep -q " /tt " /proc/mounts || echo no-tt');
    assert.deepEqual([as.code, as.stdout], [0, 'kept\nfrom the host\ndata-rw\nb-ro\nanon\nno-tt\n'], as.stderr);

    // :ro: every one read-only; inspect shows them and VolumesFrom as given
    const dst = await run('create', '--name', 'dst', '--network', 'none', '--volumes-from', 'src:ro', 'busybox', 'sh', '-c', 'cat /data/f; touch /data/y 2>/dev/null || echo data-ro');
    assert.equal(dst.code, 0, dst.stderr);
    const dstId = dst.stdout.trim();
    const mounts = JSON.parse((await run('inspect', '--format', '{{json .Mounts}}', 'dst')).stdout) as { Type: string; Name?: string; Source: string; Destination: string; RW: boolean }[];
    assert.deepEqual(mounts.map((m) => [m.Type, m.Destination, m.RW, m.Name ?? m.Source]).sort(), [
      ['bind', '/b', false, host],
      ['volume', '/anon', false, anon],
      ['volume', '/data', false, 'vfvol'],
    ]);
    assert.equal((await run('inspect', '--format', '{{json .HostConfig.VolumesFrom}}', 'dst')).stdout, '["src:ro"]\n');
    const started = await run('start', '-a', 'dst');
    assert.deepEqual([started.code, started.stdout], [0, 'kept\nmore\ndata-ro\n']);

    // the container's own mount at the same path wins
    const own = await run('run', '--rm', '--network', 'none', '--volumes-from', 'src', '-v', `${host}:/data:ro`, 'busybox', 'cat', '/data/hosted');
    assert.deepEqual([own.code, own.stdout], [0, 'from the host\n']);

    // in use by dst once src is gone; dst's rm -v leaves src's anonymous volume alone
    assert.equal((await run('rm', 'src')).code, 0);
    const inUse = await run('volume', 'rm', 'vfvol');
    assert.deepEqual([inUse.code, inUse.stderr], [1, `tsbuild: remove vfvol: volume is in use - [${dstId}]\n`]);
    assert.equal((await run('rm', '-v', 'dst')).code, 0);
    assert.match((await run('volume', 'ls', '-q')).stdout, new RegExp(`^${anon}$`, 'm'));
    assert.equal((await run('volume', 'rm', 'vfvol', anon)).code, 0);

    const unknown = await run('run', '--rm', '--volumes-from', 'nosuch', 'busybox', 'true');
    assert.deepEqual([unknown.code, unknown.stderr], [125, 'tsbuild: No such container: nosuch\n']);
    const mode = await run('create', '--volumes-from', 'dst:xx', 'busybox', 'true');
    assert.deepEqual([mode.code, mode.stderr], [125, 'tsbuild: invalid mode: xx\n']);
    assert.equal((await run('ps', '-aq')).stdout, '');
  } finally {
    rmSync(host, { recursive: true, force: true });
  }
});
