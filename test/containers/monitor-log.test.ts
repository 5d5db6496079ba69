/**
 * The monitor's json-file writer (native/jsonlog.c) against src/containers/json-log.ts: the same
 * chunks at the same times give the same bytes — escaping, 16 KiB pieces, UTF-8 cuts, a last line
 * without newline, and rotation by max-size/max-file.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JsonLogWriter } from '../../src/containers/json-log.js';
import { sandboxHelperPath } from '../../src/runtime/sandbox.js';

type Op = { op: 'w'; stream: 0 | 1; time: bigint; data: Buffer } | { op: 'e'; stream: 0 | 1 };

function both(ops: Op[], maxSize: number, maxFile: number): { ts: Map<string, string>; c: Map<string, string> } {
  const dir = mkdtempSync(join(tmpdir(), 'tsb-monlog-'));
  try {
    const w = JsonLogWriter.open(join(dir, 'ts', 'x-json.log').replace('/ts/', '/ts-'), { maxSize, maxFile });
    const frames: Buffer[] = [];
    for (const o of ops) {
      const h = Buffer.alloc(14);
      h[0] = o.op.charCodeAt(0);
      h[1] = o.stream;
      if (o.op === 'w') {
        h.writeBigInt64LE(o.time, 2);
        h.writeUInt32LE(o.data.length, 10);
        frames.push(h, o.data);
        w.write(o.stream ? 'stderr' : 'stdout', o.data, o.time);
      } else {
        frames.push(h);
        w.endStream(o.stream ? 'stderr' : 'stdout');
      }
    }
    w.close();
    const r = spawnSync(sandboxHelperPath(), ['jsonlog', join(dir, 'c-x-json.log'), String(maxSize), String(maxFile)], { input: Buffer.concat(frames) });
    assert.equal(r.status, 0, r.stderr.toString());
    const read = (prefix: string) => new Map(readdirSync(dir).filter((n) => n.startsWith(prefix)).map((n) => [n.slice(prefix.length), readFileSync(join(dir, n), 'latin1')]));
    return { ts: read('ts-'), c: read('c-') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const T0 = BigInt(Date.parse('2024-05-01T12:00:00Z')) * 1_000_000n;

test('escaping, 16 KiB pieces, UTF-8 cuts and unfinished lines: C writes what TypeScript writes', () => {
  const ops: Op[] = [
    { op: 'w', stream: 0, time: T0 + 500_000_000n, data: Buffer.from('hello\n') },
    { op: 'w', stream: 1, time: T0 + 1n, data: Buffer.concat([Buffer.from('<a&b>\t"x"\\\r\u2028é'), Buffer.from([0xff, 0xc3]), Buffer.from('\n\x01')]) },
    { op: 'w', stream: 0, time: T0 + 2_000_000_000n, data: Buffer.from('a'.repeat(40000) + '\n' + 'b'.repeat(16384) + '\n') },
    { op: 'w', stream: 0, time: T0 + 3_000_000_000n, data: Buffer.from('c'.repeat(16383) + 'é€😀\n') },
    ...Array.from({ length: 20 }, (_, i): Op => ({ op: 'w', stream: 1, time: T0 + BigInt(i) * 7n, data: Buffer.from('d'.repeat(999) + 'é') })),
    { op: 'w', stream: 1, time: T0 + 99n, data: Buffer.from('\n') },
    { op: 'w', stream: 0, time: T0 + 4_000_000_000n, data: Buffer.from('no newline') },
    { op: 'e', stream: 0 },
    { op: 'e', stream: 1 },
  ];
  const { ts, c } = both(ops, -1, 1);
  assert.deepEqual([...c.keys()], ['x-json.log']);
  assert.equal(c.get('x-json.log'), ts.get('x-json.log'));
});

test('rotation by max-size and max-file: the same files with the same bytes', () => {
  const ops: Op[] = [];
  let seed = 7;
  const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff), seed % n);
  for (let i = 0; i < 400; i++) {
    const len = rnd(3000);
    const data = Buffer.alloc(len);
    for (let k = 0; k < len; k++) data[k] = rnd(10) === 0 ? 10 : rnd(5) === 0 ? 0xc3 + rnd(40) : 0x20 + rnd(90);
    ops.push({ op: 'w', stream: (rnd(2) as 0 | 1), time: T0 + BigInt(i) * 1_000_123n, data });
  }
  for (const [size, files] of [[10_000, 3], [4096, 1], [50_000, 5]] as const) {
    const { ts, c } = both(ops, size, files);
    assert.deepEqual([...c.keys()].sort(), [...ts.keys()].sort());
    for (const [name, text] of ts) assert.equal(c.get(name), text, `${name} (max-size ${size}, max-file ${files})`);
  }
});
