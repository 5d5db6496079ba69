/**
 * zstd decompression for layers (`application/vnd.oci.image.layer.v1.tar+zstd`): Node's
 * own zlib when it has it (22.15+), else the `zstd` program streaming through a pipe. Bad data is
 * a CORRUPT error; a missing decoder is a clear REGISTRY error.
 */
import { spawn } from 'node:child_process';
import * as zlib from 'node:zlib';
import { Readable, type Transform } from 'node:stream';
import { TsbuildError } from '../errors.js';
import { throughTransform } from './byte-streams.js';

export async function* unzstd(src: AsyncIterable<Buffer>, zstdBin = process.env.TSBUILD_ZSTD ?? 'zstd'): AsyncGenerator<Buffer> {
  const native = (zlib as unknown as { createZstdDecompress?: () => Transform }).createZstdDecompress;
  if (typeof native === 'function') {
    yield* throughTransform(src, native(), 'zstd');
    return;
  }
  const child = spawn(zstdBin, ['-d', '-c', '-q'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    if (stderr.length < 4096) stderr += d.toString();
  });
  const spawned = new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
  });
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  try {
    await spawned;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new TsbuildError('REGISTRY', 'zstd-compressed layers need Node.js 22.15+ or the zstd program in PATH');
    }
    throw e;
  }
  const input = Readable.from(src);
  let inputError: unknown;
  input.on('error', (e) => {
    inputError = e;
    child.kill('SIGKILL');
  });
  child.stdin.on('error', () => {}); // EPIPE when zstd stops early on bad data: its exit code tells
  input.pipe(child.stdin);
  let ok = false;
  try {
    for await (const b of child.stdout) yield b as Buffer;
    const code = await exited;
    if (inputError) throw inputError;
    if (code !== 0) throw new TsbuildError('CORRUPT', `zstd: ${stderr.trim().split('\n').pop() || `exit ${code}`}`);
    ok = true;
  } finally {
    if (!ok) {
      input.destroy();
      child.kill('SIGKILL');
    }
  }
}
