/**
 * A bind whose sub-path is untrusted (a cache mount's source=) is resolved by the helper itself,
 * below its trusted base, by fd, with no symlinks: whatever the path became after tsbuild checked
 * it, the mount can only be a directory inside the base (CVE-2024-23651 class).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRuntime } from '../../src/runtime/index.js';
import { isTsbuildError } from '../../src/errors.js';
import { scratch, sink } from './rootfs-fixture.js';

const s = scratch();
after(() => s.cleanup());
const rt = createRuntime({ tmpDir: s.mkdir('runs') });

async function catWith(beneath: string, base: string) {
  const fs = await rt.prepare(s.mounts([s.busybox]));
  const out = sink();
  try {
    return await rt
      .run(fs, { args: ['/bin/sh', '-c', 'cat /m/f'], env: [], network: 'none', stdout: out.fn, mounts: [{ type: 'bind', source: base, target: '/m', beneath }] })
      .then((r) => ({ ...r, out: out.text() }));
  } finally {
    await rt.release(fs);
  }
}

test('bind beneath: a real sub-dir mounts; a symlink (anywhere on the way), .. or an absolute link never do', async () => {
  const base = s.mkdir('cache');
  mkdirSync(join(base, 'real', 'deeper'), { recursive: true });
  writeFileSync(join(base, 'real', 'deeper', 'f'), 'inside\n');
  const outside = s.mkdir('outside');
  writeFileSync(join(outside, 'f'), 'HOST FILE\n');
  symlinkSync(outside, join(base, 'abs-link'));
  symlinkSync('real', join(base, 'rel-link'));
  const ok = await catWith('real/deeper', base);
  assert.equal(ok.out, 'inside\n');
  for (const bad of ['abs-link', 'rel-link/deeper', '../outside']) {
    await assert.rejects(catWith(bad, base), (e: unknown) => isTsbuildError(e) && /openat2 \(beneath, no symlinks\)/.test(e.message), bad);
  }
});
