/**
 * Parallel gzip for export, pigz-style: a layer is cut into fixed-size chunks, each compressed as
 * its own gzip member on a worker thread, and the members are written in order. Concatenated
 * gzip members are one valid gzip stream (RFC 1952 §2.2; Go, zlib, Python and GNU gzip all read
 * them). With a fixed chunk size and level the output is deterministic, so a compressed digest
 * computed once can be remembered and trusted later (ImageStore.getCompressed).
 */
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { promises as fsp } from 'node:fs';
import { type Digest, newHash, digestOfHash } from './digest.js';

export interface GzipOptions {
  /** zlib level 1..9 (default 1: export speed matters more than a few percent of size). */
  level?: number;
  /** Bytes per gzip member (default 4 MiB). */
  chunkSize?: number;
}

export const DEFAULT_GZIP_LEVEL = 1;
const DEFAULT_CHUNK = 4 << 20;

const WORKER_SRC = `
const { parentPort } = require('node:worker_threads');
const zlib = require('node:zlib');
parentPort.on('message', (m) => {
  // memLevel 9: about a quarter faster than the default 8 at level 1, same format
  const out = zlib.gzipSync(m.buf, { level: m.level, memLevel: 9 });
  parentPort.postMessage({ id: m.id, out });
});
`;

interface Job {
  resolve: (b: Buffer) => void;
  reject: (e: Error) => void;
}

/**
 * A fixed pool of gzip workers, shared by every layer being compressed. Jobs are posted at once
 * to the least busy worker (its own message queue holds the backlog): waiting for a result
 * before posting the next job would idle the worker for a scheduling round trip of the main
 * thread, which on a loaded machine cost half the throughput.
 */
export class GzipPool {
  private readonly workers: Array<{ w: Worker; busy: number }> = [];
  private readonly jobs = new Map<number, Job>();
  private nextId = 0;

  constructor(size = Math.max(1, availableParallelism())) {
    for (let i = 0; i < size; i++) {
      const w = new Worker(WORKER_SRC, { eval: true });
      const slot = { w, busy: 0 };
      w.on('message', (m: { id: number; out: Uint8Array }) => {
        slot.busy--;
        const job = this.jobs.get(m.id);
        this.jobs.delete(m.id);
        job?.resolve(Buffer.from(m.out.buffer, m.out.byteOffset, m.out.byteLength));
      });
      w.on('error', (e) => {
        for (const j of this.jobs.values()) j.reject(e);
        this.jobs.clear();
      });
      this.workers.push(slot);
    }
  }

  get size(): number {
    return this.workers.length;
  }

  /** Compresses `buf` as one gzip member; `buf`'s memory moves to the worker (allocate it unpooled). */
  gzip(buf: Buffer, level: number): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const id = this.nextId++;
      this.jobs.set(id, { resolve, reject });
      const slot = this.workers.reduce((a, b) => (b.busy < a.busy ? b : a));
      slot.busy++;
      slot.w.postMessage({ id, buf, level }, [buf.buffer as ArrayBuffer]);
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((s) => s.w.terminate()));
  }
}

/**
 * The gzip of the file `src` as a stream of members, in order (e.g. straight into a registry
 * upload); the same bytes gzipFile writes.
 */
export async function* gzipChunks(pool: GzipPool, src: string, opts: GzipOptions = {}): AsyncGenerator<Buffer> {
  const level = opts.level ?? DEFAULT_GZIP_LEVEL;
  const chunk = opts.chunkSize ?? DEFAULT_CHUNK;
  const inp = await fsp.open(src, 'r');
  const inflight: Array<Promise<Buffer>> = [];
  try {
    const depth = pool.size * 3;
    let eof = false;
    let first = true;
    while (!eof || inflight.length) {
      while (!eof && inflight.length < depth) {
        const buf = Buffer.from(new ArrayBuffer(chunk));
        let got = 0;
        while (got < chunk) {
          const { bytesRead } = await inp.read(buf, got, chunk - got, null);
          if (bytesRead === 0) break;
          got += bytesRead;
        }
        if (got < chunk) eof = true;
        // An empty file still needs one (empty) member to be valid gzip.
        if (got > 0 || first) inflight.push(pool.gzip(buf.subarray(0, got), level));
        first = false;
      }
      yield await inflight.shift()!;
    }
  } finally {
    // A consumer that stops early must not leave rejections unobserved.
    for (const p of inflight) p.catch(() => {});
    await inp.close();
  }
}

/** Gzips the file `src` into `dst`, returning the compressed digest and size. */
export async function gzipFile(pool: GzipPool, src: string, dst: string, opts: GzipOptions = {}): Promise<{ digest: Digest; size: number }> {
  const out = await fsp.open(dst, 'w');
  const hash = newHash();
  let size = 0;
  try {
    for await (const z of gzipChunks(pool, src, opts)) {
      hash.update(z);
      size += z.length;
      let off = 0;
      while (off < z.length) off += (await out.write(z, off, z.length - off)).bytesWritten;
    }
    await out.sync();
  } finally {
    await out.close();
  }
  return { digest: digestOfHash(hash), size };
}
