import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PatternMatcher, cleanPath, findDockerignore, loadDockerignore, parseDockerignore } from '../../src/builder/dockerignore.js';
import { TsbuildError } from '../../src/errors.js';
import { sharedDir } from '../helpers/fixtures.js';

interface Cases {
  single: Array<{ pattern: string; path: string; excluded: boolean }>;
  multi: Array<{ patterns: string[]; path: string; excluded: boolean }>;
}
const cases = JSON.parse(readFileSync(join(sharedDir, 'conformance', 'dockerignore', 'patternmatcher-cases.json'), 'utf8')) as Cases;

test('patternmatcher conformance: every single-pattern case', () => {
  assert.ok(cases.single.length > 50);
  const failures: string[] = [];
  cases.single.forEach((c, i) => {
    const got = new PatternMatcher([c.pattern]).matchesOrParentMatches(c.path);
    if (got !== c.excluded) failures.push(`single[${i}] pattern ${JSON.stringify(c.pattern)} path ${JSON.stringify(c.path)}: got ${got}, want ${c.excluded}`);
  });
  assert.deepEqual(failures, []);
});

test('patternmatcher conformance: every multi-pattern case', () => {
  assert.ok(cases.multi.length > 0);
  const failures: string[] = [];
  cases.multi.forEach((c, i) => {
    const got = new PatternMatcher(c.patterns).matchesOrParentMatches(c.path);
    if (got !== c.excluded) failures.push(`multi[${i}] ${JSON.stringify(c.patterns)} path ${c.path}: got ${got}, want ${c.excluded}`);
  });
  assert.deepEqual(failures, []);
});

test('parseDockerignore: comments at column 0, trimming, cleaning, leading / and ./', () => {
  const text = [
    '\uFEFF# comment',
    '  # not a comment  ',
    '',
    '   ',
    '/abs/path',
    './rel/../x',
    'a//b/',
    '!  /keep/me ',
    '!./also',
    '*.log\r',
    '/',
    '!',
  ].join('\n');
  assert.deepEqual(parseDockerignore(text), ['# not a comment', 'abs/path', 'x', 'a/b', '!keep/me', '!also', '*.log', '/', '!']);
});

test('Docker rules, not gitignore rules', () => {
  const m = new PatternMatcher(parseDockerignore('foo\n*.log\n!keep.log\nbuild/\n'));
  assert.equal(m.matchesOrParentMatches('foo'), true);
  assert.equal(m.matchesOrParentMatches('foo/bar/baz'), true, 'a matching parent excludes its children');
  assert.equal(m.matchesOrParentMatches('a/foo'), false, 'anchored at the root');
  assert.equal(m.matchesOrParentMatches('x.log'), true);
  assert.equal(m.matchesOrParentMatches('sub/x.log'), false, '* does not cross /');
  assert.equal(m.matchesOrParentMatches('keep.log'), false);
  assert.equal(m.matchesOrParentMatches('build'), true, 'trailing slash is cleaned away');
  assert.equal(m.matchesOrParentMatches('build/out.o'), true);
  assert.equal(m.matchesOrParentMatches('builder'), false);
});

test('exceptions in order; later patterns win', () => {
  const m = new PatternMatcher(['docs', '!docs/README.md', 'docs/README.md']);
  assert.equal(m.matchesOrParentMatches('docs/README.md'), true);
  const m2 = new PatternMatcher(['*.md', '!README*.md', 'README-secret.md']);
  assert.equal(m2.matchesOrParentMatches('README.md'), false);
  assert.equal(m2.matchesOrParentMatches('README-secret.md'), true);
  assert.equal(m2.matchesOrParentMatches('CHANGES.md'), true);
});

test('character classes, escapes and unicode', () => {
  const m = (p: string, path: string) => new PatternMatcher([p]).matchesOrParentMatches(path);
  assert.equal(m('file[0-9].txt', 'file7.txt'), true);
  assert.equal(m('file[0-9].txt', 'filex.txt'), false);
  assert.equal(m('file[^0-9].txt', 'filex.txt'), true);
  assert.equal(m('arr[[]0].txt', 'arr[0].txt'), true);
  assert.equal(m('a\\?b', 'a?b'), true);
  assert.equal(m('a\\?b', 'axb'), false);
  assert.equal(m('?', 'é'), true);
  assert.equal(m('?', '😀'), true);
  assert.equal(m('한*', '한국어/x'), true);
});

test('malformed patterns are user errors', () => {
  for (const bad of ['[abc', 'a\\', '!', '[a-]', '[]', 'x/[z-a]/y', '**/[']) {
    assert.throws(() => new PatternMatcher([bad]), (e) => e instanceof TsbuildError && e.code === 'INVALID', bad);
  }
});

