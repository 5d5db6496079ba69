#!/usr/bin/env node
// `npm start`: the quick start in one command. Makes the busybox base image (busybox:1.36, from
// Debian's busybox-static) when the store lacks it, builds the example image
// (fixtures/dockerfiles/example) as hello:1, and runs it with `tsbuild run --rm`, printing its output.
// Uses the installed command (bin/tsbuild.js) and the store tsbuild would use ($TSBUILD_ROOT, else
// the default); exits with the container's code.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tsbuild = (args, opts = {}) => spawnSync(process.execPath, [join(root, 'bin', 'tsbuild.js'), ...args], { stdio: 'inherit', ...opts });
const step = (what, r) => {
  if (r.status !== 0) {
    console.error(`npm start: ${what} failed (exit ${r.status ?? r.signal})`);
    process.exit(r.status || 1);
  }
};

const has = tsbuild(['images', '-q', 'busybox:1.36'], { stdio: ['ignore', 'pipe', 'inherit'] });
step('listing images', has);
if (has.stdout.toString().trim() === '') {
  const dir = mkdtempSync(join(tmpdir(), 'tsbuild-start-'));
  try {
    const tar = join(dir, 'busybox-rootfs.tar');
    step('making the busybox rootfs (needs busybox-static)', spawnSync(join(root, 'fixtures', 'make-busybox-rootfs.sh'), [tar], { stdio: 'inherit' }));
    step('importing busybox:1.36', tsbuild(['import', tar, 'busybox:1.36'], { stdio: ['ignore', 'ignore', 'inherit'] }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
step('building hello:1', tsbuild(['build', '-t', 'hello:1', join(root, 'fixtures', 'dockerfiles', 'example')]));
const r = tsbuild(['run', '--rm', 'hello:1']);
process.exit(r.status ?? 1);
