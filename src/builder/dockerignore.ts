/**
 * `.dockerignore` as Docker applies it (moby/patternmatcher + ignorefile): patterns are anchored at
 * the context root, cleaned like Go's filepath.Clean, matched with Go filepath.Match syntax plus
 * `**`, `!` exceptions are applied in order and a pattern that matches a parent directory excludes
 * everything under it. The `ignore` npm package implements .gitignore rules (unanchored names,
 * trailing-slash directory-only patterns, different `!` rules), so this is a separate matcher:
 * each pattern is compiled to one RegExp up front.
 *
 * Two answers exist, as in Docker:
 * - matchesOrParentMatches: patternmatcher's per-path rule (COPY --exclude, the conformance data).
 * - hides / excludesDirEntirely: what BuildKit's context walker (tonistiigi/fsutil's filter) lets
 *   through, which is what a build sees (checked against fsutil's own walker). It differs from the
 *   per-path rule: a directory's match results are carried to its children, and an exception is
 *   tried on a path only once an earlier pattern excluded that very path, so `*.log` patterns for
 *   every directory followed by `!keep` do not bring back keep/debug.log; and when every exception
 *   is a literal path (a trailing `/*` or `/**` aside), an excluded directory is skipped whole
 *   unless an exception starts with its path, so `ab/b` + `!ab` leaves ab/b out. With a wildcard in
 *   some exception the walker looks inside every excluded directory (`subdir` + `!sub?ir/sub1*`
 *   keeps subdir/sub1.txt). Docker 20.10's walker skipped by the literal rule in every case.
 */
