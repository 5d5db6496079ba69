// Expected strings are what Go's text/template (with docker/cli's template functions) prints for
// the same template and data; they were worked out from Go's semantics, not from this code.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GoTemplate, goMap, goStruct, renderGoTemplate } from '../../src/format/go-template.js';
import { TsbuildError } from '../../src/errors.js';

const r = (tmpl: string, data: unknown = {}, opts = {}) => renderGoTemplate(tmpl, data, opts);
const fails = (tmpl: string, data: unknown, message: string, opts = {}) =>
  assert.throws(
    () => r(tmpl, data, opts),
    (e: unknown) => e instanceof TsbuildError && e.code === 'INVALID' && e.message === message,
    message,
  );

const inspect = {
  Id: 'f00d',
  State: { Status: 'running', Running: true, Paused: false, ExitCode: 0, Pid: 4242 },
  NetworkSettings: { IPAddress: '172.18.0.2', Ports: { '80/tcp': [{ HostIp: '0.0.0.0', HostPort: '8080' }] } },
  Config: { Labels: { maintainer: 'me', 'com.example.v': '1' }, Cmd: ['sh', '-c', 'echo hi'], Env: null },
  Mounts: [{ Type: 'bind', Source: '/src', Destination: '/dst', RW: true }],
};

test('fields, nested fields and spaces inside the action', () => {
  assert.equal(r('{{.State.Running}}', inspect), 'true');
  assert.equal(r('{{ .NetworkSettings.IPAddress }}', inspect), '172.18.0.2');
  assert.equal(r('pid={{.State.Pid}} code={{.State.ExitCode}}', inspect), 'pid=4242 code=0');
  assert.equal(r('{{.}}', 'plain'), 'plain');
});

test('Go printing of values: maps sorted, slices, structs, nil, no value', () => {
  assert.equal(r('{{.Config.Labels}}', inspect), 'map[com.example.v:1 maintainer:me]');
  assert.equal(r('{{.Config.Cmd}}', inspect), '[sh -c echo hi]');
  assert.equal(r('{{.Mounts}}', inspect), '[map[Destination:/dst RW:true Source:/src Type:bind]]');
  assert.equal(r('{{.Missing}}', inspect), '<no value>');
  assert.equal(r('{{.Config.Env}}', inspect), '<no value>'); // a nil interface{} in a map
  assert.equal(r('{{.Missing.Deeper}}', inspect), '<no value>');
  assert.equal(r('{{.}}', goStruct('T', { A: 'x', B: 2, C: [true, false], D: null })), '{x 2 [true false] <nil>}');
  assert.equal(r('{{.D}}', goStruct('T', { D: null })), '<nil>'); // a nil pointer field
  assert.equal(r('{{.F}} {{.G}} {{.H}}', { F: 1.5, G: 1e6 + 0.5, H: 0.00001 }), '1.5 1.0000005e+06 1e-05');
});

test('json is json.Marshal without HTML escaping, maps sorted, structs in field order', () => {
  assert.equal(r('{{json .Mounts}}', inspect), '[{"Destination":"/dst","RW":true,"Source":"/src","Type":"bind"}]');
  const m = goStruct('types.MountPoint', { Type: 'bind', Source: '/src', Destination: '/dst', RW: true });
  assert.equal(r('{{json .}}', [m]), '[{"Type":"bind","Source":"/src","Destination":"/dst","RW":true}]');
  assert.equal(r('{{json .}}', { a: '<&>\n\t"\\', b: null, c: 1.25, d: '\u2028' }), '{"a":"<&>\\n\\t\\"\\\\","b":null,"c":1.25,"d":"\\u2028"}');
  assert.equal(r('{{json .State.Running}}', inspect), 'true');
  assert.equal(r('{{json .Nope}}', inspect), 'null');
});

test('index on maps and slices, and the zero value of a typed map', () => {
  assert.equal(r('{{index .Config.Labels "maintainer"}}', inspect), 'me');
  assert.equal(r('{{index .Config.Labels "nope"}}', inspect), '<no value>');
  assert.equal(r('[{{index .L "nope"}}]', { L: goMap({ a: 'b' }, '') }), '[]');
  assert.equal(r('{{index .Config.Cmd 2}}', inspect), 'echo hi');
  assert.equal(r('{{(index (index .NetworkSettings.Ports "80/tcp") 0).HostPort}}', inspect), '8080');
  assert.equal(r('{{(index .NetworkSettings.Ports "80/tcp" 0).HostPort}}', inspect), '8080');
});

