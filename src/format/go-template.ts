/**
 * Go's text/template as docker uses it for `--format` (ps, images, inspect of images and
 * containers): parse once, execute against JavaScript data seen through the Go value model of
 * go-value.ts.
 *
 * Pinned behaviour (Go's text/template plus docker/cli's templates package):
 * - `{{.A.B}}`, `{{ .X }}`, `{{$v.F}}`, `{{(index .M "k").F}}`; a missing map key prints
 *   `<no value>` (missingkey=default), `''`/zero (missingkey=zero) or fails with
 *   `map has no entry for key "K"` (missingkey=error, what `docker inspect` falls back to);
 *   an unknown struct field fails with `can't evaluate field F in type T`.
 * - `if`/`else if`/`else`, `with`, `range` (slices in order, maps in sorted key order, an int N
 *   as 0..N-1, `.` rebound, `$i, $e :=`, `else` when empty, `break`/`continue`), variables
 *   scoped to their `{{end}}`, `and`/`or` short-circuiting, Go's truth.
 * - Functions: Go's builtins (and or not len index slice print printf println eq ne lt le gt
 *   ge) and docker's (json — json.Marshal without HTML escaping — split join title lower upper
 *   pad truncate), each with Go's argument-count and type errors.
 * - Errors as Go formats them: `template: :1:2: executing "" at <.Foo>: can't evaluate field
 *   Foo in type *formatter.ContainerContext` (line and 0-based byte column of the node).
 * Pure.
 */

import { TsbuildError } from '../errors.js';
import { sprint, sprintf, sprintln } from './go-fmt.js';
import {
  NIL_POINTER,
  formatValue,
  goJson,
  goTypeName,
  isMap,
  isStruct,
  isTrue,
  mapZero,
  sortedKeys,
} from './go-value.js';
import { nodeString, parseGoTemplate, type AnyNode, type ArgNode, type ControlNode, type CommandNode, type Node, type ParsedTemplate, type PipeNode } from './go-template-parse.js';

export { goStruct, goMap, NIL_POINTER } from './go-value.js';

/** Parameter types a template function declares (Go checks arguments against them). */
export type GoParam = 'any' | 'string' | 'int' | '[]string';

/** A function callable from templates. `params` are fixed parameters; `variadic` the type of the rest. */
export interface GoFunc {
  params: GoParam[];
  variadic?: GoParam;
  call: (...args: any[]) => unknown;
}

export type MissingKey = 'default' | 'zero' | 'error';

export interface ExecuteOptions {
  missingKey?: MissingKey;
  /** Replace function implementations for this execution (docker's header functions). */
  funcs?: Record<string, GoFunc>;
}

const fn = (params: GoParam[], call: GoFunc['call'], variadic?: GoParam): GoFunc => (variadic ? { params, variadic, call } : { params, call });

/** docker/cli's templates.basicFunctions. */
export const DOCKER_FUNCS: Record<string, GoFunc> = {
  json: fn(['any'], (v: unknown) => goJson(v, false)),
  split: fn(['string', 'string'], (s: string, sep: string) => goSplit(s, sep)),
  join: fn(['any', 'string'], (v: unknown, sep: string) => joinElements(v, sep)),
  title: fn(['string'], (s: string) => goTitle(s)),
  lower: fn(['string'], (s: string) => s.toLowerCase()),
  upper: fn(['string'], (s: string) => s.toUpperCase()),
  pad: fn(['string', 'int', 'int'], (s: string, pre: number, post: number) => (s === '' ? s : ' '.repeat(Math.max(0, pre)) + s + ' '.repeat(Math.max(0, post)))),
  truncate: fn(['string', 'int'], (s: string, n: number) => {
    const b = Buffer.from(s, 'utf8');
    return b.length < n ? s : b.subarray(0, Math.max(0, n)).toString('utf8');
  }),
};

/** docker/cli's templates.HeaderFunctions: a table header stays the column's name. */
export const DOCKER_HEADER_FUNCS: Record<string, GoFunc> = {
  json: fn(['string'], (v: string) => v),
  split: fn(['string', 'string'], (v: string) => v),
  join: fn(['string', 'string'], (v: string) => v),
  title: fn(['string'], (v: string) => v),
  lower: fn(['string'], (v: string) => v),
  upper: fn(['string'], (v: string) => v),
  truncate: fn(['string', 'int'], (v: string) => v),
};

/** strings.Split: an empty separator splits into characters. */
function goSplit(s: string, sep: string): string[] {
  if (sep === '') return [...s];
  return s.split(sep);
}