import { readFile, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { TsbuildError } from '../errors.js';

/** Parses `.dockerignore` text into cleaned patterns (exceptions keep their leading `!`). */
export function parseDockerignore(text: string): string[] {
  const out: string[] = [];
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  for (const raw of lines) {
    // A comment only when `#` is the very first character (`  # x` is a pattern " # x" trimmed).
    if (raw.startsWith('#')) continue;
    let p = goTrimSpace(raw);
    if (p === '') continue;
    const invert = p.startsWith('!');
    if (invert) p = goTrimSpace(p.slice(1));
    if (p.length > 0) {
      p = cleanPath(p);
      if (p.length > 1 && p.startsWith('/')) p = p.slice(1);
    }
    out.push(invert ? '!' + p : p);
  }
  return out;
}

/** One compiled pattern. */
export interface IgnorePattern {
  /** The cleaned pattern without its `!`. */
  readonly source: string;
  /** True for `!` (re-include) patterns. */
  readonly exclusion: boolean;
  readonly regex: RegExp;
}

export class PatternMatcher {
  readonly patterns: readonly IgnorePattern[];
  /** Whether any `!` pattern exists (without one, an excluded directory can always be pruned). */
  readonly hasExclusions: boolean;
  /** Every `!` pattern is a literal path once a trailing `/*` or `/**` is cut: BuildKit's walker
   *  then skips an excluded directory unless one of these starts with its path. */
  private readonly literalExceptions: readonly string[] | undefined;
  /** The walker's state per directory, memoized (one entry per directory asked about). */
  private readonly dirStates = new Map<string, DirState>();

  constructor(patterns: readonly string[]) {
    const compiled: IgnorePattern[] = [];
    for (let p of patterns) {
      p = goTrimSpace(p);
      if (p === '') continue;
      p = cleanPath(p);
      let exclusion = false;
      if (p.startsWith('!')) {
        if (p.length === 1) throw new TsbuildError('INVALID', 'illegal exclusion pattern: "!" in .dockerignore');
        exclusion = true;
        p = p.slice(1);
      }
      // Go's filepath.Match rejects malformed patterns ([a-], [], trailing \); Docker reports them.
      for (const seg of p.split('/')) compileGlobSegment(seg.replace(/\*\*+/g, '*'));
      compiled.push({ source: p, exclusion, regex: compilePattern(p) });
    }
    this.patterns = compiled;
    this.hasExclusions = compiled.some((p) => p.exclusion);
    const prefixes = compiled.filter((p) => p.exclusion).map((p) => p.source.replace(/\/\*\*$/, '').replace(/\/\*$/, ''));
    this.literalExceptions = prefixes.some((p) => /[*[\]?^\\]/.test(p)) ? undefined : prefixes;
  }

  /** True when the pattern list is empty (nothing is ever excluded). */
  get empty(): boolean {
    return this.patterns.length === 0;
  }

  /**
   * Whether the context-relative, '/'-separated path is excluded: the last pattern (in order) that
   * matches the path or one of its parent directories decides.
   */
  matchesOrParentMatches(relPath: string): boolean {
    let matched = false;
    const parent = goDir(relPath);
    const parentDirs = parent === '.' ? [] : parent.split('/');
    for (const pat of this.patterns) {
      // Only patterns that could flip the current answer are worth evaluating.
      if (pat.exclusion !== matched) continue;
      let hit = pat.regex.test(relPath);
      if (!hit) {
        let prefix = '';
        for (let i = 0; i < parentDirs.length && !hit; i++) {
          prefix = i === 0 ? parentDirs[0]! : prefix + '/' + parentDirs[i];
          hit = pat.regex.test(prefix);
        }
      }
      if (hit) matched = !pat.exclusion;
    }
    return matched;
  }

  /**
   * Whether BuildKit's context walker leaves the context-relative path out: excluded by the
   * patterns as the walker matches them (each directory's results carried down), or below a
   * directory it skips whole. An excluded directory may still show up as the parent of entries
   * re-included below it (see excludesDirEntirely).
   */
  hides(relPath: string): boolean {
    if (relPath === '' || this.patterns.length === 0) return false;
    const parent = this.dirState(goParent(relPath));
    return parent.skipped || this.matchUsingParent(relPath, parent.matched).excluded;
  }

  /**
   * True when the walker never looks inside `relDir`: it (or an ancestor) is excluded and no `!`
   * pattern can bring back anything below it. With wildcard exceptions BuildKit walks every
   * excluded directory; skipping one here is then only a shortcut, taken when no exception could
   * match below it (a `**` in one means "could").
   */
  excludesDirEntirely(relDir: string): boolean {
    return relDir !== '' && this.patterns.length > 0 && this.dirState(relDir).skipped;
  }

  private dirState(relDir: string): DirState {
    if (relDir === '') return ROOT_STATE;
    const known = this.dirStates.get(relDir);
    if (known) return known;
    const parent = this.dirState(goParent(relDir));
    let state: DirState;
    if (parent.skipped) state = SKIPPED_STATE;
    else {
      const { excluded, matched } = this.matchUsingParent(relDir, parent.matched);
      state = { matched, skipped: excluded && this.skipsExcludedDir(relDir) };
    }
    this.dirStates.set(relDir, state);
    return state;
  }

  /**
   * patternmatcher's MatchesUsingParentResults, as the walker calls it: a pattern that matched the
   * parent directory matches here too; otherwise it is tried on this path only when it could flip
   * the answer so far (and then records whether it matched, for the children).
   */
  private matchUsingParent(relPath: string, parentMatched: readonly boolean[]): { excluded: boolean; matched: boolean[] } {
    let excluded = false;
    const matched = new Array<boolean>(this.patterns.length).fill(false);
    this.patterns.forEach((pat, i) => {
      let hit = parentMatched[i] === true;
      if (!hit) {
        if (pat.exclusion !== excluded) return;
        // (the walker's first call, for a top-level entry, has no parent results; a top-level
        // path has no parent directory to try either)
        hit = pat.regex.test(relPath);
      }
      matched[i] = hit;
      if (hit) excluded = !pat.exclusion;
    });
    return { excluded, matched };
  }

  private skipsExcludedDir(relDir: string): boolean {
    if (!this.hasExclusions) return true;
    if (this.literalExceptions) return !this.literalExceptions.some((p) => (p + '/').startsWith(relDir + '/'));
    const dirSegs = relDir.split('/');
    return !this.patterns.some((p) => p.exclusion && exceptionMayApplyBelow(p.source, dirSegs));
  }
}

/** The walker's state at a directory: which patterns matched it, and whether it is skipped. */
interface DirState {
  readonly matched: readonly boolean[];
  readonly skipped: boolean;
}

const ROOT_STATE: DirState = { matched: [], skipped: false };
const SKIPPED_STATE: DirState = { matched: [], skipped: true };

/**
 * Picks the ignore file for a build: `<Dockerfile>.dockerignore` next to the Dockerfile wins over
 * `<context>/.dockerignore`. Returns the path, or undefined when neither exists.
 */
export async function findDockerignore(contextDir: string, dockerfilePath?: string): Promise<string | undefined> {
  const candidates: string[] = [];
  if (dockerfilePath) candidates.push(join(dirname(dockerfilePath), basename(dockerfilePath) + '.dockerignore'));
  candidates.push(join(contextDir, '.dockerignore'));
  for (const c of candidates) {
    try {
      if ((await stat(c)).isFile()) return c;
    } catch {
      // absent: try the next one
    }
  }
  return undefined;
}

/** Reads the ignore file chosen by findDockerignore and compiles it (an empty matcher if none). */
export async function loadDockerignore(contextDir: string, dockerfilePath?: string): Promise<{ file?: string; patterns: string[]; matcher: PatternMatcher }> {
  const file = await findDockerignore(contextDir, dockerfilePath);
  const patterns = file ? parseDockerignore(await readFile(file, 'utf8')) : [];
  return { file, patterns, matcher: new PatternMatcher(patterns) };
}

/**
 * Compiles one path segment in Go filepath.Match syntax to an anchored RegExp: `*` any run of
 * non-'/' characters, `?` one, `[...]`/`[^...]` classes with ranges, `\x` a literal x. Malformed
 * patterns (unclosed class, empty class, trailing backslash) are user errors, as in Docker.
 */
export function compileGlobSegment(seg: string): RegExp {
  const chars = Array.from(seg);
  const bad = (why: string) => new TsbuildError('INVALID', `syntax error in pattern ${JSON.stringify(seg)}: ${why}`);
  let src = '';
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i]!;
    if (ch === '*') src += '[^/]*';
    else if (ch === '?') src += '[^/]';
    else if (ch === '\\') {
      if (i + 1 >= chars.length) throw bad('trailing backslash');
      src += escapeLiteral(chars[++i]!, false);
    } else if (ch === '[') {
      i++;
      let cls = '[';
      if (chars[i] === '^') {
        cls += '^';
        i++;
      }
      let n = 0;
      for (;;) {
        if (i >= chars.length) throw bad('unterminated character class');
        if (chars[i] === ']' && n > 0) break;
        let lo = chars[i]!;
        if (lo === '\\') {
          if (++i >= chars.length) throw bad('trailing backslash');
          lo = chars[i]!;
        } else if (lo === '-' || lo === ']') throw bad(`unexpected ${lo} in character class`);
        cls += escapeLiteral(lo, true);
        i++;
        if (chars[i] === '-') {
          i++;
          let hi = chars[i];
          if (hi === '\\') hi = chars[++i];
          if (hi === undefined) throw bad('unterminated character class');
          if (hi === ']' && chars[i - 1] !== '\\') throw bad('unterminated range');
          if (hi.codePointAt(0)! < lo.codePointAt(0)!) throw bad('invalid range');
          cls += '-' + escapeLiteral(hi, true);
          i++;
        }
        n++;
      }
      src += cls + ']';
    } else src += escapeLiteral(ch, false);
  }
  return new RegExp(`^${src}$`, 'u');
}