test('range over slices, maps (sorted keys), ints, with variables, else, break and continue', () => {
  assert.equal(r('{{range .Config.Cmd}}[{{.}}]{{end}}', inspect), '[sh][-c][echo hi]');
  assert.equal(r('{{range $i, $a := .Config.Cmd}}{{$i}}={{$a}} {{end}}', inspect), '0=sh 1=-c 2=echo hi ');
  assert.equal(r('{{range $k, $v := .}}{{$k}}:{{$v}};{{end}}', { b: 2, a: 1, c: 3 }), 'a:1;b:2;c:3;');
  assert.equal(r('{{range .}}{{.}}{{end}}', { b: 2, a: 1 }), '12');
  assert.equal(r('{{range $e := .}}<{{$e}}>{{end}}', ['x', 'y']), '<x><y>');
  assert.equal(r('{{range .}}x{{else}}empty{{end}}', []), 'empty');
  assert.equal(r('{{range .Nope}}x{{else}}empty{{end}}', {}), 'empty');
  assert.equal(r('{{range 3}}{{.}}{{end}}', {}), '012');
  assert.equal(r('{{range .}}{{if eq . 3}}{{break}}{{end}}{{if eq . 1}}{{continue}}{{end}}{{.}}{{end}}', [0, 1, 2, 3, 4]), '02');
  // $ is the data at the top, whatever . is inside the range
  assert.equal(r('{{range .Config.Cmd}}{{$.Id}}{{end}}', inspect), 'f00df00df00d');
  assert.equal(
    r('{{ range $p, $conf := .NetworkSettings.Ports }}{{$p}} -> {{(index $conf 0).HostPort}}{{end}}', inspect),
    '80/tcp -> 8080',
  );
});

test('if / else if / else with Go truth; with rebinds dot', () => {
  const t = GoTemplate.parse('{{if .X}}yes{{else}}no{{end}}');
  for (const x of ['', 0, [], {}, false, null, undefined]) assert.equal(t.execute({ X: x }), 'no', String(x));
  for (const x of ['a', 1, -1, [0], { a: 1 }, true, goStruct('S', {})]) assert.equal(t.execute({ X: x }), 'yes', String(x));
  const chain = GoTemplate.parse('{{if eq .S "a"}}A{{else if eq .S "b"}}B{{else}}other{{end}}');
  assert.deepEqual(['a', 'b', 'c'].map((S) => chain.execute({ S })), ['A', 'B', 'other']);
  assert.equal(r('{{with .State}}{{.Status}}{{end}}', inspect), 'running');
  assert.equal(r('{{with .Nope}}x{{else}}none{{end}}', inspect), 'none');
  assert.equal(r('{{if and .State.Running (not .State.Paused)}}up{{end}}', inspect), 'up');
});

test('functions: len join split upper lower title pad truncate print println printf and comparisons', () => {
  assert.equal(r('{{len .Config.Cmd}} {{len .Config.Labels}} {{len "héllo"}}', inspect), '3 2 6');
  assert.equal(r('{{join .Config.Cmd " "}}', inspect), 'sh -c echo hi');
  assert.equal(r('{{join .Config.Labels ","}}', inspect), '1,me');
  assert.equal(r('{{split "busybox:1.36" ":"}}', {}), '[busybox 1.36]');
  assert.equal(r('{{index (split .I ":") 0}}', { I: 'busybox:1.36' }), 'busybox');
  assert.equal(r('{{.State.Status | upper}} {{upper "ab" | lower}}', inspect), 'RUNNING ab');
  assert.equal(r('{{title "hello world-foo_bar x"}}', {}), 'Hello World-Foo_bar X');
  assert.equal(r('[{{pad "x" 1 2}}][{{pad "" 1 2}}][{{truncate "abcdef" 3}}][{{truncate "ab" 3}}]', {}), '[ x  ][][abc][ab]');
  assert.equal(r('{{print 1 2 "x" 3 "y" "z"}}', {}), '1 2x3yz');
  assert.equal(r('{{println "a" 1 true}}', {}), 'a 1 true\n');
  assert.equal(
    r('{{printf "%s-%d-%5.2f|%-4s|%q|%v|%x|%t|%05d|%%" "a" 42 3.14159 "ab" "q\\"" .M 255 true -42}}', { M: { b: 2, a: 1 } }),
    'a-42- 3.14|ab  |"q\\""|map[a:1 b:2]|ff|true|-0042|%',
  );
  assert.equal(r('{{printf "%d %s"  "x"}}', {}), '%!d(string=x) %!s(MISSING)');
  assert.equal(r('{{printf "%s" 1 2}}', {}), '%!s(int=1)%!(EXTRA int=2)');
  assert.equal(r('{{.Name | printf "%s!"}}', { Name: 'hi' }), 'hi!');
  assert.equal(r('{{eq .S "running"}} {{ne 1 2}} {{eq 2 1 2 3}} {{lt 1 2}} {{le 2 2}} {{gt "b" "a"}} {{ge 1 2}}', { S: 'running' }), 'true true true true true true false');
  assert.equal(r('{{and 1 0 2}} {{and 1 2}} {{or 0 "" "x"}} {{or 0 ""}}', {}), '0 2 x ');
  assert.equal(r('{{slice "abcdef" 1 3}} {{slice .}}', ['a', 'b']), 'bc [a b]');
});

