/**
 * parseExecForm (grammar.ts): a plain array of strings is recognized without the Chevrotain grammar
 * (JSON.parse); everything else goes the grammar's way. The outcomes, as Docker's decoder gives
 * them, are the same either way: pinned here on the edges where JSON.parse and the grammar could
 * part (blanks after the array, a newline, escapes, lone surrogates, non-string elements).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseExecForm } from '../../src/parser/grammar.js';

const CASES: [string, unknown][] = [
  ["[\"a\",\"b\"]", {"kind": "exec", "values": ["a", "b"]}],
  ["[\"a\"] ", {"kind": "exec", "values": ["a"]}],
  ["[\"a\"]\t\r", {"kind": "exec", "values": ["a"]}],
  ["[\"a\"] x", {"kind": "none"}],
  ["[\"a\",]", {"kind": "none"}],
  ["[\"a\", 1]", {"kind": "nonString"}],
  ["[[\"a\"]]", {"kind": "nonString"}],
  ["[\"\\ud800x\"]", {"kind": "exec", "values": ["\ufffdx"]}],
  ["[\"a\"]\u000b", {"kind": "none"}],
  ["[ ]", {"kind": "exec", "values": []}],
  ["[]", {"kind": "exec", "values": []}],
  ["[\"a\\u0041\\n\"]", {"kind": "exec", "values": ["aA\n"]}],
  ["[\"a\"\n]", {"kind": "none"}],
  ["[ \"a\" , \"b\" ]", {"kind": "exec", "values": ["a", "b"]}],
  ["[\"a\" \"b\"]", {"kind": "none"}],
  ["['a']", {"kind": "none"}],
  ["[\"a\"]]", {"kind": "none"}],
  ["[1e400]", {"kind": "none"}],
  ["[\"a\", {\"k\": 1}]", {"kind": "nonString"}],
  ["[\"\u00e9\u2028\"]", {"kind": "exec", "values": ["\u00e9\u2028"]}],
  ["[\"a\\x\"]", {"kind": "none"}],
  ["[\"tab\there\"]", {"kind": "none"}],
];

test('exec form: arrays of strings, and what is not one', () => {
  for (const [text, want] of CASES) assert.deepEqual(parseExecForm(text), want, JSON.stringify(text));
});

test('exec form: the same outcome however often it is asked (the grammar is made once, on first need)', () => {
  for (let i = 0; i < 3; i++) {
    assert.deepEqual(parseExecForm('["a", 1]'), { kind: 'nonString' });
    assert.deepEqual(parseExecForm('["sh", "-c", "echo hi"]'), { kind: 'exec', values: ['sh', '-c', 'echo hi'] });
  }
});
