// docker/cli --format behaviour: table headers, tabwriter alignment, `json`, errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDockerFormat, renderDockerFormat, templateString } from '../../src/format/docker-format.js';
import { goStruct } from '../../src/format/go-template.js';
import { tabwrite } from '../../src/format/tabwriter.js';
import { ellipsis, stringWidth } from '../../src/format/text-width.js';
import { formatFloatV, goJson, goJsonString } from '../../src/format/go-value.js';
import { TsbuildError } from '../../src/errors.js';

const header = { ID: 'CONTAINER ID', Image: 'IMAGE', Ports: 'PORTS', Names: 'NAMES' };
const row = (ID: string, Image: string, Names: string, Ports = '') => goStruct('*formatter.ContainerContext', { ID, Image, Ports, Names });

test('table: header row, tab-aligned columns (min width 10, padding 3), \\t spelled as two characters', () => {
  const f = parseDockerFormat('table {{.ID}}\\t{{.Image}}\\t{{.Ports}}\\t{{.Names}}');
  const out = renderDockerFormat(f, [row('0123456789ab', 'busybox', 'daemon_dave'), row('fedcba987654', 'hello:1', 'x', '0.0.0.0:80->80/tcp')], header);
  assert.equal(
    out,
    'CONTAINER ID   IMAGE     PORTS                NAMES\n' +
      '0123456789ab   busybox                        daemon_dave\n' +
      'fedcba987654   hello:1   0.0.0.0:80->80/tcp   x\n',
  );
  // No rows: the header alone.
  assert.equal(renderDockerFormat(f, [], header), 'CONTAINER ID   IMAGE     PORTS     NAMES\n');
});

test('a bare table and an empty format use the default; json is {{json .}}', () => {
  const def = 'table {{.ID}}\\t{{.Names}}';
  assert.equal(parseDockerFormat('', def).source, def);
  assert.equal(parseDockerFormat('table', def).source, def);
  assert.equal(templateString('json'), '{{json .}}');
  assert.equal(templateString('table  {{.A}}\\n{{.B}}  '), '{{.A}}\n{{.B}}');
  assert.equal(templateString(' table {{.A}}'), 'table {{.A}}'); // not a table: the prefix is checked before trimming
  const j = parseDockerFormat('json');
  assert.equal(renderDockerFormat(j, [row('a', 'b', 'c')]), '{"ID":"a","Image":"b","Ports":"","Names":"c"}\n');
});

test('non-table formats print one line per item; header functions leave column names as they are', () => {
  const f = parseDockerFormat('{{.Names}}: {{.Image | upper}}');
  assert.equal(renderDockerFormat(f, [row('a', 'busybox', 'n1'), row('b', 'x', 'n2')]), 'n1: BUSYBOX\nn2: X\n');
  const t = parseDockerFormat('table {{.Image | upper}}\\t{{json .Names}}');
  assert.equal(renderDockerFormat(t, [row('a', 'busybox', 'n1')], header), 'IMAGE     NAMES\nBUSYBOX   "n1"\n');
});

test('errors carry docker\'s "template parsing error:" prefix; a failing row prints nothing', () => {
  assert.throws(
    () => parseDockerFormat('{{.ID}'),
    (e: unknown) => e instanceof TsbuildError && e.message === 'template parsing error: template: :1: unexpected "}" in operand',
  );
  const f = parseDockerFormat('{{.Foo}}');
  assert.throws(
    () => renderDockerFormat(f, [row('a', 'b', 'c')], header),
    (e: unknown) =>
      e instanceof TsbuildError &&
      e.message === `template parsing error: template: :1:2: executing "" at <.Foo>: can't evaluate field Foo in type *formatter.ContainerContext`,
  );
});

test('tabwriter: column blocks are contiguous lines only, the last cell is never padded', () => {
  // The example from Go's text/tabwriter documentation.
  assert.equal(
    tabwrite('aaaa\tbbb\td\naa\tb\tdd\na\t\naa\tcccc\teee\n', { minWidth: 0, padding: 1 }),
    'aaaa bbb d\naa   b   dd\na    \naa   cccc eee\n',
  );
  // A line without tabs ends the block; wide characters count twice.
  assert.equal(tabwrite('a\tb\nno tabs\n漢字\tc', {}), 'a         b\nno tabs\n漢字      c');
});

test('display width and docker Ellipsis', () => {
  assert.equal(stringWidth('abc'), 3);
  assert.equal(stringWidth('漢字'), 4);
  assert.equal(stringWidth('e\u0301'), 1);
  assert.equal(ellipsis('sh -c while true; do echo hello world; sleep 1; done', 20), 'sh -c while true; d…');
  assert.equal(ellipsis('short', 20), 'short');
  assert.equal(ellipsis('漢字漢字漢字', 5), '漢字…');
  assert.equal(ellipsis('abc', 1), 'a');
  assert.equal(ellipsis('abc', 0), '');
});

test('Go value helpers: json string escapes and %v of floats', () => {
  assert.equal(goJsonString('<a&b>'), '"\\u003ca\\u0026b\\u003e"');
  assert.equal(goJsonString('<a&b>', false), '"<a&b>"');
  assert.equal(goJsonString('\u0001\b\f\u007f\ud800x😀'), '"\\u0001\\b\\f\u007f\\ufffdx😀"');
  assert.equal(goJson({ z: 1, a: [null, 'x'] }), '{"a":[null,"x"],"z":1}');
  assert.deepEqual([1.5, 1e6 + 0.5, 123456.5, 0.0001, 0.00001, 1e21 + 1].map(formatFloatV), ['1.5', '1.0000005e+06', '123456.5', '0.0001', '1e-05', '1e+21']);
});
