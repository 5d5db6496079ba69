/**
 * RUN through the builder with real sandbox runs: SHELL and exec form, USER and WORKDIR applied,
 * failures, --network=none, and every --mount type (cache, secret, tmpfs, bind ro/rw), including
 * the advisories CVE-2025-4953 (rw bind writes reaching the context) and CVE-2024-9675 (cache id
 * escaping the cache root). Expected values come from Docker (BuildKit) runs of the same steps.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { TsbuildError } from '../../src/errors.js';
import { ImageStore } from '../../src/image/store.js';
import { chainIds, type Digest } from '../../src/image/digest.js';
import { dropSpare, spareOf } from '../../src/runtime/sandbox.js';
import { build, buildWith, open } from '../../src/index.js';
import { allPaths, buildFails, buildFiles, buildIn, imageEntry, imageFile, makeBaseStore, makeContext, ranSteps, type TempStore } from '../helpers/build.js';

let s: TempStore;
before(async () => {
  s = await makeBaseStore();
});
after(() => s?.cleanup());

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    out.push(p);
    if (e.isDirectory()) out.push(...walk(p));
  }
  return out;
}

test('RUN: USER by name (uid, gid, groups, HOME from the image), WORKDIR created and used, SHELL, exec form', async () => {
  const b = await buildFiles(
    s.root,
    `FROM busybox
USER user
RUN id -u > /tmp/uid; id -g >> /tmp/uid; id -G >> /tmp/uid; echo $HOME >> /tmp/uid
USER root
WORKDIR /w/x
RUN pwd > /pwd
SHELL ["/bin/sh", "-xc"]
RUN echo traced > /traced
RUN ["/bin/echo", "exec $HOME"]
`,
  );
  assert.equal(imageFile(b, 'tmp/uid'), '1000\n1000\n1000 10 50\n/home/user\n');
  assert.equal(imageEntry(b, 'tmp/uid')!.uid, 1000);
  assert.equal(imageFile(b, 'pwd'), '/w/x\n');
  assert.equal(imageEntry(b, 'w/x')!.type, 'dir');
  // SHELL -x: the shell traces the command on stderr
  assert.match(b.output, /\+ echo traced/);
  // exec form: no shell, no expansion
  assert.match(b.output, /^exec \$HOME$/m);
  const created = b.history.slice(-3).map((h) => h.created_by);
  assert.deepEqual(created, ['SHELL [/bin/sh -xc]', 'RUN /bin/sh -xc echo traced > /traced # buildkit', 'RUN /bin/echo exec $HOME # buildkit']);
});

test('RUN: the last RUN of a build makes no spare sandbox for a next one', async () => {
  dropSpare();
  // two stages: the spare made during the first RUNs is taken by the next; nothing follows the last
  await buildFiles(s.root, 'FROM busybox AS a\nRUN echo a > /a\nFROM busybox\nRUN echo b > /b\nCOPY --from=a /a /a\nRUN cat /a /b > /ab\n');
  assert.deepEqual(spareOf(), {}, 'no spare helper or cgroup after the last RUN');
  // a build of one RUN: nothing left over either
  await buildFiles(s.root, 'FROM busybox\nRUN echo only > /only\n');
  assert.deepEqual(spareOf(), {});
});

test('RUN: a step that must run before a RUN (or --no-cache) makes the RUN\'s sandbox ready ahead: a spare exists when the RUN starts', async () => {
  const sparesAtRun: Array<{ pid?: number; cgroupPaths?: readonly string[] }> = [];
  const ctx = makeContext({ 'f.txt': `${Date.now()}-${Math.random()}\n` });
  try {
    for (const noCache of [false, true]) {
      dropSpare();
      await build({
        root: s.root,
        contextDir: ctx,
        dockerfileText: noCache ? 'FROM busybox\nRUN cat /etc/hostname > /h\n' : 'FROM busybox\nCOPY f.txt /f.txt\nRUN cat /f.txt > /g\n',
        ...(noCache ? { noCache } : {}),
        // the RUN's step-start comes before its rootfs is made (where a first run would start one)
        onEvent: (e) => {
          if (e.type === 'step-start' && e.name.includes(' RUN ')) sparesAtRun.push(spareOf());
        },
      });
    }
  } finally {
    rmSync(ctx, { recursive: true, force: true });
  }
  assert.equal(sparesAtRun.length, 2);
  for (const sp of sparesAtRun) assert.ok(sp.pid !== undefined && sp.cgroupPaths !== undefined, 'a spare helper and cgroup wait when the RUN starts');
  assert.deepEqual(spareOf(), {}, 'taken by the RUN (the last): none left');
});

test('RUN: the rootfs dirs a step releases in the background are gone when the build resolves', async () => {
  const parts = await open(s.root);
  const ctx = makeContext({});
  const released: string[] = [];
  try {
    // a runtime whose removals take a while (as behind the thread pool's fsyncs)
    const slow = {
      ...parts.runtime,
      release: async (r: Parameters<typeof parts.runtime.release>[0]) => {
        await new Promise((res) => setTimeout(res, 300));
        await parts.runtime.release(r);
        released.push(r.dir);
      },
    };
    await buildWith({ ...parts, runtime: slow }, { contextDir: ctx, dockerfileText: 'FROM busybox\nRUN echo 1 > /one\nRUN echo 2 > /two\n', noCache: true });
    assert.equal(released.length, 2, 'both RUNs released their rootfs before the build resolved');
    for (const d of released) assert.equal(existsSync(d), false, d);
  } finally {
    rmSync(ctx, { recursive: true, force: true });
    await parts.close();
  }
});

test('RUN: a failing command is an error with its exit code and the instruction location', async () => {
  const f = await buildFails(s.root, 'FROM busybox\nRUN echo fine\nRUN echo boom; exit 7\nRUN echo never\n');
  assert.ok(f.error instanceof TsbuildError, String(f.error));
  const e = f.error as TsbuildError;
  assert.equal(e.exitCode, 7);
  assert.match(e.message, /exit code: 7/);
  assert.equal(e.location?.line, 3);
  assert.match(e.format(), /^Dockerfile:3:\d+: /);
  assert.ok(f.steps.some((st) => st.name.includes('exit 7') && st.error !== undefined));
  assert.ok(!f.steps.some((st) => st.name.includes('echo never')));
});

test('RUN: a failing step that printed a secret: the error message and the output show **** instead', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsb-secret-'));
  process.env.TSB_TEST_SECRET_ENV = 'env-secret-9876';
  try {
    const file = join(dir, 'tok');
    writeFileSync(file, 'file-secret-1234\n');
    const f = await buildFails(
      s.root,
      'FROM busybox\nRUN --mount=type=secret,id=tok --mount=type=secret,id=e,env=E sh -c \'echo "token: $(cat /run/secrets/tok)"; printf "and $E"; exit 4\'\n',
      {},
      { secrets: [{ id: 'tok', src: file }, { id: 'e', env: 'TSB_TEST_SECRET_ENV' }] },
    );
    const e = f.error as TsbuildError;
    assert.equal(e.exitCode, 4);
    assert.match(e.message, /last output: token: \*\*\*\* \| and \*\*\*\*\)/);
    const shown = JSON.stringify(f.events);
    for (const secret of ['file-secret-1234', 'env-secret-9876']) {
      assert.ok(!e.message.includes(secret), `${secret} in the error message`);
      assert.ok(!shown.includes(secret), `${secret} in the progress events`);
    }
  } finally {
    delete process.env.TSB_TEST_SECRET_ENV;
    rmSync(dir, { recursive: true, force: true });
  }
});

test('RUN making a tree deeper than PATH_MAX: a clear error at its line, no run dir left in the store', async () => {
  const name = 'n'.repeat(30);
  const f = await buildFails(s.root, `FROM busybox\nRUN mkdir /deep && cd /deep && n=0; while [ $n -lt 200 ]; do mkdir ${name} && cd ${name}; n=$((n+1)); done\n`);
  const e = f.error as TsbuildError;
  assert.ok(e instanceof TsbuildError, String(e));
  assert.equal(e.code, 'INVALID');
  assert.equal(e.location?.line, 2);
  assert.match(e.message, /made a path of \d+ bytes \(\/deep\/n+\/.*up to 3840 bytes/);
  assert.deepEqual(readdirSync(join(s.root, 'tmp')).filter((n) => !n.includes('-w-')), []);
});

/** Interface names in a /proc/net/dev dump. */
function interfaces(netdev: string): string[] {
  return netdev
    .split('\n')
    .slice(2)
    .filter((l) => l.trim())
    .map((l) => l.split(':')[0]!.trim());
}

