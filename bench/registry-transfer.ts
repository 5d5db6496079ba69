/**
 * Push and pull of a generated multi-layer image through a local docker-registry: tsbuild's
 * client against `skopeo copy` in the same run, each against a fresh registry so neither finds
 * the other's blobs. Prints seconds, MB/s and the tsbuild/skopeo ratio (target: at most 1.0).
 *
 *   node --import tsx bench/registry-transfer.ts [--layers N] [--mb-per-layer M] [--runs R]
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, createReadStream, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseReference } from '../src/image/reference.js';
import { RegistryClient, pull, push } from '../src/registry/index.js';
import { OciLayout } from '../src/image/oci-layout.js';
import { digestOf } from '../src/image/digest.js';
import { MT, type Descriptor } from '../src/image/manifest.js';
import { startRegistry } from '../test/helpers/registry-server.js';
import { putBytes } from '../test/helpers/registry-image.js';

const run = promisify(execFile);
const arg = (name: string, def: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
};
const LAYERS = arg('layers', 4);
const MB = arg('mb-per-layer', 32);
const RUNS = arg('runs', 3);

async function main(): Promise<void> {
  const tmp = mkdtempSync(join(tmpdir(), 'tsbuild-bench-reg-'));
  try {
    const store = await new OciLayout(join(tmp, 'src')).init();
    const layers: Descriptor<string>[] = [];
    for (let i = 0; i < LAYERS; i++) {
      // Incompressible bytes (what a gzip layer looks like on the wire), made 1 MiB at a time.
      const file = join(tmp, `layer${i}`);
      const hasher = createHash('sha256');
      const fd = openSync(file, 'w');
      for (let m = 0; m < MB; m++) {
        const chunk = randomBytes(1024 * 1024);
        hasher.update(chunk);
        writeSync(fd, chunk);
      }
      closeSync(fd);
      const digest = `sha256:${hasher.digest('hex')}`;
      await store.content.write(createReadStream(file), { digest });
      rmSync(file);
      layers.push({ mediaType: MT.ociLayerGzip, digest, size: MB * 1024 * 1024 });
    }
    peakRss = 0;
    const baseRss = process.memoryUsage().rss;
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) } }));
    const configDesc = { mediaType: MT.ociConfig, digest: await putBytes(store, config), size: config.length };
    const manifestBytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MT.ociManifest, config: configDesc, layers }));
    const manifest = { mediaType: MT.ociManifest, digest: digestOf(manifestBytes), size: manifestBytes.length };
    await putBytes(store, manifestBytes);
    await store.setRef('bench', manifest);
    const totalMB = (LAYERS * MB) | 0;
    console.log(`image: ${LAYERS} layers x ${MB} MiB = ${totalMB} MiB, ${RUNS} runs, best of each`);

    const results: Record<string, number[]> = { 'tsbuild push': [], 'skopeo push': [], 'tsbuild pull': [], 'skopeo pull': [] };
    for (let r = 0; r < RUNS; r++) {
      // tsbuild
      {
        const reg = await startRegistry();
        const client = new RegistryClient();
        try {
          const ref = parseReference(`${reg.host}/bench/img:1`);
          results['tsbuild push']!.push(await time(() => push(client, ref, store.content, manifest, { concurrency: 4 })));
          const dst = await new OciLayout(join(tmp, `ts-dst-${r}`)).init();
          results['tsbuild pull']!.push(await time(() => pull(client, ref, dst.content, { concurrency: 4 })));
        } finally {
          client.close();
          await reg.stop();
          rmSync(join(tmp, `ts-dst-${r}`), { recursive: true, force: true });
        }
      }
      // skopeo
      {
        const reg = await startRegistry();
        try {
          const dest = `docker://${reg.host}/bench/img:1`;
          results['skopeo push']!.push(
            await time(() => run('skopeo', ['copy', '--quiet', '--preserve-digests', '--dest-tls-verify=false', `oci:${store.dir}:bench`, dest])),
          );
          const out = join(tmp, `sk-dst-${r}`);
          results['skopeo pull']!.push(
            await time(() =>
              run('skopeo', ['copy', '--quiet', '--preserve-digests', '--dest-oci-accept-uncompressed-layers', '--src-tls-verify=false', dest, `oci:${out}:bench`]),
            ),
          );
          rmSync(out, { recursive: true, force: true });
        } finally {
          await reg.stop();
        }
      }
    }
    const best = (k: string): number => Math.min(...results[k]!);
    for (const k of Object.keys(results)) {
      console.log(`${k.padEnd(13)} ${best(k).toFixed(3)} s  ${(totalMB / best(k)).toFixed(1)} MiB/s  (runs: ${results[k]!.map((x) => x.toFixed(2)).join(', ')})`);
    }
    console.log(`peak RSS ${(peakRss / 1048576).toFixed(0)} MiB (before transfers ${(baseRss / 1048576).toFixed(0)} MiB), layers of ${MB} MiB`);
    console.log(`ratio push tsbuild/skopeo: ${(best('tsbuild push') / best('skopeo push')).toFixed(2)}`);
    console.log(`ratio pull tsbuild/skopeo: ${(best('tsbuild pull') / best('skopeo pull')).toFixed(2)}`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** Peak resident memory seen while tsbuild transfers (sampled); shows layers are not buffered. */
let peakRss = 0;
setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 10).unref();

async function time(f: () => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await f();
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

await main();