/** strings.Title: letters that follow a separator (not an ASCII letter, digit or `_`; outside
 *  ASCII, a space) are upper-cased. */
function goTitle(s: string): string {
  const isSeparator = (r: string) => {
    if (r.charCodeAt(0) <= 0x7f) return !/^[0-9A-Za-z_]$/.test(r);
    if (/^[\p{L}\p{Nd}]$/u.test(r)) return false;
    return /^\s$/u.test(r);
  };
  let prev = ' ';
  let out = '';
  for (const ch of s) {
    out += isSeparator(prev) ? ch.toUpperCase() : ch;
    prev = ch;
  }
  return out;
}

/** docker/cli's joinElements: []string joined; other slices via fmt.Sprint; map values sorted. */
function joinElements(v: unknown, sep: string): string {
  if (v === undefined || v === null || v === NIL_POINTER) return '';
  if (Array.isArray(v)) return v.map((e) => (typeof e === 'string' ? e : formatValue(e))).join(sep);
  if (isMap(v)) return Object.values(v).map(formatValue).sort().join(sep);
  throw new Error(`expected slice, got ${goTypeName(v)}`);
}

const MAX_DEPTH = 10000;

class BreakSignal {}
class ContinueSignal {}

/** A parsed template, executable any number of times. */
export class GoTemplate {
  private constructor(
    private readonly tree: ParsedTemplate,
    private readonly funcs: Record<string, GoFunc>,
  ) {}

  /** Parse `text` with Go's builtins, docker's functions and `extra`. Throws a TsbuildError. */
  static parse(text: string, extra: Record<string, GoFunc> = {}): GoTemplate {
    const funcs = { ...DOCKER_FUNCS, ...extra };
    const names = new Set([...Object.keys(BUILTINS), ...Object.keys(funcs)]);
    return new GoTemplate(parseGoTemplate(text, names), funcs);
  }

  /**
   * Run the template on `data`; returns the text or throws a TsbuildError ('INVALID'). Output
   * written before a failure is left in `sink` when one is given (as Go's writer would hold it).
   */
  execute(data: unknown, opts: ExecuteOptions = {}, sink: string[] = []): string {
    const st = new State(this.tree, { ...this.funcs, ...opts.funcs }, opts.missingKey ?? 'default', data, sink);
    st.walkList(data, this.tree.root);
    return sink.join('');
  }
}

/** Parse and execute in one step. */
export function renderGoTemplate(text: string, data: unknown, opts: ExecuteOptions = {}): string {
  return GoTemplate.parse(text).execute(data, opts);
}

// Go's missing value: absent final argument of a pipeline stage.
const MISSING = Symbol('missing');
type Final = unknown | typeof MISSING;

interface Builtin {
  special?: 'and' | 'or';
  f: GoFunc;
}

class State {
  private vars: Array<{ name: string; value: unknown }>;
  private node: AnyNode | undefined;
  private depth = 0;

  constructor(
    private readonly tree: ParsedTemplate,
    private readonly funcs: Record<string, GoFunc>,
    private readonly missingKey: MissingKey,
    data: unknown,
    readonly out: string[],
  ) {
    this.vars = [{ name: '$', value: data }];
  }

  at(n: AnyNode): void {
    this.node = n;
  }

  errorf(msg: string): never {
    const n = this.node;
    if (!n) throw new TsbuildError('INVALID', `template: : ${msg}`);
    const pos = n.pos;
    const before = this.tree.text.slice(0, pos);
    const nl = before.lastIndexOf('\n');
    const line = 1 + (before.match(/\n/g)?.length ?? 0);
    const col = nl < 0 ? Buffer.byteLength(before) : Buffer.byteLength(before.slice(nl + 1));
    throw new TsbuildError('INVALID', `template: :${line}:${col}: executing "" at <${nodeString(n)}>: ${msg}`);
  }

  // --- walking -------------------------------------------------------------------------------

  walkList(dot: unknown, list: Node[]): void {
    for (const n of list) this.walk(dot, n);
  }

