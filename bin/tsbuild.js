#!/usr/bin/env node
// Runs the CLI. `npm run build` makes dist/bundle/tsbuild.cjs, the whole CLI in one file
// (scripts/bundle.mjs); it is compiled here through a V8 code cache kept in the user's cache
// directory, so a start skips most parsing and compiling. Everything about that cache is
// best-effort: one that is missing, stale, truncated, corrupt or made by another Node is ignored
// (and replaced), never trusted and never fatal. Without a bundle, the tsc output (dist/cli) runs.
// `bin/tsbuild` (the installed command) starts this file without Node's NODE_EXTRA_CA_CERTS cost.
// CommonJS (bin/package.json says so): an ES module entry would set up Node's ESM loader and the
// ES facades of node:fs and friends before the first line runs, ~15 ms of every start.
'use strict';
const { closeSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, renameSync, statSync, unlinkSync, writeSync } = require('node:fs');
const { createRequire } = require('node:module');
const { dirname, join } = require('node:path');
const vm = require('node:vm');

const bundles = join(__dirname, '..', 'dist', 'bundle');
const whole = join(bundles, 'tsbuild.cjs');
let bundle = whole;
// The container commands run from a bundle without the builder (scripts/bundle.mjs): half the code
// to load; `build` from one without the container, image and registry commands. A command missing
// here simply runs from the whole one (so does a build when its bundle is missing or not the whole
// one's: besideItsWhole).
const CONTAINER_COMMANDS = new Set(['run', 'create', 'exec', 'ps', 'start', 'stop', 'restart', 'kill', 'rm', 'wait', 'rename', 'logs', 'top', 'commit', 'attach', 'cp', 'diff', 'inspect', 'port', 'stats', 'update', 'pause', 'unpause', 'container', 'volume', 'network']);

/** Runs the bundle SRC; TAG names the command in its cache file, if it gets a cache of its own. */
async function runBundle(src, tag) {
  // `//tsbuild-bundle <sha256>`: the bundle's identity, written by scripts/bundle.mjs
  const id = /^\/\/tsbuild-bundle ([0-9a-f]{64})\n/.exec(src)?.[1];
  const cache = id ? cacheFile(id, tag) : undefined;
  if (cache && !process.execArgv.includes('--verify-snapshot-checksum')) require('node:v8').setFlagsFromString('--verify-snapshot-checksum');
  const cached = cache ? readCache(cache, id) : undefined;
  // The file holds the CommonJS wrapper itself (scripts/bundle.mjs): its text is compiled as it
  // is (no concatenation, which V8 would flatten into a copy), and stack traces' line numbers are
  // the file's own.
  const script = new vm.Script(src, { filename: bundle, cachedData: cached?.data });
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
  // Once nothing is left to run (background removals and commits included: 'beforeExit' comes
  // only when the event loop is empty), leave through process.exit: the 'exit' listeners run as
  // on any exit, but Node skips freeing the heap and the isolate one page at a time, which the
  // kernel does at once (~10 ms after a build). Registered now, it is the last such listener.
  process.once('beforeExit', () => process.exit());
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
// The cache file: MAGIC, kind (1 byte), payload length (u32 LE), the bundle id (64 hex), then V8's
// code cache. V8 checks its own version, flags and the source length, and — with
// --verify-snapshot-checksum, which release builds leave off — a checksum of the payload: without
// it, a corrupt payload crashes V8 while deserializing. `bin/tsbuild` starts Node with the flag
// (free at start); started otherwise, runBundle sets it before any cache is read or made, which
// costs loading node:v8. Both ways V8 sees the same flags, so both use the same cache.

const MAGIC = 'tsbuild-v8cache2';
const HEAD = MAGIC.length + 1 + 4 + 64;

function cacheFile(id, tag) {
  const base = process.env.XDG_CACHE_HOME || (process.env.HOME ? join(process.env.HOME, '.cache') : undefined);
  if (!base) return undefined;
  // Node's version and the CPU are in the name too: another Node makes another file. So are Node's
  // flags (bin/tsbuild's, --cpu-prof, ...): V8 refuses a cache made under other flags, and two
  // ways of starting would otherwise replace each other's file on every run.
  return join(base, 'tsbuild', `v8-${id.slice(0, 16)}-${tag ? `${tag}-` : ''}${flagsTag()}${process.version}-${process.arch}.bin`);
}

/** `f` and a 32-bit FNV-1a hash of Node's command-line flags, or nothing without any. */
function flagsTag() {
  if (process.execArgv.length === 0) return '';
  let h = 0x811c9dc5;
  for (const c of process.execArgv.join(' ')) h = Math.imul(h ^ c.charCodeAt(0), 0x01000193) >>> 0;
  return `f${h.toString(16).padStart(8, '0')}-`;
}

function readCache(file, id) {
  try {
    const buf = readFileSync(file);
    if (buf.length < HEAD || buf.toString('latin1', 0, MAGIC.length) !== MAGIC) return undefined;
    const o = MAGIC.length;
    const kind = buf[o] === 1 ? 'build' : 'other';
    if (buf.toString('latin1', o + 5, o + 69) !== id || buf.length !== HEAD + buf.readUInt32LE(o + 1)) return undefined;
    return { kind, data: buf.subarray(HEAD) };
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
    head.write(id, o + 5, 'latin1');
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
    pruneOld(dirname(file), id);
  } catch {
    // no cache this time (read-only home, full disk, ...)
  } finally {
    if (tmp) try { unlinkSync(tmp); } catch {}
  }
}

/** Caches of other bundles or Nodes untouched for a week go (a leftover .tmp after a day); this
 *  bundle's other commands' caches stay, however old (each is written once). */
function pruneOld(dir, id) {
  const now = Date.now();
  const mine = (name) => name.startsWith(`v8-${id.slice(0, 16)}-`) && name.endsWith(`-${process.version}-${process.arch}.bin`);
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (!name.startsWith('v8-') || mine(name)) continue;
    try {
      const age = now - statSync(p).mtimeMs;
      if (age > (name.endsWith('.tmp') ? 86_400_000 : 7 * 86_400_000)) unlinkSync(p);
    } catch {}
  }
}