test('excludesDirEntirely: prunes only when no exception can re-include below', () => {
  const m = new PatternMatcher(['node_modules', 'build', '!build/keep', 'logs', '!l*/x']);
  assert.equal(m.excludesDirEntirely('node_modules'), true);
  assert.equal(m.excludesDirEntirely('node_modules/a'), true);
  assert.equal(m.excludesDirEntirely('build'), false);
  assert.equal(m.excludesDirEntirely('build/other'), true, 'build/keep cannot be below build/other');
  assert.equal(m.excludesDirEntirely('build/keep/sub'), false, 'the exception re-includes an ancestor');
  assert.equal(m.excludesDirEntirely('logs'), false, 'l*/x matches logs/x');
  assert.equal(m.excludesDirEntirely('src'), false, 'not excluded at all');
  const star = new PatternMatcher(['cache', 'node_modules', '!**/important']);
  assert.equal(star.excludesDirEntirely('cache'), false, '** exception may apply anywhere');
  assert.equal(star.excludesDirEntirely('node_modules'), false);
  const n = new PatternMatcher(['a', '!b/keep']);
  assert.equal(n.excludesDirEntirely('a'), true);
  assert.equal(n.excludesDirEntirely('a/b'), true);
  // only literal exceptions: BuildKit skips a dir no exception starts with, even one an exception names an ancestor of
  const lit = new PatternMatcher(['*/x', '!c', 'ab/b', '!ab', 'docs', '!docs/keep/**']);
  assert.equal(lit.excludesDirEntirely('c/x'), true);
  assert.equal(lit.excludesDirEntirely('ab/b'), true);
  assert.equal(lit.excludesDirEntirely('docs'), false);
  assert.equal(lit.excludesDirEntirely('docs/keep'), false, 'a trailing /** is cut before the prefix test');
  assert.equal(lit.excludesDirEntirely('docs/other'), true);
  // Whatever excludesDirEntirely says, it must agree with per-path answers for what lies below.
  const p = new PatternMatcher(['**', '!src/**/*.ts', '!README.md']);
  assert.equal(p.excludesDirEntirely('src'), false);
  assert.equal(p.matchesOrParentMatches('src/a/b.ts'), false);
  assert.equal(p.excludesDirEntirely('dist'), true);
  assert.equal(p.matchesOrParentMatches('README.md'), false);
});

/** What BuildKit's context walker (fsutil's filter, run on these inputs) keeps of each path. */
const walkerCases: Array<{ ignore: string; hidden: string[]; kept: string[]; why: string }> = [
  // a wildcard in an exception: the walker looks inside excluded directories (Docker 20.10 did not)
  { ignore: 'subdir\n!*/sub1*\n', hidden: ['subdir/other.txt'], kept: ['subdir/sub1.txt', 'subdir/sub1dir/f'], why: 'wildcard exception' },
  { ignore: 'volume/\n!**/oneline.txt\n', hidden: ['volume/y.txt'], kept: ['volume/oneline.txt', 'volume/x/oneline.txt'], why: '** exception' },
  { ignore: '**/subdir-e\n!**/subdir-f\n', hidden: ['subdir-e/g', 'a/subdir-e/g'], kept: ['subdir-e/subdir-f/f', 'a/subdir-e/subdir-f/f'], why: '** on both sides' },
  // match results carried down: an exception is only tried on a path an earlier pattern excluded
  { ignore: '**/*.log\n!keep\n', hidden: ['keep/debug.log', 'x.log'], kept: ['keep/k.txt'], why: '!keep does not reach keep/debug.log' },
  // literal exceptions: an excluded dir is skipped unless an exception starts with its path
  { ignore: '*/x\n!c\n', hidden: ['c/x', 'c/x/f', 'volume/x/f'], kept: ['c/y'], why: '!c does not open c/x' },
  { ignore: 'ab/b\n!ab\n', hidden: ['ab/b', 'ab/b/f'], kept: ['ab/b.txt'], why: '!ab does not open ab/b' },
  { ignore: 'docs\n!docs/keep/*\n', hidden: ['docs/x.md', 'docs/other/keep.md'], kept: ['docs/keep/a.md', 'docs/keep/sub/b.md'], why: 'trailing /* is cut' },
];

test('hides: what BuildKit\'s context walker leaves out (checked against fsutil\'s walker)', () => {
  for (const c of walkerCases) {
    const m = new PatternMatcher(parseDockerignore(c.ignore));
    for (const p of c.hidden) assert.equal(m.hides(p), true, `${c.why}: ${JSON.stringify(c.ignore)} hides ${p}`);
    for (const p of c.kept) assert.equal(m.hides(p), false, `${c.why}: ${JSON.stringify(c.ignore)} keeps ${p}`);
  }
  // the per-path rule (COPY --exclude, patternmatcher's own tests) still re-includes below `!keep`
  assert.equal(new PatternMatcher(['**/*.log', '!keep']).matchesOrParentMatches('keep/debug.log'), false);
});

test('cleanPath follows Go filepath.Clean', () => {
  const cases: Array<[string, string]> = [
    ['', '.'], ['.', '.'], ['/', '/'], ['a/b/', 'a/b'], ['a//b', 'a/b'], ['./a', 'a'], ['a/../..', '..'],
    ['/../a', '/a'], ['../../a', '../../a'], ['a/./b/../c', 'a/c'], ['!./foo', '!./foo'],
  ];
  for (const [i, o] of cases) assert.equal(cleanPath(i), o, i);
});

test('<Dockerfile>.dockerignore next to the Dockerfile wins over the context one', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsb-ign-'));
  try {
    const ctx = join(dir, 'ctx');
    mkdirSync(join(ctx, 'docker'), { recursive: true });
    const df = join(ctx, 'docker', 'app.Dockerfile');
    writeFileSync(df, 'FROM scratch\n');
    assert.equal(await findDockerignore(ctx, df), undefined);
    assert.deepEqual((await loadDockerignore(ctx, df)).patterns, []);
    writeFileSync(join(ctx, '.dockerignore'), 'ctx-wide\n');
    assert.equal(await findDockerignore(ctx, df), join(ctx, '.dockerignore'));
    writeFileSync(join(ctx, 'docker', 'app.Dockerfile.dockerignore'), '# mine\nspecific\n');
    assert.equal(await findDockerignore(ctx, df), join(ctx, 'docker', 'app.Dockerfile.dockerignore'));
    const loaded = await loadDockerignore(ctx, df);
    assert.deepEqual(loaded.patterns, ['specific']);
    assert.equal(loaded.matcher.matchesOrParentMatches('specific/x'), true);
    assert.equal(loaded.matcher.matchesOrParentMatches('ctx-wide'), false);
    assert.equal(await findDockerignore(ctx), join(ctx, '.dockerignore'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
