import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { JsonLogWriter, MAX_LINE, jsonLogPath, parseJsonFileOpts, readJsonLog, renderLogEntry, type LogEntry } from '../../src/containers/json-log.js';
import { formatRfc3339Nano, formatRfc3339NanoFixed, fromHumanSize, parseGoDuration, parseLogTime, ramInBytes } from '../../src/containers/log-time.js';
import { TsbuildError } from '../../src/errors.js';

const T0 = BigInt(Date.parse('2024-05-01T12:00:00Z')) * 1_000_000n;
const SEC = 1_000_000_000n;

function withDir(fn: (dir: string) => Promise<void> | void) {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsbuild-jsonlog-'));
    try {
      await fn(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

/** A clock that ticks one second per call. */
function ticking(start = T0) {
  let t = start;
  return () => {
    const now = t;
    t += SEC;
    return now;
  };
}

async function readAll(path: string, opts = {}): Promise<LogEntry[]> {
  const out: LogEntry[] = [];
  for await (const e of readJsonLog(path, opts)) out.push(e);
  return out;
}

test(
  "entries are Docker's json-file lines with jsonlog's escaping",
  withDir((dir) => {
    const path = jsonLogPath(dir, 'c0ffee');
    const w = JsonLogWriter.open(path, {}, ticking(T0 + 500_000_000n));
    w.write('stdout', Buffer.from('hello\n'));
    w.write('stderr', Buffer.concat([Buffer.from('<a&b>\t"x"\\\r\u2028é'), Buffer.from([0xff, 0xc3]), Buffer.from('\n')]));
    w.write('stdout', Buffer.from('no newline'));
    w.close();
    assert.equal(
      readFileSync(path, 'utf8'),
      '{"log":"hello\\n","stream":"stdout","time":"2024-05-01T12:00:00.5Z"}\n' +
        '{"log":"\\u003ca\\u0026b\\u003e\\u0009\\"x\\"\\\\\\r\\u2028é\\ufffd\\ufffd\\n","stream":"stderr","time":"2024-05-01T12:00:01.5Z"}\n' +
        '{"log":"no newline","stream":"stdout","time":"2024-05-01T12:00:02.5Z"}\n',
    );
    assert.equal(statSync(path).mode & 0o777, 0o600);
  }),
);

test(
  'long lines are cut at 16 KiB, pieces share the first time, a UTF-8 character is never split',
  withDir(async (dir) => {
    const path = jsonLogPath(dir, 'x');
    const w = JsonLogWriter.open(path, {}, ticking());
    w.write('stdout', Buffer.from('a'.repeat(40000) + '\n'));
    w.write('stdout', Buffer.from('b'.repeat(MAX_LINE) + '\n')); // exactly full: a piece, then "\n" alone
    w.write('stdout', Buffer.from('c'.repeat(MAX_LINE - 1) + 'é\n'));
    // A long line arriving in small chunks is cut the same way.
    for (let i = 0; i < 20; i++) w.write('stderr', Buffer.from('d'.repeat(1000)));
    w.write('stderr', Buffer.from('\n'));
    w.close();
    const e = await readAll(path);
    assert.deepEqual(
      e.map((x) => [x.stream, x.log.length, x.log.at(-1) === 0x0a]),
      [
        ['stdout', 16384, false],
        ['stdout', 16384, false],
        ['stdout', 40000 - 2 * 16384 + 1, true],
        ['stdout', 16384, false],
        ['stdout', 1, true],
        ['stdout', 16383, false],
        ['stdout', 3, true],
        ['stderr', 16384, false],
        ['stderr', 20000 - 16384 + 1, true],
      ],
    );
    assert.equal(e[0]!.time, T0);
    assert.equal(e[2]!.time, T0, 'the pieces of one line share its first time');
    assert.equal(e[6]!.log.toString(), 'é\n');
  }),
);

test(
  '64 MiB of output through writer and reader arrives byte-exact, streams apart',
  withDir(async (dir) => {
    const path = jsonLogPath(dir, 'big');
    const w = JsonLogWriter.open(path);
    const words = ['hello world ', 'tab\there ', '"quoted" ', 'back\\slash ', 'ünïcødé ', '漢字 ', '😀 ', '<html>&amp; ', '\r', '\x01\x1b[0m '];
    const hashes = { stdout: createHash('sha256'), stderr: createHash('sha256') };
    const sizes = { stdout: 0, stderr: 0 };
    let total = 0;
    let seed = 1;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const started = Date.now();
    while (total < 64 * 1024 * 1024) {
      const parts: string[] = [];
      for (let i = 0; i < 2000; i++) {
        parts.push(words[rand(words.length)]!);
        if (rand(8) === 0) parts.push('\n');
        if (rand(400) === 0) parts.push('x'.repeat(20000 + rand(30000))); // lines longer than 16 KiB
      }
      const buf = Buffer.from(parts.join(''));
      const stream = rand(4) === 0 ? 'stderr' : 'stdout';
      // Arbitrary chunk boundaries, as pipes deliver them (they may split characters).
      for (let off = 0; off < buf.length; ) {
        const n = 1 + rand(70000);
        const chunk = buf.subarray(off, off + n);
        w.write(stream, chunk);
        hashes[stream].update(chunk);
        sizes[stream] += chunk.length;
        off += n;
      }
      total += buf.length;
    }
    w.close();
    const wrote = Date.now() - started;
    const got = { stdout: createHash('sha256'), stderr: createHash('sha256') };
    const gotSizes = { stdout: 0, stderr: 0 };
    const t = Date.now();
    for await (const e of readJsonLog(path)) {
      got[e.stream].update(e.log);
      gotSizes[e.stream] += e.log.length;
    }
    const read = Date.now() - t;
    assert.deepEqual(gotSizes, sizes);
    assert.equal(got.stdout.digest('hex'), hashes.stdout.digest('hex'));
    assert.equal(got.stderr.digest('hex'), hashes.stderr.digest('hex'));
    console.log(`64 MiB: write ${wrote} ms, read ${read} ms, file ${(statSync(path).size / 1048576).toFixed(1)} MiB`);
  }),
);

test(
  'rotation with max-size=1k max-file=3 keeps three files; reading spans them in order',
  withDir(async (dir) => {
    const path = jsonLogPath(dir, 'rot');
    const opts = parseJsonFileOpts({ 'max-size': '1k', 'max-file': '3' });
    assert.deepEqual(opts, { maxSize: 1000, maxFile: 3 });
    const w = JsonLogWriter.open(path, opts, ticking());
    for (let i = 0; i < 300; i++) w.write('stdout', Buffer.from(`line ${i}\n`));
    w.close();
    assert.deepEqual(readdirSync(dir).sort(), ['rot-json.log', 'rot-json.log.1', 'rot-json.log.2']);
    const entry = Buffer.byteLength('{"log":"line 299\\n","stream":"stdout","time":"2024-05-01T12:04:59Z"}\n');
    for (const f of ['rot-json.log.1', 'rot-json.log.2']) {
      const size = statSync(join(dir, f)).size;
      assert.ok(size >= 1000 && size < 1000 + entry, `${f}: ${size}`);
    }
    const all = await readAll(path);
    const nums = all.map((e) => Number(e.log.toString().slice(5)));
    assert.equal(nums.at(-1), 299);
    assert.deepEqual(nums, nums.map((_, i) => nums[0]! + i), 'consecutive, oldest first');
    assert.ok(nums.length > 30, String(nums.length));
    // --tail counts across files
    assert.deepEqual((await readAll(path, { tail: 3 })).map((e) => e.log.toString()), ['line 297\n', 'line 298\n', 'line 299\n']);
    const many = await readAll(path, { tail: nums.length - 2 });
    assert.equal(many[0]!.log.toString(), `line ${nums[2]}\n`);
    assert.equal((await readAll(path, { tail: 100000 })).length, nums.length);
    assert.equal((await readAll(path, { tail: 0 })).length, 0);
    // max-file 1: the file starts anew
    const one = jsonLogPath(dir, 'one');
    const w1 = JsonLogWriter.open(one, { maxSize: 200, maxFile: 1 });
    for (let i = 0; i < 50; i++) w1.write('stdout', Buffer.from(`l${i}\n`));
    w1.close();
    assert.ok(!existsSync(one + '.1'));
    assert.equal((await readAll(one)).at(-1)!.log.toString(), 'l49\n');
  }),
);

test(
  '--since and --until filter by time; -t prints RFC3339NanoFixed',
  withDir(async (dir) => {
    const path = jsonLogPath(dir, 't');
    const w = JsonLogWriter.open(path, {}, ticking());
    for (let i = 0; i < 10; i++) w.write('stdout', Buffer.from(`${i}\n`));
    w.close();
    const text = (es: LogEntry[]) => es.map((e) => e.log.toString().trim()).join(',');
    assert.equal(text(await readAll(path, { since: T0 + 7n * SEC })), '7,8,9');
    assert.equal(text(await readAll(path, { until: T0 + 2n * SEC })), '0,1,2');
    assert.equal(text(await readAll(path, { since: T0 + 3n * SEC, until: T0 + 5n * SEC })), '3,4,5');
    assert.equal(text(await readAll(path, { tail: 2, since: T0 + 9n * SEC })), '9');
    const [first] = await readAll(path, { tail: 1 });
    assert.equal(renderLogEntry(first!, true).toString(), '2024-05-01T12:00:09.000000000Z 9\n');
    assert.equal(renderLogEntry(first!, false).toString(), '9\n');
  }),
);

test(
  'follow survives rotation, loses nothing, and ends when the container stops',
  withDir(async (dir) => {
    const path = jsonLogPath(dir, 'f');
    const w = JsonLogWriter.open(path, { maxSize: 20000, maxFile: 3 });
    w.write('stdout', Buffer.from('before\n'));
    let stopped = false;
    const got: string[] = [];
    const reader = (async () => {
      for await (const e of readJsonLog(path, { follow: true, stopped: () => stopped, pollMs: 10 })) got.push(e.log.toString());
    })();
    const N = 3000;
    for (let i = 0; i < N; i++) {
      w.write(i % 3 ? 'stdout' : 'stderr', Buffer.from(`line ${i} ${'.'.repeat(i % 50)}\n`));
      if (i % 20 === 19) await new Promise((r) => setTimeout(r, 1));
    }
    w.write('stdout', Buffer.from('last words without newline'));
    w.close();
    stopped = true;
    await reader;
    assert.equal(got[0], 'before\n');
    assert.equal(got.length, N + 2);
    for (let i = 0; i < N; i++) assert.equal(got[i + 1], `line ${i} ${'.'.repeat(i % 50)}\n`);
    assert.equal(got.at(-1), 'last words without newline');
    assert.ok(existsSync(path + '.2'), 'the writer did rotate');
  }),
);

test(
  'follow with --tail starts at the end and stops on abort',
  withDir(async (dir) => {
    const path = jsonLogPath(dir, 'a');
    const w = JsonLogWriter.open(path);
    for (let i = 0; i < 5; i++) w.write('stdout', Buffer.from(`old ${i}\n`));
    const ac = new AbortController();
    const got: string[] = [];
    const reader = (async () => {
      for await (const e of readJsonLog(path, { follow: true, tail: 1, signal: ac.signal, pollMs: 10 })) {
        got.push(e.log.toString());
        if (got.length === 3) ac.abort();
      }
    })();
    await new Promise((r) => setTimeout(r, 30));
    w.write('stdout', Buffer.from('new 1\n'));
    await new Promise((r) => setTimeout(r, 30));
    w.write('stdout', Buffer.from('new 2\n'));
    await reader;
    w.close();
    assert.deepEqual(got, ['old 4\n', 'new 1\n', 'new 2\n']);
  }),
);

test('a torn or foreign line is skipped, not fatal', withDir(async (dir) => {
  const path = jsonLogPath(dir, 'j');
  writeFileSync(path, '{"log":"a\\n","stream":"stdout","time":"2024-05-01T12:00:00Z"}\ngarbage\n{"log":"b\\n","stream":"stderr","time":"2024-05-01T12:00:01.123Z"}\n{"log":"tor');
  const e = await readAll(path);
  assert.deepEqual(e.map((x) => [x.stream, x.log.toString(), x.time]), [
    ['stdout', 'a\n', T0],
    ['stderr', 'b\n', T0 + SEC + 123_000_000n],
  ]);
}));

test('--log-opt checks as Docker words them', () => {
  const bad = (o: Record<string, string>, msg: string) =>
    assert.throws(() => parseJsonFileOpts(o), (e: unknown) => e instanceof TsbuildError && e.message === msg, msg);
  assert.deepEqual(parseJsonFileOpts({}), { maxSize: -1, maxFile: 1 });
  assert.deepEqual(parseJsonFileOpts({ 'max-size': '10m' }), { maxSize: 10_000_000, maxFile: 1 });
  bad({ 'max-size': '0' }, 'max-size must be a positive number');
  bad({ 'max-size': '10x' }, "invalid suffix: 'x'");
  bad({ 'max-size': 'big' }, "invalid size: 'big'");
  bad({ 'max-file': '0' }, 'max-file cannot be less than 1');
  bad({ 'max-file': 'two' }, 'strconv.Atoi: parsing "two": invalid syntax');
  bad({ 'max-bytes': '1' }, "unknown log opt 'max-bytes' for json-file log driver");
});

test('sizes: FromHumanSize is decimal, RAMInBytes binary', () => {
  assert.equal(fromHumanSize('1k'), 1000);
  assert.equal(fromHumanSize('1kb'), 1000);
  assert.equal(fromHumanSize('1KiB'), 1000);
  assert.equal(fromHumanSize('1.5g'), 1_500_000_000);
  assert.equal(fromHumanSize('32'), 32);
  assert.equal(fromHumanSize('2 MB'), 2_000_000);
  assert.equal(ramInBytes('10m'), 10 * 1024 * 1024);
  assert.equal(ramInBytes('1g'), 1024 ** 3);
  assert.equal(ramInBytes('64b'), 64);
  assert.throws(() => ramInBytes('1kib1'), TsbuildError);
  assert.throws(() => ramInBytes('1mbb'), /invalid suffix: 'mbb'/);
});

test('log times: durations, RFC 3339 forms, Unix timestamps; RFC3339Nano output', () => {
  const now = BigInt(Date.parse('2024-05-01T12:00:00.750Z')) * 1_000_000n;
  assert.equal(parseGoDuration('1h30m'), 5400n * SEC);
  assert.equal(parseGoDuration('1.5s'), 1_500_000_000n);
  assert.equal(parseGoDuration('250ms'), 250_000_000n);
  assert.equal(parseGoDuration('10'), undefined);
  assert.equal(parseLogTime('10m', now), BigInt(Date.parse('2024-05-01T11:50:00Z')) * 1_000_000n, 'whole seconds');
  assert.equal(parseLogTime('2024-05-01T10:00:00Z', now), BigInt(Date.parse('2024-05-01T10:00:00Z')) * 1_000_000n);
  assert.equal(parseLogTime('2024-05-01T10:00:00.000000001+02:00', now), BigInt(Date.parse('2024-05-01T08:00:00Z')) * 1_000_000n + 1n);
  const localOff = BigInt(new Date(Date.parse('2024-05-01T00:00:00Z')).getTimezoneOffset()) * 60n * SEC;
  assert.equal(parseLogTime('2024-05-01', now), BigInt(Date.parse('2024-05-01T00:00:00Z')) * 1_000_000n + localOff);
  assert.equal(parseLogTime('2024-05-01T10:30Z', now), BigInt(Date.parse('2024-05-01T10:30:00Z')) * 1_000_000n);
  assert.equal(parseLogTime('1714564800', now), 1714564800n * SEC);
  assert.equal(parseLogTime('1714564800.5', now), 1714564800n * SEC + 500_000_000n);
  assert.equal(parseLogTime('0', now), 0n);
  assert.throws(() => parseLogTime('yesterday', now), /failed to parse value as time or duration: "yesterday"/);
  assert.throws(() => parseLogTime('2024-13-01', now), TsbuildError);
  assert.equal(formatRfc3339Nano(T0), '2024-05-01T12:00:00Z');
  assert.equal(formatRfc3339Nano(T0 + 120_000_000n), '2024-05-01T12:00:00.12Z');
  assert.equal(formatRfc3339NanoFixed(T0 + 120_000_000n), '2024-05-01T12:00:00.120000000Z');
  void randomBytes;
});
