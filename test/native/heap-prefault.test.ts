/**
 * fsx.node's prefaultHeap (native/heap-prefault.c), which bin/tsbuild calls at the start of a build:
 * a thread of its own makes V8's heap pages (256 KiB private anonymous mappings) resident, the
 * young generation's included, so the main thread does not take their first-touch faults.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const addon = join(import.meta.dirname, '..', '..', 'native', 'build', 'fsx.node');

/** In a fresh Node (young generation of 8 MiB, as bin/tsbuild starts it): the 256 KiB anonymous
 *  rw mappings' resident KiB, before and some time after prefaultHeap (or without it). */
function residency(prefault: boolean): { calls: boolean[]; before: number[]; after: number[] } {
  const script = `
    const { readFileSync } = require('node:fs');
    const pages = () => {
      const out = []; let cur;
      for (const l of readFileSync('/proc/self/smaps', 'utf8').split('\\n')) {
        const m = /^([0-9a-f]+)-([0-9a-f]+) (\\S+) \\S+ \\S+ (\\d+)\\s*(.*)$/.exec(l);
        if (m) { cur = parseInt(m[2], 16) - parseInt(m[1], 16) === 262144 && m[3] === 'rw-p' && m[4] === '0' && !m[5] ? {} : undefined; if (cur) out.push(cur); continue; }
        const r = /^Rss:\\s+(\\d+) kB/.exec(l); if (r && cur) cur.rss = Number(r[1]);
      }
      return out.map((p) => p.rss);
    };
    const before = pages();
    const f = require(${JSON.stringify(addon)});
    const calls = ${prefault} ? [f.prefaultHeap(), f.prefaultHeap()] : [];
    setTimeout(() => process.stdout.write(JSON.stringify({ calls, before, after: pages() })), 300);
  `;
  const r = spawnSync(process.execPath, ['--min-semi-space-size=8', '-e', script], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

test('prefaultHeap makes the heap pages that exist resident from a thread, once per process', () => {
  const without = residency(false);
  const untouched = without.after.filter((kb) => kb < 256).length;
  assert.ok(without.after.length >= 20 && untouched >= 10, `V8 has pages not yet touched (${untouched} of ${without.after.length})`);
  const r = residency(true);
  assert.deepEqual(r.calls, [true, false], 'started by the first call only');
  const resident = r.after.filter((kb) => kb === 256).length;
  // pages V8 mapped after the thread read the maps may still be partly untouched: nearly all are whole
  assert.ok(resident >= r.before.length - 2, `${resident} of ${r.after.length} pages resident (${r.before.length} existed at the call)`);
});
