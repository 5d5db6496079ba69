#!/usr/bin/env node
// Runs every *.test.ts under the given folder (default: test) with node's own test runner through
// tsx. Node 20's --test takes no recursive globs, so the file list is gathered here.
// Usage: node scripts/run-tests.mjs [DIR] [SUBSTRING...]  (substrings filter file paths)
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
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
// user networks' bridges (tsb-*), nft tables (tsb_*) and state files left by failed network tests
const userNets = () => {
  const ls = (d) => { try { return readdirSync(d); } catch { return []; } };
  const tables = spawnSync('nft', ['list', 'tables'], { encoding: 'utf8' }).stdout ?? '';
  return [
    ...ls('/sys/class/net').filter((n) => n.startsWith('tsb-')).map((n) => `link ${n}`),
    ...[...tables.matchAll(/^table (ip6?) (tsb_[0-9a-f]+)$/gm)].map((m) => `table ${m[1]} ${m[2]}`),
    ...ls('/run/tsbuild').filter((n) => /^tsb-.*\.json$/.test(n)).map((n) => `state ${n}`),
    ...ls('/run/tsbuild/ipam').filter((n) => n.startsWith('tsb-')).map((n) => `ipam ${n}`),
  ];
};
const userNetsBefore = new Set(userNets());
const args = ['--import', 'tsx', '--test', '--test-reporter=spec', '--test-concurrency=2', ...files];
const r = spawnSync(process.execPath, args, { stdio: 'inherit' });
if (!bridgeBefore && existsSync('/sys/class/net/tsbuild0')) {
  const remove = "const { BridgeNetwork } = await import('./src/runtime/network.ts'); await new BridgeNetwork().remove();";
  spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', remove], { stdio: 'inherit' });
}
// only after a whole-suite run (a filtered run may overlap another one's networks), and never a
// bridge that still has ports
for (const what of filters.length ? [] : userNets().filter((x) => !userNetsBefore.has(x))) {
  const [kind, a, b] = what.split(' ');
  if (kind === 'link' && readdirSync(`/sys/class/net/${a}/brif`).length) continue;
  if (kind === 'link') spawnSync('ip', ['link', 'del', 'dev', a]);
  else if (kind === 'table') spawnSync('nft', ['delete', 'table', a, b]);
  else if (kind === 'state') rmSync(`/run/tsbuild/${a}`, { force: true });
  else rmSync(`/run/tsbuild/ipam/${a}`, { recursive: true, force: true });
}
process.exit(r.status ?? 1);
