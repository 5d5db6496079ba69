/** Typed, validated instructions: stages, flag schemas, value checks and their located errors. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  parseDockerfile,
  parseGoDuration,
  parseMount,
  toInstructions,
  type Instruction,
  type Instructions,
} from '../../src/parser/index.js';
import { TsbuildError } from '../../src/errors.js';

const build = (src: string): Instructions => toInstructions(parseDockerfile(src, { file: 'Dockerfile' }));
const only = (src: string): Instruction => build(`FROM a\n${src}\n`).stages[0]!.instructions[0]!;
/** Asserts the one-line error a user sees. */
const rejects = (src: string, line: string): void => {
  assert.throws(
    () => build(src),
    (e: unknown) => {
      assert.ok(e instanceof TsbuildError, String(e));
      assert.equal(e.format(), line);
      return true;
    },
  );
};

test('stages, meta ARGs and stage names', () => {
  const r = build('ARG V=1\nARG B\nFROM --platform=$BUILDPLATFORM base:$V AS Build\nRUN make\nFROM scratch\nCOPY --from=build /o /\n');
  assert.deepEqual(
    r.metaArgs.map((a) => a.args),
    [[{ key: 'V', value: '1' }], [{ key: 'B' }]],
  );
  assert.equal(r.stages.length, 2);
  assert.equal(r.stages[0]!.name, 'build');
  assert.equal(r.stages[0]!.baseName, 'base:$V');
  assert.equal(r.stages[0]!.platform, '$BUILDPLATFORM');
  assert.equal(r.stages[0]!.instructions[0]!.kind, 'run');
  assert.equal(r.stages[1]!.index, 1);
  assert.equal(r.stages[1]!.name, undefined);
  rejects('RUN x\nFROM a\n', 'Dockerfile:1:1: RUN must come after FROM: only ARG may precede the first FROM (no build stage in current context)');
  rejects('FROM a AS x\nFROM b AS X\n', 'Dockerfile:2:1: duplicate stage name "x"');
  rejects('FROM a AS 1st\n', `Dockerfile:1:1: invalid name for build stage: "1st", name can't start with a number or contain symbols`);
  rejects('FROM a AS b c\n', 'Dockerfile:1:1: FROM requires either one or three arguments');
  rejects('FROM a b\n', 'Dockerfile:1:1: FROM requires either one or three arguments');
  rejects('FROM --plat=x a\n', 'Dockerfile:1:6: FROM: unknown flag: --plat (did you mean --platform?)');
});

test('unknown instructions get a did-you-mean; empty ones are reported', () => {
  rejects('FROM a\nRUNN x\n', 'Dockerfile:2:1: unknown instruction: RUNN (did you mean RUN?)');
  rejects('FROM a\n  cpoy a b\n', 'Dockerfile:2:3: unknown instruction: CPOY (did you mean COPY?)');
  rejects('FROM a\nFROBNICATE x\n', 'Dockerfile:2:1: unknown instruction: FROBNICATE');
  rejects('FROM a\nRUN\n', 'Dockerfile:2:1: RUN requires at least one argument');
  rejects('FROM a\n\\\n', 'Dockerfile:2:1: empty instruction (a line continuation with nothing after it?)');
});

test('RUN: exec/shell form, mounts, network, security', () => {
  const run = only('RUN --mount=type=cache,target=/root/.cache,id=pip,sharing=locked,mode=0755,uid=1 --mount=type=secret,id=tok,env=TOKEN,required --network=none --security=insecure pip install x');
  assert.equal(run.kind, 'run');
  if (run.kind !== 'run') return;
  assert.equal(run.form, 'shell');
  assert.deepEqual(run.command, ['pip install x']);
  assert.equal(run.network, 'none');
  assert.equal(run.security, 'insecure');
  assert.equal(run.mounts.length, 2);
  assert.deepEqual(
    { ...run.mounts[0], raw: undefined },
    { type: 'cache', target: '/root/.cache', id: 'pip', sharing: 'locked', mode: 0o755, uid: 1, readOnly: false, required: false, needsExpansion: false, raw: undefined },
  );
  assert.equal(run.mounts[1]!.env, 'TOKEN');
  assert.equal(run.mounts[1]!.required, true);
  assert.equal(run.mounts[1]!.readOnly, true);
  const exec = only('RUN ["echo", "hi"]');
  assert.equal(exec.kind === 'run' && exec.form, 'exec');
  rejects('FROM a\nRUN --mount=type=foo x\n', 'Dockerfile:2:5: RUN --mount: unsupported mount type "foo"');
  rejects('FROM a\nRUN --mount=type=cahce,target=/x x\n', 'Dockerfile:2:5: RUN --mount: unsupported mount type "cahce" (did you mean cache?)');
  rejects('FROM a\nRUN --mount=type=bind,targte=/x x\n', `Dockerfile:2:5: RUN --mount: unexpected key 'targte' in 'targte=/x' (did you mean target?)`);
  rejects('FROM a\nRUN --mount=type=bind,target=/x,mode=0700 x\n', `Dockerfile:2:5: RUN --mount: unexpected key 'mode' for mount type 'bind'`);
  rejects('FROM a\nRUN --mount=type=cache,target=/x,sharing=maybe x\n', 'Dockerfile:2:5: RUN --mount: unsupported sharing value "maybe"');
  rejects('FROM a\nRUN --mount=type=cache x\n', 'Dockerfile:2:5: RUN --mount: mount type cache requires a target');
  rejects('FROM a\nRUN --network=bridge x\n', 'Dockerfile:2:5: RUN --network: unsupported network mode "bridge"');
  rejects('FROM a\nRUN --security=root x\n', 'Dockerfile:2:5: RUN --security: unsupported security mode "root"');
  rejects('FROM a\nRUN --network x\n', 'Dockerfile:2:5: RUN: missing a value on flag: --network');
  rejects('FROM a\nRUN --network=none --network=host x\n', 'Dockerfile:2:20: RUN: duplicate flag specified: --network');
});

