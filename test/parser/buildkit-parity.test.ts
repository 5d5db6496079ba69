/**
 * Parity with BuildKit's Dockerfile parser on odd input (issue 14, item 10). Every case below is
 * a difference a differential fuzzer found between tsbuild and BuildKit's parser on mutated
 * real-world Dockerfiles; the expected dump, verdict, warnings, heredocs and line ranges are
 * BuildKit's own answers for the same bytes, written down as data.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dumpAst, parseDockerfile, toInstructions } from '../../src/parser/index.js';
import { TsbuildError } from '../../src/errors.js';

interface Case {
  name: string;
  /** The Dockerfile as text (UTF-8) ... */
  input?: string;
  /** ... or as hex bytes, for invalid UTF-8. */
  bytes?: string;
  /** BuildKit's `Node.Dump()` of the tree (plus a final newline), when it accepts the input. */
  dump?: string;
  /** BuildKit's error message (tsbuild's may add detail), when it refuses the input. */
  error?: string;
  /** The line BuildKit's error points at. */
  errorLine?: number;
  /** [message, line] of each warning. */
  warnings?: [string, number][];
  /** [node index, name, expand, chomp, content] of each heredoc. */
  heredocs?: [number, string, boolean, boolean, string][];
  /** [start line, end line] of each instruction. */
  lines?: [number, number][];
}

