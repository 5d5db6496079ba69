/**
 * `--output type=local,dest=DIR` and `type=tar,dest=FILE`: the final stage's root filesystem as files
 * (its layers applied in order, whiteouts honoured) or as one tar of them.
 */
import { mkdirSync, rmSync, existsSync, readdirSync } from 'node:fs';
import { spawn } from 'node:child_process';
import type { BlobInfo } from '../image/blobs.js';
import type { Digest } from '../image/digest.js';
import { extractLayer } from '../image/layer-reader.js';
import type { ImageStore } from '../image/store.js';
import { TsbuildError } from '../errors.js';

export async function exportRootfs(store: ImageStore, layers: BlobInfo[], out: { type: 'tar' | 'local'; dest: string }): Promise<void> {
  if (out.type === 'local') {
    if (existsSync(out.dest) && readdirSync(out.dest).length > 0) {
      throw new TsbuildError('CONFLICT', `--output dest ${out.dest} exists and is not empty`);
    }
    mkdirSync(out.dest, { recursive: true });
    for (const l of layers) await extractLayer(store.openBlob(l.digest as Digest), out.dest, { mode: 'apply' });
    return;
  }
  const tmp = store.tempPath('export');
  mkdirSync(tmp);
  try {
    for (const l of layers) await extractLayer(store.openBlob(l.digest as Digest), tmp, { mode: 'apply' });
    await new Promise<void>((resolve, reject) => {
      const tar = spawn('tar', ['--sort=name', '--numeric-owner', '--xattrs', '-C', tmp, '-cf', out.dest, '.'], { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      tar.stderr.on('data', (d: Buffer) => (err += d.toString()));
      tar.on('error', reject);
      tar.on('close', (code) => (code === 0 ? resolve() : reject(new TsbuildError('RUNTIME', `writing ${out.dest} failed: ${err.trim()}`))));
    });
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