test('literals, variables, parentheses, comments and trim markers', () => {
  assert.equal(r('{{"x"}}{{`raw\\n`}}{{1.5}}{{true}}{{\'a\'}}{{0x1F}}{{-3}}{{"\\u00e9\\t"}}', {}), 'xraw\\n1.5true9731-3é\t');
  assert.equal(r('{{$x := .A}}{{with .B}}{{$x}}-{{.}}{{end}}{{$x = "z"}}{{$x}}', { A: 'a', B: 'b' }), 'a-bz');
  assert.equal(r('a  {{- "b" -}}  c', {}), 'abc');
  assert.equal(r('a {{- /* hidden */ -}}\n  b{{/* x */}}', {}), 'ab');
  assert.equal(r('{{ range .L -}}\n  {{ . }}\n{{- end }}', { L: [1, 2] }), '12');
  assert.equal(r('{{(len .L)}} {{(.N)}}', { L: [1], N: 'n' }), '1 n');
});

test('methods on struct-like values take arguments (docker ps {{.Label "k"}})', () => {
  const labels: Record<string, string> = { a: '1' };
  const ctx = goStruct('*formatter.ContainerContext', { ID: 'abc', Label: (k: string) => labels[k] ?? '' });
  assert.equal(r('{{.ID}} {{.Label "a"}}[{{.Label "b"}}]', ctx), 'abc 1[]');
});

test('execution errors read as Go prints them', () => {
  const ctx = goStruct('*formatter.ContainerContext', { ID: 'abc' });
  fails('{{.Foo}}', ctx, `template: :1:2: executing "" at <.Foo>: can't evaluate field Foo in type *formatter.ContainerContext`);
  fails('{{ .ID.Foo }}', ctx, `template: :1:3: executing "" at <.ID.Foo>: can't evaluate field Foo in type string`);
  fails('line1\n  {{.Foo}}', ctx, `template: :2:4: executing "" at <.Foo>: can't evaluate field Foo in type *formatter.ContainerContext`);
  fails('{{.State.Foo}}', inspect, `template: :1:2: executing "" at <.State.Foo>: map has no entry for key "Foo"`, { missingKey: 'error' });
  fails('{{.Config.Env.X}}', inspect, `template: :1:2: executing "" at <.Config.Env.X>: nil pointer evaluating interface {}.X`);
  fails('{{upper}}', {}, `template: :1:2: executing "" at <upper>: wrong number of args for upper: want 1 got 0`);
  fails('{{upper 1}}', {}, `template: :1:8: executing "" at <1>: expected string; found 1`);
  fails('{{upper .N}}', { N: 3 }, `template: :1:8: executing "" at <.N>: wrong type for value; expected string; got int`);
  fails('{{index .L 5}}', { L: [1] }, `template: :1:2: executing "" at <index .L 5>: error calling index: index out of range: 5`);
  fails('{{len 3}}', {}, `template: :1:2: executing "" at <len 3>: error calling len: len of type int`);
  fails('{{eq 1 "a"}}', {}, `template: :1:2: executing "" at <eq 1 "a">: error calling eq: incompatible types for comparison`);
  fails('{{range .}}{{end}}', 'str', `template: :1:8: executing "" at <.>: range can't iterate over str`);
  fails('{{.ID "x"}}', ctx, `template: :1:2: executing "" at <.ID>: ID has arguments but cannot be invoked as function`);
  fails('{{"x" 1}}', {}, `template: :1:2: executing "" at <"x">: can't give argument to non-function "x"`);
});

test('parse errors read as Go prints them', () => {
  fails('{{.ID}', {}, 'template: :1: unexpected "}" in operand');
  fails('{{.ID', {}, 'template: :1: unclosed action');
  fails('{{foo .ID}}', {}, 'template: :1: function "foo" not defined');
  fails('{{if .X}}a', {}, 'template: :1: unexpected EOF');
  fails('a{{end}}', {}, 'template: :1: unexpected {{end}}');
  fails('{{else}}', {}, 'template: :1: unexpected {{else}}');
  fails('{{$x}}', {}, 'template: :1: undefined variable "$x"');
  fails('{{}}', {}, 'template: :1: missing value for command');
  fails('{{"abc}}', {}, 'template: :1: unterminated quoted string');
  fails('{{(.X}}', {}, 'template: :1: unclosed left paren');
  fails('{{.X)}}', {}, 'template: :1: unexpected ")" in input');
  fails('{{break}}', {}, 'template: :1: {{break}} outside {{range}}');
  fails('{{/* x }}', {}, 'template: :1: unclosed comment');
  fails('a\n\n{{.X | 3}}', {}, 'template: :3: non executable command in pipeline stage 2');
  fails('{{3x}}', {}, 'template: :1: bad number syntax: "3x"');
});