test('RUN --network=none sees only the loopback interface', async () => {
  const b = await buildFiles(s.root, 'FROM busybox\nRUN --network=none cat /proc/net/dev > /netdev\n');
  assert.deepEqual(interfaces(imageFile(b, 'netdev')!), ['lo']);
});

test('RUN --mount=type=cache persists across builds and never reaches a layer', async () => {
  const df = `FROM busybox\nARG N\nRUN --mount=type=cache,target=/c echo "$N" >> /c/log && wc -l < /c/log > /count\n`;
  const one = await buildFiles(s.root, df, {}, { buildArgs: { N: 'one' } });
  const two = await buildFiles(s.root, df, {}, { buildArgs: { N: 'two' } });
  assert.equal(imageFile(one, 'count')!.trim(), '1');
  assert.equal(imageFile(two, 'count')!.trim(), '2');
  assert.ok(!allPaths(two.newLayers).some((p) => p.startsWith('c/')), allPaths(two.newLayers).join(' '));
});

test('RUN --mount=type=cache,id=../../x stays under the store (CVE-2024-9675)', async () => {
  const id = '../../../../../../tsb-cache-escape-' + process.pid;
  await buildFiles(s.root, `FROM busybox\nRUN --mount=type=cache,id=${id},target=/c echo pwned > /c/marker-${process.pid}\n`);
  assert.equal(existsSync(`/tsb-cache-escape-${process.pid}`), false);
  const storeParent = dirname(s.root);
  const hits = walk(storeParent).filter((p) => p.endsWith(`marker-${process.pid}`));
  assert.equal(hits.length, 1, hits.join(' '));
  assert.ok(hits[0]!.startsWith(s.root + '/'), `cache mount outside the store: ${hits[0]}`);
});

