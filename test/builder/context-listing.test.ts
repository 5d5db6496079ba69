// The context's listings as a COPY takes them (issue 13: fewer objects per entry): whichever way a
// directory was listed (the tree key's native listing, the plain native listing, Node's lstat),
// the entries, their order and what COPY hands on (host paths, the snapshot writer's identities,
// hard links) are the same, and equal to what lstat says.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { linkSync, lstatSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BuildContext, compareNames, type ContextEntry } from '../../src/builder/context.js';
import { contextSourceTree, type SourceEntry } from '../../src/builder/copy-source.js';
import { sourceIdentity } from '../../src/image/snapshot-writer.js';
import { PatternMatcher, parseDockerignore } from '../../src/builder/dockerignore.js';

/** Names that sort apart in UTF-16 code units and in UTF-8 bytes (a surrogate pair against U+E000
 *  and U+FF21), with the '/'-ordering traps of a path sort ('a-b' before 'a/…'). */
const NAMES = ['a', 'a-b', 'a.txt', 'B', '\u{1F600}x', '\uE000y', '\uFF21z', 'z'];

function makeContext(dir: string): void {
  for (const n of NAMES) writeFileSync(join(dir, n), n);
  mkdirSync(join(dir, 'd', 'e'), { recursive: true });
  mkdirSync(join(dir, 'logs'));
  for (const n of NAMES) writeFileSync(join(dir, 'd', 'e', n), 'e' + n);
  writeFileSync(join(dir, 'd', 'one'), '1');
  linkSync(join(dir, 'd', 'one'), join(dir, 'd', 'two'));
  symlinkSync('../a', join(dir, 'd', 'link'));
  writeFileSync(join(dir, 'logs', 'x.log'), 'x');
  writeFileSync(join(dir, 'logs', 'keep.log'), 'k');
}

function summary(e: ContextEntry): unknown {
  return [e.relPath, e.type, e.mode, e.size, e.mtimeMs, e.nlink, e.hostPath, e.linkname, e.hardlinkTo, String(e.stat.ino)];
}

test('context listings: the same entries and order whether a directory was listed for its digest first or not', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsb-listing-'));
  try {
    makeContext(dir);
    const matcher = new PatternMatcher(parseDockerignore('logs\n!logs/keep.log\n'));
    const walked = new BuildContext(dir, { matcher }).walkSync('');
    const digested = new BuildContext(dir, { matcher });
    await digested.digest('.'); // (the tree key's listings are then the ones walked)
    const after = digested.walkSync('');
    assert.deepEqual(after.map(summary), walked.map(summary));
    const paths = walked.map((e) => e.relPath);
    assert.ok(paths.includes('logs/keep.log') && !paths.includes('logs/x.log'), paths.join(' '));
    // children in byte order of their names, parents first
    const top = walked.filter((e) => !e.relPath.includes('/')).map((e) => e.relPath);
    assert.deepEqual(top, [...top].sort(compareNames));
    assert.deepEqual(top, [...NAMES, 'd', 'logs'].sort(compareNames));
    for (const e of walked) {
      const st = lstatSync(e.hostPath, { bigint: true });
      assert.equal(e.hostPath, join(dir, e.relPath));
      assert.equal(e.stat.ino, st.ino);
      assert.equal(e.mtimeMs, Number(st.mtimeNs / 1_000_000n));
    }
    assert.equal(after.find((e) => e.relPath === 'd/two')?.hardlinkTo, 'd/one');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("context listings: COPY's source entries carry the snapshot writer's identities and the host paths", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsb-listing-'));
  try {
    makeContext(dir);
    for (const digestFirst of [false, true]) {
      const ctx = new BuildContext(dir);
      if (digestFirst) await ctx.digest('.');
      for (const src of ['.', 'd']) {
        const [item] = await contextSourceTree(ctx).resolve(src);
        const entries: SourceEntry[] = [...item!.entries()];
        const prefix = src === '.' ? '' : src + '/';
        assert.deepEqual(
          entries.map((e) => e.rel),
          ctx.walkSync(src === '.' ? '' : src).map((e) => e.relPath.slice(prefix.length)),
        );
        for (const e of entries) {
          assert.equal(e.hostPath, join(dir, prefix + e.rel));
          assert.equal(e.sourceIdentity, e.type === 'file' ? sourceIdentity(e.hostPath) : undefined, e.rel);
          if (e.rel === 'two') assert.equal(e.hardlinkTo, 'one');
          if (e.rel === 'd/two') assert.equal(e.hardlinkTo, 'd/one');
          if (e.rel.endsWith('one') || e.rel.endsWith('two')) assert.equal(e.linked, true);
          if (e.rel.endsWith('link')) assert.equal(e.linkname, '../a');
        }
        // a second pass gives the same (entries are made anew from the build's listing)
        assert.deepEqual([...item!.entries()].map((e) => [e.rel, e.sourceIdentity]), entries.map((e) => [e.rel, e.sourceIdentity]));
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
