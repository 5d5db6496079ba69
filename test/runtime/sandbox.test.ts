import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRuntime, type RunSpec } from '../../src/runtime/index.js';
import { encodeSpec, sandboxHelperPath } from '../../src/runtime/sandbox.js';
import { isTsbuildError } from '../../src/errors.js';
import { hostMountPoints, processesWith, scratch, sink } from './rootfs-fixture.js';

const s = scratch();
after(() => s.cleanup());
const tmpDir = s.mkdir('runs');
const rt = createRuntime({ tmpDir });

/** Runs a shell snippet in a fresh rootfs over the busybox image; returns output and diff. */
async function sh(script: string, extra: Partial<RunSpec> = {}, lowers = [s.busybox]) {
  const fs = await rt.prepare(s.mounts(lowers));
  const out = sink();
  const err = sink();
  try {
    const r = await rt.run(fs, {
      args: ['/bin/sh', '-c', script],
      env: [],
      network: 'none',
      stdout: out.fn,
      stderr: err.fn,
      ...extra,
    });
    const diff = await rt.diff(fs);
    return { ...r, stdout: out.text(), stderr: err.text(), diff, chunks: out.out.length };
  } finally {
    await rt.release(fs);
  }
}

test('output is streamed and exit codes come back', async () => {
  const r = await sh('echo out; echo err >&2; exit 7');
  assert.equal(r.stdout, 'out\n');
  assert.equal(r.stderr, 'err\n');
  assert.equal(r.exitCode, 7);
  assert.equal((await sh('true')).exitCode, 0);
});

test('output arrives while the command still runs', async () => {
  const fs = await rt.prepare(s.mounts([s.busybox]));
  try {
    let firstAt = 0;
    const start = Date.now();
    const r = await rt.run(fs, {
      args: ['/bin/sh', '-c', 'echo first; sleep 0.5; echo second'],
      env: [],
      network: 'none',
      stdout: () => {
        firstAt ||= Date.now() - start;
      },
    });
    assert.equal(r.exitCode, 0);
    assert.ok(Date.now() - start >= 500);
    assert.ok(firstAt < 400, `first chunk after ${firstAt} ms`);
  } finally {
    await rt.release(fs);
  }
});

test('a command killed by a signal reports it', async () => {
  const r = await sh('kill -9 $$');
  assert.equal(r.signal, 9);
  assert.equal(r.exitCode, 137);
});

test('a missing executable is exit 127 with a message', async () => {
  const fs = await rt.prepare(s.mounts([s.busybox]));
  try {
    const r = await rt.run(fs, { args: ['no-such-program'], env: [], network: 'none' });
    assert.equal(r.exitCode, 127);
    assert.match(r.execError ?? '', /exec "no-such-program": No such file or directory/);
  } finally {
    await rt.release(fs);
  }
});

