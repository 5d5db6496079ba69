#!/usr/bin/env node
// Bundles the CLI (src/cli/main.ts and everything it imports, dependencies included) into one
// CommonJS file, dist/bundle/tsbuild.cjs, which bin/tsbuild.js runs through a V8 code cache.
// One file compiles and links in a fraction of the time of ~90 ES modules resolved one by one.
//
// - CommonJS, because only a classic script can be compiled with vm.Script's cachedData.
// - Two directories below the project root, like src/cli/ and dist/cli/, so code that finds
//   native/build/* or package.json from `import.meta.url` finds the same files.
// - The first line names the build (`//tsbuild-bundle <sha256 of the rest>`); the launcher keys its
//   code cache on it, so a cache made for another bundle is never offered to V8.
// - The file holds the CommonJS wrapper itself (after the id line(s), `(function (exports, require,
//   module, __filename, __dirname) {` ... `\n})`): the launcher compiles the file's text as it is,
//   mapped into memory (fsx.node's mapLatin1), with no concatenation for V8 to flatten into a copy;
//   stack traces' line numbers are the file's own.
// - Not minified: stack traces and --cpu-prof show the real function names and readable lines.
// Usage: node scripts/bundle.mjs [--outfile FILE]   (run by `npm run build`)
import { createHash } from 'node:crypto';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const at = process.argv.indexOf('--outfile');
const outFile = at > 0 ? resolve(process.argv[at + 1]) : join(root, 'dist', 'bundle', 'tsbuild.cjs');

// src/parser/chevrotain.ts picks chevrotain's prebuilt single file at run time with a top-level
// await (not allowed in CommonJS); inside the bundle the package is simply bundled, and evaluated
// on the first look-up of one of its names (a require(), which esbuild makes a lazy init): the
// parser makes its tokens and grammar on first use (lexer.ts, grammar.ts), and most Dockerfiles
// never need them, so a build never pays for evaluating Chevrotain (~5 ms).
const chevrotainShim = {
  name: 'chevrotain-shim',
  setup(b) {
    b.onLoad({ filter: /[\\/]src[\\/]parser[\\/]chevrotain\.ts$/ }, () => ({
      contents: [
        'let c;',
        "const load = () => (c ??= require('chevrotain'));",
        'export const chevrotain = new Proxy({}, { get: (_, k) => load()[k], has: (_, k) => k in load() });',
        '',
      ].join('\n'),
      loader: 'ts',
      resolveDir: join(root, 'src', 'parser'),
    }));
  },
};

// Node's built-in modules load when first used, not when the bundle starts: a `ps` never sets up
// node:crypto, node:child_process (and net, dgram with it), node:zlib or node:fs/promises, ~15 ms
// of a 0.2 s start. An import of one of them resolves to a stand-in: an object without properties
// of its own whose prototype is a Proxy that requires the real module on the first look-up of a
// name (esbuild reads imported names at use, `(0, m.spawn)(...)`, and the namespace it wraps each
// import in, `__toESM`, inherits from the stand-in's prototype and copies nothing). Modules Node
// has loaded before any user code are imported as they are: nothing to save there.
const EAGER_BUILTINS = new Set(['fs', 'path', 'url', 'events', 'buffer', 'util', 'timers', 'module', 'vm', 'process', 'async_hooks', 'querystring']);
const lazyBuiltins = {
  name: 'lazy-builtins',
  setup(b) {
    b.onResolve({ filter: /^(node:)?[a-z_/]+$/ }, (a) => {
      const name = a.path.replace(/^node:/, '');
      if (!builtinModules.includes(name)) return undefined;
      // the stand-in's own require, and the modules that need no stand-in, stay plain requires
      if (a.namespace === 'lazy-builtin' || EAGER_BUILTINS.has(name)) return { path: `node:${name}`, external: true };
      return { path: name, namespace: 'lazy-builtin' };
    });
    b.onLoad({ filter: /.*/, namespace: 'lazy-builtin' }, (a) => ({
      loader: 'js',
      contents: [
        `let real;`,
        `const load = () => (real ??= require(${JSON.stringify(`node:${a.path}`)}));`,
        `module.exports = Object.create(new Proxy({}, { get: (_, k) => load()[k], has: (_, k) => k in load() }));`,
        '',
      ].join('\n'),
    }));
  },
};

// The whole CLI, a second bundle for the container commands only (bin/tsbuild.js picks it for
// them): main.ts leaves the builder, parser and registry commands out of it when
// __TSBUILD_CONTAINERS_BUNDLE__ is true, so a `ps` loads half the code; and a third for
// `tsbuild build` (__TSBUILD_BUILD_BUNDLE__): the container commands, images' and registry's
// commands left out, a quarter less to read and a tenth less code cache to load at every build's
// start. The build bundle names the whole one it was made with on its second line
// (`//tsbuild-main <id>`): the launcher runs it only beside that one, and a build's memo record
// names that one (build-memo.ts), which is what bin/tsbuild's front reads.
// Node's CommonJS wrapper, written into the file (bin/tsbuild.js calls what the script returns)
const WRAPPER_HEAD = '(function (exports, require, module, __filename, __dirname) {';
let mainId;
for (const [file, containersOnly, buildOnly] of [
  [outFile, false, false],
  [outFile.replace(/\.cjs$/, '') + '-containers.cjs', true, false],
  [outFile.replace(/\.cjs$/, '') + '-build.cjs', false, true],
]) {
  const result = await build({
    entryPoints: [join(root, 'src', 'cli', 'main.ts')],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    write: false,
    outfile: file,
    logLevel: 'warning',
    // `import('node:https')` etc. become require(): a vm.Script has no ES module loader behind it
    supported: { 'dynamic-import': false },
    define: { 'import.meta.url': '__tsbuildBundleUrl', __TSBUILD_CONTAINERS_BUNDLE__: String(containersOnly), __TSBUILD_BUILD_BUNDLE__: String(buildOnly) },
    banner: { js: 'var __tsbuildBundleUrl = require("node:url").pathToFileURL(__filename).href;' },
    plugins: [chevrotainShim, lazyBuiltins],
    legalComments: 'none',
  });

  // ASCII only, so that the launcher reads it as latin1 into a one-byte string (no UTF-8 decoding,
  // half the memory): esbuild escapes strings and identifiers already, this catches the comments
  const code = result.outputFiles[0].text.replace(/[^\0-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  // the id is the hash of everything after its line: the wrapper and the code (and the build
  // bundle's `//tsbuild-main` line)
  const text = `${buildOnly ? `//tsbuild-main ${mainId}\n` : ''}${WRAPPER_HEAD}\n${code}\n})\n`;
  const id = createHash('sha256').update(text).digest('hex');
  mainId ??= id;
  mkdirSync(dirname(file), { recursive: true });
  // Always a new file renamed over the old, never a rewrite in place: a running tsbuild reads its
  // bundle through a mapping of the file (bin/tsbuild.js), and one truncated under it would die of
  // SIGBUS on its next lazily compiled function.
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `//tsbuild-bundle ${id}\n${text}`);
  renameSync(tmp, file);
  console.log(`bundled ${file} (${(text.length / 1024).toFixed(0)} KiB)`);
}