  walk(dot: unknown, node: Node): void {
    this.at(node);
    switch (node.k) {
      case 'text':
        this.out.push(node.text);
        return;
      case 'action': {
        const v = this.evalPipeline(dot, node.pipe);
        if (node.pipe.decl.length === 0) this.printValue(node, v);
        return;
      }
      case 'if':
      case 'with': {
        const mark = this.vars.length;
        const v = this.evalPipeline(dot, node.pipe);
        if (isTrue(v)) this.walkList(node.k === 'with' ? v : dot, node.list);
        else if (node.elseList) this.walkList(dot, node.elseList);
        this.vars.length = mark;
        return;
      }
      case 'range':
        this.walkRange(dot, node);
        return;
      case 'break':
        throw new BreakSignal();
      case 'continue':
        throw new ContinueSignal();
    }
  }

  walkRange(dot: unknown, r: ControlNode): void {
    this.at(r);
    const mark0 = this.vars.length;
    const val = this.evalPipeline(dot, r.pipe);
    const mark = this.vars.length;
    const decl = r.pipe.decl;
    const one = (index: unknown, elem: unknown): boolean => {
      if (decl.length > 0) {
        if (r.pipe.isAssign) this.setVar(decl[0]!.ident[0]!, decl.length > 1 ? index : elem);
        else this.vars[this.vars.length - 1]!.value = elem;
      }
      if (decl.length > 1) {
        if (r.pipe.isAssign) this.setVar(decl[1]!.ident[0]!, elem);
        else this.vars[this.vars.length - 2]!.value = index;
      }
      try {
        this.walkList(elem, r.list);
      } catch (e) {
        if (e instanceof ContinueSignal) return true;
        if (e instanceof BreakSignal) return false;
        throw e;
      } finally {
        this.vars.length = mark;
      }
      return true;
    };
    // With `$k, $v := x` the declaration pushed both variables in source order: k then v.
    let ranOnce = false;
    if (Array.isArray(val)) {
      for (let i = 0; i < val.length; i++) {
        ranOnce = true;
        if (!one(i, val[i])) break;
      }
    } else if (isMap(val)) {
      for (const k of sortedKeys(val)) {
        ranOnce = true;
        if (!one(k, val[k])) break;
      }
    } else if (typeof val === 'number' && Number.isInteger(val)) {
      for (let i = 0; i < val; i++) {
        ranOnce = true;
        if (!one(i, i)) break;
      }
    } else if (val !== undefined && val !== null && val !== NIL_POINTER) {
      this.errorf(`range can't iterate over ${formatValue(val)}`);
    }
    if (!ranOnce && r.elseList) this.walkList(dot, r.elseList);
    this.vars.length = mark0;
  }

  printValue(n: AnyNode, v: unknown): void {
    this.at(n);
    if (v === undefined) {
      this.out.push('<no value>');
      return;
    }
    if (typeof v === 'function') this.errorf(`can't print ${nodeString(n)} of type func`);
    this.out.push(formatValue(v));
  }

  setVar(name: string, value: unknown): void {
    for (let i = this.vars.length - 1; i >= 0; i--) {
      if (this.vars[i]!.name === name) {
        this.vars[i]!.value = value;
        return;
      }
    }
    this.errorf(`undefined variable: ${name}`);
  }

  varValue(name: string): unknown {
    for (let i = this.vars.length - 1; i >= 0; i--) if (this.vars[i]!.name === name) return this.vars[i]!.value;
    this.errorf(`undefined variable: ${name}`);
  }

  // --- evaluation ----------------------------------------------------------------------------

  evalPipeline(dot: unknown, pipe: PipeNode): unknown {
    if (++this.depth > MAX_DEPTH) this.errorf('exceeded maximum template depth');
    try {
      this.at(pipe);
      let value: Final = MISSING;
      for (const cmd of pipe.cmds) {
        value = this.evalCommand(dot, cmd, value);
        // A nil interface{} is dug into: it becomes Go's invalid value (prints <no value>).
        if (value === null) value = undefined;
      }
      for (const v of pipe.decl) {
        if (pipe.isAssign) this.setVar(v.ident[0]!, value);
        else this.vars.push({ name: v.ident[0]!, value });
      }
      return value;
    } finally {
      this.depth--;
    }
  }

  notAFunction(args: ArgNode[], final: Final): void {
    if (args.length > 1 || final !== MISSING) this.errorf(`can't give argument to non-function ${nodeString(args[0]!)}`);
  }