const CASES: Case[] = [
  {
    name: "unknown word split at the first blank, quotes or not",
    input: "FROM a\nGNUPGHOME=\"$(mktemp -d)\"; \\\n  export GNUPGHOME\n",
    dump: "(from \"a\")\n(gnupghome=\"$(mktemp \"\")\n",
    lines: [[1,1],[2,3]],
  },
  {
    name: "unknown word with tab",
    input: "FROM a\nFOO=bar\tbaz qux\n",
    dump: "(from \"a\")\n(foo=bar \"\")\n",
    lines: [[1,1],[2,2]],
  },
  {
    name: "text after a JSON array is the shell form",
    input: "FROM a\nENTRYPOINT [1,2] \\\n  trailing\n",
    dump: "(from \"a\")\n(entrypoint \"[1,2]   trailing\")\n",
    lines: [[1,1],[2,3]],
  },
  {
    name: "text after a string array is the shell form",
    input: "FROM a\nCMD [\"a\"] trailing\nSHELL [\"a\"] b\nRUN [\"x\"] <<E\nE\n",
    dump: "(from \"a\")\n(cmd \"[\\\"a\\\"] trailing\")\n(shell \"[\\\"a\\\"] b\")\n(run \"[\\\"x\\\"] <<E\")\n",
    heredocs: [[3,"E",true,false,""]],
    lines: [[1,1],[2,2],[3,3],[4,5]],
  },
  {
    name: "healthcheck with text after the array",
    input: "FROM a\nHEALTHCHECK --timeout=3s CMD [\"foo\"] <<EOF\n",
    dump: "(from \"a\")\n(healthcheck [\"--timeout=3s\"] \"CMD\" \"[\\\"foo\\\"] <<EOF\")\n",
    lines: [[1,1],[2,2]],
  },
  {
    name: "non-strings with text after: shell form, no error",
    input: "FROM a\nCMD [\"a\", 1] x\nCOPY [1] y\n",
    dump: "(from \"a\")\n(cmd \"[\\\"a\\\", 1] x\")\n(copy \"[1]\" \"y\")\n",
    lines: [[1,1],[2,2],[3,3]],
  },
  {
    name: "FROM and EXPOSE never take JSON",
    input: "FROM [\"a\",1] image\nEXPOSE [80]\n",
    dump: "(from \"[\\\"a\\\",1]\" \"image\")\n(expose \"[80]\")\n",
    lines: [[1,1],[2,2]],
  },
  {
    name: "a number beyond float64 makes Go's decoder fail: shell form",
    input: "FROM a\nCMD [\"a\", 1e999]\nRUN [{\"a\": [-1e400]}, \"b\"]\n",
    dump: "(from \"a\")\n(cmd \"[\\\"a\\\", 1e999]\")\n(run \"[{\\\"a\\\": [-1e400]}, \\\"b\\\"]\")\n",
    lines: [[1,1],[2,2],[3,3]],
  },
  {
    name: "nonstring error",
    input: "FROM a\nCMD [\"a\", 1e308]\n",
    error: "when using JSON array syntax, arrays must be comprised of strings only",
  },
  {
    name: "JSON literal nesting and blanks",
    input: "FROM a\nCMD [ \"a\" ,\t\"b\" ]\nRUN [\r\"a\"]\nCOPY []\n",
    dump: "(from \"a\")\n(cmd \"a\" \"b\")\n(run \"a\")\n(copy)\n",
    lines: [[1,1],[2,2],[3,3],[4,4]],
  },
  {
    name: "a BOM after the first line is not white space",
    input: "FROM \ufeffscratch\n\ufeff# escape=`\n\ufeffENV a=b\n",
    dump: "(from \"\\ufeffscratch\")\n(\ufeff# \"\")\n(\ufeffenv \"\")\n",
    lines: [[1,1],[2,2],[3,3]],
  },
  {
    name: "a BOM on the first line is dropped",
    input: "\ufeff# escape=`\nFROM a\nRUN a `\n b\n",
    dump: "(from \"a\")\n(run \"a  b\")\n",
    lines: [[2,2],[3,4]],
  },
  {
    name: "a CR inside a directive line belongs to its value",
    input: "# syntax = x <<-EOF\rEOF\r\n# escape = `\r\nFROM a `\r\n b\r\n",
    dump: "(from \"a\" \"b\")\n",
    lines: [[3,4]],
  },
  {
    name: "an escape directive whose value has a CR and more is invalid",
    input: "#escape=`\r <<\"EOF\"\nFROM a\n",
    error: "invalid escape token '`\r <<\"EOF\"' does not match ` or \\",
  },
  {
    name: "directive after # and unicode blanks",
    input: "#\u00a0escape=`\nFROM a `\n b\n",
    dump: "(from \"a\" \"b\")\n",
    lines: [[2,3]],
  },
  {
    name: "ENV error is located at the instruction start",
    input: "FROM a\nENV \\\n\\\n# c\nworld\n",
    error: "ENV must have two arguments",
    errorLine: 2,
  },
  {
    name: "node start line is the physical line of the escape",
    input: "FROM a\n\\\nRUN x\n",
    dump: "(from \"a\")\n(run \"x\")\n",
    lines: [[1,1],[2,3]],
  },
  {
    name: "heredoc marker with blanks before the name",
    input: "FROM a\nRUN <<  'EOT' cat\nhello\nEOT\n",
    dump: "(from \"a\")\n(run \"<<  'EOT' cat\")\n",
    heredocs: [[1,"EOT",false,false,"hello\n"]],
    lines: [[1,1],[2,4]],
  },
  {
    name: "a lexing error in the line means no heredocs",
    input: "FROM a\nRUN echo ${x <<EOF\nRUN b\n",
    dump: "(from \"a\")\n(run \"echo ${x <<EOF\")\n(run \"b\")\n",
    lines: [[1,1],[2,2],[3,3]],
  },
  {
    name: "a nested ${x:-y} clears the word before it (BuildKit quirk)",
    input: "FROM a\nRUN cat <<EOF${x:-y}\nEOF\nRUN b\n",
    dump: "(from \"a\")\n(run \"cat <<EOF${x:-y}\")\n(eof \"\")\n(run \"b\")\n",
    lines: [[1,1],[2,2],[3,3],[4,4]],
  },
  {
    name: "an unterminated heredoc",
    input: "FROM a\nRUN <<  'EOT'%s\nEOT\n",
    error: "unterminated heredoc",
  },
  {
    name: "heredoc name quoted partly",
    input: "FROM a\nCOPY <<E\"O\"F /x\nhi\nEOF\n",
    dump: "(from \"a\")\n(copy \"<<E\\\"O\\\"F\" \"/x\")\n",
    heredocs: [[1,"EOF",false,false,"hi\n"]],
    lines: [[1,1],[2,4]],
  },
  {
    name: "Go lower-casing: dotted capital I and final sigma",
    input: "FROM a\nWORKD\u0130R /x\n\u0391\u03a3 b\n",
    dump: "(from \"a\")\n(workdir \"/x\")\n(\u03b1\u03c3 \"\")\n",
    lines: [[1,1],[2,2],[3,3]],
  },
  {
    name: "flags use the escape directive",
    input: "# escape=`\nFROM a\nCOPY --from=a`\"b c`\\d x y\n",
    dump: "(from \"a\")\n(copy [\"--from=a\\\"b\"] \"c`\\\\d\" \"x\" \"y\")\n",
    lines: [[2,2],[3,3]],
  },
  {
    name: "flags: quotes removed, unclosed quote runs to the end",
    input: "FROM a\nCOPY --chown=\"a b\" --x='c d e\n",
    dump: "(from \"a\")\n(copy [\"--chown=a b\" \"--x=c d e\"])\n",
    lines: [[1,1],[2,2]],
  },
  {
    name: "flags: a bare -- ends them",
    input: "FROM a\nRUN --a -- --b c\nRUN --\n",
    dump: "(from \"a\")\n(run [\"--a\"] \"--b c\")\n(run)\n",
    lines: [[1,1],[2,2],[3,3]],
  },
  {
    name: "flags: non-ASCII bytes are re-encoded one by one (Go reads bytes)",
    input: "FROM a\nCOPY --chown=\u00e9 a b\n",
    dump: "(from \"a\")\n(copy [\"--chown=\u00c3\u00a9\"] \"a\" \"b\")\n",
    lines: [[1,1],[2,2]],
  },
  {
    name: "flags: the byte 0xA0 inside a character is white space there",
    input: "FROM a\nCOPY --x=\u00e0y a b\n",
    dump: "(from \"a\")\n(copy [\"--x=\u00c3\"] \"y\" \"a\" \"b\")\n",
    lines: [[1,1],[2,2]],
  },
  {
    name: "healthcheck type ends at a 0xA0 byte",
    input: "FROM a\nHEALTHCHECK C\u00e0 x\n",
    dump: "(from \"a\")\n(healthcheck \"C\\xc3\" \"x\")\n",
    lines: [[1,1],[2,2]],
  },
  {
    name: "healthcheck exec after a unicode blank",
    input: "FROM a\nHEALTHCHECK CMD \u2003[\"a\"]\n",
    dump: "(from \"a\")\n(healthcheck \"CMD\" \"a\")\n",
    lines: [[1,1],[2,2]],
  },
  {
    name: "ONBUILD chains",
    input: "FROM a\nONBUILD ONBUILD  --x  RUN  [\"a\"]\nONBUILD\nONBUILD FOO=\"a b\"\n",
    dump: "(from \"a\")\n(onbuild (onbuild [\"--x\"] (run \"a\")))\n(onbuild)\n(onbuild (foo=\"a \"\"))\n",
    lines: [[1,1],[2,2],[3,3],[4,4]],
  },
  {
    name: "empty continuation warning",
    input: "FROM a\nRUN a \\\n\n  b\n",
    dump: "(from \"a\")\n(run \"a   b\")\n",
    warnings: [["Empty continuation line found in: RUN a   b",4]],
    lines: [[1,1],[2,4]],
  },
  {
    name: "escaped escape then continuation rules with backtick",
    input: "# escape=`\nFROM a\nRUN a ``\nRUN b `\n\n c\n",
    dump: "(from \"a\")\n(run \"a ``\")\n(run \"b  c\")\n",
    warnings: [["Empty continuation line found in: RUN b  c",6]],
    lines: [[2,2],[3,3],[4,6]],
  },
  {
    name: "lone escape line then EOF",
    input: "FROM a\n\\\n",
    dump: "(from \"a\")\n(\"\")\n",
    lines: [[1,1],[2,2]],
  },
  {
    name: "ENV legacy with non-ascii blank",
    input: "FROM a\nENV a\u00a0b\n",
    error: "ENV must have two arguments",
  },
  {
    name: "an invalid byte stays a byte in the dump",
    bytes: "46524f4d20610a52554e2061f2620a",
    dump: "(from \"a\")\n(run \"a\\xf2b\")\n",
    lines: [[1,1],[2,2]],
  },
  {
    name: "quote-aware words read runes: an invalid byte becomes U+FFFD",
    bytes: "46524f4d20610a41524720783d61f220790a",
    dump: "(from \"a\")\n(arg \"x=a\ufffd\" \"y\")\n",
    lines: [[1,1],[2,2]],
  },
  {
    name: "a flag reads bytes: 0xFF becomes U+00FF",
    bytes: "46524f4d20610a434f5059202d2d63686f776e3dff2061ff20620a",
    dump: "(from \"a\")\n(copy [\"--chown=\u00ff\"] \"a\\xff\" \"b\")\n",
    lines: [[1,1],[2,2]],
  },
  {
    name: "JSON strings: invalid bytes become U+FFFD",
    bytes: "46524f4d20610a434d44205b22e9ff225d0a",
    dump: "(from \"a\")\n(cmd \"\ufffd\ufffd\")\n",
    lines: [[1,1],[2,2]],
  },
  {
    name: "an invalid byte in a keyword lower-cases to U+FFFD",
    bytes: "46524f4d20610a574f524bff44495220780a",
    dump: "(from \"a\")\n(work\ufffddir \"\")\n",
    lines: [[1,1],[2,2]],
  },
  {
    name: "an invalid 0xA0 byte before the arguments is a blank to the flag reader",
    bytes: "46524f4d20610a72756e20a02d0a",
    dump: "(from \"a\")\n(run \"-\")\n",
    lines: [[1,1],[2,2]],
  },
  {
    name: "a heredoc name with an invalid byte never terminates",
    bytes: "46524f4d20610a52554e203c3c45ff0a45ff0a",
    error: "unterminated heredoc",
  },
];

