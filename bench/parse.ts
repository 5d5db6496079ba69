/**
 * Parser throughput: the shared conformance Dockerfiles plus fixtures/dockerfiles, parsed in-process
 * by tsbuild (raw parse, and raw parse + typed instructions) and by the npm package dockerfile-ast on
 * the same corpus in the same run. Prints files/s and MB/s. Run: node --import tsx bench/parse.ts
 */
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DockerfileParser } from 'dockerfile-ast';
import { parseDockerfile, toInstructions } from '../src/parser/index.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

function loadCorpus(): { name: string; text: string }[] {
  const out: { name: string; text: string }[] = [];
  const shared = join(root, '..', 'shared', 'conformance', 'parser', 'positive');
  if (existsSync(shared)) {
    for (const n of readdirSync(shared).sort()) out.push({ name: n, text: readFileSync(join(shared, n, 'Dockerfile'), 'utf8') });
  }
  const fixtures = join(root, 'fixtures', 'dockerfiles');
  for (const n of readdirSync(fixtures).sort()) out.push({ name: n, text: readFileSync(join(fixtures, n, 'Dockerfile'), 'utf8') });
  return out;
}

function measure(label: string, corpus: { text: string }[], fn: (text: string) => unknown, seconds = 2): number {
  const bytes = corpus.reduce((n, f) => n + Buffer.byteLength(f.text), 0);
  for (let i = 0; i < 20; i++) for (const f of corpus) fn(f.text); // warm-up
  let files = 0;
  let passes = 0;
  const t0 = performance.now();
  let elapsed = 0;
  do {
    for (const f of corpus) fn(f.text);
    files += corpus.length;
    passes++;
    elapsed = (performance.now() - t0) / 1000;
  } while (elapsed < seconds);
  const fps = files / elapsed;
  const mbps = (bytes * passes) / elapsed / 1e6;
  console.log(`${label.padEnd(34)} ${fps.toFixed(0).padStart(8)} files/s ${mbps.toFixed(2).padStart(7)} MB/s`);
  return fps;
}

const corpus = loadCorpus();
const total = corpus.reduce((n, f) => n + Buffer.byteLength(f.text), 0);
console.log(`corpus: ${corpus.length} files, ${(total / 1024).toFixed(1)} KiB`);
const ours = measure('tsbuild parseDockerfile', corpus, (t) => parseDockerfile(t));
const valid = corpus.filter((f) => {
  try {
    toInstructions(parseDockerfile(f.text));
    return true;
  } catch {
    return false; // some raw-parser cases are not valid builds (unknown flags, no FROM, ...)
  }
});
measure(`tsbuild parse + toInstructions (${valid.length})`, valid, (t) => toInstructions(parseDockerfile(t)));
const theirs = measure('dockerfile-ast DockerfileParser.parse', corpus, (t) => DockerfileParser.parse(t));
console.log(`ratio (tsbuild raw / dockerfile-ast): ${(ours / theirs).toFixed(2)}x`);

const big = readFileSync(join(root, 'fixtures', 'dockerfiles', 'large', 'Dockerfile'), 'utf8');
const oursBig = measure('tsbuild (200-line file only)', [{ text: big }], (t) => parseDockerfile(t));
const theirsBig = measure('dockerfile-ast (200-line file only)', [{ text: big }], (t) => DockerfileParser.parse(t));
console.log(`ratio on the 200-line file: ${(oursBig / theirsBig).toFixed(2)}x`);

// Start-up: the whole CLI on the 200-line file, as a user runs it (needs `npm run build`).
const bin = join(root, 'bin', 'tsbuild.js');
if (existsSync(join(root, 'dist', 'cli', 'main.js'))) {
  const { spawnSync } = await import('node:child_process');
  const wall = (args: string[]): number => {
    const times: number[] = [];
    for (let i = 0; i < 9; i++) {
      const t0 = performance.now();
      const r = spawnSync(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
      if (r.status !== 0) throw new Error(`${args.join(' ')} failed: ${r.stderr}`);
      times.push(performance.now() - t0);
    }
    return times.sort((a, b) => a - b)[4]!;
  };
  const large = join(root, 'fixtures', 'dockerfiles', 'large', 'Dockerfile');
  console.log(`median wall: node -e 0                         ${wall(['-e', '0']).toFixed(0)} ms`);
  console.log(`median wall: tsbuild --help                      ${wall([bin, '--help']).toFixed(0)} ms`);
  console.log(`median wall: tsbuild parse large/Dockerfile      ${wall([bin, 'parse', large]).toFixed(0)} ms`);
  console.log(`median wall: tsbuild parse --format dump large   ${wall([bin, 'parse', '--format', 'dump', large]).toFixed(0)} ms`);
} else {
  console.log('(run `npm run build` to also measure CLI start-up)');
}