/** Whether the build bundle SRC was made with the whole bundle beside it (its second line names
 *  that one's id): a build never runs code of another version than the rest of the install, and
 *  its memo records name the whole bundle, which bin/tsbuild's front reads. */
function besideItsWhole(src, wholeFile) {
  const main = /^\/\/tsbuild-bundle [0-9a-f]{64}\n\/\/tsbuild-main ([0-9a-f]{64})\n/.exec(src)?.[1];
  if (!main) return false;
  const head = Buffer.alloc(82);
  const fd = openSync(wholeFile, 'r');
  try {
    readSync(fd, head, 0, 82, 0);
  } finally {
    closeSync(fd);
  }
  return head.toString('latin1') === `//tsbuild-bundle ${main}\n`;
}

// ---------------------------------------------------------------------------------------------
// Last, so that every declaration above is initialised before the CLI runs.

// fsx.node maps the bundle into memory as the V8 string itself (mapLatin1): reading it would
// touch ~1.5 MB of fresh memory twice (the read buffer, the string), ~2.5 ms per MiB on tsbuild's
// CI machine kind (a paravirtualised guest). A build also has its heap's pages made resident on a
// thread of its own (native/heap-prefault.c) while this thread loads the bundle. Without the addon
// (not built yet), or a Node without external latin1 strings, the bundle is read as before.
// Loading the addon costs a `--version` ~2 ms, mapping saves it ~14 (the 1.6 MB whole bundle); the
// container commands and builds load the addon anyway.
let fsx;
try {
  fsx = require(join(__dirname, '..', 'native', 'build', 'fsx.node'));
  if (commandKind(process.argv) === 'build') fsx.prefaultHeap?.();
} catch {}

/** FILE's text: ASCII (scripts/bundle.mjs escapes the rest), so latin1 is the same text as UTF-8
 *  would give, without decoding, in a one-byte string. Throws when it cannot be read. */
function bundleText(file) {
  let text;
  try {
    text = fsx?.mapLatin1?.(file);
  } catch {}
  return typeof text === 'string' ? text : readFileSync(file, 'latin1');
}

let source;
const words = process.argv.slice(2).filter((a, i, all) => !a.startsWith('-') && all[i - 1] !== '--root');
const word = words[0];
const buildBundle = join(bundles, 'tsbuild-build.cjs');
const candidates = CONTAINER_COMMANDS.has(word) ? [join(bundles, 'tsbuild-containers.cjs'), whole] : word === 'build' ? [buildBundle, whole] : [whole];
for (const file of candidates) {
  try {
    source = bundleText(file);
    if (file === buildBundle && !besideItsWhole(source, whole)) throw new Error('another build bundle');
    bundle = file;
    break;
  } catch {
    source = undefined;
  }
}
// no top-level await in CommonJS: a rejection here is unhandled, as it was with one
if (source === undefined) {
  import('../dist/cli/main.js').then(async ({ main }) => {
    process.exitCode = await main(process.argv);
  });
} else {
  // Each container command has a code cache of its own: V8 deserializes the functions that
  // command ran (a `ps` after a `run` would otherwise load run's and compile its own: ~8% more CPU).
  // `container ls` is its own too; a group's unknown word shares the group's.
  const sub = ['container', 'volume', 'network'].includes(word) && /^[a-z]{1,16}$/.test(words[1] ?? '') ? `${word}-${words[1]}` : word;
  runBundle(source, bundle.endsWith('-containers.cjs') ? sub : bundle === buildBundle ? 'build' : undefined);
}
