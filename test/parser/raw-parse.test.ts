/** Raw parse semantics that are easy to get wrong (research notes §5), pinned one by one. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dumpAst, goQuote, parseDockerfile, type ParseResult } from '../../src/parser/index.js';
import { TsbuildError } from '../../src/errors.js';

const dump = (src: string): string => dumpAst(parseDockerfile(src));
const fails = (src: string, re: RegExp, line?: number): void => {
  assert.throws(
    () => parseDockerfile(src, { file: 'Dockerfile' }),
    (e: unknown) => {
      assert.ok(e instanceof TsbuildError, `not a TsbuildError: ${String(e)}`);
      assert.match(e.message, re);
      if (line !== undefined) assert.equal(e.location?.line, line);
      return true;
    },
  );
};

test('#1 a # is a comment only at line start', () => {
  assert.equal(dump("FROM a\nRUN echo 'a # b'\n  # indented comment\n"), `(from "a")\n(run "echo 'a # b'")\n`);
});

test('#2 comment lines inside a continuation are dropped and do not end it', () => {
  assert.equal(dump('FROM a\nRUN echo hello \\\n# c\nworld\n'), '(from "a")\n(run "echo hello world")\n');
});

test('#3 empty continuation lines are skipped with a warning', () => {
  const r = parseDockerfile('FROM a\nRUN a \\\n\n  \nb\n');
  assert.equal(dumpAst(r), '(from "a")\n(run "a b")\n');
  assert.equal(r.warnings.length, 1);
  assert.match(r.warnings[0]!.message, /Empty continuation line/);
});

test('#4 continuation: trailing blanks allowed, lone escape continues, escaped escape does not', () => {
  assert.equal(dump('FROM a\nRUN a \\  \t\nb\n'), '(from "a")\n(run "a b")\n');
  assert.equal(dump('FROM a\nRUN a\n\\\nRUN b\n'), '(from "a")\n(run "a")\n(run "b")\n');
  assert.equal(dump('FROM a\nRUN a \\\\\nRUN b\n'), '(from "a")\n(run "a \\\\\\\\")\n(run "b")\n');
  // three escapes: Docker's regex sees an escaped escape and does not continue either
  assert.equal(dump('FROM a\nRUN a \\\\\\\nRUN b\n'), '(from "a")\n(run "a \\\\\\\\\\\\")\n(run "b")\n');
});

test('#5 leading white space is stripped only on the first physical line', () => {
  assert.equal(dump('FROM a\n   RUN echo "\\\n     hello\\\n     world"\n'), '(from "a")\n(run "echo \\"     hello     world\\"")\n');
});

test('#6 directives: only at the top, case-insensitive keys, duplicates rejected', () => {
  const r = parseDockerfile('# SYNTAX = docker/dockerfile:1\n#check=skip=all\n# escape=`\nFROM a\nRUN a `\n b\n');
  assert.deepEqual(
    r.directives.map((d) => [d.name, d.value, d.line]),
    [
      ['syntax', 'docker/dockerfile:1', 1],
      ['check', 'skip=all', 2],
      ['escape', '`', 3],
    ],
  );
  assert.equal(r.escapeToken, '`');
  assert.equal(dumpAst(r), '(from "a")\n(run "a  b")\n');
  // after a comment, an escape "directive" is just a comment
  const late = parseDockerfile('# About\n# escape=`\nFROM a\n');
  assert.equal(late.escapeToken, '\\');
  assert.deepEqual(late.directives, []);
  // an unknown key ends the block
  assert.equal(parseDockerfile('# foo=bar\n# escape=`\nFROM a\n').escapeToken, '\\');
  fails('# escape=`\n# escape=\\\nFROM a\n', /only one escape parser directive can be used/, 2);
  fails('# syntax=a\n# Syntax=b\nFROM a\n', /only one syntax parser directive/, 2);
  fails('# escape=x\nFROM a\n', /invalid escape token 'x' does not match ` or \\/, 1);
});

test('#7 BOM and CRLF', () => {
  const r = parseDockerfile('\ufeff# escape=`\r\nFROM a\r\nRUN echo hi `\r\n  there\r\n');
  assert.equal(r.escapeToken, '`');
  assert.equal(dumpAst(r), '(from "a")\n(run "echo hi   there")\n');
  assert.equal(dump(Buffer.from('\ufeffFROM a\n') as unknown as string), '(from "a")\n');
});

test('#8 escapes stay raw in the tree; the escape directive changes continuation', () => {
  assert.equal(dump('FROM a\nRUN apt-get \\update\n'), '(from "a")\n(run "apt-get \\\\update")\n');
  assert.equal(dump('# escape=`\nFROM a\nENV GOPATH `\n\\go\n'), '(from "a")\n(env "GOPATH" "\\\\go" "")\n');
  // with backtick escape a trailing backslash is plain text
  assert.equal(dump('# escape=`\nFROM a\nCOPY a c:\\\nRUN dir c:\\\n'), '(from "a")\n(copy "a" "c:\\\\")\n(run "dir c:\\\\")\n');
});

function heredocs(r: ParseResult, i: number) {
  return r.nodes[i]!.heredocs.map((h) => ({ ...h }));
}

test('#9-#11 heredocs: fd prefix, <<- strips tabs only, quoted delimiter disables expansion, several per line', () => {
  const r = parseDockerfile(
    'FROM a\nRUN 3<<EOF cat /proc/self/fd/3\nx\nEOF\nCOPY <<-"EOT" /s\n\t${FOO}\n  \tEOT\n\tEOT\nRUN <<A cat >a && <<\'B\' cat >b\na\nA\nb\nB\nRUN echo a<<EOF\n',
  );
  assert.deepEqual(heredocs(r, 1), [{ name: 'EOF', fileDescriptor: 3, expand: true, chomp: false, content: 'x\n' }]);
  // "  \tEOT" is not a terminator: only tabs are stripped
  assert.deepEqual(heredocs(r, 2), [{ name: 'EOT', fileDescriptor: 0, expand: false, chomp: true, content: '\t${FOO}\n  \tEOT\n' }]);
  assert.deepEqual(
    heredocs(r, 3).map((h) => [h.name, h.expand, h.content]),
    [
      ['A', true, 'a\n'],
      ['B', false, 'b\n'],
    ],
  );
  assert.equal(r.nodes[4]!.heredocs.length, 0, 'a heredoc word not at a word start is only text');
  assert.equal(r.nodes[4]!.range.line, 14);
  assert.equal(r.nodes[1]!.range.endLine, 4);
  // heredoc bodies are not in the dump
  assert.equal(dumpAst(r).split('\n')[1], '(run "3<<EOF cat /proc/self/fd/3")');
  fails('FROM a\nRUN <<EOF\nnever ends\n', /unterminated heredoc/, 2);
  // exec form never has heredocs; ONBUILD wraps them
  assert.equal(parseDockerfile('FROM a\nRUN ["<<EOF"]\n').nodes[1]!.heredocs.length, 0);
  const ob = parseDockerfile('FROM a\nONBUILD RUN <<EOF\nhi\nEOF\n');
  assert.equal(ob.nodes[1]!.heredocs[0]!.content, 'hi\n');
  // CRLF terminators match
  assert.equal(parseDockerfile('FROM a\r\nRUN <<EOF\r\nhi\r\nEOF\r\n').nodes[1]!.heredocs[0]!.content, 'hi\r\n');
});

test('#13 exec form: JSON string arrays; non-JSON falls back to shell form; non-string elements fail', () => {
  assert.equal(dump("FROM a\nRUN ['a']\n"), `(from "a")\n(run "['a']")\n`);
  assert.equal(dump('FROM a\nRUN ["c:\\windows"]\n'), '(from "a")\n(run "[\\"c:\\\\windows\\"]")\n');
  // the whole text must be JSON: anything after the array makes it the shell form
  assert.equal(dump('FROM a\nCMD ["a"] trailing\n'), '(from "a")\n(cmd "[\\"a\\"] trailing")\n');
  assert.equal(dump('FROM a\nCMD ["a",]\n'), '(from "a")\n(cmd "[\\"a\\",]")\n');
  assert.equal(dump('FROM a\nCMD [\v"a"]\n'), '(from "a")\n(cmd "[\\v\\"a\\"]")\n');
  assert.equal(dump('FROM a\nCMD ["\\ud83d\\ude00", "\\u00e9"]\n'), '(from "a")\n(cmd "😀" "é")\n');
  assert.equal(dump('FROM a\nENTRYPOINT []\n'), '(from "a")\n(entrypoint)\n');
  assert.equal(dump('FROM a\nCOPY ["a b", "c"]\n'), '(from "a")\n(copy "a b" "c")\n');
  assert.equal(dump('FROM a\nCOPY "a b" c\n'), '(from "a")\n(copy "\\"a" "b\\"" "c")\n');
  fails('FROM a\nCMD ["a", 1]\n', /arrays must be comprised of strings only/, 2);
  fails('FROM a\nRUN ["a", {"b": [null]}]\n', /strings only/, 2);
  fails('FROM a\nVOLUME [true]\n', /strings only/, 2);
  // FROM, ENV, ... never take JSON
  assert.equal(dump('FROM ["a"]\n'), '(from "[\\"a\\"]")\n');
});

test('#13 deep JSON nesting is decided without recursion (Go: >10000 levels is not JSON)', () => {
  assert.throws(() => parseDockerfile(`FROM a\nCMD ${'['.repeat(200)}${']'.repeat(200)}\n`), /strings only/);
  const deep = parseDockerfile(`FROM a\nCMD ${'['.repeat(20000)}${']'.repeat(20000)}\n`);
  assert.equal(deep.nodes[1]!.json, false);
  assert.equal(parseDockerfile(`FROM a\nCMD ["x"] ${'['.repeat(300)}\n`).nodes[1]!.json, false);
  assert.throws(() => parseDockerfile(`FROM a\nCMD ["x", ${'['.repeat(300)}${']'.repeat(300)}]\n`), /strings only/);
  // a number Go cannot hold makes its whole decode fail: the shell form, even deep down
  assert.equal(parseDockerfile(`FROM a\nCMD ["x", ${'['.repeat(300)}1e999${']'.repeat(300)}]\n`).nodes[1]!.json, false);
});

test('#14/#15 ENV and LABEL: legacy form keeps the rest verbatim; new form needs = everywhere', () => {
  assert.equal(dump('FROM a\nENV ONE TWO= THREE=world\n'), '(from "a")\n(env "ONE" "TWO= THREE=world" "")\n');
  assert.equal(dump('FROM a\nLABEL a=b "c d"="e f"\n'), '(from "a")\n(label "a" "b" "=" "\\"c d\\"" "\\"e f\\"" "=")\n');
  fails('FROM a\nENV A=1 B\n', /Syntax error - can't find = in "B". Must be of the form: name=value/, 2);
  fails('FROM a\nLABEL onlykey\n', /LABEL must have two arguments/, 2);
  assert.equal(dump('FROM a\nARG a="x y" b\n'), '(from "a")\n(arg "a=\\"x y\\"" "b")\n');
});

test('#25 flags: --x words before the arguments, quotes removed, -- ends them', () => {
  assert.equal(
    dump('FROM a\nCOPY --from="my stage" --chown=a\\ b -- --weird /d\n'),
    '(from "a")\n(copy ["--from=my stage" "--chown=a b"] "--weird" "/d")\n',
  );
  assert.equal(dump('FROM a\nRUN --mount=type=cache,target=/x echo --not-a-flag\n'), '(from "a")\n(run ["--mount=type=cache,target=/x"] "echo --not-a-flag")\n');
  // an unclosed quote in a flag swallows the rest of the line
  assert.equal(dump('FROM a\nCOPY --from="x y z\n'), '(from "a")\n(copy ["--from=x y z"])\n');
});

test('#26 HEALTHCHECK: type word then a CMD-like argument', () => {
  assert.equal(dump('FROM a\nHEALTHCHECK NONE\n'), '(from "a")\n(healthcheck "NONE")\n');
  assert.equal(dump('FROM a\nHEALTHCHECK --retries=2 CMD ["x", "y"]\n'), '(from "a")\n(healthcheck ["--retries=2"] "CMD" "x" "y")\n');
});

test('#27 ONBUILD nests its trigger, iteratively (no stack limit)', () => {
  assert.equal(dump('FROM a\nONBUILD --x ADD --chown=1 a b\n'), '(from "a")\n(onbuild ["--x"] (add ["--chown=1"] "a" "b"))\n');
  assert.equal(dump('FROM a\nONBUILD\n'), '(from "a")\n(onbuild)\n');
  const deep = parseDockerfile(`FROM a\n${'ONBUILD '.repeat(5000)}RUN x\n`);
  let n = deep.nodes[1]!;
  let depth = 0;
  while (n.child) {
    n = n.child;
    depth++;
  }
  assert.equal(depth, 5000);
  assert.equal(n.keyword, 'run');
});

test('#28 keywords are case-insensitive; unknown instructions stay in the raw tree', () => {
  assert.equal(dump('frOM x\nrun a\nFOO bar baz\n'), '(from "x")\n(run "a")\n(foo "")\n');
});

test('#29 limits: no instructions, over-long lines', () => {
  fails('', /file with no instructions/);
  fails('# only\n# comments\n\n', /file with no instructions/);
  fails(`FROM a\nRUN ${'x'.repeat(70000)}\n`, /dockerfile line greater than max allowed size of 65535/, 2);
  // a 1 MB logical line made of many short physical lines is fine, and linear
  const lines = Array.from({ length: 20000 }, (_, i) => `  echo ${'y'.repeat(40)} ${i} && \\`).join('\n');
  const t0 = performance.now();
  const r = parseDockerfile(`FROM a\nRUN ${lines}\n  true\nENV A=1\n`);
  assert.ok(r.nodes[1]!.args[0]!.length > 1_000_000);
  assert.equal(r.nodes[2]!.range.line, 20003);
  assert.ok(performance.now() - t0 < 10_000);
});

test('node locations: start line and column, end line, flag and argument positions', () => {
  const r = parseDockerfile('FROM a\n\n   COPY --chown=1 \\\n     --from=b x \\\n  y\n', { file: 'ctx/Dockerfile' });
  const n = r.nodes[1]!;
  assert.deepEqual(n.range, { file: 'ctx/Dockerfile', line: 3, column: 4, endLine: 5 });
  assert.deepEqual(n.flagPositions, [
    { line: 3, column: 9 },
    { line: 4, column: 6 },
  ]);
  assert.deepEqual(n.argsPosition, { line: 4, column: 15 });
  assert.equal(n.original, '   COPY --chown=1      --from=b x   y'.trimStart());
});

test('goQuote is a faithful port of Go strconv.Quote', () => {
  assert.equal(goQuote('plain'), '"plain"');
  assert.equal(goQuote('a"b\\c'), '"a\\"b\\\\c"');
  assert.equal(goQuote('\x07\b\f\n\r\t\v'), '"\\a\\b\\f\\n\\r\\t\\v"');
  assert.equal(goQuote('\x00\x1b\x7f'), '"\\x00\\x1b\\x7f"');
  assert.equal(goQuote('é☃♥😀'), '"é☃♥😀"');
  assert.equal(goQuote('\u00a0\u200b\u2028'), '"\\u00a0\\u200b\\u2028"');
  assert.equal(goQuote('\u{e0001}'), '"\\U000e0001"');
  assert.equal(goQuote('\u0085'), '"\\u0085"');
});

test('heredoc extraction matches BuildKit TestParseExtractsHeredoc', () => {
  const src = [
    'FROM alpine:3.6', 'ENV NAME=me', 'RUN ls', 'USER <<INVALID', 'INVALID', 'RUN <<EMPTY', 'EMPTY', 'RUN 3<<EMPTY2', 'EMPTY2',
    'RUN "<<NOHEREDOC"', 'RUN <<INDENT', '\tfoo', '\tbar', 'INDENT', 'RUN <<-UNINDENT2', '\tbaz', '\tquux', '\tUNINDENT2',
    "RUN <<-'NOEXPAND'", "\tdon't expand $NAME", 'NOEXPAND', 'RUN <<COMMENT', '# internal comment', 'echo foo bar # trailing', 'COMMENT',
    'RUN --mount=type=cache,target=/foo <<MOUNT', 'echo hello', 'MOUNT', 'COPY <<X <<Y /dest', 'Y', 'X', 'X', 'Y', '',
  ].join('\n');
  const r = parseDockerfile(src);
  const got = r.nodes.map((n) => n.heredocs.map((h) => [h.name, h.content, h.expand, h.chomp, h.fileDescriptor]));
  assert.deepEqual(got, [
    [],
    [],
    [],
    [],
    [], // USER <<INVALID is not a heredoc instruction; "INVALID" is then an (unknown) instruction
    [['EMPTY', '', true, false, 0]],
    [['EMPTY2', '', true, false, 3]],
    [],
    [['INDENT', '\tfoo\n\tbar\n', true, false, 0]],
    [['UNINDENT2', '\tbaz\n\tquux\n', true, true, 0]],
    [['NOEXPAND', "\tdon't expand $NAME\n", false, true, 0]],
    [['COMMENT', '# internal comment\necho foo bar # trailing\n', true, false, 0]],
    [['MOUNT', 'echo hello\n', true, false, 0]],
    [
      ['X', 'Y\n', true, false, 0],
      ['Y', 'X\n', true, false, 0],
    ],
  ]);
  // quotes inside the line that never close: no heredoc at all (BuildKit's lexer gives up)
  assert.equal(parseDockerfile("FROM a\nRUN <<'EOF\n").nodes[1]!.heredocs.length, 0);
  assert.equal(parseDockerfile('FROM a\nRUN <<E"O"F\nx\nEOF\n').nodes[1]!.heredocs[0]!.expand, false);
});

test('#7 detectSyntax: #, // and JSON forms, after BOM and shebang', async () => {
  const { detectSyntax } = await import('../../src/parser/index.js');
  assert.deepEqual(detectSyntax('# syntax=docker/dockerfile:1 --x\nFROM a\n'), { syntax: 'docker/dockerfile:1', cmdline: 'docker/dockerfile:1 --x', line: 1 });
  assert.deepEqual(detectSyntax('\ufeff#!/usr/bin/env buildctl\n# escape=`\n#syntax = x/y\n'), { syntax: 'x/y', cmdline: 'x/y', line: 3 });
  assert.deepEqual(detectSyntax('// syntax=a/b\n'), { syntax: 'a/b', cmdline: 'a/b', line: 1 });
  assert.deepEqual(detectSyntax('{"syntax": "c/d"}'), { syntax: 'c/d', cmdline: 'c/d', line: 0 });
  assert.equal(detectSyntax('# about\n# syntax=x\nFROM a\n'), undefined);
  assert.equal(detectSyntax('FROM a\n'), undefined);
});
