#!/usr/bin/env node
// Runs every *.test.ts under the given folder (default: test) with node's own test runner through
// tsx. Node 20's --test takes no recursive globs, so the file list is gathered here.
// Usage: node scripts/run-tests.mjs [DIR] [SUBSTRING...]  (substrings filter file paths)
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const [dir = 'test', ...filters] = process.argv.slice(2);

function walk(d) {
  let out = [];
  for (const name of readdirSync(d).sort()) {
    const p = join(d, name);
    if (statSync(p).isDirectory()) out = out.concat(walk(p));
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

let files;
try {
  files = walk(dir);
} catch {
  files = [];
}
if (filters.length) files = files.filter((f) => filters.some((s) => f.includes(s)));
if (files.length === 0) {
  console.error(`no test files under ${dir}`);
  process.exit(dir === 'test' ? 1 : 0);
}
// RUN steps (and containers) put tsbuild's bridge and NAT tables on the host, as Docker leaves
// docker0: a suite run that made them takes them away again, so a test machine keeps nothing
const bridgeBefore = existsSync('/sys/class/net/tsbuild0');
const args = ['--import', 'tsx', '--test', '--test-reporter=spec', '--test-concurrency=2', ...files];
const r = spawnSync(process.execPath, args, { stdio: 'inherit' });
if (!bridgeBefore && existsSync('/sys/class/net/tsbuild0')) {
  const remove = "const { BridgeNetwork } = await import('./src/runtime/network.ts'); await new BridgeNetwork().remove();";
  spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', remove], { stdio: 'inherit' });
}
process.exit(r.status ?? 1);
