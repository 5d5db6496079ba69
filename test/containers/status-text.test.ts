import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  commandColumn,
  commandLine,
  humanDuration,
  renderPs,
  runningFor,
  stateName,
  statusText,
  type ContainerSummary,
} from '../../src/containers/status-text.js';

const S = 1000;
const M = 60 * S;
const H = 60 * M;
const D = 24 * H;

test('HumanDuration at each of go-units thresholds', () => {
  const cases: Array<[number, string]> = [
    [-5 * S, 'Less than a second'],
    [0, 'Less than a second'],
    [999, 'Less than a second'],
    [S, '1 second'],
    [1999, '1 second'],
    [3 * S, '3 seconds'],
    [59 * S + 999, '59 seconds'],
    [M, 'About a minute'],
    [2 * M - 1, 'About a minute'],
    [2 * M, '2 minutes'],
    [59 * M + 59 * S, '59 minutes'],
    [H, 'About an hour'],
    [90 * M - 1, 'About an hour'],
    [90 * M, '2 hours'],
    [47 * H + 29 * M, '47 hours'],
    [47 * H + 30 * M, '2 days'],
    [13 * D + 23 * H, '13 days'],
    [14 * D, '2 weeks'],
    [59 * D, '8 weeks'],
    [60 * D, '2 months'],
    [729 * D, '24 months'],
    [730 * D, '2 years'],
    [3 * 365 * D + 100 * D, '3 years'],
  ];
  for (const [ms, want] of cases) assert.equal(humanDuration(ms), want, `${ms} ms`);
});

test('STATUS and STATE as moby words them', () => {
  const now = Date.parse('2024-05-01T12:00:00Z');
  const base = { running: false, exitCode: 0, startedAt: 0, finishedAt: 0 };
  assert.equal(statusText(base, now), 'Created');
  assert.equal(stateName(base), 'created');
  const up = { ...base, running: true, startedAt: now - 3 * S };
  assert.equal(statusText(up, now), 'Up 3 seconds');
  assert.equal(stateName(up), 'running');
  assert.equal(statusText({ ...up, startedAt: now - 70 * S }, now), 'Up About a minute');
  assert.equal(statusText({ ...up, startedAt: now - 5 * S, health: 'healthy' }, now), 'Up 5 seconds (healthy)');
  assert.equal(statusText({ ...up, health: 'starting' }, now), 'Up 3 seconds (health: starting)');
  assert.equal(statusText({ ...up, paused: true }, now), 'Up 3 seconds (Paused)');
  assert.equal(stateName({ ...up, paused: true }), 'paused');
  const restarting = { ...up, restarting: true, exitCode: 1, finishedAt: now - 3 * S };
  assert.equal(statusText(restarting, now), 'Restarting (1) 3 seconds ago');
  assert.equal(stateName(restarting), 'restarting');
  const exited = { ...base, exitCode: 137, startedAt: now - H, finishedAt: now - 2 * M };
  assert.equal(statusText(exited, now), 'Exited (137) 2 minutes ago');
  assert.equal(stateName(exited), 'exited');
  assert.equal(statusText({ ...exited, dead: true }, now), 'Dead');
  assert.equal(statusText({ ...exited, removalInProgress: true }, now), 'Removal In Progress');
  assert.equal(runningFor(now - 2 * M, now), '2 minutes ago');
});

test('COMMAND: arguments with spaces in single quotes, cut to 20 columns, Go-quoted', () => {
  const cmd = commandLine('sh', ['-c', 'while true; do echo hello world; sleep 1; done']);
  assert.equal(cmd, "sh -c 'while true; do echo hello world; sleep 1; done'");
  assert.equal(commandColumn(cmd), `"sh -c 'while true; …"`);
  assert.equal(commandColumn(cmd, true), `"sh -c 'while true; do echo hello world; sleep 1; done'"`);
  assert.equal(commandColumn(commandLine('echo', ['a"b', 'tab\there'])), `"echo a\\"b tab\\there"`);
  assert.equal(commandLine('/bin/true', []), '/bin/true');
});

const now = Date.parse('2024-05-01T12:00:00Z');
const dave: ContainerSummary = {
  id: 'a1b2c3d4e5f6' + '0'.repeat(52),
  names: ['daemon_dave'],
  image: 'ubuntu',
  command: commandLine('sh', ['-c', 'while true; do echo hello world; sleep 1; done']),
  created: now - 2 * M,
  state: { running: true, exitCode: 0, startedAt: now - 3 * S, finishedAt: 0 },
  labels: { b: '2', a: '1' },
};
const done: ContainerSummary = {
  id: 'ffeeddccbbaa' + '1'.repeat(52),
  names: ['x_y'],
  image: 'busybox',
  command: commandLine('echo', ['hi']),
  created: now - 3 * H,
  state: { running: false, exitCode: 0, startedAt: now - 3 * H, finishedAt: now - 2 * M },
};

test('the default ps table', () => {
  assert.equal(
    renderPs([dave, done], { now }),
    [
      'CONTAINER ID   IMAGE     COMMAND                  CREATED         STATUS                     PORTS     NAMES',
      `a1b2c3d4e5f6   ubuntu    "sh -c 'while true; …"   2 minutes ago   Up 3 seconds                         daemon_dave`,
      'ffeeddccbbaa   busybox   "echo hi"                3 hours ago     Exited (0) 2 minutes ago             x_y',
      '',
    ].join('\n'),
  );
  assert.equal(renderPs([], { now }), 'CONTAINER ID   IMAGE     COMMAND   CREATED   STATUS    PORTS     NAMES\n');
});

test('ps -q, --no-trunc and --format', () => {
  assert.equal(renderPs([dave, done], { now, quiet: true }), 'a1b2c3d4e5f6\nffeeddccbbaa\n');
  assert.equal(renderPs([dave], { now, quiet: true, noTrunc: true }), dave.id + '\n');
  assert.equal(renderPs([dave, done], { now, format: '{{.Names}} {{.State}} {{.Label "a"}}' }), 'daemon_dave running 1\nx_y exited \n');
  assert.equal(renderPs([dave], { now, format: 'table {{.Names}}\\t{{.Labels}}' }), 'NAMES         LABELS\ndaemon_dave   a=1,b=2\n');
  const json = JSON.parse(renderPs([dave], { now, format: '{{json .}}' }));
  assert.deepEqual(Object.keys(json), [...Object.keys(json)].sort());
  assert.equal(json.Status, 'Up 3 seconds');
  assert.equal(json.Command, `"sh -c 'while true; …"`);
  assert.equal(json.CreatedAt, '2024-05-01 11:58:00 +0000 UTC');
});
