/**
 * A Dockerfile as people write it, built for real: a Debian base made by debootstrap, then
 * `apt-get update && apt-get install nginx` over the host network inside the sandbox (apt drops
 * privileges to _apt, runs maintainer scripts, needs /dev/null, /proc and DNS).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';
import { debianRootfsTar } from '../helpers/fixtures.js';
import { inspectBuilt } from '../helpers/build.js';

test('FROM debian + apt-get install nginx builds, and the image has a working nginx', { timeout: 300_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsb-real-'));
  const root = join(dir, 'store');
  try {
    const imp = await runCli(['import', '--root', root, debianRootfsTar(), 'debian:bookworm'], { timeoutMs: 120_000 });
    assert.equal(imp.code, 0, imp.stderr);
    writeFileSync(
      join(dir, 'Dockerfile'),
      [
        'FROM debian:bookworm',
        'RUN apt-get update && apt-get install -y --no-install-recommends nginx && rm -rf /var/lib/apt/lists/*',
        'RUN nginx -v 2>&1 | tee /nginx-version && id www-data > /www-data',
        'EXPOSE 80',
        'CMD ["nginx", "-g", "daemon off;"]',
      ].join('\n') + '\n',
    );
    const b = await runCli(['build', '-q', '--root', root, '-t', 'web:1', dir], { timeoutMs: 240_000 });
    assert.equal(b.code, 0, b.stderr);
    const built = await inspectBuilt(root, b.stdout.trim());
    const files = built.newLayers.flat();
    assert.ok(files.some((f) => f.path === 'usr/sbin/nginx' && f.type === 'file' && (f.mode & 0o111) !== 0), 'nginx is installed');
    assert.match(files.find((f) => f.path === 'nginx-version')?.content ?? '', /^nginx version: nginx\//);
    assert.match(files.find((f) => f.path === 'www-data')?.content ?? '', /^uid=33\(www-data\)/);
    const lists = files.filter((f) => f.path.startsWith('var/lib/apt/lists/') && f.path.endsWith('_Packages') && !f.path.includes('/.wh.'));
    assert.deepEqual(lists.map((f) => f.path), [], 'the apt lists were removed in the same RUN');
    assert.deepEqual(built.config.config?.ExposedPorts, { '80/tcp': {} });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
