/** Test inputs made on demand by the scripts under fixtures/ and cached in fixtures/.cache/. */
import { existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { projectRoot } from './cli.js';

export const fixturesDir = join(projectRoot, 'fixtures');
export const sharedDir = join(projectRoot, '..', 'shared');

/** Path of a busybox root filesystem tarball (made once from Debian's busybox-static). */
export function busyboxRootfsTar(): string {
  const out = join(fixturesDir, '.cache', 'busybox-rootfs.tar');
  if (!existsSync(out)) {
    execFileSync(join(fixturesDir, 'make-busybox-rootfs.sh'), [out], { stdio: 'inherit' });
  }
  return out;
}

/** Path of a minimal Debian bookworm rootfs tarball (made once with debootstrap, ~30 s). */
export function debianRootfsTar(): string {
  const out = join(fixturesDir, '.cache', 'debian-bookworm-rootfs.tar');
  if (!existsSync(out)) {
    execFileSync(join(fixturesDir, 'make-debian-rootfs.sh'), [out], { stdio: 'inherit' });
  }
  return out;
}