// ---------------------------------------------------------------------------------------------
// Helpers

/**
 * Translates a cleaned pattern to a RegExp the way moby/patternmatcher does: `**` spans
 * directories (`**` + `/` counts as one token; a trailing `**` matches everything), `*` and `?` stay
 * within one segment, `\x` is a literal x, `[...]` classes pass through.
 */
function compilePattern(pattern: string): RegExp {
  const chars = Array.from(pattern);
  let src = '^';
  let inClass = false;
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i]!;
    if (ch === '*' && !inClass) {
      if (chars[i + 1] === '*') {
        i++;
        if (chars[i + 1] === '/') i++;
        src += i + 1 >= chars.length ? '.*' : '(?:.*/)?';
      } else src += '[^/]*';
    } else if (ch === '?' && !inClass) {
      src += '[^/]';
    } else if (ch === '\\') {
      const n = chars[i + 1];
      if (n === undefined) throw badPattern(pattern, 'trailing backslash');
      i++;
      src += escapeLiteral(n, inClass);
    } else if (ch === '[' && !inClass) {
      inClass = true;
      src += '[';
      // Go's filepath.Match negates with `^`; keep a leading `^` as the class negation.
      if (chars[i + 1] === '^') {
        src += '^';
        i++;
      }
    } else if (ch === ']' && inClass) {
      inClass = false;
      src += ']';
    } else {
      // An unescaped `-` inside a class is a range operator.
      src += inClass && ch === '-' ? '-' : escapeLiteral(ch, inClass);
    }
  }
  if (inClass) throw badPattern(pattern, 'unterminated character class');
  try {
    return new RegExp(src + '$', 'u');
  } catch (e) {
    throw badPattern(pattern, (e as Error).message);
  }
}

