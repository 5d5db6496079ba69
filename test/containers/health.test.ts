/**
 * Health checks on real busybox containers, probed by each container's monitor (no daemon):
 * a passing check turns healthy, a failing one unhealthy after its retries with the outputs kept,
 * a probe past its timeout is killed and logged as Docker logs it, the image's HEALTHCHECK is
 * inherited and completed by flags, --no-healthcheck disables it, failures in the start period do
 * not count, a paused container is not probed, commit keeps the check, ps shows and filters the
 * status, and a stop leaves no probe behind. Plus the flag rules (Docker's words, exit 125).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { useContainerStore } from '../helpers/containers.js';
import { ImageStore } from '../../src/image/store.js';
import { Containers, type ContainerView } from '../../src/containers/containers.js';
import { mergeHealthcheck, monitorHealth, parseHealthFlags } from '../../src/containers/health.js';
import { psFilter } from '../../src/containers/ps-filter.js';
import { pauseContainer, unpauseContainer } from '../../src/containers/pause.js';
import { parseRunArgs } from '../../src/cli/container-run.js';
import { TsbuildError } from '../../src/errors.js';

const base = useContainerStore();
const run = base.run;

/** Re-reads the containers (as every CLI command does) until CHECK holds for each, or 60 s pass. */
async function until(names: string[], check: (v: ContainerView) => boolean): Promise<Map<string, ContainerView>> {
  const c = new Containers(await ImageStore.open(base.root));
  const deadline = Date.now() + 60_000;
  for (;;) {
    const views = new Map((await c.list()).map((v) => [v.record.Name, v]));
    if (names.every((n) => views.has(n) && check(views.get(n)!))) return views;
    if (Date.now() > deadline) throw new Error(`not reached: ${names.map((n) => `${n}=${JSON.stringify(views.get(n)?.health)}`).join(' ')}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Host processes whose command line is ARGV (NUL-separated as /proc shows it). */
function processesRunning(argv: string[]): number[] {
  const want = argv.join('\0') + '\0';
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .filter((d) => {
      try {
        return readFileSync(`/proc/${d}/cmdline`, 'utf8') === want;
      } catch {
        return false;
      }
    })
    .map(Number);
}

/** Live (not zombie) host processes named COMM. */
function processesNamed(comm: string): number[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .filter((d) => {
      try {
        const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
        return stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')) === comm && stat[stat.lastIndexOf(')') + 2] !== 'Z';
      } catch {
        return false;
      }
    })
    .map(Number);
}

test('flags and merge: Docker rules and words', async () => {
  assert.deepEqual(mergeHealthcheck({ Test: ['CMD-SHELL', 'true'] }, { Test: ['CMD', '/x'], Interval: 1e9, Retries: 2 }), { Test: ['CMD-SHELL', 'true'], Interval: 1e9, Retries: 2 });
  assert.equal(monitorHealth({ Test: ['NONE'] }), undefined);
  assert.deepEqual(monitorHealth({ Test: ['CMD-SHELL', 'exit 0'], Timeout: 1.5e9 }), {
    argv: ['/bin/sh', '-c', 'exit 0'],
    intervalNs: 30e9,
    timeoutNs: 1.5e9,
    startPeriodNs: 0,
    retries: 3,
    timeoutText: '1.5s',
  });
  const usage = (m: string) => new TsbuildError('USAGE', m, undefined, 125);
  const flags = (argv: string[]) => parseHealthFlags(parseRunArgs('create', [...argv, 'busybox']).flags, usage);
  assert.deepEqual(flags(['--health-cmd', 'curl -f x', '--health-interval', '1m30s', '--health-retries', '2']), { Test: ['CMD-SHELL', 'curl -f x'], Interval: 90e9, Retries: 2 });
  assert.deepEqual(flags(['--no-healthcheck']), { Test: ['NONE'] });
  assert.equal(flags(['--health-interval', '0s']), undefined);
  assert.throws(() => flags(['--health-interval', '5']), { message: 'invalid argument "5" for "--health-interval" flag: time: missing unit in duration "5"' });
  assert.throws(() => flags(['--health-retries', 'x']), { message: 'invalid argument "x" for "--health-retries" flag: strconv.ParseInt: parsing "x": invalid syntax' });
  assert.throws(() => flags(['--health-timeout', '-1s']), { message: '--health-timeout cannot be negative' });
  assert.throws(() => mergeHealthcheck({ Interval: 5e5 }, undefined), { message: 'Interval in Healthcheck cannot be less than 1ms', exitCode: 125 });
  await assert.rejects(psFilter(['health=bogus'], await ImageStore.open(base.root)), { message: 'Unrecognised filter value for health: bogus' });
  // through the CLI: Docker's line and exit code, nothing created
  const conflict = await run('run', '--no-healthcheck', '--health-retries', '2', 'busybox', 'true');
  assert.deepEqual([conflict.code, conflict.stderr.split('\n')[0]], [125, 'tsbuild: --no-healthcheck conflicts with --health-* options']);
});

test('healthy, unhealthy, timeout, the image HEALTHCHECK, --no-healthcheck; ps shows and filters them', { timeout: 180_000 }, async () => {
  const ctx = mkdtempSync(join(tmpdir(), 'tsbuild-health-'));
  try {
    writeFileSync(join(ctx, 'Dockerfile'), 'FROM busybox\nHEALTHCHECK --interval=1s --retries=1 CMD ["/nope", "x"]\n');
    const b = await run('build', '-q', '-t', 'hcimg', ctx);
    assert.equal(b.code, 0, b.stderr);
  } finally {
    rmSync(ctx, { recursive: true, force: true });
  }
  const started = await Promise.all([
    run('run', '-d', '--name', 'ok', '--network', 'none', '--health-cmd', 'echo ok', '--health-interval', '1s', 'busybox', 'sleep', '300'),
    run('run', '-d', '--name', 'bad', '--network', 'none', '--health-cmd', 'echo bad >&2; head -c 5000 /dev/zero | tr "\\0" x; exit 3', '--health-interval', '1s', '--health-retries', '2', 'busybox', 'sleep', '300'),
    run('run', '-d', '--name', 'slow', '--network', 'none', '--health-cmd', 'sleep 2; touch /tmp/late', '--health-interval', '1s', '--health-timeout', '1s', '--health-retries', '1', 'busybox', 'sleep', '300'),
    run('run', '-d', '--name', 'img', '--network', 'none', 'hcimg', 'sleep', '300'),
    run('run', '-d', '--name', 'over', '--network', 'none', '--health-cmd', 'true', 'hcimg', 'sleep', '300'),
    run('run', '-d', '--name', 'off', '--network', 'none', '--no-healthcheck', 'hcimg', 'sleep', '300'),
    run('run', '-d', '--name', 'grace', '--network', 'none', '--health-cmd', 'exit 1', '--health-interval', '1s', '--health-retries', '1', '--health-start-period', '1h', 'busybox', 'sleep', '300'),
  ]);
  for (const s of started) assert.equal(s.code, 0, s.stderr);

  const done = (v: ContainerView) => {
    const h = v.health;
    switch (v.record.Name) {
      case 'ok':
      case 'over':
        return h?.Status === 'healthy';
      case 'bad':
        return h?.Status === 'unhealthy' && h.FailingStreak >= 2;
      case 'slow':
        return (h?.Log.length ?? 0) >= 2;
      case 'img':
        return h?.Status === 'unhealthy';
      case 'grace':
        return (h?.Log.length ?? 0) >= 2;
      default:
        return h === undefined;
    }
  };
  await until(['ok', 'bad', 'slow', 'img', 'over', 'off', 'grace'], done);

  const fmt = '{{.Name}} {{json .Config.Healthcheck}} {{json .State.Health}}';
  const ins = await run('inspect', '--format', fmt, 'ok', 'bad', 'slow', 'img', 'over', 'off', 'grace');
  assert.equal(ins.code, 0, ins.stderr);
  const rows = new Map(
    ins.stdout
      .trim()
      .split('\n')
      .map((l) => {
        const [name, cfg, health] = l.split(' ', 1).concat(splitJsonPair(l.slice(l.indexOf(' ') + 1)));
        return [name!.slice(1), { cfg: JSON.parse(cfg!), health: JSON.parse(health!) }];
      }),
  );
  const ok = rows.get('ok')!;
  assert.deepEqual(ok.cfg, { Test: ['CMD-SHELL', 'echo ok'], Interval: 1e9 });
  assert.equal(ok.health.Status, 'healthy');
  assert.equal(ok.health.FailingStreak, 0);
  for (const r of ok.health.Log) {
    assert.deepEqual([r.ExitCode, r.Output], [0, 'ok\n']);
    assert.ok(Date.parse(r.End) >= Date.parse(r.Start));
  }
  const bad = rows.get('bad')!;
  assert.equal(bad.health.Status, 'unhealthy');
  assert.ok(bad.health.FailingStreak >= 2 && bad.health.Log.length <= 5);
  assert.equal(bad.health.FailingStreak >= 5 ? 5 : bad.health.FailingStreak, bad.health.Log.length);
  // stdout and stderr together, cut at 4096 bytes
  for (const r of bad.health.Log) assert.deepEqual([r.ExitCode, r.Output], [3, `bad\n${'x'.repeat(4092)}...`]);

  // a probe past its timeout is killed: its shell never reaches the touch
  const slow = rows.get('slow')!;
  assert.equal(slow.health.Status, 'unhealthy');
  for (const r of slow.health.Log) assert.deepEqual([r.ExitCode, r.Output], [-1, 'Health check exceeded timeout (1s)']);
  assert.equal((await run('exec', 'slow', 'test', '-e', '/tmp/late')).code, 1, 'the timed-out probe ran on');

  // the image's HEALTHCHECK, as it is and completed by --health-cmd
  const img = rows.get('img')!;
  assert.deepEqual(img.cfg, { Test: ['CMD', '/nope', 'x'], Interval: 1e9, Retries: 1 });
  assert.deepEqual([img.health.Log[0].ExitCode, img.health.Log[0].Output], [-1, 'OCI runtime exec failed: exec failed: unable to start container process: exec: "/nope": stat /nope: no such file or directory: unknown']);
  assert.deepEqual(rows.get('over')!.cfg, { Test: ['CMD-SHELL', 'true'], Interval: 1e9, Retries: 1 });
  // --no-healthcheck is Test NONE; the daemon's merge still fills the image's other fields
  assert.deepEqual(rows.get('off')!, { cfg: { Test: ['NONE'], Interval: 1e9, Retries: 1 }, health: null });

  // failures within the start period do not count while starting
  const grace = rows.get('grace')!;
  assert.deepEqual([grace.health.Status, grace.health.FailingStreak, grace.health.Log[0].ExitCode], ['starting', 0, 1]);

  const ps = await run('ps', '--format', '{{.Names}} {{.Status}}');
  const status = new Map(ps.stdout.trim().split('\n').map((l) => [l.split(' ')[0], l.slice(l.indexOf(' ') + 1)]));
  assert.match(status.get('ok')!, /^Up .* \(healthy\)$/);
  assert.match(status.get('bad')!, /^Up .* \(unhealthy\)$/);
  assert.match(status.get('off')!, /^Up [^(]*$/);
  const unhealthy = await run('ps', '--filter', 'health=unhealthy', '--format', '{{.Names}}');
  assert.deepEqual(unhealthy.stdout.trim().split('\n').sort(), ['bad', 'img', 'slow']);
  const c = new Containers(await ImageStore.open(base.root));
  const listed = await c.list();
  for (const [h, want] of [['healthy', ['ok', 'over']], ['none', ['off']], ['starting', ['grace']]] as const) {
    const keep = await psFilter([`health=${h}`], c.store);
    assert.deepEqual(listed.filter(keep).map((v) => v.record.Name).sort(), want, h);
  }

  // a paused container is not probed, as Docker's (a probe would hang in the frozen group and time
  // out): once what was under way settled, no result comes while it stays paused
  await pauseContainer(c, 'slow');
  const lastEnd = async () => (await c.find('slow')).health?.Log.at(-1)?.End;
  await new Promise((res) => setTimeout(res, 3000));
  const before = await lastEnd();
  await new Promise((res) => setTimeout(res, 3000));
  assert.equal(await lastEnd(), before, 'a paused container was probed');
  await unpauseContainer(c, 'slow');
  // commit keeps the container's health check in the image, as Docker's
  assert.equal((await run('commit', 'over', 'hcimg:over')).code, 0);
  const committed = await run('inspect', '--type', 'image', '--format', '{{json .Config.Healthcheck}}', 'hcimg:over');
  assert.deepEqual(JSON.parse(committed.stdout), { Test: ['CMD-SHELL', 'true'], Interval: 1e9, Retries: 1 });
  assert.equal((await run('rm', '-f', 'ok', 'bad', 'slow', 'img', 'over', 'off', 'grace')).code, 0);
});

test('a new container says starting; a stop leaves no probe behind and reads unhealthy', { timeout: 120_000 }, async () => {
  const r = await run('run', '-d', '--name', 'stopme', '--network', 'none', '--health-cmd', 'sleep 4242', '--health-interval', '1s', '--health-timeout', '1m', 'busybox', 'sleep', '300');
  assert.equal(r.code, 0, r.stderr);
  const first = await run('inspect', '--format', '{{json .State.Health}}', 'stopme');
  assert.deepEqual(JSON.parse(first.stdout), { Status: 'starting', FailingStreak: 0, Log: [] });
  // wait for the probe to run in the container
  const deadline = Date.now() + 60_000;
  while (processesRunning(['sleep', '4242']).length === 0) {
    assert.ok(Date.now() < deadline, 'the probe never ran');
    await new Promise((res) => setTimeout(res, 200));
  }
  assert.match((await run('ps', '--format', '{{.Status}}', '--filter', 'name=stopme')).stdout, /^Up .* \(health: starting\)\n$/);
  assert.equal((await run('stop', '-t', '1', 'stopme')).code, 0);
  assert.deepEqual(processesRunning(['sleep', '4242']), []);
  assert.deepEqual(processesNamed('tsbuild-health'), []);
  const after = await run('inspect', '--format', '{{.State.Status}} {{.State.Health.Status}}', 'stopme');
  assert.equal(after.stdout, 'exited unhealthy\n');
  assert.match((await run('ps', '-a', '--format', '{{.Status}}', '--filter', 'name=stopme')).stdout, /^Exited \(137\) /);
});

/** `{A} {B}` where A and B are JSON values (B may be `null`): [A, B]. */
function splitJsonPair(s: string): [string, string] {
  let depth = 0;
  let inStr = false;
  for (let i = 0; i < s.length; i++) {
    const ch = s[i];
    if (inStr) {
      if (ch === '\\') i++;
      else if (ch === '"') inStr = false;
    } else if (ch === '"') inStr = true;
    else if (ch === '{' || ch === '[') depth++;
    else if (ch === '}' || ch === ']') depth--;
    else if (ch === ' ' && depth === 0) return [s.slice(0, i), s.slice(i + 1)];
  }
  return [s, ''];
}
