#!/usr/bin/env node
// Runs every *.test.ts under the given folder (default: test) with node's own test runner through
// tsx. Node 20's --test takes no recursive globs, so the file list is gathered here.
// Usage: node scripts/run-tests.mjs [DIR] [SUBSTRING...]  (substrings filter file paths)
import { readdirSync, statSync } from 'node:fs';
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
const args = ['--import', 'tsx', '--test', '--test-reporter=spec', '--test-concurrency=2', ...files];
const r = spawnSync(process.execPath, args, { stdio: 'inherit' });
process.exit(r.status ?? 1);