function badPattern(pattern: string, why: string): TsbuildError {
  return new TsbuildError('INVALID', `syntax error in .dockerignore pattern ${JSON.stringify(pattern)}: ${why}`);
}

const REGEX_SYNTAX = new Set(['\\', '^', '$', '.', '*', '+', '?', '(', ')', '[', ']', '{', '}', '|', '/']);

function escapeLiteral(ch: string, inClass: boolean): string {
  if (REGEX_SYNTAX.has(ch)) return '\\' + ch;
  if (ch === '-' && inClass) return '\\-';
  return ch;
}

/**
 * Could the exception pattern match `dir/…something…` or an ancestor of it? Compares segment by
 * segment; a `**` anywhere in the compared part means "maybe".
 */
function exceptionMayApplyBelow(pattern: string, dirSegs: string[]): boolean {
  const patSegs = pattern.split('/');
  for (let i = 0; i < patSegs.length; i++) {
    const seg = patSegs[i]!;
    if (seg.includes('**')) return true;
    if (i >= dirSegs.length) return true; // more pattern below the dir: may match inside it
    let re: RegExp;
    try {
      re = compilePattern(seg);
    } catch {
      return true;
    }
    if (!re.test(dirSegs[i]!)) return false;
  }
  return true; // the exception matches the dir itself or an ancestor: it re-includes the subtree
}

/** Go's filepath.Clean for '/'-separated paths. */
export function cleanPath(p: string): string {
  if (p === '') return '.';
  const rooted = p.startsWith('/');
  const out: string[] = [];
  for (const seg of p.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      if (out.length > 0 && out[out.length - 1] !== '..') out.pop();
      else if (!rooted) out.push('..');
      continue;
    }
    out.push(seg);
  }
  const body = out.join('/');
  if (rooted) return '/' + body;
  return body === '' ? '.' : body;
}

/** The parent of a clean context-relative path ('' for a top-level one). */
function goParent(relPath: string): string {
  const i = relPath.lastIndexOf('/');
  return i < 0 ? '' : relPath.slice(0, i);
}

/** Go's filepath.Dir: everything but the last element, cleaned. */
function goDir(p: string): string {
  const i = p.lastIndexOf('/');
  return cleanPath(i < 0 ? '' : p.slice(0, i + 1));
}

/** Go's strings.TrimSpace (Unicode white space). */
function goTrimSpace(s: string): string {
  return s.replace(/^[\s\u0085]+|[\s\u0085]+$/gu, '');
}
