import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  parseReference,
  formatReference,
  familiarString,
  familiarRepository,
  registryHost,
} from '../../src/image/reference.js';

const D = 'sha256:' + 'a'.repeat(64);

test('references normalize as Docker normalizes them', () => {
  const cases: Array<[string, string, string]> = [
    ['busybox', 'docker.io/library/busybox:latest', 'busybox:latest'],
    ['busybox:1.36', 'docker.io/library/busybox:1.36', 'busybox:1.36'],
    ['user/app', 'docker.io/user/app:latest', 'user/app:latest'],
    ['docker.io/library/busybox', 'docker.io/library/busybox:latest', 'busybox:latest'],
    ['index.docker.io/library/busybox:x', 'docker.io/library/busybox:x', 'busybox:x'],
    ['localhost/a', 'localhost/a:latest', 'localhost/a:latest'],
    ['localhost:5000/a/b:t', 'localhost:5000/a/b:t', 'localhost:5000/a/b:t'],
    ['127.0.0.1:5000/x', '127.0.0.1:5000/x:latest', '127.0.0.1:5000/x:latest'],
    [`busybox@${D}`, `docker.io/library/busybox@${D}`, `busybox@${D}`],
    [`a.b/c:t@${D}`, `a.b/c:t@${D}`, `a.b/c:t@${D}`],
    ['my-reg.example.com/team/app_1.2-x:v1.0', 'my-reg.example.com/team/app_1.2-x:v1.0', 'my-reg.example.com/team/app_1.2-x:v1.0'],
  ];
  for (const [input, full, short] of cases) {
    const r = parseReference(input);
    assert.equal(formatReference(r), full, input);
    assert.equal(familiarString(r), short, input);
  }
  assert.equal(familiarRepository(parseReference('library/busybox')), 'busybox');
  assert.equal(parseReference('busybox', { defaultTag: false }).tag, undefined);
  assert.equal(registryHost('docker.io'), 'registry-1.docker.io');
  assert.equal(registryHost('localhost:5000'), 'localhost:5000');
});

test('invalid references are clear user errors', () => {
  for (const bad of ['', 'Busybox', 'a//b', 'a:', 'a:b:c/d', 'a@sha256:abc', '-a', 'a/B', ':tag', 'a:' + 'x'.repeat(129), 'a b']) {
    assert.throws(() => parseReference(bad), (e: Error & { code?: string }) => e.code === 'INVALID' && /invalid reference format/.test(e.message), bad);
  }
});
