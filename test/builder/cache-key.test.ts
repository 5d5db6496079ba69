import { test } from 'node:test';
import assert from 'node:assert/strict';
import { digestOf, rootKey, stepKey } from '../../src/builder/cache-key.js';

test('cache keys: canonical (key order does not matter), sensitive to every value', () => {
  assert.equal(digestOf({ a: 1, b: [1, { c: 2, d: 3 }] }), digestOf({ b: [1, { d: 3, c: 2 }], a: 1 }));
  assert.notEqual(digestOf({ a: [1, 2] }), digestOf({ a: [2, 1] }));
  const root = rootKey('scratch');
  const k1 = stepKey(root, { kind: 'RUN', cmd: ['/bin/sh', '-c', 'echo hi'], env: ['A=1'] });
  assert.equal(k1, stepKey(root, { env: ['A=1'], cmd: ['/bin/sh', '-c', 'echo hi'], kind: 'RUN' }));
  assert.notEqual(k1, stepKey(root, { kind: 'RUN', cmd: ['/bin/sh', '-c', 'echo hi'], env: ['A=2'] }));
  assert.notEqual(k1, stepKey(rootKey({ configDigest: 'sha256:x', diffIds: [] }), { kind: 'RUN', cmd: ['/bin/sh', '-c', 'echo hi'], env: ['A=1'] }));
  assert.match(k1, /^sha256:[0-9a-f]{64}$/);
  // undefined fields are the same as absent ones, null is not
  assert.equal(digestOf({ a: 1, b: undefined }), digestOf({ a: 1 }));
  assert.notEqual(digestOf({ a: 1, b: null }), digestOf({ a: 1 }));
});
