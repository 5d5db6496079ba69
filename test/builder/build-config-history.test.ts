/**
 * Image config and history as the builder writes them, compared with what Docker (BuildKit) wrote
 * for the same Dockerfiles (`docker inspect`, `docker history --no-trunc`, `docker save`):
 * every metadata instruction, ENTRYPOINT/CMD interplay, ONBUILD stored, triggered and cleared.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { buildFails, buildFiles, imageFile, makeBaseStore, ranSteps, type TempStore } from '../helpers/build.js';

let s: TempStore;
before(async () => {
  s = await makeBaseStore();
});
after(() => s?.cleanup());

const PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

test('config and history: every metadata instruction, as Docker writes them', async () => {
  const b = await buildFiles(
    s.root,
    `FROM busybox
ENV A=1 B="two words"
LABEL l1=v1 "l 2"="v 2"
EXPOSE 80 53/udp
VOLUME /data /v2
USER 1000:1000
WORKDIR /app
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=5s --timeout=3s --retries=2 CMD wget -q localhost || exit 1
SHELL ["/bin/sh", "-xc"]
MAINTAINER someone <a@b.c>
ARG X=1
RUN echo hi > /tmp/f
COPY a.txt /d
CMD ["run", "x"]
ENTRYPOINT echo ep
ONBUILD RUN echo onb
CMD echo shellcmd
`,
    { 'a.txt': 'A' },
  );
  const c = b.config.config!;
  assert.equal(b.config.author, 'someone <a@b.c>');
  assert.deepEqual(
    {
      User: c.User,
      ExposedPorts: c.ExposedPorts,
      Env: c.Env,
      Entrypoint: c.Entrypoint,
      Cmd: c.Cmd,
      Volumes: c.Volumes,
      WorkingDir: c.WorkingDir,
      Labels: c.Labels,
      StopSignal: c.StopSignal,
      ArgsEscaped: c.ArgsEscaped,
      Healthcheck: c.Healthcheck,
      OnBuild: c.OnBuild,
      Shell: c.Shell,
    },
    {
      User: '1000:1000',
      ExposedPorts: { '53/udp': {}, '80/tcp': {} },
      Env: [PATH, 'A=1', 'B=two words'],
      Entrypoint: ['/bin/sh', '-xc', 'echo ep'],
      Cmd: ['/bin/sh', '-xc', 'echo shellcmd'],
      Volumes: { '/data': {}, '/v2': {} },
      WorkingDir: '/app',
      Labels: { 'l 2': 'v 2', l1: 'v1' },
      StopSignal: 'SIGTERM',
      ArgsEscaped: true,
      Healthcheck: { Test: ['CMD-SHELL', 'wget -q localhost || exit 1'], Interval: 5000000000, Timeout: 3000000000, Retries: 2 },
      OnBuild: ['RUN echo onb'],
      Shell: ['/bin/sh', '-xc'],
    },
  );
  const hist = b.history.slice(1).map((h) => [h.created_by, h.empty_layer === true, h.comment] as const);
  const health = hist[7]![0]!;
  // as current BuildKit writes it (Docker 20.10: `&{["CMD-SHELL" "wget -q localhost || exit 1"] "5s" "3s" "0s" '\x02'}`)
  assert.equal(health, 'HEALTHCHECK {Test:[CMD-SHELL wget -q localhost || exit 1] Interval:5s Timeout:3s StartPeriod:0s StartInterval:0s Retries:2}');
  assert.deepEqual(
    hist.map(([t, e]) => [t, e]),
    [
      ['ENV A=1 B=two words', true],
      ['LABEL l1=v1 l 2=v 2', true],
      ['EXPOSE map[53/udp:{} 80/tcp:{}]', true],
      ['VOLUME [/data /v2]', true],
      ['USER 1000:1000', true],
      ['WORKDIR /app', false],
      ['STOPSIGNAL SIGTERM', true],
      [health, true],
      ['SHELL [/bin/sh -xc]', true],
      ['MAINTAINER someone <a@b.c>', true],
      ['ARG X=1', true],
      ['RUN |1 X=1 /bin/sh -xc echo hi > /tmp/f # buildkit', false],
      ['COPY a.txt /d # buildkit', false],
      ['CMD ["run" "x"]', true],
      ['ENTRYPOINT ["/bin/sh" "-xc" "echo ep"]', true],
      ['CMD ["/bin/sh" "-xc" "echo shellcmd"]', true],
    ],
  );
  assert.ok(hist.every(([, , comment]) => comment === 'buildkit.dockerfile.v0'));
  // one layer per non-empty history entry
  assert.equal(b.history.filter((h) => !h.empty_layer).length, b.layers.length);
  assert.equal(b.layers.length, 4);
  assert.equal(b.config.rootfs.diff_ids.length, 4);
  assert.equal(imageFile(b, 'tmp/f'), 'hi\n');
});

test('ENTRYPOINT resets an inherited CMD, keeps a CMD of its own stage; ONBUILD triggers run in the child, once', async () => {
  const base = await buildFiles(
    s.root,
    'FROM busybox\nCMD ["base-cmd"]\nONBUILD RUN echo triggered > /trig\nONBUILD ENV TRIG=1\n',
    {},
    { tags: ['onbase:1'] },
  );
  assert.deepEqual(base.config.config!.OnBuild, ['RUN echo triggered > /trig', 'ENV TRIG=1']);
  assert.equal(imageFile(base, 'trig'), undefined);
  assert.deepEqual(
    base.history.slice(1).map((h) => h.created_by),
    ['CMD ["base-cmd"]'],
    'ONBUILD gets no history entry (as in Docker)',
  );

  const child = await buildFiles(s.root, 'FROM onbase:1\nENTRYPOINT ["ep"]\n', {}, { tags: ['onchild:1'] });
  const cc = child.config.config!;
  assert.deepEqual(cc.Entrypoint, ['ep']);
  assert.ok(cc.Cmd === undefined || cc.Cmd === null, `inherited CMD kept: ${JSON.stringify(cc.Cmd)}`);
  assert.ok(cc.OnBuild === undefined || cc.OnBuild === null || cc.OnBuild.length === 0, 'OnBuild not cleared');
  assert.deepEqual(cc.Env, [PATH, 'TRIG=1']);
  assert.equal(imageFile(child, 'trig'), 'triggered\n');
  assert.deepEqual(
    child.history.slice(1).map((h) => [h.created_by, h.empty_layer === true]),
    [
      ['CMD ["base-cmd"]', true],
      ['RUN /bin/sh -c echo triggered > /trig # buildkit', false],
      ['ENV TRIG=1', true],
      ['ENTRYPOINT ["ep"]', true],
    ],
  );

  // the triggers are gone: a grandchild does not run them again
  const grand = await buildFiles(s.root, 'FROM onchild:1\nRUN echo g > /g\n');
  assert.ok(!ranSteps(grand).some((n) => n.includes('triggered')), ranSteps(grand).join(', '));
  assert.equal(grand.history.filter((h) => h.created_by?.includes('echo triggered')).length, 1);

  const own = await buildFiles(s.root, 'FROM onbase:1\nCMD ["c"]\nENTRYPOINT ["e"]\n');
  assert.deepEqual(own.config.config!.Cmd, ['c']);
  assert.deepEqual(own.config.config!.Entrypoint, ['e']);
});

test('WORKDIR: relative to the previous one, created with missing parents owned by USER; WORKDIR / has no layer', async () => {
  const b = await buildFiles(s.root, 'FROM busybox\nWORKDIR /\nWORKDIR w\nUSER 1000\nWORKDIR sub\nRUN pwd > /tmp/pwd\n');
  assert.equal(b.config.config!.WorkingDir, '/w/sub');
  assert.deepEqual(
    b.history.slice(1).map((h) => [h.created_by, h.empty_layer === true]),
    [
      ['WORKDIR /', true],
      ['WORKDIR /w', false],
      ['USER 1000', true],
      ['WORKDIR /w/sub', false],
      ['RUN /bin/sh -c pwd > /tmp/pwd # buildkit', false],
    ],
  );
  assert.equal(b.layers.length, 4);
  const w = b.layers.flat().find((e) => e.path === 'w')!;
  const sub = b.layers.flat().find((e) => e.path === 'w/sub')!;
  assert.deepEqual([w.uid, w.gid, sub.uid, sub.gid], [0, 0, 1000, 1000]);
  assert.equal(imageFile(b, 'tmp/pwd'), '/w/sub\n');
});

test('WORKDIR: an absolute path stays as written in the config and history (trailing slash too), as Docker writes it', async () => {
  const b = await buildFiles(s.root, 'FROM busybox\nWORKDIR /app/\nRUN pwd > /pwd1\nWORKDIR src/\nWORKDIR //x//y/\nRUN pwd > /pwd2\nWORKDIR /tmp/\n');
  assert.equal(b.config.config!.WorkingDir, '/tmp/');
  assert.deepEqual(
    b.history.slice(1).map((h) => h.created_by).filter((c) => c!.startsWith('WORKDIR')),
    ['WORKDIR /app/', 'WORKDIR /app/src', 'WORKDIR //x//y/', 'WORKDIR /tmp/'],
  );
  // the directories themselves, and RUN's cwd, are the cleaned paths
  assert.equal(imageFile(b, 'pwd1'), '/app\n');
  assert.equal(imageFile(b, 'pwd2'), '/x/y\n');
  assert.ok(b.layers.flat().some((e) => e.path === 'app/src'));
  assert.ok(b.layers.flat().some((e) => e.path === 'x/y'));
});

const EXPANDED = `ARG A=lat
ARG B=\${A}est
FROM busybox:$B AS Build
ENV X=1 Y=2 PATH=/p:$PATH
ENV X=3
ENV ONE TWO= THREE=world
ARG PORT=8080
ARG U=user
EXPOSE $PORT
ENV D=/dst
COPY --chown=$U a.txt $D/
COPY --from=busybox /etc/group /g
FROM build
RUN true
`;

test('expansion: meta ARG from meta ARG, stage names case-insensitive for --target, ARG/ENV in EXPOSE, COPY flags and dest, COPY --from an image', async () => {
  const b = await buildFiles(s.root, EXPANDED, { 'a.txt': 'a\n' }, { target: 'build' });
  assert.deepEqual(b.config.config!.ExposedPorts, { '8080/tcp': {} });
  const a = b.layers.flat().find((e) => e.path === 'dst/a.txt')!;
  assert.deepEqual([a.uid, a.gid, a.content], [1000, 1000, 'a\n']);
  assert.equal(imageFile(b, 'g'), 'root:x:0:\ndaemon:x:1:\nwheel:x:10:user\nstaff:x:50:user\nuser:x:1000:\nnogroup:x:65534:\n');
  assert.equal(b.layers.flat().find((e) => e.path === 'g')!.mtime, Date.parse('2024-01-01T00:00:00Z') / 1000, 'COPY --from keeps the mtime');
  assert.deepEqual(
    b.history.slice(1).map((h) => h.created_by),
    [
      'ENV X=1 Y=2 PATH=/p:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      'ENV X=3',
      'ENV ONE=TWO= THREE=world',
      'ARG PORT=8080',
      'ARG U=user',
      'EXPOSE map[8080/tcp:{}]',
      'ENV D=/dst',
      'COPY a.txt /dst/ # buildkit',
      'COPY /etc/group /g # buildkit',
    ],
  );
  assert.ok(!b.steps.some((st) => st.name.includes('RUN true')), 'the stage after the target ran');
});

test('ENV: re-setting a variable keeps its place in Env (Docker replaces in place)', async () => {
  const b = await buildFiles(s.root, EXPANDED, { 'a.txt': 'a\n' }, { target: 'build' });
  assert.deepEqual(b.config.config!.Env, ['PATH=/p:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'X=3', 'Y=2', 'ONE=TWO= THREE=world', 'D=/dst']);
});

test('USER numeric and user:group, HOME, EXPOSE ranges, JSON VOLUME, LABEL with ARG, HEALTHCHECK exec form and NONE, RUN --mount not in history', async () => {
  const b = await buildFiles(
    s.root,
    `FROM busybox AS hc
HEALTHCHECK CMD ["a", "b"]
FROM hc
ARG L=lv
LABEL "k"=$L other="x y"
EXPOSE 8000-8002/tcp 9000/udp
VOLUME ["/a", "/b"]
USER 1234
RUN id > /tmp/id1; echo "$HOME" >> /tmp/id1
USER 1234:5678
RUN --mount=type=cache,target=/c id > /tmp/id2; echo "$HOME" >> /tmp/id2
USER nobody:staff
RUN id > /tmp/id3
HEALTHCHECK NONE
STOPSIGNAL 9
`,
  );
  const c = b.config.config!;
  assert.deepEqual(
    { User: c.User, ExposedPorts: c.ExposedPorts, Volumes: c.Volumes, Labels: c.Labels, StopSignal: c.StopSignal, Healthcheck: c.Healthcheck },
    {
      User: 'nobody:staff',
      ExposedPorts: { '8000/tcp': {}, '8001/tcp': {}, '8002/tcp': {}, '9000/udp': {} },
      Volumes: { '/a': {}, '/b': {} },
      Labels: { k: 'lv', other: 'x y' },
      StopSignal: '9',
      Healthcheck: { Test: ['NONE'] },
    },
  );
  assert.equal(imageFile(b, 'tmp/id1'), 'uid=1234 gid=0(root)\n/\n');
  assert.equal(imageFile(b, 'tmp/id2'), 'uid=1234 gid=5678\n/\n');
  assert.equal(imageFile(b, 'tmp/id3'), 'uid=65534(nobody) gid=50(staff)\n');
  const hist = b.history.slice(1).map((h) => h.created_by!);
  assert.ok(hist[0]!.startsWith('HEALTHCHECK {Test:[CMD a b] Interval:0s '), hist[0]);
  assert.ok(hist.at(-2)!.startsWith('HEALTHCHECK {Test:[NONE] Interval:0s '), hist.at(-2));
  assert.deepEqual(hist.slice(1, -2), [
    'ARG L=lv',
    'LABEL k=lv other=x y',
    'EXPOSE map[8000/tcp:{} 8001/tcp:{} 8002/tcp:{} 9000/udp:{}]',
    'VOLUME [/a /b]',
    'USER 1234',
    'RUN |1 L=lv /bin/sh -c id > /tmp/id1; echo "$HOME" >> /tmp/id1 # buildkit',
    'USER 1234:5678',
    'RUN |1 L=lv /bin/sh -c id > /tmp/id2; echo "$HOME" >> /tmp/id2 # buildkit',
    'USER nobody:staff',
    'RUN |1 L=lv /bin/sh -c id > /tmp/id3 # buildkit',
  ]);
  assert.equal(hist.at(-1), 'STOPSIGNAL 9');
});

test('-t names are checked before any step runs (as tag and import do), not after the build', async () => {
  const f = await buildFails(s.root, 'FROM busybox\nRUN echo ran > /canary\n', {}, { tags: ['ok:1', 'Bad:Tag'] });
  assert.match(f.error.message, /invalid reference format/);
  assert.deepEqual(f.steps, [], 'no step ran');
  const p = await buildFails(s.root, 'FROM busybox\nRUN echo ran > /canary\n', {}, { push: true });
  assert.match(p.error.message, /--push needs at least one -t/);
  assert.deepEqual(p.steps, []);
});
