import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isFullId, newContainerId, resolveContainer, shortId } from '../../src/containers/ids.js';
import { ADJECTIVES, SURNAMES, generateName, nameInUse, randomName, validateContainerName } from '../../src/containers/names.js';
import { TsbuildError } from '../../src/errors.js';

const err = (code: string, message: string) => (e: unknown) => e instanceof TsbuildError && e.code === code && e.message === message;

test('IDs are 64 hex characters and unique; the short form is never all digits', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 2000; i++) {
    const id = newContainerId();
    assert.ok(isFullId(id), id);
    assert.ok(!/^[0-9]{12}$/.test(shortId(id)));
    seen.add(id);
  }
  assert.equal(seen.size, 2000);
  // A source that first yields an all-digit short form is asked again.
  const digits = Buffer.from('0123456789012345678901234567890123456789012345678901234567890123', 'hex');
  const other = Buffer.alloc(32, 0xab);
  let calls = 0;
  const id = newContainerId(() => (calls++ === 0 ? digits : other));
  assert.equal(calls, 2);
  assert.equal(id, 'ab'.repeat(32));
  assert.equal(shortId('sha256:' + id), 'abababababab');
});

test('lookup: full ID, then exact name (with or without /), then a unique prefix', () => {
  const a = { id: 'abc1' + '0'.repeat(60), name: 'web' };
  const b = { id: 'abc2' + '0'.repeat(60), name: 'abc1' }; // a name that is also a prefix of a's ID
  const c = { id: 'def0' + '0'.repeat(60), name: 'db' };
  const all = [a, b, c];
  assert.equal(resolveContainer(a.id, all), a);
  assert.equal(resolveContainer('web', all), a);
  assert.equal(resolveContainer('/web', all), a);
  assert.equal(resolveContainer('abc1', all), b, 'an exact name wins over an ID prefix');
  assert.equal(resolveContainer('d', all), c);
  assert.throws(() => resolveContainer('abc', all), err('INVALID', 'multiple IDs found with provided prefix: abc'));
  assert.throws(() => resolveContainer('nope', all), err('NOT_FOUND', 'No such container: nope'));
  assert.throws(() => resolveContainer('', all), err('INVALID', 'invalid container name or ID: value is empty'));
});

test('default names are adjective_surname, never boring_wozniak, with a digit on retries', () => {
  assert.ok(ADJECTIVES.length >= 90 && SURNAMES.length >= 200, `${ADJECTIVES.length} ${SURNAMES.length}`);
  assert.equal(new Set(ADJECTIVES).size, ADJECTIVES.length);
  assert.equal(new Set(SURNAMES).size, SURNAMES.length);
  for (const w of [...ADJECTIVES, ...SURNAMES]) assert.doesNotThrow(() => validateContainerName(`${w}_x`));
  const b = ADJECTIVES.indexOf('boring');
  const w = SURNAMES.indexOf('wozniak');
  const picks = [b, w, b, w + 1]; // the first draw is boring_wozniak and must be redrawn
  let i = 0;
  assert.equal(randomName(0, () => picks[i++]!), `boring_${SURNAMES[w + 1]}`);
  for (let n = 0; n < 500; n++) {
    assert.match(randomName(0), /^[a-z]+_[a-z-]+$/);
    assert.match(randomName(2), /^[a-z]+_[a-z-]+[0-9]$/);
  }
});

test('a taken name is retried with digits and finally falls back to the short ID', () => {
  const taken = new Set<string>();
  const first = generateName('f'.repeat(64), (n) => taken.has(n));
  assert.match(first, /^[a-z]+_[a-z-]+$/);
  let tries = 0;
  const names: string[] = [];
  const got = generateName('a1b2c3d4e5f6' + '0'.repeat(52), (n) => {
    tries++;
    names.push(n);
    return true;
  });
  assert.equal(tries, 6);
  assert.match(names[0]!, /[a-z]$/);
  assert.ok(names.slice(1).every((n) => /[0-9]$/.test(n)));
  assert.equal(got, 'a1b2c3d4e5f6');
});

test("user names follow Docker's rule and error text", () => {
  assert.equal(validateContainerName('daemon_dave'), 'daemon_dave');
  assert.equal(validateContainerName('/web.1-a'), 'web.1-a');
  assert.equal(validateContainerName('a1'), 'a1');
  for (const bad of ['a', '_x', '-x', '.x', 'a b', 'a/b', 'ü-x', '']) {
    assert.throws(() => validateContainerName(bad), err('INVALID', `Invalid container name (${bad}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`), bad);
  }
  assert.equal(
    nameInUse('web', 'abc').message,
    'Conflict. The container name "/web" is already in use by container "abc". You have to remove (or rename) that container to be able to reuse that name.',
  );
});
