import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseChmod } from '../../src/builder/steps/copy-chmod.js';
import { TsbuildError } from '../../src/errors.js';

test('copy --chmod: octal and symbolic modes', () => {
  const m = (spec: string, mode: number, isDir = false) => parseChmod(spec)(mode, isDir).toString(8);
  assert.equal(m('755', 0o600), '755');
  assert.equal(m('0640', 0o777), '640');
  assert.equal(m('4755', 0o644), '4755');
  assert.equal(m('u+x', 0o644), '744');
  assert.equal(m('go-w', 0o666), '644');
  assert.equal(m('u+x,go-rwx', 0o644), '700');
  assert.equal(m('a=rX', 0o600), '444', 'X: no execute for a plain file without any x bit');
  assert.equal(m('a=rX', 0o700), '555');
  assert.equal(m('a=rX', 0o700, true), '555', 'X: execute for directories');
  assert.equal(m('a=rX', 0o600, true), '555');
  assert.equal(m('g=u', 0o640), '660');
  assert.equal(m('u+s', 0o755), '4755');
  assert.equal(m('+t', 0o777, true), '1777');
  assert.equal(m('o=', 0o777), '770');
  assert.equal(m('u+x-w', 0o644), '544', 'several actions in one clause, all for its classes');
  assert.equal(m('g=u-w', 0o640), '640', 'copy, then remove');
  assert.equal(m('a+x,o-rx', 0o644), '750');
  assert.equal(m('=r,u+w', 0o777), '644');
  for (const bad of ['999', '8', '', 'u+q', 'x+r', '755,u+x', '12345', 'rwxr-xr-x', 'u', 'g=ur', 'u+x,', 'u+x-q']) {
    assert.throws(() => parseChmod(bad), (e) => e instanceof TsbuildError && e.code === 'INVALID' && e.message.includes(`'${bad}'`), bad);
  }
});
