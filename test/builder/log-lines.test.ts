/** RUN output cut into lines (16 KiB at most, as Docker's log copier) and secrets masked in it. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LOG_LINE_MAX, LineSplitter, type Redactor } from '../../src/builder/log-lines.js';
import { redactorFor } from '../../src/builder/secret-redaction.js';

/** Feeds `chunks` through a splitter and returns every line it handed on. */
function split(chunks: Array<string | Buffer>, redactor?: Redactor): string[] {
  const lines: string[] = [];
  const s = new LineSplitter((l) => lines.push(...l), redactor);
  for (const c of chunks) s.write(Buffer.isBuffer(c) ? c : Buffer.from(c));
  s.end();
  return lines;
}

test('lines: split on newlines across chunks; a last line without newline is kept; empty lines stay', () => {
  assert.deepEqual(split(['ab', 'c\nd', 'e\n\nf']), ['abc', 'de', '', 'f']);
  assert.deepEqual(split(['x\n']), ['x']);
  assert.deepEqual(split([]), []);
});

test('lines: a line longer than 16 KiB comes in 16 KiB pieces, nothing lost, cut on UTF-8 boundaries', () => {
  const long = 'a'.repeat(LOG_LINE_MAX * 3 + 5);
  // fed in odd-sized chunks: the cuts do not depend on how the pipe delivered the bytes
  const buf = Buffer.from(long + '\nend\n');
  const chunks: Buffer[] = [];
  for (let i = 0; i < buf.length; i += 7000) chunks.push(buf.subarray(i, i + 7000));
  const lines = split(chunks);
  assert.deepEqual(lines.map((l) => l.length), [LOG_LINE_MAX, LOG_LINE_MAX, LOG_LINE_MAX, 5, 3]);
  // a 3-byte character straddling the 16 KiB mark is not split into two halves
  const utf = 'b'.repeat(LOG_LINE_MAX - 1) + '€' + 'c';
  const pieces = split([utf]);
  assert.deepEqual(pieces, ['b'.repeat(LOG_LINE_MAX - 1), '€c']);
});

test('redaction: every secret value is masked, also across chunk and 16 KiB boundaries', () => {
  const r = redactorFor([Buffer.from('hunter2-token\n'), Buffer.from('-----BEGIN KEY-----\nAAAAsecretline\n}\n')])!;
  assert.deepEqual(split(['pw=hun', 'ter2-token ok\n', 'AAAAsecretline } {\n'], r), ['pw=**** ok', '**** } {']);
  // a chunk ending in the secret's first bytes, long enough to be cut into 16 KiB pieces at once
  const head = 'z'.repeat(LOG_LINE_MAX * 3 - 4) + 'hunt';
  const out = split([head, 'er2-token' + 'y'.repeat(LOG_LINE_MAX)], r);
  assert.ok(out.every((l) => Buffer.byteLength(l) <= LOG_LINE_MAX));
  assert.equal(out.join(''), 'z'.repeat(LOG_LINE_MAX * 3 - 4) + '****' + 'y'.repeat(LOG_LINE_MAX));
});