test('env, working directory, user, groups and hostname are applied', async () => {
  const r = await sh('echo "$FOO|$PATH"; pwd; id -u; id -g; id -G; hostname; umask', {
    env: ['FOO=bar baz'],
    cwd: '/made/for/run',
    user: { uid: 1000, gid: 1000, groups: [10, 50] },
    hostname: 'stephost',
  });
  assert.equal(r.exitCode, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.deepEqual(lines, [
    'bar baz|/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    '/made/for/run',
    '1000',
    '1000',
    '1000 10 50',
    'stephost',
    '0022',
  ]);
  // a missing working directory is created (and kept, as WORKDIR is)
  assert.ok(r.diff.some((e) => e.path === 'made/for/run' && e.type === 'dir'));
});

test('root keeps Docker\'s default capabilities only; other users get none', async () => {
  const root = await sh('grep -E "^Cap(Eff|Bnd)" /proc/self/status');
  assert.match(root.stdout, /CapEff:\s+00000000a80425fb/);
  assert.match(root.stdout, /CapBnd:\s+00000000a80425fb/);
  const user = await sh('grep -E "^Cap(Eff|Bnd)|NoNewPrivs" /proc/self/status', { user: { uid: 1000, gid: 1000, groups: [] } });
  assert.match(user.stdout, /CapEff:\s+0000000000000000/);
  assert.match(user.stdout, /CapBnd:\s+00000000a80425fb/);
  assert.match(user.stdout, /NoNewPrivs:\s+1/);
});

test('network none has only loopback; host network shows the host interfaces', async () => {
  const hostIfs = readdirSync('/sys/class/net').sort();
  assert.ok(hostIfs.length > 1, 'host has more than lo');
  const none = await sh('ls /sys/class/net; ip -o -4 addr show');
  assert.equal(none.exitCode, 0, none.stderr);
  const noneIfs = none.stdout.split('\n').filter((l) => l && !l.includes(' ')).sort();
  assert.deepEqual(noneIfs, ['lo']);
  assert.match(none.stdout, /lo\s+inet 127\.0\.0\.1/);
  const host = await sh('ls /sys/class/net', { network: 'host' });
  const hostAfter = readdirSync('/sys/class/net');
  // other tests running meanwhile add and remove their own veths and bridges: what the host had
  // both before and after must be seen, and anything else seen must be one of those passing ones
  const seen = host.stdout.trim().split(/\s+/).sort();
  const stable = hostIfs.filter((n) => hostAfter.includes(n));
  assert.deepEqual(stable.filter((n) => !seen.includes(n)), [], `host interfaces missing from network 'host': ${seen.join(' ')}`);
  assert.deepEqual(seen.filter((n) => !stable.includes(n) && !/^tsb/.test(n)), [], 'only the host\'s interfaces');
});

test('loopback works inside network none', async () => {
  const r = await sh('nc -l -p 7777 > /tmp/got & sleep 0.2; echo ping | nc 127.0.0.1 7777; sleep 0.2; cat /tmp/got');
  assert.equal(r.stdout.trim(), 'ping');
});

test('RUN true changes nothing: the /etc files and mount stubs leave no trace', async () => {
  const r = await sh('true');
  assert.deepEqual(r.diff, []);
  // even for targets that do not exist in the image
  const src = s.mkdir('bindsrc');
  writeFileSync(join(src, 'data'), 'hello');
  const m = await sh('cat /mnt/a/b/data; ls /tmpfs-here', {
    mounts: [
      { type: 'bind', source: src, target: '/mnt/a/b', readonly: true },
      { type: 'tmpfs', target: '/tmpfs-here', sizeBytes: 1 << 20 },
    ],
  });
  assert.equal(m.exitCode, 0, m.stderr);
  assert.equal(m.stdout, 'hello');
  assert.deepEqual(m.diff, []);
});

test('binds are read-only by default; rw binds write through; tmpfs writes vanish', async () => {
  const src = s.mkdir('bind-rw');
  const ro = s.mkdir('bind-ro');
  const r = await sh('echo new > /rw/f; echo no > /ro/f; echo rc=$?; echo t > /scratch/f; ls /scratch', {
    mounts: [
      { type: 'bind', source: src, target: '/rw', readonly: false },
      { type: 'bind', source: ro, target: '/ro' },
      { type: 'tmpfs', target: '/scratch' },
    ],
  });
  assert.match(r.stdout, /rc=1/);
  assert.match(r.stderr, /Read-only file system/);
  assert.equal(readFileSync(join(src, 'f'), 'utf8'), 'new\n');
  assert.ok(!existsSync(join(ro, 'f')));
  assert.deepEqual(r.diff, []);
});

test('hundreds of layers mount (beyond the 4 KiB option page)', async () => {
  const lowers = [s.busybox];
  for (let i = 0; i < 200; i++) {
    const d = s.mkdir(`layers/a-fairly-long-directory-name-for-layer-number-${i}`);
    mkdirSync(join(d, 'layers'));
    writeFileSync(join(d, 'layers', `l${i}`), String(i));
  }
  for (let i = 0; i < 200; i++) lowers.push(join(s.dir, `layers/a-fairly-long-directory-name-for-layer-number-${i}`));
  for (const legacyLowerdir of [false, true]) {
    // legacy: one lowerdir= list (kernels before 6.8), kept short by paths relative to the parent
    const r = await sh('ls /layers | wc -l; cat /layers/l0 /layers/l199', { legacyLowerdir }, lowers);
    assert.equal(r.exitCode, 0, r.stderr);
    assert.equal(r.stdout, '200\n0199');
  }
});

test('volatile: the root overlay is mounted volatile (no syncfs at its unmount) only when asked; the writes are in the upper dir', async () => {
  const root = (r: { stdout: string }) => r.stdout.split('\n').find((l) => l.split(' ')[4] === '/') ?? '';
  const plain = await sh('cat /proc/self/mountinfo');
  assert.match(root(plain), / - overlay /);
  assert.doesNotMatch(root(plain), /volatile/);
  const vol = await sh('cat /proc/self/mountinfo; echo kept > /made; sync', { volatile: true });
  assert.equal(vol.exitCode, 0, vol.stderr);
  assert.match(root(vol), /[ ,](fsync=)?volatile(,|$)/, "(Linux 6.18 shows fsync=volatile)");
  assert.deepEqual(vol.diff.map((e) => e.path), ['made']);
});

test('a timeout kills the whole tree and leaves nothing behind', async () => {
  const marker = `tsbuild-timeout-${process.pid}`;
  // only mounts of ours count: other programs on the host (a Docker daemon...) mount at will
  const ours = () => hostMountPoints().filter((p) => p.startsWith(tmpDir) || p.includes('tsbuild'));
  const before = ours().length;
  const t0 = Date.now();
  const r = await sh(`sleep 1000 & sleep 1000; echo ${marker}`, { timeoutMs: 300 });
  assert.equal(r.timedOut, true);
  assert.ok(Date.now() - t0 < 3000);
  assert.deepEqual(processesWith(marker), []);
  assert.equal(ours().length, before);
  assert.deepEqual(readdirSync(tmpDir), []);
});

test('an AbortSignal stops the run', async () => {
  const marker = `tsbuild-abort-${process.pid}`;
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 200);
  const r = await sh(`sleep 1000; echo ${marker}`, { signal: ac.signal });
  assert.equal(r.aborted, true);
  assert.deepEqual(processesWith(marker), []);
});