  evalCommand(dot: unknown, cmd: CommandNode, final: Final): unknown {
    const first = cmd.args[0]!;
    switch (first.k) {
      case 'field':
        this.at(first);
        return this.evalFieldChain(dot, dot, first, first.ident, cmd.args, final);
      case 'chain': {
        this.at(first);
        const recv = this.evalArg(dot, 'any', first.node, true);
        return this.evalFieldChain(dot, recv, first, first.fields, cmd.args, final);
      }
      case 'identifier':
        return this.evalFunction(dot, first, cmd, cmd.args, final);
      case 'pipe':
        this.notAFunction(cmd.args, final);
        return this.evalPipeline(dot, first);
      case 'variable':
        return this.evalVariable(dot, first, cmd.args, final);
    }
    this.at(first);
    this.notAFunction(cmd.args, final);
    switch (first.k) {
      case 'bool':
        return first.value;
      case 'dot':
        return dot;
      case 'nil':
        this.errorf('nil is not a command');
      case 'number':
        return first.value;
      case 'string':
        return first.value;
    }
  }

  evalVariable(dot: unknown, v: Extract<ArgNode, { k: 'variable' }>, args: ArgNode[] | undefined, final: Final): unknown {
    this.at(v);
    const value = this.varValue(v.ident[0]!);
    if (v.ident.length === 1) {
      if (args) this.notAFunction(args, final);
      return value;
    }
    return this.evalFieldChain(dot, value, v, v.ident.slice(1), args, final);
  }

  evalFieldChain(dot: unknown, recv: unknown, node: AnyNode, ident: string[], args: ArgNode[] | undefined, final: Final): unknown {
    for (let i = 0; i < ident.length - 1; i++) recv = this.evalField(dot, ident[i]!, node, undefined, MISSING, recv);
    return this.evalField(dot, ident[ident.length - 1]!, node, args, final, recv);
  }

  evalField(dot: unknown, name: string, node: AnyNode, args: ArgNode[] | undefined, final: Final, recv: unknown): unknown {
    if (recv === undefined) {
      if (this.missingKey === 'error') this.errorf(`nil data; no entry for key ${JSON.stringify(name)}`);
      return undefined;
    }
    if (recv === null) this.errorf(`nil pointer evaluating interface {}.${name}`);
    if (recv === NIL_POINTER) this.errorf(`nil pointer evaluating *struct.${name}`);
    const hasArgs = (args !== undefined && args.length > 1) || final !== MISSING;
    if (isStruct(recv)) {
      if (Object.prototype.hasOwnProperty.call(recv, name)) {
        const f = recv[name];
        if (typeof f === 'function') return this.evalCall(dot, f as GoFunc['call'], methodSig(f), node, name, args, final);
        if (hasArgs) this.errorf(`${name} has arguments but cannot be invoked as function`);
        return f === null ? NIL_POINTER : f;
      }
    } else if (isMap(recv)) {
      if (hasArgs) this.errorf(`${name} is not a method but has arguments`);
      if (Object.prototype.hasOwnProperty.call(recv, name)) return recv[name];
      switch (this.missingKey) {
        case 'default':
          return undefined;
        case 'zero':
          return mapZero(recv);
        case 'error':
          this.errorf(`map has no entry for key ${JSON.stringify(name)}`);
      }
    }
    this.errorf(`can't evaluate field ${name} in type ${goTypeName(recv)}`);
  }

  evalFunction(dot: unknown, node: Extract<ArgNode, { k: 'identifier' }>, cmd: AnyNode, args: ArgNode[] | undefined, final: Final): unknown {
    this.at(node);
    const name = node.name;
    const b = BUILTINS[name];
    const f = this.funcs[name] ?? b?.f;
    if (!f) this.errorf(`${JSON.stringify(name)} is not a defined function`);
    if (b?.special && !this.funcs[name]) return this.evalAndOr(dot, b.special, args ?? [], final);
    return this.evalCall(dot, f.call, f, cmd, name, args, final);
  }

  evalAndOr(dot: unknown, kind: 'and' | 'or', args: ArgNode[], final: Final): unknown {
    const rest = args.slice(1);
    if (rest.length + (final === MISSING ? 0 : 1) < 1) this.errorf(`wrong number of args for ${kind}: want at least 1 got 0`);
    let v: unknown;
    for (const a of rest) {
      v = this.evalArg(dot, 'any', a, false);
      if (isTrue(v) === (kind === 'or')) return v;
    }
    if (final !== MISSING) v = final;
    return v;
  }

