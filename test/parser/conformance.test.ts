/** Docker's own parser test data: every positive case dumps byte-identically, every negative fails. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../helpers/cli.js';
import { dumpAst, parseDockerfile } from '../../src/parser/index.js';
import { isTsbuildError } from '../../src/errors.js';

const root = join(projectRoot, '..', 'shared', 'conformance', 'parser');

for (const name of readdirSync(join(root, 'positive')).sort()) {
  test(`positive: ${name}`, () => {
    const dir = join(root, 'positive', name);
    const src = readFileSync(join(dir, 'Dockerfile'));
    const expected = readFileSync(join(dir, 'result'), 'utf8');
    assert.equal(dumpAst(parseDockerfile(src, { file: 'Dockerfile' })), expected);
  });
}

for (const name of readdirSync(join(root, 'negative')).sort()) {
  test(`negative: ${name}`, () => {
    const src = readFileSync(join(root, 'negative', name, 'Dockerfile'));
    assert.throws(
      () => parseDockerfile(src),
      (e: unknown) => isTsbuildError(e) && e.code === 'PARSE' && e.location?.file === 'Dockerfile',
    );
  });
}