test('a forked daemon does not keep the step alive', async () => {
  const marker = `tsbuild-daemon-${process.pid}`;
  const t0 = Date.now();
  const r = await sh(`(sh -c "sleep 1000; echo ${marker}" &) ; echo started`);
  assert.equal(r.exitCode, 0);
  assert.equal(r.stdout, 'started\n');
  assert.ok(Date.now() - t0 < 5000);
  assert.deepEqual(processesWith(marker), []);
});

test('sandbox failures are RUNTIME errors naming the call', async () => {
  const fs = await rt.prepare(s.mounts([join(s.dir, 'does-not-exist')]));
  try {
    await assert.rejects(
      rt.run(fs, { args: ['true'], env: [], network: 'none' }),
      (e: unknown) => isTsbuildError(e) && e.code === 'RUNTIME' && /lowerdir\+ .*does-not-exist: No such file/.test(e.message),
    );
  } finally {
    await rt.release(fs);
  }
});

test('SIGINT of the Node process leaves no processes, mounts or temp dirs', async () => {
  const marker = `tsbuild-sigint-${process.pid}`;
  const runs = s.mkdir('sigint-runs');
  const script = join(s.dir, 'sigint.mts');
  const here = fileURLToPath(new URL('.', import.meta.url));
  writeFileSync(
    script,
    `import { createRuntime } from ${JSON.stringify(join(here, '../../src/runtime/index.ts'))};
     import { snapshotMounts } from ${JSON.stringify(join(here, 'rootfs-fixture.ts'))};
     const rt = createRuntime({ tmpDir: ${JSON.stringify(runs)} });
     const fs = await rt.prepare(snapshotMounts(${JSON.stringify(s.dir)}, [${JSON.stringify(s.busybox)}]));
     await rt.run(fs, { args: ['/bin/sh', '-c', 'echo ready; sleep 1000; echo ${marker}'], env: [], network: 'none',
       stdout: (b) => process.stdout.write(b) });
     console.log('finished');`,
  );
  const child = spawn(process.execPath, ['--import', 'tsx', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  after(() => child.kill('SIGKILL')); // should the test fail half-way
  let out = '';
  await new Promise<void>((resolve) =>
    child.stdout.on('data', (d: Buffer) => {
      out += d;
      if (out.includes('ready')) resolve();
    }),
  );
  assert.equal(processesWith(marker).length > 0, true);
  child.kill('SIGINT');
  const [code, sig] = await new Promise<[number | null, string | null]>((r) => child.on('close', (c, g) => r([c, g])));
  assert.ok(code === 130 || sig === 'SIGINT', `exit ${code} ${sig}`);
  assert.ok(!out.includes('finished'));
  assert.deepEqual(processesWith(marker), []);
  assert.deepEqual(readdirSync(runs), []);
});

test('PID 1 forwards SIGTERM to the command and reports its status', async () => {
  const fs = await rt.prepare(s.mounts([s.busybox]));
  try {
    const spec = encodeSpec({
      lowerDirs: [...fs.lowerDirs],
      upperDir: fs.upperDir,
      workDir: fs.workDir,
      mountPoint: fs.mountPoint,
      args: ['/bin/sh', '-c', 'trap "echo got-term; exit 42" TERM; echo ready; while :; do sleep 0.05; done'],
      env: [],
      network: 'none',
    });
    const child = spawn(sandboxHelperPath(), [], { stdio: ['ignore', 'pipe', 'inherit', 'pipe', 'pipe'] });
    (child.stdio[3] as NodeJS.WritableStream).end(spec);
    let out = '';
    let status = '';
    (child.stdio[4] as NodeJS.ReadableStream).on('data', (d: Buffer) => (status += d));
    await new Promise<void>((resolve) =>
      child.stdout!.on('data', (d: Buffer) => {
        out += d;
        if (out.includes('ready')) resolve();
      }),
    );
    child.kill('SIGTERM');
    const code = await new Promise<number | null>((r) => child.on('close', (c) => r(c)));
    assert.equal(code, 42);
    assert.match(out, /got-term/);
    assert.match(status, /^pid \d+\nexit 42\n$/);
  } finally {
    await rt.release(fs);
  }
});

test('PID 1 reaps orphaned zombies', async () => {
  const r = await sh('(sleep 0.1 &); (sleep 0.1 &); sleep 0.6; ps -o stat,comm | grep -c "^Z"; true');
  assert.equal(r.stdout.trim(), '0');
  const ps = await sh('ps -o pid,comm,args');
  assert.match(ps.stdout, /^\s*1 tsbuild-init\s+\{tsbuild-init\} tsbuild-sandbox$/m); // no host path of the helper
});

test('SIGKILL of the Node process still takes the whole sandbox down', async () => {
  const marker = `tsbuild-sigkill-${process.pid}`;
  const script = join(s.dir, 'sigkill.mts');
  const here = fileURLToPath(new URL('.', import.meta.url));
  writeFileSync(
    script,
    `import { createRuntime } from ${JSON.stringify(join(here, '../../src/runtime/index.ts'))};
     import { snapshotMounts } from ${JSON.stringify(join(here, 'rootfs-fixture.ts'))};
     const rt = createRuntime({ tmpDir: ${JSON.stringify(s.mkdir('sigkill-runs'))} });
     const fs = await rt.prepare(snapshotMounts(${JSON.stringify(s.dir)}, [${JSON.stringify(s.busybox)}]));
     await rt.run(fs, { args: ['/bin/sh', '-c', '(sleep 1000; echo ${marker}) & echo ready; sleep 1000; echo ${marker}'],
       env: [], network: 'none', stdout: (b) => process.stdout.write(b) });`,
  );
  const child = spawn(process.execPath, ['--import', 'tsx', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  after(() => child.kill('SIGKILL'));
  let out = '';
  await new Promise<void>((resolve) =>
    child.stdout.on('data', (d: Buffer) => {
      out += d;
      if (out.includes('ready')) resolve();
    }),
  );
  assert.ok(processesWith(marker).length > 0);
  const closed = new Promise((r) => child.on('close', r));
  child.kill('SIGKILL');
  await closed;
  // PDEATHSIG chain: node -> helper -> PID 1 -> the namespace
  const until = Date.now() + 3000;
  while (processesWith(marker).length > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(processesWith(marker), []);
});

test('specs are checked before anything runs', async () => {
  const base = { lowerDirs: ['/l'], upperDir: '/u', workDir: '/w', mountPoint: '/r', args: ['true'], env: [], network: 'none' as const };
  const invalid = (e: unknown) => isTsbuildError(e) && e.code === 'INVALID';
  assert.throws(() => encodeSpec({ ...base, args: [] }), invalid);
  assert.throws(() => encodeSpec({ ...base, lowerDirs: [] }), invalid);
  assert.throws(() => encodeSpec({ ...base, cwd: 'relative' }), invalid);
  assert.throws(() => encodeSpec({ ...base, env: ['A=\0'] }), invalid);
  assert.throws(() => encodeSpec({ ...base, user: { uid: -1, gid: 0, groups: [] } }), invalid);
  assert.throws(() => encodeSpec({ ...base, mounts: [{ type: 'tmpfs', target: 'x' }] }), invalid);
  // layers go to overlayfs topmost first; PATH gets Docker's default
  const recs = encodeSpec({ ...base, lowerDirs: ['/base', '/top'] }).toString().split('\0');
  assert.deepEqual(recs.filter((r) => r.startsWith('lower=')), ['lower=/top', 'lower=/base']);
  assert.ok(recs.includes('env=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'));
});

test('output can go to a stream', async () => {
  const { PassThrough } = await import('node:stream');
  const stream = new PassThrough();
  const chunks: Buffer[] = [];
  stream.on('data', (d: Buffer) => chunks.push(d));
  const r = await sh('echo to-stream', { stdout: stream });
  assert.equal(r.exitCode, 0);
  assert.equal(Buffer.concat(chunks).toString(), 'to-stream\n');
});

test('stdout and stderr are pipes: /dev/stdout and /dev/stderr open; output is complete and ordered', async () => {
  const r = await sh(
    'echo foo > /dev/stdout; echo bar > /dev/stderr; echo baz >> /proc/self/fd/1; ' +
      'i=0; while [ $i -lt 3000 ]; do echo line$i; i=$((i+1)); done; head -c 1000000 /dev/zero | tr "\\0" a; echo; ' +
      'readlink /proc/self/fd/2 >&2',
  );
  assert.equal(r.exitCode, 0, r.stderr);
  const lines = r.stdout.split('\n');
  assert.deepEqual(lines.slice(0, 3), ['foo', 'baz', 'line0']);
  assert.deepEqual(lines.slice(2, 3002), Array.from({ length: 3000 }, (_, i) => `line${i}`));
  assert.equal(lines[3002], 'a'.repeat(1_000_000));
  assert.match(r.stderr, /^bar\npipe:\[\d+\]\n$/);
});