  evalCall(dot: unknown, call: GoFunc['call'], sig: Pick<GoFunc, 'params' | 'variadic'>, node: AnyNode, name: string, args: ArgNode[] | undefined, final: Final): unknown {
    const argNodes = args ? args.slice(1) : [];
    const numIn = argNodes.length + (final === MISSING ? 0 : 1);
    const numFixed = sig.params.length;
    if (sig.variadic) {
      if (numIn < numFixed) this.errorf(`wrong number of args for ${name}: want at least ${numFixed} got ${argNodes.length}`);
    } else if (numIn !== numFixed) {
      this.errorf(`wrong number of args for ${name}: want ${numFixed} got ${numIn}`);
    }
    const typeAt = (i: number): GoParam => (i < numFixed ? sig.params[i]! : sig.variadic!);
    const argv: unknown[] = argNodes.map((a, i) => this.evalArg(dot, typeAt(i), a, false));
    if (final !== MISSING) argv.push(this.validateType(final, typeAt(argv.length)));
    let result: unknown;
    try {
      result = call(...argv);
    } catch (e) {
      if (e instanceof TsbuildError) throw e;
      this.at(node);
      this.errorf(`error calling ${name}: ${e instanceof Error ? e.message : String(e)}`);
    }
    return result;
  }

  validateType(v: unknown, typ: GoParam): unknown {
    if (typ === 'any') return v === undefined ? null : v;
    if (v === undefined || v === null) this.errorf(`invalid value; expected ${typ}`);
    const ok = typ === 'string' ? typeof v === 'string' : typ === 'int' ? typeof v === 'number' && Number.isInteger(v) : Array.isArray(v) && v.every((e) => typeof e === 'string');
    if (!ok) this.errorf(`wrong type for value; expected ${typ}; got ${goTypeName(v)}`);
    return v;
  }

  evalArg(dot: unknown, typ: GoParam, n: ArgNode, forChain: boolean): unknown {
    this.at(n);
    // The receiver of a chain is taken as it is (an invalid value stays invalid).
    const check = (v: unknown) => (forChain ? v : this.validateType(v, typ));
    switch (n.k) {
      case 'dot':
        return check(dot);
      case 'nil':
        if (typ === 'any' || typ === '[]string') return null;
        this.errorf(`cannot assign nil to ${typ}`);
      case 'field':
        return check(this.evalFieldChain(dot, dot, n, n.ident, [n], MISSING));
      case 'variable':
        return check(this.evalVariable(dot, n, undefined, MISSING));
      case 'pipe':
        return check(this.evalPipeline(dot, n));
      case 'identifier':
        return check(this.evalFunction(dot, n, n, undefined, MISSING));
      case 'chain': {
        const recv = this.evalArg(dot, 'any', n.node, true);
        return check(this.evalFieldChain(dot, recv, n, n.fields, undefined, MISSING));
      }
    }
    // Literals are checked against the parameter type at the call, as Go does.
    switch (typ) {
      case 'string':
        if (n.k === 'string') return n.value;
        this.errorf(`expected string; found ${nodeString(n)}`);
      case 'int':
        if (n.k === 'number' && !n.isFloat) return n.value;
        this.errorf(`expected integer; found ${nodeString(n)}`);
      case '[]string':
        this.errorf(`can't handle ${nodeString(n)} for arg of type []string`);
      case 'any':
        return n.k === 'string' || n.k === 'number' || n.k === 'bool' ? n.value : undefined;
    }
  }
}

/** A method's signature: as many string-or-any parameters as the JS function declares. */
function methodSig(f: Function): Pick<GoFunc, 'params'> {
  return { params: Array.from({ length: f.length }, () => 'any' as const) };
}

// --- Go's builtins ------------------------------------------------------------------------------

function goLen(v: unknown): number {
  if (v === undefined || v === null || v === NIL_POINTER) throw new Error('len of nil pointer');
  if (typeof v === 'string') return Buffer.byteLength(v);
  if (Array.isArray(v)) return v.length;
  if (isMap(v)) return Object.keys(v).length;
  throw new Error(`len of type ${goTypeName(v)}`);
}

function goIndex(item: unknown, ...indexes: unknown[]): unknown {
  if (item === undefined) throw new Error('index of untyped nil');
  let v: unknown = item;
  for (const ix of indexes) {
    if (v === null || v === NIL_POINTER) throw new Error('index of nil pointer');
    if (Array.isArray(v) || typeof v === 'string') {
      if (typeof ix !== 'number' || !Number.isInteger(ix)) throw new Error(`cannot index slice/array with type ${goTypeName(ix)}`);
      const len = typeof v === 'string' ? Buffer.byteLength(v) : v.length;
      if (ix < 0 || ix >= len) throw new Error(`index out of range: ${ix}`);
      v = typeof v === 'string' ? Buffer.from(v, 'utf8')[ix] : (v as unknown[])[ix];
    } else if (isMap(v)) {
      if (typeof ix !== 'string') throw new Error(`value has type ${goTypeName(ix)}; should be string`);
      v = Object.prototype.hasOwnProperty.call(v, ix) ? v[ix] : mapZero(v);
    } else {
      throw new Error(`can't index item of type ${goTypeName(v)}`);
    }
  }
  return v;
}

