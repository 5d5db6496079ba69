/**
 * Seeded fuzzing: whatever the input, parsing (raw, dump, typed) either succeeds or throws a located
 * TsbuildError, never anything else, and every input finishes in bounded time.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../helpers/cli.js';
import { dumpAst, parseDockerfile, toInstructions } from '../../src/parser/index.js';
import { TsbuildError } from '../../src/errors.js';
import { mutateDockerfile, prng } from './mutations.js';

function corpus(): Buffer[] {
  const out: Buffer[] = [];
  const shared = join(projectRoot, '..', 'shared', 'conformance', 'parser');
  for (const kind of ['positive', 'negative']) {
    for (const name of readdirSync(join(shared, kind))) out.push(readFileSync(join(shared, kind, name, 'Dockerfile')));
  }
  const fixtures = join(projectRoot, 'fixtures', 'dockerfiles');
  for (const name of readdirSync(fixtures)) out.push(readFileSync(join(fixtures, name, 'Dockerfile')));
  return out;
}

const PIECES = [
  '\\', '\\\n', '`', '"', "'", '[', ']', '{', '}', ',', ':', '<<', '<<-', '<<"E"', '\nE\n', 'EOF', '\n',
  '\r\n', '\r', '#', '# escape=`\n', '--', '--mount=type=cache,target=/x', '=', ' ', '\t', '\v', '$', '${',
  'ONBUILD ', 'FROM a AS b\n', 'RUN ', 'COPY ', 'ENV ', 'HEALTHCHECK CMD ', 'é', '😀', '\u0000', '\ufeff',
  '["a", 1]', '["x"]', 'true', '-1.5e3',
];

function mutate(src: Buffer, rand: () => number): Buffer {
  let s = Buffer.from(src);
  const n = 1 + Math.floor(rand() * 8);
  for (let i = 0; i < n; i++) {
    const at = Math.floor(rand() * (s.length + 1));
    const op = rand();
    if (op < 0.4) {
      const piece = Buffer.from(PIECES[Math.floor(rand() * PIECES.length)]!);
      s = Buffer.concat([s.subarray(0, at), piece, s.subarray(at)]);
    } else if (op < 0.7) {
      s = Buffer.concat([s.subarray(0, at), s.subarray(Math.min(s.length, at + 1 + Math.floor(rand() * 20)))]);
    } else if (op < 0.9 && s.length > 0) {
      s[Math.min(at, s.length - 1)] = Math.floor(rand() * 256);
    } else {
      s = s.subarray(0, at); // truncation
    }
  }
  return s;
}

function check(input: Buffer | string, label: string): void {
  const t0 = performance.now();
  try {
    const r = parseDockerfile(input);
    dumpAst(r);
    toInstructions(r);
  } catch (e) {
    if (!(e instanceof TsbuildError)) {
      assert.fail(`${label}: ${String((e as Error)?.stack ?? e)}\ninput: ${JSON.stringify(String(input).slice(0, 300))}`);
    }
    assert.ok(e.location && e.location.line >= 1 && e.location.column >= 1, `${label}: unlocated ${e.message}`);
    assert.ok(!e.message.includes('\n'), `${label}: multi-line message ${JSON.stringify(e.message)}`);
  }
  const ms = performance.now() - t0;
  assert.ok(ms < 3000, `${label}: took ${ms} ms`);
}

test('fuzz: mutated and truncated real Dockerfiles', () => {
  const rand = prng(0x7b5d);
  const files = corpus();
  for (let i = 0; i < 2500; i++) {
    const src = files[i % files.length]!;
    check(mutate(src, rand), `mutation ${i}`);
  }
});

test('fuzz: structure-aware mutations (the differential fuzzer\'s inputs) keep the parser\'s invariants', () => {
  const rand = prng(0x51ed);
  const seeds = corpus().map((b) => b.toString('utf8'));
  for (let i = 0; i < 1500; i++) {
    const text = mutateDockerfile(seeds[i % seeds.length]!, rand, seeds);
    check(text, `structured ${i}`);
    let fromText: string | undefined;
    try {
      const r = parseDockerfile(text);
      fromText = dumpAst(r);
      // instructions come in file order, each within the file, one logical line or more
      let last = 0;
      const lineCount = text.split('\n').length;
      for (const n of r.nodes) {
        assert.ok(n.range.line > last && n.range.line <= n.range.endLine && n.range.endLine <= lineCount, `structured ${i}: range`);
        last = n.range.endLine;
      }
    } catch (e) {
      if (!(e instanceof TsbuildError)) throw e;
    }
    // bytes and text give the same tree
    let fromBytes: string | undefined;
    try {
      fromBytes = dumpAst(parseDockerfile(Buffer.from(text)));
    } catch (e) {
      if (!(e instanceof TsbuildError)) throw e;
    }
    assert.equal(fromBytes, fromText, `structured ${i}: bytes vs text`);
  }
});

test('fuzz: random bytes and invalid UTF-8', () => {
  const rand = prng(42);
  for (let i = 0; i < 800; i++) {
    const len = Math.floor(rand() * 600);
    const b = Buffer.alloc(len);
    for (let j = 0; j < len; j++) b[j] = rand() < 0.3 ? PIECES.join('').charCodeAt(Math.floor(rand() * 200)) & 0xff : Math.floor(rand() * 256);
    check(Buffer.concat([Buffer.from(i % 2 ? 'FROM a\n' : ''), b]), `random ${i}`);
  }
  check(Buffer.from([0x46, 0x52, 0x4f, 0x4d, 0x20, 0xff, 0xfe, 0x0a, 0x52, 0x55, 0x4e, 0x20, 0xc3, 0x28, 0x0a]), 'invalid utf-8');
});

test('fuzz: deep nesting and huge lines stay bounded', () => {
  check(`FROM a\nCMD ${'['.repeat(60000)}\n`, 'open brackets');
  check(`FROM a\nCMD ${'[{"a":'.repeat(9000)}\n`, 'objects');
  check(`FROM a\n${'ONBUILD '.repeat(8000)}RUN x\n`, 'onbuild chain');
  check(`FROM a\nRUN ${'x'.repeat(1 << 20)}\n`, '1 MB line');
  check(`FROM a\nRUN ${'"'.repeat(60000)}\n`, 'quotes');
  check(`FROM a\nENV ${'a=b\\ '.repeat(15000)}\n`, 'long ENV');
  check(`FROM a\nRUN ${'<<A '.repeat(10000)}\n${'A\n'.repeat(10000)}`, 'many heredocs');
  check('FROM a\n' + 'RUN x \\\n'.repeat(100000), '100k continuations');
  check(`FROM a\nCOPY ${'--a '.repeat(15000)}x y\n`, 'many flags');
  check('\\\n'.repeat(50000), 'only continuations');
});
