/**
 * Build checks (src/builder/checks/): each BuildKit rule fires with BuildKit's name, message and
 * line on a Dockerfile that breaks it, and stays quiet on one that does not; the check=
 * directive, the BUILDKIT_DOCKERFILE_CHECK build arg and `# check=` comments select rules; the
 * --check report prints as buildx prints it. Pure: no store, no build.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { platformArgs } from '../../src/builder/args.js';
import { runChecks, shortWarning, parseCheckOptions, type CheckResult } from '../../src/builder/checks/index.js';
import { formatCheckReport } from '../../src/builder/checks/print.js';
import { PatternMatcher } from '../../src/builder/dockerignore.js';
import { parseDockerfile } from '../../src/parser/parse.js';
import { toInstructions } from '../../src/parser/to-instructions.js';

interface Opts {
  buildArgs?: Record<string, string>;
  env?: string[];
  ignore?: string[];
  stages?: number[];
}

function run(text: string, o: Opts = {}): CheckResult {
  const parsed = parseDockerfile(text);
  let instructions;
  try {
    instructions = toInstructions(parsed);
  } catch {
    instructions = undefined; // e.g. a duplicate stage name: the parse-tree rules still report
  }
  return runChecks({
    parsed,
    ...(instructions ? { instructions } : {}),
    buildArgs: o.buildArgs ?? {},
    predefinedArgs: platformArgs(),
    baseImages: new Map([['busybox', { env: o.env ?? ['PATH=/usr/bin:/bin', 'HOME=/root'] }]]),
    ...(o.ignore ? { dockerignore: new PatternMatcher(o.ignore) } : {}),
    ...(o.stages ? { stages: new Set(o.stages) } : {}),
  });
}

const shorts = (text: string, o: Opts = {}) => run(text, o).warnings.map(shortWarning);
const rules = (text: string, o: Opts = {}) => run(text, o).warnings.map((w) => w.rule);

test('a clean Dockerfile reports nothing', () => {
  assert.deepEqual(shorts('FROM busybox AS build\nARG V=1\nENV A=$V\nWORKDIR /app\nCOPY a b/\nCMD ["sh"]\n'), []);
});

test('StageNameCasing', () => {
  assert.deepEqual(shorts('FROM busybox AS Build\n'), ["StageNameCasing: Stage name 'Build' should be lowercase (line 1)"]);
  assert.deepEqual(shorts('FROM busybox AS build\n'), []);
});

test('FromAsCasing', () => {
  assert.deepEqual(shorts('FROM busybox as build\n'), ["FromAsCasing: 'as' and 'FROM' keywords' casing do not match (line 1)"]);
  assert.deepEqual(shorts('from busybox AS build\n'), ["FromAsCasing: 'AS' and 'from' keywords' casing do not match (line 1)"]);
  assert.deepEqual(shorts('from busybox as build\n'), []);
});

test('NoEmptyContinuation (the parser warning, unified)', () => {
  assert.deepEqual(shorts('FROM busybox\nRUN echo a \\\n\n  b\n'), ['NoEmptyContinuation: Empty continuation line (line 4)']);
  assert.deepEqual(shorts('FROM busybox\nRUN echo a \\\n  b\n'), []);
});

test('ConsistentInstructionCasing: the majority decides, ties go to upper case', () => {
  assert.deepEqual(shorts('FROM busybox\nRUN true\nrun true\n'), ["ConsistentInstructionCasing: Command 'run' should match the case of the command majority (uppercase) (line 3)"]);
  assert.deepEqual(shorts('from busybox\nrun true\nRUN true\n'), ["ConsistentInstructionCasing: Command 'RUN' should match the case of the command majority (lowercase) (line 3)"]);
  // BuildKit's own case: frOM and cOpy are each inconsistent
  assert.deepEqual(rules('\nfrOM busybox as base\ncOpy Dockerfile .\n'), ['ConsistentInstructionCasing', 'ConsistentInstructionCasing']);
  assert.deepEqual(shorts('from busybox\nrun true\n'), []);
});

test('DuplicateStageName and ReservedStageName', () => {
  assert.deepEqual(shorts('FROM busybox AS a\nFROM busybox AS a\n'), ['DuplicateStageName: Duplicate stage name "a", stage names should be unique (line 2)']);
  assert.deepEqual(shorts('FROM busybox AS scratch\n'), ['ReservedStageName: Stage name should not use the same name as reserved stage "scratch" (line 1)']);
  assert.deepEqual(shorts('FROM busybox AS context\n'), ['ReservedStageName: Stage name should not use the same name as reserved stage "context" (line 1)']);
  assert.deepEqual(shorts('FROM busybox AS a\nFROM busybox AS b\n'), []);
});

test('JSONArgsRecommended, unless a SHELL is set', () => {
  assert.deepEqual(shorts('FROM busybox\nCMD echo hi\n'), ['JSONArgsRecommended: JSON arguments recommended for CMD to prevent unintended behavior related to OS signals (line 2)']);
  assert.deepEqual(rules('FROM busybox\nENTRYPOINT echo hi\n'), ['JSONArgsRecommended']);
  assert.deepEqual(shorts('FROM busybox\nCMD ["echo", "hi"]\n'), []);
  assert.deepEqual(shorts('FROM busybox\nSHELL ["/bin/sh", "-c"]\nCMD echo hi\n'), []);
});

test('MaintainerDeprecated', () => {
  assert.deepEqual(shorts('FROM busybox\nMAINTAINER me\n'), ['MaintainerDeprecated: Maintainer instruction is deprecated in favor of using label (line 2)']);
  assert.deepEqual(shorts('FROM busybox\nLABEL org.opencontainers.image.authors=me\n'), []);
});

test('UndefinedArgInFrom, with a suggestion', () => {
  // busybox: with nothing after the colon is no image name either (BuildKit reports both)
  assert.deepEqual(shorts('ARG VERSION=1\nFROM busybox:$VERSIO\n'), [
    'InvalidDefaultArgInFrom: Default value for ARG busybox:$VERSIO results in empty or invalid base image name (line 2)',
    "UndefinedArgInFrom: FROM argument 'VERSIO' is not declared (did you mean VERSION?) (line 2)",
  ]);
  assert.deepEqual(shorts('FROM busybox$NOPE\n'), ["UndefinedArgInFrom: FROM argument 'NOPE' is not declared (line 1)"]);
  assert.deepEqual(shorts('ARG V=latest\nFROM busybox:$V\n'), []);
  assert.deepEqual(shorts('ARG V\nFROM busybox${V:+:$V}\n'), [], 'declared without a value is declared');
});

test('WorkdirRelativePath: only before an absolute WORKDIR in the build', () => {
  assert.deepEqual(shorts('FROM busybox\nWORKDIR app\n'), ['WorkdirRelativePath: Relative workdir "app" can have unexpected results if the base image changes (line 2)']);
  assert.deepEqual(shorts('FROM busybox\nWORKDIR /app\nWORKDIR sub\n'), []);
  assert.deepEqual(shorts('FROM busybox AS a\nWORKDIR /app\nFROM a\nWORKDIR sub\n'), [], 'inherited from the base stage');
});

test('UndefinedVar: variables from nothing, with suggestions; the image env, ENV and ARG define', () => {
  assert.deepEqual(shorts('FROM busybox\nENV FOO=1\nCOPY $FOOO /x\n'), ["UndefinedVar: Usage of undefined variable '$FOOO' (did you mean $FOO?) (line 3)"]);
  assert.deepEqual(shorts('FROM busybox\nWORKDIR /$NOTHING_LIKE_IT\n'), ["UndefinedVar: Usage of undefined variable '$NOTHING_LIKE_IT' (line 2)"]);
  assert.deepEqual(shorts('FROM busybox\nARG A\nENV B=$A C=$HOME D=$PATH\nCOPY $B /x\n'), []);
  assert.deepEqual(rules('FROM busybox\nCMD echo $NOT_EXPANDED\n'), ['JSONArgsRecommended'], 'CMD is not expanded by the builder');
  // an image tsbuild does not know: its env could define anything, so nothing is said
  assert.deepEqual(shorts('FROM other\nCOPY $X /x\n'), []);
});

test('MultipleInstructionsDisallowed: reported at the instruction that is ignored', () => {
  assert.deepEqual(shorts('FROM busybox\nCMD ["a"]\nCMD ["b"]\n'), [
    'MultipleInstructionsDisallowed: Multiple CMD instructions should not be used in the same stage because only the last one will be used (line 2)',
  ]);
  assert.deepEqual(rules('FROM busybox\nHEALTHCHECK NONE\nHEALTHCHECK NONE\nENTRYPOINT ["a"]\nENTRYPOINT ["b"]\n'), ['MultipleInstructionsDisallowed', 'MultipleInstructionsDisallowed']);
  assert.deepEqual(shorts('FROM busybox\nCMD ["a"]\nFROM busybox\nCMD ["b"]\n'), []);
});

test('LegacyKeyValueFormat', () => {
  assert.deepEqual(shorts('FROM busybox\nENV A b\n'), ['LegacyKeyValueFormat: "ENV key=value" should be used instead of legacy "ENV key value" format (line 2)']);
  assert.deepEqual(shorts('FROM busybox\nLABEL a b\n'), ['LegacyKeyValueFormat: "LABEL key=value" should be used instead of legacy "LABEL key value" format (line 2)']);
  assert.deepEqual(shorts('FROM busybox\nENV A=b\nLABEL a=b\n'), []);
});

test('InvalidDefaultArgInFrom', () => {
  assert.deepEqual(rules('ARG TAG\nFROM busybox:${TAG}\n', { buildArgs: { TAG: '1' } }), ['InvalidDefaultArgInFrom']);
  assert.deepEqual(shorts('ARG TAG\nFROM busybox:${TAG}\n', { buildArgs: { TAG: '1' } }), ['InvalidDefaultArgInFrom: Default value for ARG busybox:${TAG} results in empty or invalid base image name (line 2)']);
  assert.deepEqual(shorts('ARG TAG=latest\nFROM busybox:${TAG}\n'), []);
});

test('SecretsUsedInArgOrEnv: names with a secret-looking word, unless public/file/version', () => {
  assert.deepEqual(shorts('FROM busybox\nARG GITHUB_TOKEN\nENV DB_PASSWORD=x\n'), [
    'SecretsUsedInArgOrEnv: Do not use ARG or ENV instructions for sensitive data (ARG "GITHUB_TOKEN") (line 2)',
    'SecretsUsedInArgOrEnv: Do not use ARG or ENV instructions for sensitive data (ENV "DB_PASSWORD") (line 3)',
  ]);
  assert.deepEqual(shorts('FROM busybox\nARG PUBLIC_KEY\nENV TOKENIZER=1 KEY_FILE=/k SECRET_VERSION=2\n'), []);
});

test('FromPlatformFlagConstDisallowed and RedundantTargetPlatform', () => {
  const arch = platformArgs().get('TARGETARCH')!;
  assert.deepEqual(shorts(`FROM --platform=linux/${arch} busybox\n`), [`FromPlatformFlagConstDisallowed: FROM --platform flag should not use constant value "linux/${arch}" (line 1)`]);
  assert.deepEqual(shorts(`FROM --platform=linux/${arch} busybox AS build-${arch}\n`), [], 'a stage named after its platform');
  assert.deepEqual(shorts('FROM --platform=$BUILDPLATFORM busybox\n'), []);
  assert.deepEqual(rules('FROM --platform=$TARGETPLATFORM busybox\n'), ['RedundantTargetPlatform']);
});

test('CopyIgnoredFile: only without ! exceptions in .dockerignore', () => {
  assert.deepEqual(shorts('FROM busybox\nCOPY secret.txt /x\nADD ./secret.txt /y\n', { ignore: ['secret.txt'] }), [
    'CopyIgnoredFile: Attempting to Copy file "secret.txt" that is excluded by .dockerignore (line 2)',
    'CopyIgnoredFile: Attempting to Add file "secret.txt" that is excluded by .dockerignore (line 3)',
  ]);
  assert.deepEqual(shorts('FROM busybox\nCOPY secret.txt /x\n', { ignore: ['secret.txt', '!keep'] }), []);
  assert.deepEqual(shorts('FROM busybox AS a\nFROM busybox\nCOPY --from=a secret.txt /x\n', { ignore: ['secret.txt'] }), []);
});

test('ExposeProtoCasing', () => {
  assert.deepEqual(shorts('FROM busybox\nENV P=53/UDP\nEXPOSE 80/TCP $P\n'), [
    "ExposeProtoCasing: Defined protocol '80/TCP' in EXPOSE instruction should be lowercase (line 3)",
    "ExposeProtoCasing: Defined protocol '53/UDP' in EXPOSE instruction should be lowercase (line 3)",
  ]);
  assert.deepEqual(shorts('FROM busybox\nENV P=53/udp\nEXPOSE 80 443/tcp $P\n'), []);
});

test('InvalidDefinitionDescription is experimental: off unless asked for', () => {
  assert.deepEqual(shorts('# check=experimental=all\n# wrong words\nFROM busybox AS build\n'), []);
});

test('only the needed stages are dispatched; file-level rules cover all stages', () => {
  const text = 'FROM busybox AS a\nWORKDIR rel\nFROM busybox AS B\nCMD ["x"]\n';
  assert.deepEqual(rules(text, { stages: [1] }), ['StageNameCasing']);
  assert.deepEqual(rules(text), ['StageNameCasing', 'WorkdirRelativePath']);
});

test('check= directive: skip rules, skip=all, error=true', () => {
  const bad = 'FROM busybox as b\nMAINTAINER me\n';
  assert.deepEqual(rules(bad), ['FromAsCasing', 'MaintainerDeprecated']);
  assert.deepEqual(rules('# check=skip=FromAsCasing\n' + bad), ['MaintainerDeprecated']);
  assert.deepEqual(rules('# check=skip=FromAsCasing,MaintainerDeprecated\n' + bad), []);
  assert.deepEqual(rules('# check=skip=all\n' + bad), []);
  const strict = run('# check=error=true\n' + bad);
  assert.equal(strict.warnings.length, 2);
  assert.equal(strict.error?.message, 'lint violation found for rules: FromAsCasing, MaintainerDeprecated');
  assert.equal(run(bad).error, undefined);
  assert.equal(run('# check=error=true\nFROM busybox\n').error, undefined, 'nothing reported, nothing fails');
});

test('BUILDKIT_DOCKERFILE_CHECK replaces the directive', () => {
  const text = '# check=skip=all\nFROM busybox as b\n';
  assert.deepEqual(rules(text), []);
  const r = run(text, { buildArgs: { BUILDKIT_DOCKERFILE_CHECK: 'error=true' } });
  assert.deepEqual(r.warnings.map((w) => w.rule), ['FromAsCasing']);
  assert.match(r.error!.message, /lint violation found for rules: FromAsCasing/);
});

test('a # check= comment above an instruction skips for that instruction only', () => {
  assert.deepEqual(shorts('FROM busybox\n# check=skip=JSONArgsRecommended\nCMD echo a\nENTRYPOINT echo b\n'), [
    'JSONArgsRecommended: JSON arguments recommended for ENTRYPOINT to prevent unintended behavior related to OS signals (line 4)',
  ]);
});

test('bad check options fail with BuildKit words', () => {
  assert.throws(() => parseCheckOptions('skip'), /invalid check option "skip"/);
  assert.throws(() => parseCheckOptions('nope=1'), /invalid check option "nope"/);
  assert.throws(() => parseCheckOptions('error=maybe'), /failed to parse check option "error=maybe"/);
  assert.throws(() => run('# check=bogus=1\nFROM busybox\n'), /failed to parse check options: invalid check option "bogus"/);
  assert.throws(() => run('FROM busybox\n', { buildArgs: { BUILDKIT_DOCKERFILE_CHECK: 'x' } }), /failed to parse build-arg:BUILDKIT_DOCKERFILE_CHECK/);
});

test('the --check report: buildx header, WARNING lines and the Dockerfile excerpt', () => {
  const text = '\nfrOM busybox as base\ncOpy Dockerfile .\n\t';
  const report = formatCheckReport(run(text).warnings, text);
  assert.equal(
    report,
    'Check complete, 2 warnings have been found!\n' +
      '\nWARNING: ConsistentInstructionCasing - https://docs.docker.com/go/dockerfile/rule/consistent-instruction-casing/\n' +
      "Command 'frOM' should match the case of the command majority (uppercase)\n" +
      'Dockerfile:2\n--------------------\n   1 |     \n   2 | >>> frOM busybox as base\n   3 |     cOpy Dockerfile .\n   4 |     \t\n--------------------\n' +
      '\nWARNING: ConsistentInstructionCasing - https://docs.docker.com/go/dockerfile/rule/consistent-instruction-casing/\n' +
      "Command 'cOpy' should match the case of the command majority (uppercase)\n" +
      'Dockerfile:3\n--------------------\n   1 |     \n   2 |     frOM busybox as base\n   3 | >>> cOpy Dockerfile .\n   4 |     \t\n--------------------\n',
  );
  assert.equal(formatCheckReport([], 'FROM busybox\n'), 'Check complete, no warnings found.\n');
});
