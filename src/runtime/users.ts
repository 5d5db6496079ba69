/**
 * Docker's user lookup: `USER name|uid[:group|gid]` and `COPY --chown=...` resolved against the
 * image's own /etc/passwd and /etc/group, read inside the image's root (see image/rootfs-view.ts), never
 * the host's.
 */
import { TsbuildError } from '../errors.js';
import { RootfsView } from '../image/rootfs-view.js';

export interface ResolvedUser {
  uid: number;
  gid: number;
  /** Supplementary groups: the groups listing the user by name, only when no group was given. */
  groups: number[];
  /** From /etc/passwd when the user has an entry there. */
  name?: string;
  home?: string;
}

export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
  shell: string;
}

export interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

/** Resolves a USER value in the image made of LOWERDIRS (lowest first, or one plain rootfs dir). */
export async function resolveUser(lowerDirs: readonly string[], spec: string): Promise<ResolvedUser> {
  const { user, group } = splitSpec(spec);
  const passwd = parsePasswd(await readEtc(lowerDirs, 'passwd'));
  const uidNum = parseId(user);
  const pw = uidNum === undefined ? passwd.find((p) => p.name === user) : passwd.find((p) => p.uid === uidNum);
  if (!pw && uidNum === undefined) {
    throw new TsbuildError('NOT_FOUND', `unable to find user ${user}: no matching entries in passwd file`);
  }
  const out: ResolvedUser = { uid: pw?.uid ?? uidNum!, gid: pw?.gid ?? 0, groups: [] };
  if (pw) {
    out.name = pw.name;
    out.home = pw.home;
  }
  const groups = group !== undefined || pw ? parseGroup(await readEtc(lowerDirs, 'group')) : [];
  if (group !== undefined) {
    out.gid = findGroup(groups, group);
  } else if (pw) {
    // only in the implicit form do group memberships become supplementary groups (as runc does)
    out.groups = [...new Set(groups.filter((g) => g.members.includes(pw.name)).map((g) => g.gid))];
  }
  return out;
}

/**
 * Resolves `COPY/ADD --chown=user[:group]`, and the owner WORKDIR gives the directories it creates
 * under a USER, as BuildKit's file operations do (they never fail on an unknown name):
 * - an id (or `root`) is used as is, for the gid too when no group is given;
 * - a user name found in the image's /etc/passwd gives its uid and its primary group from there;
 *   a name found nowhere (or no passwd file) leaves root, 0:0;
 * - a group id (or `root`) is the gid; a group name found in /etc/group gives its gid, an unknown
 *   one leaves the gid of the user part.
 */
export async function resolveChown(lowerDirs: readonly string[], spec: string): Promise<{ uid: number; gid: number }> {
  const { user, group } = splitSpec(spec);
  const out = { uid: 0, gid: 0 };
  const uid = chownId(user);
  if (uid !== undefined) out.uid = out.gid = uid;
  else {
    const pw = parsePasswd(await readEtc(lowerDirs, 'passwd')).find((p) => p.name === user);
    if (pw) {
      out.uid = pw.uid;
      out.gid = pw.gid;
    }
  }
  if (group !== undefined) {
    const gid = chownId(group) ?? parseGroup(await readEtc(lowerDirs, 'group')).find((g) => g.name === group)?.gid;
    if (gid !== undefined) out.gid = gid;
  }
  return out;
}

/** An id in a --chown spec: digits, or `root` (BuildKit takes that name as 0 without a lookup). */
function chownId(s: string): number | undefined {
  return s === 'root' ? 0 : parseId(s);
}

export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const f = line.split(':');
    const uid = parseId(f[2] ?? '');
    const gid = parseId(f[3] ?? '');
    if (f.length < 4 || uid === undefined || gid === undefined) continue; // malformed: skipped, as libc does
    out.push({ name: f[0]!, uid, gid, home: f[5] ?? '', shell: f[6] ?? '' });
  }
  return out;
}

export function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const f = line.split(':');
    const gid = parseId(f[2] ?? '');
    if (f.length < 3 || gid === undefined) continue;
    out.push({ name: f[0]!, gid, members: (f[3] ?? '').split(',').map((m) => m.trim()).filter(Boolean) });
  }
  return out;
}

// ---- helpers ----------------------------------------------------------------------------------

function splitSpec(spec: string): { user: string; group?: string } {
  const i = spec.indexOf(':');
  const user = i < 0 ? spec : spec.slice(0, i);
  const group = i < 0 ? undefined : spec.slice(i + 1);
  if (user === '' || group === '') throw new TsbuildError('INVALID', `invalid user "${spec}"`);
  return group === undefined ? { user } : { user, group };
}

function findGroup(groups: GroupEntry[], group: string): number {
  const n = parseId(group);
  if (n !== undefined) return n;
  const g = groups.find((e) => e.name === group);
  if (!g) throw new TsbuildError('NOT_FOUND', `unable to find group ${group}: no matching entries in group file`);
  return g.gid;
}

/* A decimal id in range, or undefined for a name. */
function parseId(s: string): number | undefined {
  if (!/^[0-9]+$/.test(s)) return undefined;
  const n = Number(s);
  if (n > 0xfffffffe) throw new TsbuildError('INVALID', `id ${s} is out of range`);
  return n;
}

async function readEtc(lowerDirs: readonly string[], name: 'passwd' | 'group'): Promise<string> {
  // lowest layer first here, topmost first in the view
  const b = new RootfsView([...lowerDirs].reverse()).readFile(`/etc/${name}`);
  return b ? b.toString('utf8') : '';
}
