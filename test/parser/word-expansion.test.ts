import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ShellLex, expandWord } from '../../src/parser/word-expansion.js';
import { TsbuildError } from '../../src/errors.js';
import { sharedDir } from '../helpers/fixtures.js';

const shellDir = join(sharedDir, 'conformance', 'shell');

function isInvalid(e: unknown): boolean {
  return e instanceof TsbuildError && e.code === 'INVALID';
}

test('envVarTest: every A and U line', () => {
  const env = new Map([
    ['PWD', '/home'],
    ['SHELL', 'bash'],
    ['KOREAN', '한국어'],
    ['NULL', ''],
  ]);
  const lex = new ShellLex('\\');
  const lines = readFileSync(join(shellDir, 'envVarTest'), 'utf8').split('\n');
  let checked = 0;
  const failures: string[] = [];
  lines.forEach((line, i) => {
    if (line.trim() === '' || line.startsWith('#')) return;
    const fields = line.split('|');
    assert.equal(fields.length, 3, `line ${i + 1} malformed: ${line}`);
    const platform = fields[0]!.trim();
    if (platform === 'W') return;
    assert.ok(platform === 'A' || platform === 'U', `line ${i + 1}: unknown platform ${platform}`);
    const input = fields[1]!.trim();
    const expected = fields[2]!.trim();
    checked++;
    let got: string;
    try {
      got = lex.processWord(input, env);
    } catch (e) {
      if (!isInvalid(e)) throw e;
      if (expected !== 'error') failures.push(`line ${i + 1}: ${input} -> error (${(e as Error).message}), want ${expected}`);
      return;
    }
    if (expected === 'error') failures.push(`line ${i + 1}: ${input} -> ${JSON.stringify(got)}, want error`);
    else if (got !== expected) failures.push(`line ${i + 1}: ${input} -> ${JSON.stringify(got)}, want ${JSON.stringify(expected)}`);
  });
  assert.ok(checked > 200, `only ${checked} cases read`);
  assert.deepEqual(failures, []);
});

test('wordsTest: every case', () => {
  const env = new Map<string, string>();
  const lex = new ShellLex('\\');
  const lines = readFileSync(join(shellDir, 'wordsTest'), 'utf8').split('\n');
  let checked = 0;
  const failures: string[] = [];
  lines.forEach((line, i) => {
    if (line.trim() === '' || line.startsWith('#')) return;
    if (line.startsWith('ENV ')) {
      // Keep trailing blanks: they are part of the value under test.
      const kv = line.slice(4).replace(/^ +/, '');
      const eq = kv.indexOf('=');
      env.set(kv.slice(0, eq), kv.slice(eq + 1));
      return;
    }
    const bar = line.indexOf('|');
    assert.ok(bar > 0, `line ${i + 1} malformed`);
    const input = line.slice(0, bar).trim();
    const expectedRaw = line.slice(bar + 1).replace(/^ +/, '');
    checked++;
    let got: string[];
    try {
      got = lex.processWords(input, env);
    } catch (e) {
      if (!isInvalid(e)) throw e;
      if (expectedRaw !== 'error') failures.push(`line ${i + 1}: ${input} -> error, want ${expectedRaw}`);
      return;
    }
    const expected = expectedRaw.split(',');
    if (expectedRaw === 'error') failures.push(`line ${i + 1}: ${input} -> ${JSON.stringify(got)}, want error`);
    else if (JSON.stringify(got) !== JSON.stringify(expected)) {
      failures.push(`line ${i + 1}: ${input} -> ${JSON.stringify(got)}, want ${JSON.stringify(expected)}`);
    }
  });
  assert.ok(checked >= 24, `only ${checked} cases read`);
  assert.deepEqual(failures, []);
});

