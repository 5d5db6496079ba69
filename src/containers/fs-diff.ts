/**
 * `diff`: a container's changes as Docker lists them — `A path` added, `C path` changed (also the
 * directories above a change), `D path` deleted — read from its writable layer (the overlay upper
 * dir) with the runtime's layer diff, sorted by path. The mount points tsbuild binds into every
 * container (/etc/hosts, /etc/hostname, /etc/resolv.conf) are not the container's changes, as in
 * Docker.
 */
import { lstatSync } from 'node:fs';
import { join } from 'node:path';
import { diffUpperDir, OPAQUE_MARKER, WHITEOUT_PREFIX } from '../runtime/diff.js';
import type { Containers } from './containers.js';
import { ETC_FILES } from './record.js';

export interface Change {
  kind: 'A' | 'C' | 'D';
  path: string;
}

const MOUNTED = new Set(ETC_FILES.map((n) => `/etc/${n}`));

export async function containerChanges(c: Containers, word: string): Promise<Change[]> {
  const v = await c.find(word);
  const { lowerDirs, upperDir } = c.layer(v.record);
  const entries = await diffUpperDir(upperDir, { lowerDirs: [...lowerDirs] });
  const inLower = (p: string) =>
    lowerDirs.some((d) => {
      try {
        lstatSync(join(d, p));
        return true;
      } catch {
        return false;
      }
    });
  const out: Change[] = [];
  for (const e of entries) {
    const rel = e.path.replace(/\/$/, '');
    const slash = rel.lastIndexOf('/');
    const name = rel.slice(slash + 1);
    const dir = slash < 0 ? '' : rel.slice(0, slash);
    if (name === OPAQUE_MARKER) continue;
    if (name.startsWith(WHITEOUT_PREFIX)) {
      out.push({ kind: 'D', path: `/${dir ? dir + '/' : ''}${name.slice(WHITEOUT_PREFIX.length)}` });
      continue;
    }
    const path = `/${rel}`;
    if (MOUNTED.has(path)) continue;
    out.push({ kind: inLower(rel) ? 'C' : 'A', path });
  }
  // a directory that only holds our mount points is no change either
  const kept = out.filter((ch) => !(ch.kind === 'C' && ch.path === '/etc' && !out.some((o) => o.path.startsWith('/etc/'))));
  return kept.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}