function goSlice(item: unknown, ...idx: unknown[]): unknown {
  if (item === undefined || item === null) throw new Error('slice of untyped nil');
  if (typeof item !== 'string' && !Array.isArray(item)) throw new Error(`can't slice item of type ${goTypeName(item)}`);
  if (idx.length > 3) throw new Error(`too many slice indexes: ${idx.length}`);
  const len = typeof item === 'string' ? Buffer.byteLength(item) : item.length;
  const n = idx.map((i) => {
    if (typeof i !== 'number' || !Number.isInteger(i)) throw new Error(`cannot index slice/array with type ${goTypeName(i)}`);
    if (i < 0 || i > len) throw new Error(`index out of range: ${i}`);
    return i;
  });
  const lo = n[0] ?? 0;
  const hi = n[1] ?? len;
  if (lo > hi) throw new Error(`invalid slice index: ${lo} > ${hi}`);
  return typeof item === 'string' ? Buffer.from(item, 'utf8').subarray(lo, hi).toString('utf8') : item.slice(lo, hi);
}

function basicKind(v: unknown): 'int' | 'float' | 'string' | 'bool' | 'nil' | undefined {
  if (v === undefined || v === null || v === NIL_POINTER) return 'nil';
  if (typeof v === 'number') return 'int';
  if (typeof v === 'bigint') return 'int';
  if (typeof v === 'string') return 'string';
  if (typeof v === 'boolean') return 'bool';
  return undefined;
}

function goEq(a: unknown, ...bs: unknown[]): boolean {
  if (bs.length === 0) throw new Error('missing argument for comparison');
  const ka = basicKind(a);
  for (const b of bs) {
    const kb = basicKind(b);
    if (ka === undefined || kb === undefined) {
      if (ka === 'nil' || kb === 'nil') {
        if (a === b || ((a === null || a === undefined) && (b === null || b === undefined))) return true;
        continue;
      }
      throw new Error('non-comparable types');
    }
    if (ka === 'nil' || kb === 'nil') {
      if (ka === kb) return true;
      continue;
    }
    if (ka !== kb) throw new Error('incompatible types for comparison');
    if (a === b || (typeof a !== 'string' && Number(a) === Number(b))) return true;
  }
  return false;
}

function goLess(a: unknown, b: unknown): boolean {
  const ka = basicKind(a);
  const kb = basicKind(b);
  if (ka === undefined || ka === 'bool' || ka === 'nil' || kb === undefined || kb === 'bool' || kb === 'nil') throw new Error('invalid type for comparison');
  if (ka !== kb) throw new Error('incompatible types for comparison');
  return (a as number | string) < (b as number | string);
}

const BUILTINS: Record<string, Builtin> = {
  and: { special: 'and', f: fn([], () => undefined, 'any') },
  or: { special: 'or', f: fn([], () => undefined, 'any') },
  not: { f: fn(['any'], (v: unknown) => !isTrue(v)) },
  len: { f: fn(['any'], goLen) },
  index: { f: fn(['any'], goIndex, 'any') },
  slice: { f: fn(['any'], goSlice, 'any') },
  print: { f: fn([], (...a: unknown[]) => sprint(a), 'any') },
  println: { f: fn([], (...a: unknown[]) => sprintln(a), 'any') },
  printf: { f: fn(['string'], (f: string, ...a: unknown[]) => sprintf(f, a), 'any') },
  eq: { f: fn(['any'], goEq, 'any') },
  ne: { f: fn(['any', 'any'], (a: unknown, b: unknown) => !goEq(a, b)) },
  lt: { f: fn(['any', 'any'], (a: unknown, b: unknown) => goLess(a, b)) },
  le: { f: fn(['any', 'any'], (a: unknown, b: unknown) => goLess(a, b) || goEq(a, b)) },
  gt: { f: fn(['any', 'any'], (a: unknown, b: unknown) => !goLess(a, b) && !goEq(a, b)) },
  ge: { f: fn(['any', 'any'], (a: unknown, b: unknown) => !goLess(a, b)) },
};