for (const c of CASES) {
  test(c.name, () => {
    const src = c.bytes !== undefined ? Buffer.from(c.bytes, 'hex') : c.input!;
    if (c.error !== undefined) {
      assert.throws(
        () => parseDockerfile(src),
        (e: unknown) =>
          e instanceof TsbuildError &&
          e.code === 'PARSE' &&
          e.message.startsWith(c.error!) &&
          (c.errorLine === undefined || e.location?.line === c.errorLine),
      );
      return;
    }
    const r = parseDockerfile(src);
    assert.equal(dumpAst(r), c.dump);
    assert.deepEqual(
      r.warnings.map((w) => [w.message, w.line]),
      c.warnings ?? [],
    );
    assert.deepEqual(
      r.nodes.flatMap((n, i) => n.heredocs.map((h) => [i, h.name, h.expand, h.chomp, h.content])),
      c.heredocs ?? [],
    );
    if (c.lines) assert.deepEqual(r.nodes.map((n) => [n.range.line, n.range.endLine]), c.lines);
  });
}

test('typed instructions are UTF-8 text: invalid bytes kept for the dump become U+FFFD', () => {
  const r = parseDockerfile(Buffer.from('46524f4d20610a52554e2061f2620a', 'hex')); // FROM a / RUN a\xf2b
  assert.equal(dumpAst(r), '(from "a")\n(run "a\\xf2b")\n');
  const run = toInstructions(r).stages[0]!.instructions[0]!;
  assert.equal(run.kind, 'run');
  assert.deepEqual(run.kind === 'run' && run.command, ['a\ufffdb']);
  assert.equal(run.original, 'RUN a\ufffdb');
});