test('pattern removal and replacement (Dockerfile reference examples)', () => {
  const env = { str: 'foobarbaz', path: '/usr/local/lib/x.tar.gz', v: 'a*b' };
  const w = (s: string) => expandWord(s, env);
  assert.equal(w('${str#f*b}'), 'arbaz');
  assert.equal(w('${str##f*b}'), 'az');
  assert.equal(w('${str%b*}'), 'foobar');
  assert.equal(w('${str%%b*}'), 'foo');
  assert.equal(w('${str/ba/fo}'), 'fooforbaz');
  assert.equal(w('${str//ba/fo}'), 'fooforfoz');
  assert.equal(w('${str/#foo/X}'), 'foobarbaz', '# is a literal here, as in Docker');
  assert.equal(w('${path##*/}'), 'x.tar.gz');
  assert.equal(w('${path%.*}'), '/usr/local/lib/x.tar');
  assert.equal(w('${path%%.*}'), '/usr/local/lib/x');
  assert.equal(w('${path#/usr}'), '/local/lib/x.tar.gz');
  assert.equal(w('${path#nomatch}'), '/usr/local/lib/x.tar.gz');
  assert.equal(w('${str#???}'), 'barbaz');
  assert.equal(w('${v#a\\*}'), 'b', 'escaped star is literal');
  assert.equal(w('${v#a[*]}'), 'a*b', '[ is literal');
  assert.equal(w('${path//\\//_}'), '_usr_local_lib_x.tar.gz');
  assert.equal(w('${str/b*/X}'), 'fooX', 'longest match');
  assert.equal(w('${unset#x}'), '');
  assert.equal(w('${str/zz/y}'), 'foobarbaz');
  assert.equal(w('${str//a/${str:0}}'.replace('${str:0}', '-')), 'foob-rb-z');
  assert.throws(() => w('${str:#x}'), isInvalid);
  assert.throws(() => w('${str:%x}'), isInvalid);
  assert.throws(() => w('${str#\\q}'), isInvalid);
  assert.throws(() => w('${str/a'), isInvalid);
  assert.throws(() => w('${str/a/b'), isInvalid);
});

test('error messages are clear', () => {
  const lex = new ShellLex();
  const msg = (s: string, env: Record<string, string> = {}) => {
    try {
      lex.processWord(s, env);
    } catch (e) {
      assert.ok(isInvalid(e));
      return (e as Error).message;
    }
    assert.fail(`${s} did not fail`);
  };
  assert.match(msg('${}'), /bad substitution/);
  assert.match(msg("it's"), /unterminated quote/);
  assert.match(msg('"x'), /unterminated quote/);
  assert.match(msg('${X:?must be set}'), /X: must be set/);
  assert.match(msg('${X?}'), /X: is not allowed to be unset/);
  assert.match(msg('${X:?}', { X: '' }), /X: is not allowed to be empty/);
  assert.match(msg('${X'), /missing '}'/);
  assert.match(msg('${X:=1}'), /unsupported modifier \(:=\)/);
  assert.match(msg('${X'), /^failed to process "\$\{X"/);
});

test('backtick escape token', () => {
  const lex = new ShellLex('`');
  const env = { A: 'x' };
  assert.equal(lex.processWord('c:\\windows\\', env), 'c:\\windows\\');
  assert.equal(lex.processWord('`$A', env), '$A');
  assert.equal(lex.processWord('``$A', env), '`x');
  assert.equal(lex.processWord('"a`"b"', env), 'a"b');
  assert.equal(lex.processWord('"a\\tb"', env), 'a\\tb');
  assert.deepEqual(lex.processWords('a` b c', env), ['a b', 'c']);
  assert.throws(() => new ShellLex('x'), isInvalid);
});

test('processWordWithMatches reports used names', () => {
  const lex = new ShellLex();
  const r = lex.processWordWithMatches('$A ${B:-x} ${C+y} "$D" \'$E\'', { A: '1', D: '4' });
  assert.equal(r.result, '1 x  4 $E');
  assert.deepEqual([...r.matched].sort(), ['A', 'D']);
  assert.deepEqual([...r.unmatched].sort(), ['B', 'C']);
});

test('options: skipUnsetEnv, rawQuotes, rawEscapes, skipProcessQuotes', () => {
  const env = { A: 'a' };
  assert.equal(new ShellLex('\\', { skipUnsetEnv: true }).processWord('$A $B ${C} ${D:-d} ${E/x/y}', env), 'a $B ${C} ${D:-d} ${E/x/y}');
  assert.equal(new ShellLex('\\', { rawQuotes: true }).processWord(`'$A' "$A"`, env), `'$A' "a"`);
  assert.equal(new ShellLex('\\', { rawEscapes: true }).processWord('\\$A \\n', env), '\\$A \\n');
  assert.equal(new ShellLex('\\', { skipProcessQuotes: true }).processWord(`'$A' "it's"`, env), `'a' "it's"`);
});

test('unicode: names, whitespace and astral characters', () => {
  const lex = new ShellLex();
  assert.equal(lex.processWord('$변수-😀', { 변수: 'v' }), 'v-😀');
  assert.deepEqual(lex.processWords('$S', { S: 'a\u00a0b\u3000c\u0085d' }), ['a', 'b', 'c', 'd']);
  assert.equal(lex.processWord('${S#😀}', { S: '😀x' }), 'x');
});
