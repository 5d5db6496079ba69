/** What a container holds on the host, and checks that nothing of it is left. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

export const RUN_ROOT = '/run/tsbuild/containers';

export interface Leftovers {
  id: string;
  monitorPid: number;
  ip?: string;
}

/** Where the snapshotter keeps container ID's writable layer (a keyed active snapshot). */
export function layerDir(root: string, id: string): string {
  return join(root, 'snapshots-active', id);
}

/** What a container holds on the host while it exists. */
export function holdings(root: string, id: string): Leftovers {
  const mon = readFileSync(join(RUN_ROOT, id, 'monitor'), 'utf8').split(' ');
  const state = JSON.parse(readFileSync(join(root, 'containers', id, 'state.json'), 'utf8')) as { Network?: { IPAddress: string } };
  return { id, monitorPid: Number(mon[0]), ...(state.Network ? { ip: state.Network.IPAddress } : {}) };
}

export function processAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

export function cgroupDirsOf(id: string): string[] {
  const out: string[] = [];
  for (const ctrl of ['memory', 'pids', 'cpu', 'unified']) {
    const walk = (d: string, depth: number) => {
      if (depth > 6) return;
      let names: string[];
      try {
        names = readdirSync(d, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
      } catch {
        return;
      }
      for (const n of names) {
        if (n.includes(`ctr-${id.slice(0, 12)}`)) out.push(join(d, n));
        else if (n === 'tsbuild' || depth < 2) walk(join(d, n), depth + 1);
      }
    };
    walk(`/sys/fs/cgroup/${ctrl}`, 0);
  }
  return out;
}

/** Nothing of container `h` is left: process, files, writable layer, runtime dir, pin, address, cgroup. */
export async function assertNothingLeft(root: string, h: Leftovers): Promise<void> {
  for (let i = 0; i < 100 && processAlive(h.monitorPid); i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(processAlive(h.monitorPid), false, 'monitor gone');
  assert.equal(existsSync(join(RUN_ROOT, h.id)), false, 'runtime dir gone');
  assert.equal(existsSync(join(root, 'containers', h.id)), false, 'record gone');
  assert.equal(existsSync(layerDir(root, h.id)), false, 'writable layer gone');
  assert.equal(existsSync(join(root, 'pins', h.id)), false, 'pin gone');
  assert.deepEqual(cgroupDirsOf(h.id), [], 'cgroup gone');
  if (h.ip) assert.equal(existsSync(join('/run/tsbuild/ipam/tsbuild0', h.ip)), false, 'address given back');
  assert.deepEqual(
    readdirSync(join(root, 'containers')).filter((n) => n.includes(h.id)),
    [],
    'no temp dirs',
  );
}


/** A port nobody holds right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** tsbuild's published-port elements naming HOST_PORT in TABLE (the default bridge's, or a user
 *  network's `tsb_<12 hex>`; none when the table does not exist; any other failure of nft throws,
 *  so a wait for "no rules" cannot pass on an error). */
export function rulesFor(hostPort: number, table = 'tsbuild'): string[] {
  const r = spawnSync('nft', ['list', 'table', 'ip', table], { encoding: 'utf8' });
  if (r.status !== 0) {
    if (/No such file or directory/.test(r.stderr)) return [];
    throw new Error(`nft list table ip ${table}: ${r.stderr.trim() || `exit ${r.status}`}`);
  }
  return r.stdout.split('\n').filter((l) => new RegExp(`\\b(tcp|udp) \\. ${hostPort}( comment "[^"]*")? :`).test(l));
}

/** What user network ID (containers/networks.ts) still holds on the host: its bridge, nft
 *  tables, state file and address entries (none once it is removed). */
export function networkLeftovers(id: string): string[] {
  const bridge = `tsb-${id.slice(0, 11)}`;
  const tables = spawnSync('nft', ['list', 'tables'], { encoding: 'utf8' }).stdout ?? '';
  return [
    ...(existsSync(`/sys/class/net/${bridge}`) ? [`bridge ${bridge}`] : []),
    ...[...tables.matchAll(new RegExp(`^table ip6? tsb_${id.slice(0, 12)}$`, 'gm'))].map((m) => m[0]),
    ...(existsSync(`/run/tsbuild/${bridge}.json`) ? [`state ${bridge}.json`] : []),
    ...(existsSync(`/run/tsbuild/${bridge}.owner`) ? [`owner ${bridge}.owner`] : []),
    ...(existsSync(`/run/tsbuild/ipam/${bridge}`) ? [`ipam ${bridge}`] : []),
  ];
}