test('RUN --mount values with variables are kept for the builder to expand', () => {
  const m = parseMount('type=cache,target=$HOME/.cache,id=${ID}');
  assert.equal(m.needsExpansion, true);
  assert.equal(m.target, undefined);
  const env: Record<string, string> = { HOME: '/root', ID: 'x' };
  const expanded = parseMount(m.raw, (v) => v.replace(/\$\{?(\w+)\}?/g, (_, k: string) => env[k] ?? ''));
  assert.equal(expanded.target, '/root/.cache');
  assert.equal(expanded.id, 'x');
  assert.throws(() => parseMount('type=bind,from=$STAGE,target=/x'), /doesn't support variable expansion/);
  assert.deepEqual(parseMount('type=tmpfs,target=/t,size=64m').size, 64 * 1024 * 1024);
  assert.equal(parseMount('type=bind,"source=a,b",target=/x').source, 'a,b');
  assert.throws(() => parseMount('type=bind,source=a"b,target=/x'), /bare "/);
  assert.equal(parseMount('target=/x,rw').readOnly, false);
  assert.equal(parseMount('type=ssh').readOnly, true);
});

test('COPY and ADD: flags, heredoc sources, destination checks', () => {
  const c = only('COPY --from=build --chown=app:app --chmod=0644 --link --parents --exclude=*.md --exclude=.git a b <<EOF /dst/\nhello\nEOF');
  assert.equal(c.kind, 'copy');
  if (c.kind !== 'copy') return;
  assert.deepEqual(c.sources, ['a', 'b']);
  assert.equal(c.dest, '/dst/');
  assert.equal(c.from, 'build');
  assert.equal(c.chown, 'app:app');
  assert.equal(c.chmod, '0644');
  assert.equal(c.link, true);
  assert.equal(c.parents, true);
  assert.deepEqual(c.exclude, ['*.md', '.git']);
  assert.deepEqual(
    c.contents.map((x) => [x.name, x.data]),
    [['EOF', 'hello\n']],
  );
  const a = only('ADD --checksum=sha256:abc --keep-git-dir --unpack=false https://x/y.tar.gz /d');
  assert.ok(a.kind === 'add' && a.checksum === 'sha256:abc' && a.keepGitDir && a.unpack === false);
  assert.equal(only('COPY --chmod=$MODE a b').kind, 'copy');
  assert.equal(only('COPY --chmod=u+x,go-w a b').kind, 'copy');
  assert.equal(only('COPY --chmod=g=u a b').kind, 'copy');
  assert.equal(only('COPY --chmod=u+x-w a b').kind, 'copy');
  rejects('FROM a\nCOPY --chmod=u+x-q a b\n', `Dockerfile:2:6: COPY --chmod: invalid chmod parameter: 'u+x-q'. it should be octal string like 655 or symbolic like u+rwx`);
  rejects('FROM a\nCOPY x\n', 'Dockerfile:2:1: COPY requires at least two arguments, but only one was provided. Destination could not be determined.');
  rejects('FROM a\nCOPY a <<EOF\nx\nEOF\n', 'Dockerfile:2:1: COPY cannot accept a heredoc as a destination');
  rejects('FROM a\nCOPY --chmod=999 a b\n', `Dockerfile:2:6: COPY --chmod: invalid chmod parameter: '999'. it should be octal string like 655 or symbolic like u+rwx`);
  rejects('FROM a\nADD --from=x a b\n', 'Dockerfile:2:5: ADD: unknown flag: --from');
  rejects('FROM a\nCOPY --link=maybe a b\n', 'Dockerfile:2:6: COPY: expecting boolean value for flag --link, not: maybe');
  rejects('FROM a\nCOPY --checksum=x a b\n', 'Dockerfile:2:6: COPY: unknown flag: --checksum');
});

test('HEALTHCHECK: Go durations, retries, NONE, CMD forms', () => {
  const h = only('HEALTHCHECK --interval=1m30s --timeout=500ms --start-period=0s --start-interval=2.5s --retries=4 CMD curl -f http://x/');
  assert.ok(h.kind === 'healthcheck');
  if (h.kind !== 'healthcheck') return;
  assert.deepEqual(h.test, ['CMD-SHELL', 'curl -f http://x/']);
  assert.equal(h.interval, 90e9);
  assert.equal(h.timeout, 500e6);
  assert.equal(h.startPeriod, 0);
  assert.equal(h.startInterval, 2.5e9);
  assert.equal(h.retries, 4);
  const e = only('HEALTHCHECK CMD ["/bin/check", "-q"]');
  assert.ok(e.kind === 'healthcheck' && e.test.join(' ') === 'CMD /bin/check -q');
  assert.ok(only('healthcheck none').kind === 'healthcheck');
  rejects('FROM a\nHEALTHCHECK --interval=10 CMD x\n', 'Dockerfile:2:13: HEALTHCHECK --interval: time: missing unit in duration "10"');
  rejects('FROM a\nHEALTHCHECK --interval=100us CMD x\n', 'Dockerfile:2:13: HEALTHCHECK --interval: Interval "interval" cannot be less than 1ms');
  rejects('FROM a\nHEALTHCHECK --retries=-1 CMD x\n', 'Dockerfile:2:13: HEALTHCHECK --retries: --retries cannot be negative (-1)');
  rejects('FROM a\nHEALTHCHECK CMD\n', 'Dockerfile:2:1: Missing command after HEALTHCHECK CMD');
  rejects('FROM a\nHEALTHCHECK NONE x\n', 'Dockerfile:2:1: HEALTHCHECK NONE takes no arguments');
  rejects('FROM a\nHEALTHCHECK CONNECT tcp\n', 'Dockerfile:2:13: Unknown type "CONNECT" in HEALTHCHECK (try CMD)');
  assert.equal(parseGoDuration('1h2m3.5s'), 3723.5e9);
  assert.equal(parseGoDuration('-1.5µs'), -1500);
  assert.throws(() => parseGoDuration('1d'), /unknown unit "d"/);
  assert.throws(() => parseGoDuration(''), /invalid duration/);
  assert.throws(() => parseGoDuration('.s'), /invalid duration/);
});

test('ENV, LABEL, ARG, EXPOSE, STOPSIGNAL, USER, WORKDIR, VOLUME, SHELL, MAINTAINER', () => {
  const env = only('ENV A=1 B="two words" C=$A');
  assert.ok(env.kind === 'env');
  if (env.kind === 'env') assert.deepEqual(env.env, [{ key: 'A', value: '1' }, { key: 'B', value: '"two words"' }, { key: 'C', value: '$A' }]);
  const legacy = only('ENV PATH /usr/bin:$PATH');
  assert.ok(legacy.kind === 'env' && legacy.env[0]!.value === '/usr/bin:$PATH');
  const arg = only('ARG a=1 b');
  assert.ok(arg.kind === 'arg' && arg.args.length === 2 && arg.args[1]!.value === undefined);
  const ex = only('EXPOSE 80 53/udp 8000-8010/tcp $PORT');
  assert.ok(ex.kind === 'expose' && ex.ports.length === 4);
  assert.equal(only('STOPSIGNAL SIGRTMIN+3').kind, 'stopsignal');
  assert.equal(only('STOPSIGNAL 9').kind, 'stopsignal');
  assert.equal(only('STOPSIGNAL $SIG').kind, 'stopsignal');
  const vol = only('VOLUME /a /b');
  assert.ok(vol.kind === 'volume' && vol.volumes.join() === '/a,/b' && vol.form === 'shell');
  const sh = only('SHELL ["/bin/bash", "-c"]');
  assert.ok(sh.kind === 'shell' && sh.shell.length === 2);
  rejects('FROM a\nEXPOSE 80/tcpx\n', 'Dockerfile:2:8: invalid proto: "tcpx" in "80/tcpx"');
  rejects('FROM a\nEXPOSE 70000\n', 'Dockerfile:2:8: invalid port specification: "70000": port out of range');
  rejects('FROM a\nSTOPSIGNAL SIGFOO\n', 'Dockerfile:2:12: invalid signal: SIGFOO');
  rejects('FROM a\nSHELL /bin/sh -c\n', 'Dockerfile:2:1: SHELL requires the arguments to be in JSON form');
  rejects('FROM a\nUSER\n', 'Dockerfile:2:1: USER requires exactly one argument');
  rejects('FROM a\nWORKDIR\n', 'Dockerfile:2:1: WORKDIR requires exactly one argument');
  rejects('FROM a\nVOLUME [""]\n', 'Dockerfile:2:1: VOLUME specified can not be an empty string');
  rejects('FROM a\nARG =x\n', 'Dockerfile:2:1: ARG names can not be blank');
  rejects('FROM a\nENV =x\n', 'Dockerfile:2:1: ENV names can not be blank');
  rejects('FROM a\nLABEL\n', 'Dockerfile:2:1: LABEL requires at least one argument');
  rejects('FROM a\nENV --x=1 A=b\n', 'Dockerfile:2:5: ENV: unknown flag: --x');
  rejects('FROM a\nMAINTAINER\n', 'Dockerfile:2:1: MAINTAINER requires exactly one argument');
});

test('ONBUILD: trigger validated, ONBUILD/FROM/MAINTAINER forbidden, expression kept', () => {
  const ob = only('ONBUILD COPY --chown=1 . /app');
  assert.ok(ob.kind === 'onbuild');
  if (ob.kind !== 'onbuild') return;
  assert.equal(ob.expression, 'COPY --chown=1 . /app');
  assert.equal(ob.trigger.kind, 'copy');
  const hd = only('onbuild RUN <<EOF\necho hi\nEOF');
  assert.ok(hd.kind === 'onbuild' && hd.expression === 'RUN <<EOF\necho hi\nEOF');
  assert.ok(hd.kind === 'onbuild' && hd.trigger.kind === 'run' && hd.trigger.heredocs[0]!.data === 'echo hi\n');
  rejects('FROM a\nONBUILD ONBUILD RUN x\n', "Dockerfile:2:9: Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
  rejects('FROM a\nONBUILD FROM b\n', "Dockerfile:2:9: FROM isn't allowed as an ONBUILD trigger");
  rejects('FROM a\nONBUILD MAINTAINER me\n', "Dockerfile:2:9: MAINTAINER isn't allowed as an ONBUILD trigger");
  rejects('FROM a\nONBUILD\n', 'Dockerfile:2:1: ONBUILD requires at least one argument');
  rejects('FROM a\nONBUILD RUN --bad x\n', 'Dockerfile:2:13: RUN: unknown flag: --bad');
});

test('locations and original text of instructions (history created_by)', () => {
  const r = build('FROM a\n# comment\n  RUN echo a \\\n   && echo b\n');
  const run = r.stages[0]!.instructions[0]!;
  assert.deepEqual(run.location, { file: 'Dockerfile', line: 3, column: 3, endLine: 4 });
  assert.equal(run.original, 'RUN echo a    && echo b');
});

test('unclosed quotes in words Docker expands are reported at parse time', () => {
  rejects('FROM a\nENV A="abc\n', 'Dockerfile:2:1: ENV: unterminated double quote in "\\"abc"');
  rejects("FROM a\nWORKDIR '/x\n", `Dockerfile:2:1: WORKDIR: unterminated single quote in "'/x"`);
  rejects('FROM a\nCOPY "a b" c\n', 'Dockerfile:2:1: COPY: unterminated double quote in "\\"a"');
  assert.equal(only('ENV A="a\\"b" B=\'x\\\' C=d\\"').kind, 'env');
  assert.equal(build('# escape=`\nFROM a\nENV A="a`"b"\n').stages[0]!.instructions[0]!.kind, 'env');
  // shell-form RUN text is the shell's business
  assert.equal(only('RUN echo "unclosed').kind, 'run');
});

test('every fixture Dockerfile parses and validates', async () => {
  const { readdirSync, readFileSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { projectRoot } = await import('../helpers/cli.js');
  const dir = join(projectRoot, 'fixtures', 'dockerfiles');
  const counts: Record<string, number> = {};
  for (const name of readdirSync(dir)) {
    const r = toInstructions(parseDockerfile(readFileSync(join(dir, name, 'Dockerfile')), { file: `${name}/Dockerfile` }));
    counts[name] = r.stages.length;
  }
  assert.equal(counts['example'], 2);
  assert.equal(counts['large'], 15);
  assert.equal(counts['windows'], 1);
});
