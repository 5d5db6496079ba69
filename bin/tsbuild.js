#!/usr/bin/env node
// Runs the CLI. `npm run build` makes dist/bundle/tsbuild.cjs, the whole CLI in one file
// (scripts/bundle.mjs); it is compiled here through a V8 code cache kept in the user's cache
// directory, so a start skips most parsing and compiling. Everything about that cache is
// best-effort: one that is missing, stale, truncated, corrupt or made by another Node is ignored
// (and replaced), never trusted and never fatal. Without a bundle, the tsc output (dist/cli) runs.
// `bin/tsbuild` (the installed command) starts this file without Node's NODE_EXTRA_CA_CERTS cost.
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';

const bundles = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'bundle');
let bundle = join(bundles, 'tsbuild.cjs');
// The container commands run from a bundle without the builder (scripts/bundle.mjs): half the code
// to load. A command missing here simply runs from the whole one.
const CONTAINER_COMMANDS = new Set(['run', 'create', 'exec', 'ps', 'start', 'stop', 'restart', 'kill', 'rm', 'wait', 'rename', 'logs', 'top', 'commit', 'attach', 'cp', 'diff', 'inspect', 'port', 'stats', 'update', 'pause', 'unpause', 'container', 'volume', 'network']);

async function runBundle(src) {
  // `//tsbuild-bundle <sha256>`: the bundle's identity, written by scripts/bundle.mjs
  const id = /^\/\/tsbuild-bundle ([0-9a-f]{64})\n/.exec(src)?.[1];
  const cache = id ? cacheFile(id) : undefined;
  const cached = cache ? readCache(cache, id) : undefined;
  // No newline after the wrapper's head: line numbers in stack traces are the bundle's own.
  const script = new vm.Script(`(function (exports, require, module, __filename, __dirname) {${src}\n})`, {
    filename: bundle,
    cachedData: cached?.data,
  });
  const mod = { exports: {} };
  script.runInThisContext().call(mod.exports, mod.exports, createRequire(bundle), mod, bundle, dirname(bundle));
  const kind = commandKind(process.argv);
  const code = await mod.exports.main(process.argv);
  process.exitCode = code;
  // A cache is made when there is none that V8 accepted, or when one made by a short command
  // (few functions compiled) can be replaced by one made after a build.
  if (cache && (!cached || script.cachedDataRejected || (cached.kind !== 'build' && kind === 'build'))) {
    writeCache(cache, id, kind, script.createCachedData());
  }
}

/** `build` for the commands that build (the default command), else `other`. */
function commandKind(argv) {
  const other = new Set(['parse', 'import', 'load', 'save', 'images', 'history', 'inspect', 'tag', 'rmi', 'prune', 'pull', 'push', 'login', 'logout', 'help']);
  for (let i = 2; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--root') i++;
    else if (!a.startsWith('-')) return other.has(a) ? 'other' : 'build';
    else if (a === '-h' || a === '--help' || a === '-v' || a === '--version') return 'other';
  }
  return 'other';
}

// ---------------------------------------------------------------------------------------------
// The cache file: MAGIC, kind (1 byte), payload length (u32 LE), CRC-32 of the payload (u32 LE),
// the bundle id (64 hex), then V8's code cache. V8 checks its own version, flags and the source
// length, but not (in release builds) that the payload is intact — the CRC does.

const MAGIC = 'tsbuild-v8cache1';
const HEAD = MAGIC.length + 1 + 4 + 4 + 64;

function cacheFile(id) {
  const base = process.env.XDG_CACHE_HOME || (process.env.HOME ? join(process.env.HOME, '.cache') : undefined);
  if (!base) return undefined;
  // Node's version and the CPU are in the name too: another Node makes another file.
  return join(base, 'tsbuild', `v8-${id.slice(0, 16)}-${process.version}-${process.arch}.bin`);
}

function readCache(file, id) {
  try {
    const buf = readFileSync(file);
    if (buf.length < HEAD || buf.toString('latin1', 0, MAGIC.length) !== MAGIC) return undefined;
    let o = MAGIC.length;
    const kind = buf[o] === 1 ? 'build' : 'other';
    const len = buf.readUInt32LE(o + 1);
    const crc = buf.readUInt32LE(o + 5);
    o += 9;
    if (buf.toString('latin1', o, o + 64) !== id || buf.length !== HEAD + len) return undefined;
    const data = buf.subarray(HEAD);
    if (checksum(data) !== crc) return undefined;
    return { kind, data };
  } catch {
    return undefined;
  }
}

function writeCache(file, id, kind, data) {
  let tmp;
  try {
    const head = Buffer.alloc(HEAD);
    let o = head.write(MAGIC, 0, 'latin1');
    head[o] = kind === 'build' ? 1 : 0;
    head.writeUInt32LE(data.length, o + 1);
    head.writeUInt32LE(checksum(data), o + 5);
    head.write(id, o + 9, 'latin1');
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    // written whole under a private name, then renamed: a reader sees the old file or the new one
    tmp = `${file}.${process.pid}.tmp`;
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeSync(fd, head);
      writeSync(fd, data);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
    tmp = undefined;
    pruneOld(dirname(file), file);
  } catch {
    // no cache this time (read-only home, full disk, ...)
  } finally {
    if (tmp) try { unlinkSync(tmp); } catch {}
  }
}

/** Caches of other bundles or Nodes untouched for a week go (a leftover .tmp after a day). */
function pruneOld(dir, keep) {
  const now = Date.now();
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (p === keep || !name.startsWith('v8-')) continue;
    try {
      const age = now - statSync(p).mtimeMs;
      if (age > (name.endsWith('.tmp') ? 86_400_000 : 7 * 86_400_000)) unlinkSync(p);
    } catch {}
  }
}

/** CRC-32 where this Node has zlib.crc32 (20.15+), else the first 4 bytes of a SHA-256. */
function checksum(data) {
  const require = createRequire(import.meta.url);
  const zlib = require('node:zlib');
  if (typeof zlib.crc32 === 'function') return zlib.crc32(data) >>> 0;
  return require('node:crypto').createHash('sha256').update(data).digest().readUInt32LE(0);
}

// ---------------------------------------------------------------------------------------------
// Last, so that every declaration above is initialised before the CLI runs.

let source;
const word = process.argv.slice(2).find((a, i, all) => !a.startsWith('-') && all[i - 1] !== '--root');
for (const file of CONTAINER_COMMANDS.has(word) ? [join(bundles, 'tsbuild-containers.cjs'), bundle] : [bundle]) {
  try {
    source = readFileSync(file, 'utf8');
    bundle = file;
    break;
  } catch {
    source = undefined;
  }
}
if (source === undefined) {
  const { main } = await import('../dist/cli/main.js');
  process.exitCode = await main(process.argv);
} else {
  await runBundle(source);
}