test('RUN --mount=type=secret: readable in the step, absent from layers, history and cache key', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsb-secret-'));
  try {
    const file = join(dir, 'tok');
    writeFileSync(file, 's3cret-one');
    const df = `FROM busybox\nRUN --mount=type=secret,id=tok sed s/s3cret-/got-/ /run/secrets/tok > /result\n`;
    const b = await buildFiles(s.root, df, {}, { secrets: [{ id: 'tok', src: file }] });
    assert.equal(imageFile(b, 'result'), 'got-one');
    const contents = b.newLayers.flat().map((e) => e.content ?? '');
    assert.ok(!contents.some((c) => c.includes('s3cret-one')), 'secret content in a layer');
    assert.ok(!JSON.stringify(b.config).includes('s3cret-one'), 'secret in config/history');
    const secretFile = imageEntry(b, 'run/secrets/tok');
    assert.ok(secretFile === undefined || secretFile.type !== 'file' || secretFile.size === 0, 'secret file left in the image');
    // BuildKit: the secret's content is not part of the cache key, so a changed secret is CACHED
    writeFileSync(file, 's3cret-two');
    const again = await buildFiles(s.root, df, {}, { secrets: [{ id: 'tok', src: file }] });
    assert.deepEqual(ranSteps(again), []);
    assert.deepEqual(again.image.config.rootfs.diff_ids, b.image.config.rootfs.diff_ids);
    assert.equal(imageFile(again, 'result'), 'got-one');
    // an env-sourced secret via env=
    process.env.TSB_TEST_SECRET = 'from-env';
    try {
      const e = await buildFiles(s.root, `FROM busybox\nRUN --mount=type=secret,id=tok2,env=TOKEN echo "got-\${TOKEN#from-}" > /r2\n`, {}, {
        secrets: [{ id: 'tok2', env: 'TSB_TEST_SECRET' }],
      });
      assert.equal(imageFile(e, 'r2'), 'got-env\n');
      assert.ok(!JSON.stringify(e.config).includes('from-env'));
    } finally {
      delete process.env.TSB_TEST_SECRET;
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('RUN --mount=type=tmpfs is a tmpfs whose content is not in the layer', async () => {
  const b = await buildFiles(s.root, `FROM busybox\nRUN --mount=type=tmpfs,target=/t sh -c 'echo x > /t/f && grep " /t " /proc/mounts | cut -d" " -f3 > /tmpfstype'\n`);
  assert.equal(imageFile(b, 'tmpfstype'), 'tmpfs\n');
  assert.ok(!allPaths(b.newLayers).includes('t/f'));
});

test('RUN --mount=type=bind: read-only by default; rw writes never reach the context (CVE-2025-4953)', async () => {
  const ctx = makeContext({ 'in.txt': 'input\n', 'sub/keep': 'k' });
  try {
    const b = await buildIn(
      s.root,
      ctx,
      `FROM busybox
RUN --mount=type=bind,target=/ctx sh -c 'cat /ctx/in.txt > /bindread; (echo w > /ctx/new && echo WROTE || echo RO) > /bindwrite'
RUN --mount=type=bind,target=/ctx,rw sh -c 'echo w > /ctx/new2 && echo changed > /ctx/in.txt && rm /ctx/sub/keep && cat /ctx/new2 > /rwwrite'
`,
    );
    assert.equal(imageFile(b, 'bindread'), 'input\n');
    assert.equal(imageFile(b, 'bindwrite'), 'RO\n');
    assert.equal(imageFile(b, 'rwwrite'), 'w\n');
    assert.deepEqual(readdirSync(ctx).sort(), ['in.txt', 'sub']);
    assert.equal(readFileSync(join(ctx, 'in.txt'), 'utf8'), 'input\n');
    assert.equal(readFileSync(join(ctx, 'sub', 'keep'), 'utf8'), 'k');
    assert.ok(!allPaths(b.newLayers).some((p) => p.startsWith('ctx/')), allPaths(b.newLayers).join(' '));
  } finally {
    rmSync(ctx, { recursive: true, force: true });
  }
});

test('RUN --mount=type=bind,source=<dir> mounts that context dir and its content is part of the cache key', async () => {
  const ctx = makeContext({ 'd/a': '1' });
  try {
    const df = 'FROM busybox\nRUN --mount=type=bind,source=d,target=/m cat /m/a > /copied\n';
    const one = await buildIn(s.root, ctx, df);
    assert.equal(imageFile(one, 'copied'), '1');
    mkdirSync(join(ctx, 'd'), { recursive: true });
    writeFileSync(join(ctx, 'd', 'a'), '2');
    const two = await buildIn(s.root, ctx, df);
    assert.equal(ranSteps(two).length, 1);
    assert.equal(imageFile(two, 'copied'), '2');
  } finally {
    rmSync(ctx, { recursive: true, force: true });
  }
});

test('build option network: none applies to every RUN', async () => {
  const b = await buildFiles(s.root, 'FROM busybox\nRUN cat /proc/net/dev > /netdev\n', {}, { network: 'none' });
  assert.deepEqual(interfaces(imageFile(b, 'netdev')!), ['lo']);
});

test('RUN --mount options: cache uid/gid/mode, tmpfs is 1777; WORKDIR of an existing dir is still a layer', async () => {
  const b = await buildFiles(
    s.root,
    `FROM busybox
RUN --mount=type=cache,target=/c2,uid=1000,gid=50,mode=0700 stat -c '%u:%g:%a' /c2 > /cstat
RUN --mount=type=tmpfs,target=/tmp/t stat -c '%u:%g:%a' /tmp/t > /tstat
WORKDIR /tmp
`,
  );
  assert.equal(imageFile(b, 'cstat'), '1000:50:700\n');
  assert.equal(imageFile(b, 'tstat'), '0:0:1777\n');
  assert.equal(b.layers.length, 4);
  assert.equal(b.history.at(-1)!.created_by, 'WORKDIR /tmp');
  assert.equal(b.history.at(-1)!.empty_layer, undefined);
});

test('RUN --mount=type=secret,required=true without the secret fails; without required the step runs without it', async () => {
  const f = await buildFails(s.root, 'FROM busybox\nRUN --mount=type=secret,id=missing,required=true true\n');
  assert.match(f.error.message, /missing/);
  const b = await buildFiles(s.root, 'FROM busybox\nRUN --mount=type=secret,id=missing2 test ! -s /run/secrets/missing2 && echo absent > /r\n');
  assert.equal(imageFile(b, 'r'), 'absent\n');
});

test('hostile: a mount target under a symlink to a host path stays in the rootfs (CVE-2024-23652); WORKDIR /proc/self/fd/N does not reach the host (CVE-2024-21626)', async () => {
  const hostDir = mkdtempSync(join(tmpdir(), 'tsb-hostdir-'));
  writeFileSync(join(hostDir, 'canary'), 'alive');
  try {
    await buildFiles(s.root, `FROM busybox\nRUN ln -s ${hostDir} /a\nRUN --mount=type=tmpfs,target=/a/b touch /a/b/x\nRUN --mount=type=cache,target=/a/c touch /a/c/y\n`).catch(() => undefined);
    assert.deepEqual(readdirSync(hostDir), ['canary']);
    assert.equal(readFileSync(join(hostDir, 'canary'), 'utf8'), 'alive');

    const marker = `tsb-leak-${process.pid}`;
    writeFileSync(join(hostDir, marker), 'host');
    for (const fd of [3, 4, 5, 6, 7, 8]) {
      const r = await buildFiles(s.root, `FROM busybox\nWORKDIR /proc/self/fd/${fd}\nRUN ls -a ../../../../../../${hostDir.slice(1)} > /tmp/out 2>&1 || true\n`).catch((e: Error) => e);
      if (r instanceof Error) continue;
      assert.doesNotMatch(imageFile(r, 'tmp/out') ?? '', new RegExp(marker), `fd ${fd} reached the host`);
    }
  } finally {
    rmSync(hostDir, { recursive: true, force: true });
  }
});

test('RUN sandbox as Docker\'s: a no-op RUN gives an empty layer; env is HOME PATH PWD SHLVL; /dev as in Docker; hostname in /etc/hosts', async () => {
  const b = await buildFiles(s.root, 'FROM busybox\nRUN true\nRUN hostname > /h; cat /etc/hosts > /hosts; ls /dev > /devs; env | sort > /env\n');
  assert.deepEqual(b.newLayers.map((l) => l.map((e) => e.path)), [[], ['devs', 'env', 'h', 'hosts']]);
  assert.equal(imageFile(b, 'env'), 'HOME=/root\nPATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\nPWD=/\nSHLVL=1\n');
  assert.equal(imageFile(b, 'devs'), 'fd\nfull\nmqueue\nnull\nptmx\npts\nrandom\nshm\nstderr\nstdin\nstdout\ntty\nurandom\nzero\n');
  const host = imageFile(b, 'h')!.trim();
  assert.ok(host.length > 0);
  assert.match(imageFile(b, 'hosts')!, new RegExp(`^127\\.0\\.0\\.1\\s+localhost ${host}$`, 'm'));
});

test('RUN can write to /dev/stdout and /dev/stderr, as scripts do (issue 14 item 1: they were sockets)', async () => {
  const b = await buildFiles(s.root, 'FROM busybox\nRUN echo to-stdout > /dev/stdout && echo to-stderr > /dev/stderr && echo ok > /done\n');
  assert.equal(imageFile(b, 'done'), 'ok\n');
  const logs = b.events.flatMap((e) => (e.type === 'step-log' ? [`${e.stream}:${e.data}`] : []));
  assert.ok(logs.includes('stdout:to-stdout\n') && logs.includes('stderr:to-stderr\n'), JSON.stringify(logs));
});

test('RUN commits its overlay upper dir as the layer\'s snapshot (not unpacked again); FROM scratch runs over an empty lower; no active snapshot stays', async () => {
  const bb = '--mount=from=busybox,target=/bb';
  const b = await buildFiles(
    s.root,
    `FROM scratch
RUN ${bb} ["/bb/bin/busybox", "sh", "-c", "/bb/bin/busybox echo hi > /hi"]
RUN ${bb} ["/bb/bin/busybox", "sh", "-c", "/bb/bin/busybox cat /hi > /copy"]
`,
    {},
    { noCache: true },
  );
  assert.equal(imageFile(b, 'copy'), 'hi\n', 'the second RUN saw the first one\'s layer');
  const store = await ImageStore.open(s.root);
  try {
    const chain = chainIds(b.config.rootfs.diff_ids as Digest[]);
    const [first, second] = store.snapshots.paths(chain);
    // an upper dir keeps the run's nanosecond mtimes; a snapshot unpacked from the tar has whole seconds
    const ns = (p: string) => statSync(p, { bigint: true }).mtimeNs % 1_000_000_000n;
    assert.notEqual(ns(join(first!, 'hi')), 0n, 'the first RUN\'s snapshot is its upper dir');
    assert.notEqual(ns(join(second!, 'copy')), 0n);
    assert.deepEqual(readdirSync(join(s.root, 'tmp')), [], 'no active snapshot or run dir is left');
  } finally {
    await store.close();
  }
});

test('a build that fails between a COPY and the RUN after it leaves nothing made ahead for that RUN (its dirs, /etc files)', async () => {
  const f = await buildFails(s.root, 'FROM busybox\nCOPY a /bin/busybox/x\nRUN true\n', { a: 'a' }, { noCache: true });
  assert.match(f.error.message, /cannot copy to non-directory/);
  // the COPY's miss made the RUN's directories ahead (snapshotter and runtime warm); the build's
  // end removed them, before any exit cleanup could
  assert.deepEqual(readdirSync(join(s.root, 'tmp')), []);
});
