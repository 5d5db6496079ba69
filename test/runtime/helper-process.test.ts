import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { execFileSync } from 'node:child_process';
import { chmodSync, closeSync, constants, copyFileSync, existsSync, mkdtempSync, openSync, readlinkSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { spawnHelperProcess } from '../../src/runtime/helper-process.js';
import { processRunning } from '../../src/runtime/proc-stat.js';
import { sandboxHelperPath } from '../../src/runtime/sandbox.js';

const helperBin = sandboxHelperPath();

const text = async (r: Readable) => {
  const parts: Buffer[] = [];
  for await (const c of r) parts.push(c as Buffer);
  return Buffer.concat(parts).toString();
};

test('helper process: pipes on the fds asked for, /dev/null on the others, an empty environment; close after its output, with its exit code, reaped', async () => {
  const c = spawnHelperProcess('/bin/sh', 'sh', ['r', 'w', 'w', 'null', 'w']);
  assert.ok(c.pid! > 0);
  const closed = once(c, 'close');
  (c.stdio[0] as Writable).end('env | grep -c -e ^HOME= -e ^PATH= -e ^TSBUILD; echo err >&2; echo four >&4; echo gone >&3 && echo wrote3; exit 3\n');
  const [out, err, four] = await Promise.all([text(c.stdio[1] as Readable), text(c.stdio[2] as Readable), text(c.stdio[4] as Readable)]);
  assert.deepEqual([out, err, four], ['0\nwrote3\n', 'err\n', 'four\n'], 'no variable of ours; fd 3 writes to /dev/null');
  assert.deepEqual(await closed, [3, null]);
  assert.equal(processRunning(c.pid!), false, 'reaped');
});

test('helper process: a signal ends it (named as Node names it); a missing binary is an error event', async () => {
  const d = spawnHelperProcess('/bin/sh', 'sh', ['r', 'w']);
  const dc = once(d, 'close');
  (d.stdio[0] as Writable).write('echo started; exec sleep 30\n');
  const first = await once(d.stdio[1] as Readable, 'data');
  assert.equal(String(first[0]), 'started\n');
  d.kill('SIGTERM');
  assert.deepEqual(await dc, [null, 'SIGTERM']);
  d.kill('SIGTERM'); // after it was reaped: nothing (its PID may be another process's by now)

  const e = spawnHelperProcess('/nonexistent/helper', 'x', ['null', 'w']);
  assert.equal(e.pid, undefined);
  const [err] = (await once(e, 'error')) as [NodeJS.ErrnoException];
  assert.match(err.message, /posix_spawn \/nonexistent\/helper/);
});

test('helper process: reaped without the thread pool when it has exited (its threads may all be busy, e.g. in fsyncs)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsbuild-busy-pool-'));
  // every thread of the pool (UV_THREADPOOL_SIZE, default 4) blocks in the open of a FIFO nobody writes
  const size = Number(process.env.UV_THREADPOOL_SIZE) || 4;
  const fifos = Array.from({ length: size }, (_, i) => join(dir, `f${i}`));
  for (const f of fifos) execFileSync('mkfifo', [f]);
  const blocked = fifos.map((f) => open(f, 'r'));
  try {
    const c = spawnHelperProcess('/bin/sh', 'sh', ['r', 'w']);
    (c.stdio[0] as Writable).end('echo done; exit 5\n');
    const closed = once(c, 'close');
    assert.equal(await text(c.stdio[1] as Readable), 'done\n');
    const late = new Promise((r) => setTimeout(() => r('late'), 3000).unref());
    assert.deepEqual(await Promise.race([closed, late]), [5, null]);
  } finally {
    // let the pool go: a writer for each FIFO
    for (const f of fifos) closeSync(openSync(f, constants.O_WRONLY | constants.O_NONBLOCK));
    for (const h of await Promise.all(blocked)) await h.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('helper process, sealed: runs from one sealed memfd copy, reused while the file is unchanged and made again when it changes', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsbuild-sealed-'));
  try {
    const sh = join(dir, 'sh');
    copyFileSync('/bin/sh', sh);
    chmodSync(sh, 0o755);
    const start = () => {
      const c = spawnHelperProcess(sh, 'sealed-sh', ['r', 'w'], { sealed: true });
      const exe = statSync(`/proc/${c.pid}/exe`);
      return { c, exe, link: readlinkSync(`/proc/${c.pid}/exe`) };
    };
    const a = start();
    const b = start();
    assert.match(a.link, /^\/memfd:sealed-sh \(deleted\)$/);
    assert.equal(a.exe.ino, b.exe.ino, 'one copy for both');
    // sealed: not even root can write to what runs (CVE-2019-5736)
    assert.throws(() => writeFileSync(`/proc/${a.c.pid}/exe`, 'x', { flag: 'r+' }), /EPERM|ETXTBSY|EACCES/);
    for (const { c } of [a, b]) {
      const closed = once(c, 'close');
      (c.stdio[0] as Writable).end('echo ran; exit 4\n');
      assert.equal(await text(c.stdio[1] as Readable), 'ran\n');
      assert.deepEqual(await closed, [4, null]);
    }
    utimesSync(sh, new Date(), new Date(Date.now() + 5000));
    const c = start();
    assert.notEqual(c.exe.ino, a.exe.ino, 'a changed file is copied again');
    const closed = once(c.c, 'close');
    (c.c.stdio[0] as Writable).end('exit 0\n');
    await text(c.c.stdio[1] as Readable);
    await closed;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('sandbox helper: started from an unsealed memfd that carries the sealed copy\'s name, it still runs from a sealed copy of its own', { skip: !existsSync(helperBin) && 'native helper not built' }, () => {
  // python's memfd_create gives an unsealed memfd named tsbuild-sandbox; the helper waits for its
  // spec on fd 3 (a pipe python keeps open), so what it runs from can be looked at meanwhile
  const script = `
import os, sys, fcntl, time
def mfd(sealed):
    fd = os.memfd_create('tsbuild-sandbox', os.MFD_ALLOW_SEALING)
    os.write(fd, open(sys.argv[1], 'rb').read())
    if sealed: fcntl.fcntl(fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE)
    return fcntl.fcntl(fd, fcntl.F_DUPFD, 100)  # (clear of fd 3, the spec's)
for sealed in (False, True):
    fd = mfd(sealed)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.dup2(r, 3)
        os.execv('/proc/self/fd/%d' % fd, ['tsbuild-sandbox'])
    time.sleep(0.3)
    exe = os.open('/proc/%d/exe' % pid, os.O_RDONLY)
    same = os.fstat(exe).st_ino == os.fstat(fd).st_ino
    print('sealed' if sealed else 'unsealed', fcntl.fcntl(exe, fcntl.F_GET_SEALS) & 15, 'same' if same else 'own')
    os.kill(pid, 9); os.waitpid(pid, 0)
`;
  const out = execFileSync('python3', ['-c', script, helperBin], { encoding: 'utf8' });
  // 15: SEAL, SHRINK, GROW and WRITE; an unsealed memfd is not trusted, a sealed one is used as it is
  assert.equal(out, 'unsealed 15 own\nsealed 15 same\n');
});
