/** The flag parser `run`, `create` and `exec` share: pflag's interspersed=false rules and words. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TsbuildError } from '../../src/errors.js';
import { parseLeadingFlags, type FlagTable } from '../../src/cli/docker-flags.js';

interface F {
  detach: boolean;
  tty: boolean;
  env: string[];
  user?: string;
}
const TABLE: FlagTable<F> = {
  detach: { key: 'detach', kind: 'bool', short: 'd' },
  tty: { key: 'tty', kind: 'bool', short: 't' },
  env: { key: 'env', kind: 'list', short: 'e' },
  user: { key: 'user', kind: 'value', short: 'u' },
};
const usage = (msg: string) => new TsbuildError('USAGE', msg, undefined, 125);
const parse = (argv: string[], notYet?: Record<string, string>) => {
  const flags: F = { detach: false, tty: false, env: [] };
  const i = parseLeadingFlags(argv, TABLE, flags, usage, notYet);
  return { flags, rest: argv.slice(i) };
};
const fails = (argv: string[], message: string) =>
  assert.throws(() => parse(argv), (e: unknown) => e instanceof TsbuildError && e.message === message && e.exitCode === 125, message);

test('flags stop at the first operand or after --; shorthands cluster; values in the word or the next', () => {
  assert.deepEqual(parse(['-dt', '-eA=1', '-e=B=2', '-e', 'C', '--env=D', '--user', 'u', 'img', '-d', '--x']), {
    flags: { detach: true, tty: true, env: ['A=1', 'B=2', 'C', 'D'], user: 'u' },
    rest: ['img', '-d', '--x'],
  });
  assert.deepEqual(parse(['-du0', '--', '-t']), { flags: { detach: true, tty: false, env: [], user: '0' }, rest: ['-t'] });
  assert.deepEqual(parse(['--tty=false', '--detach=1', '-']), { flags: { detach: true, tty: false, env: [] }, rest: ['-'] });
  assert.deepEqual(parse([]).rest, []);
});

test("misuse in pflag's words", () => {
  fails(['--foo', 'img'], 'unknown flag: --foo');
  fails(['-dx', 'img'], "unknown shorthand flag: 'x' in -dx");
  fails(['--detach=maybe'], 'invalid argument "maybe" for "--detach" flag: strconv.ParseBool: parsing "maybe": invalid syntax');
  fails(['-u'], 'flag needs an argument: -u');
  fails(['--user'], 'flag needs an argument: --user');
  assert.throws(() => parse(['--later'], { later: '--later' }), (e: unknown) => e instanceof TsbuildError && e.message === '--later is not supported by tsbuild yet');
});
