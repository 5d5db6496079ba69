/**
 * The lexer and parser of Go's text/template, for the subset docker's `--format` uses: actions,
 * pipelines, fields and chains, variables (`$`, `$x :=`, `$x =`, `$k, $v :=` in range), literals
 * (strings, raw strings, chars, numbers, true/false/nil), parentheses, `if`/`else if`/`else`,
 * `range`/`else`, `with`/`else`, `break`/`continue`, comments and the `{{-` / `-}}` trim markers.
 * (`define`, `template` and `block` are not supported: docker formats are one template.)
 *
 * Errors are Go's own texts, prefixed as Go prints them for an unnamed template
 * (`template: :1: unexpected "}" in operand`, `template: :1: unclosed action`,
 * `template: :1: function "foo" not defined`). Pure.
 */

import { TsbuildError } from '../errors.js';

export type ArgNode =
  | { k: 'field'; pos: number; ident: string[] }
  | { k: 'variable'; pos: number; ident: string[] }
  | { k: 'dot'; pos: number }
  | { k: 'nil'; pos: number }
  | { k: 'bool'; pos: number; value: boolean }
  | { k: 'number'; pos: number; text: string; value: number; isFloat: boolean }
  | { k: 'string'; pos: number; quoted: string; value: string }
  | { k: 'identifier'; pos: number; name: string }
  | { k: 'chain'; pos: number; node: ArgNode; fields: string[] }
  | PipeNode;

export interface CommandNode {
  k: 'command';
  pos: number;
  args: ArgNode[];
}

export interface PipeNode {
  k: 'pipe';
  pos: number;
  isAssign: boolean;
  decl: Array<{ k: 'variable'; pos: number; ident: string[] }>;
  cmds: CommandNode[];
}

export interface ControlNode {
  k: 'if' | 'range' | 'with';
  pos: number;
  pipe: PipeNode;
  list: Node[];
  elseList: Node[] | undefined;
}

export type Node =
  | { k: 'text'; pos: number; text: string }
  | { k: 'action'; pos: number; pipe: PipeNode }
  | ControlNode
  | { k: 'break' | 'continue'; pos: number };

type EndOrElse = { k: 'end' | 'else'; pos: number; elseIf: boolean };

export type AnyNode = Node | ArgNode | CommandNode;

/** A parsed template: the tree plus the source text (error positions are computed from it). */
export interface ParsedTemplate {
  text: string;
  root: Node[];
}

// ---------------------------------------------------------------------------------------------
// Lexer

type ItemType =
  | 'error'
  | 'eof'
  | 'text'
  | 'leftDelim'
  | 'rightDelim'
  | 'space'
  | 'identifier'
  | 'field'
  | 'variable'
  | 'dot'
  | 'string'
  | 'rawString'
  | 'charConstant'
  | 'number'
  | 'bool'
  | 'nil'
  | 'pipe'
  | 'leftParen'
  | 'rightParen'
  | 'assign'
  | 'declare'
  | 'char'
  | 'comment'
  | 'kw';

interface Item {
  typ: ItemType;
  pos: number;
  val: string;
  line: number;
}

const KEYWORDS = new Set(['if', 'else', 'end', 'range', 'with', 'break', 'continue', 'define', 'template', 'block']);
const isSpace = (c: string | undefined) => c === ' ' || c === '\t' || c === '\r' || c === '\n';
// ASCII first: the Unicode classes cost a millisecond to compile, which a `ps` table never needs
const isAlnum = (c: string | undefined) => c !== undefined && (c === '_' || (c.charCodeAt(0) < 0x80 ? /^[0-9A-Za-z]$/.test(c) : /^[\p{L}\p{Nd}]$/u.test(c)));
const L = '{{';
const R = '}}';

function itemString(i: Item): string {
  if (i.typ === 'eof') return 'EOF';
  if (i.typ === 'error') return i.val;
  if (i.typ === 'kw') return `<${i.val}>`;
  const chars = [...i.val];
  if (chars.length > 10) return `${JSON.stringify(chars.slice(0, 10).join(''))}...`;
  return JSON.stringify(i.val);
}

function lex(input: string): Item[] {
  const items: Item[] = [];
  let pos = 0;
  let start = 0;
  let line = 1;
  let startLine = 1;
  let parenDepth = 0;
  const emit = (typ: ItemType) => {
    items.push({ typ, pos: start, val: input.slice(start, pos), line: startLine });
    for (let i = start; i < pos; i++) if (input[i] === '\n') line++;
    start = pos;
    startLine = line;
  };
  const ignore = () => {
    for (let i = start; i < pos; i++) if (input[i] === '\n') line++;
    start = pos;
    startLine = line;
  };
  const fail = (msg: string) => {
    items.push({ typ: 'error', pos: start, val: msg, line: startLine });
  };
  const atRightDelim = (): [boolean, boolean] => {
    if (isSpace(input[pos]) && input[pos + 1] === '-' && input.startsWith(R, pos + 2)) return [true, true];
    return [input.startsWith(R, pos), false];
  };
  const skipLeadingSpace = () => {
    while (isSpace(input[pos])) pos++;
    ignore();
  };
  const atTerminator = () => {
    const c = input[pos];
    // Go compares with the first rune of the right delimiter only, so `{{.ID}` lexes `.ID`
    // and then fails on the lone `}` ("unexpected "}" in operand").
    return c === undefined || isSpace(c) || '.,|:)('.includes(c) || c === R[0];
  };

  for (;;) {
    // Text up to the next action.
    const x = input.indexOf(L, pos);
    if (x < 0) {
      pos = input.length;
      if (pos > start) emit('text');
      items.push({ typ: 'eof', pos, val: '', line });
      return items;
    }
    const trimLeft = input[x + 2] === '-' && isSpace(input[x + 3]);
    pos = x;
    if (trimLeft) {
      let end = x;
      while (end > start && isSpace(input[end - 1])) end--;
      pos = end;
      if (pos > start) emit('text');
      pos = x;
      ignore();
    } else if (pos > start) emit('text');
    // Left delimiter (and trim marker).
    pos += L.length;
    const after = trimLeft ? 2 : 0;
    if (input.startsWith('/*', pos + after)) {
      pos += after;
      ignore();
      const end = input.indexOf('*/', pos + 2);
      if (end < 0) {
        fail('unclosed comment');
        return items;
      }
      pos = end + 2;
      const [delim, trim] = atRightDelim();
      if (!delim) {
        fail('comment ends before closing delimiter');
        return items;
      }
      if (trim) pos += 2;
      pos += R.length;
      ignore();
      if (trim) skipLeadingSpace();
      continue;
    }
    emit('leftDelim');
    pos += after;
    ignore();
    parenDepth = 0;
    // Inside the action.
    for (;;) {
      const [delim, trim] = atRightDelim();
      if (delim) {
        if (parenDepth !== 0) {
          fail('unclosed left paren');
          return items;
        }
        if (trim) {
          pos += 2;
          ignore();
        }
        pos += R.length;
        emit('rightDelim');
        if (trim) skipLeadingSpace();
        break;
      }
      const c = input[pos];
      if (c === undefined) {
        fail('unclosed action');
        return items;
      }
      if (isSpace(c)) {
        let n = 0;
        while (isSpace(input[pos])) {
          pos++;
          n++;
        }
        // A space followed by "-}}" belongs to the trim marker.
        if (input[pos] === '-' && input.startsWith(R, pos + 1)) {
          pos--;
          if (n === 1) continue;
        }
        emit('space');
        continue;
      }
      pos++;
      if (c === '=') emit('assign');
      else if (c === ':') {
        if (input[pos] !== '=') {
          fail('expected :=');
          return items;
        }
        pos++;
        emit('declare');
      } else if (c === '|') emit('pipe');
      else if (c === '"' || c === '`' || c === "'") {
        const close = c;
        for (;;) {
          const d = input[pos];
          if (d === undefined || (d === '\n' && close !== '`')) {
            fail(close === '"' ? 'unterminated quoted string' : close === '`' ? 'unterminated raw quoted string' : 'unterminated character constant');
            return items;
          }
          pos++;
          if (d === '\\' && close !== '`') {
            if (input[pos] === undefined || input[pos] === '\n') continue;
            pos++;
          } else if (d === close) break;
        }
        emit(close === '"' ? 'string' : close === '`' ? 'rawString' : 'charConstant');
      } else if (c === '$' || (c === '.' && !(input[pos]! >= '0' && input[pos]! <= '9'))) {
        if (atTerminator()) {
          emit(c === '$' ? 'variable' : 'dot');
          continue;
        }
        while (isAlnum(input[pos])) pos++;
        if (!atTerminator()) {
          fail(`bad character ${goRune(input, pos)}`);
          return items;
        }
        emit(c === '$' ? 'variable' : 'field');
      } else if (c === '.' || c === '+' || c === '-' || (c >= '0' && c <= '9')) {
        pos--;
        const m = /^[+-]?(0[xX][0-9a-fA-F_]*(\.[0-9a-fA-F_]*)?([pP][+-]?[0-9_]+)?|0[oO][0-7_]*|0[bB][01_]*|[0-9_]*(\.[0-9_]*)?([eE][+-]?[0-9_]+)?)i?/.exec(input.slice(pos))!;
        pos += m[0].length;
        if (isAlnum(input[pos]) || m[0] === '' || /^[+-]?$/.test(m[0])) {
          if (isAlnum(input[pos]) || pos < input.length) pos++;
          fail(`bad number syntax: ${JSON.stringify(input.slice(start, pos))}`);
          return items;
        }
        emit('number');
      } else if (isAlnum(c)) {
        while (isAlnum(input[pos])) pos++;
        if (!atTerminator()) {
          fail(`bad character ${goRune(input, pos)}`);
          return items;
        }
        const word = input.slice(start, pos);
        if (KEYWORDS.has(word)) emit('kw');
        else if (word === 'true' || word === 'false') emit('bool');
        else if (word === 'nil') emit('nil');
        else emit('identifier');
      } else if (c === '(') {
        emit('leftParen');
        parenDepth++;
      } else if (c === ')') {
        emit('rightParen');
        parenDepth--;
        if (parenDepth < 0) {
          fail('unexpected right paren');
          return items;
        }
      } else if (c >= '\x20' && c < '\x7f') emit('char');
      else {
        pos--;
        fail(`unrecognized character in action: ${goRune(input, pos)}`);
        return items;
      }
    }
  }
}

/** Go's %#U: U+0041 'A'. */
function goRune(s: string, pos: number): string {
  const cp = s.codePointAt(pos);
  if (cp === undefined) return 'U+FFFFFFFF';
  return `U+${cp.toString(16).toUpperCase().padStart(4, '0')} '${String.fromCodePoint(cp)}'`;
}

// ---------------------------------------------------------------------------------------------
// Literals

const ESCAPES: Record<string, string> = { a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '\\': '\\', "'": "'", '"': '"' };

/** strconv.Unquote for "..." and '...' bodies (the quotes already removed). */
function unquote(body: string, quote: string): string {
  let out = '';
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (c !== '\\') {
      out += c;
      continue;
    }
    const e = body[++i];
    if (e === undefined) throw new Error('invalid syntax');
    if (ESCAPES[e] !== undefined && (e !== "'" || quote === "'") && (e !== '"' || quote === '"')) {
      out += ESCAPES[e];
    } else if (e === 'x' || e === 'u' || e === 'U') {
      const n = e === 'x' ? 2 : e === 'u' ? 4 : 8;
      const hex = body.slice(i + 1, i + 1 + n);
      if (!/^[0-9a-fA-F]+$/.test(hex) || hex.length !== n) throw new Error('invalid syntax');
      const v = parseInt(hex, 16);
      if (e === 'x') out += Buffer.from([v]).toString('latin1').length === 1 && v < 0x80 ? String.fromCharCode(v) : '\ufffd';
      else {
        if (v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) throw new Error('invalid syntax');
        out += String.fromCodePoint(v);
      }
      i += n;
    } else if (e >= '0' && e <= '7') {
      const oct = body.slice(i, i + 3);
      if (!/^[0-7]{3}$/.test(oct)) throw new Error('invalid syntax');
      const v = parseInt(oct, 8);
      if (v > 255) throw new Error('invalid syntax');
      out += v < 0x80 ? String.fromCharCode(v) : '\ufffd';
      i += 2;
    } else throw new Error('invalid syntax');
  }
  return out;
}

function parseNumber(text: string): { value: number; isFloat: boolean } | undefined {
  if (text.startsWith("'")) {
    const s = unquote(text.slice(1, -1), "'");
    if ([...s].length !== 1) return undefined;
    return { value: s.codePointAt(0)!, isFloat: false };
  }
  if (text.endsWith('i')) return undefined; // complex numbers are not supported
  const t = text.replace(/_/g, '');
  const neg = t.startsWith('-');
  const body = t.replace(/^[+-]/, '');
  let value: number;
  let isFloat = false;
  if (/^0[xX][0-9a-fA-F]+$/.test(body)) value = parseInt(body.slice(2), 16);
  else if (/^0[oO][0-7]+$/.test(body)) value = parseInt(body.slice(2), 8);
  else if (/^0[bB][01]+$/.test(body)) value = parseInt(body.slice(2), 2);
  else if (/^0[0-7]+$/.test(body)) value = parseInt(body.slice(1), 8);
  else if (/^\d+$/.test(body)) value = Number(body);
  else if (/^(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(body)) {
    value = Number(body);
    isFloat = true;
  } else return undefined;
  return { value: neg ? -value : value, isFloat };
}

// ---------------------------------------------------------------------------------------------
// Parser

const isEndOrElse = (n: Node | EndOrElse): n is EndOrElse => n.k === 'end' || n.k === 'else';

class Parser {
  private i = 0;
  private vars: string[] = ['$'];
  private rangeDepth = 0;

  constructor(
    private readonly items: Item[],
    private readonly funcs: ReadonlySet<string>,
  ) {}

  fail(msg: string, item?: Item): never {
    const at = item ?? this.items[Math.min(this.i, this.items.length) - 1] ?? this.items[0]!;
    throw new TsbuildError('INVALID', `template: :${at.line}: ${msg}`);
  }

  next(): Item {
    const it = this.items[this.i] ?? this.items[this.items.length - 1]!;
    if (this.i < this.items.length) this.i++;
    return it;
  }
  backup(): void {
    this.i--;
  }
  peek(): Item {
    return this.items[this.i] ?? this.items[this.items.length - 1]!;
  }
  nextNonSpace(): Item {
    let t = this.next();
    while (t.typ === 'space') t = this.next();
    return t;
  }
  peekNonSpace(): Item {
    const t = this.nextNonSpace();
    this.backup();
    return t;
  }
  unexpected(t: Item, context: string): never {
    if (t.typ === 'error') this.fail(t.val, t);
    this.fail(`unexpected ${itemString(t)} in ${context}`, t);
  }
  expect(typ: ItemType, context: string): Item {
    const t = this.nextNonSpace();
    if (t.typ !== typ) this.unexpected(t, context);
    return t;
  }

  parse(): Node[] {
    const root: Node[] = [];
    while (this.peek().typ !== 'eof') {
      const n = this.textOrAction();
      if (isEndOrElse(n)) this.fail(`unexpected {{${n.k}}}`);
      root.push(n);
    }
    return root;
  }

  itemList(): [Node[], EndOrElse] {
    const list: Node[] = [];
    while (this.peekNonSpace().typ !== 'eof') {
      const n = this.textOrAction();
      if (isEndOrElse(n)) return [list, n];
      list.push(n);
    }
    this.fail('unexpected EOF');
  }

  textOrAction(): Node | EndOrElse {
    const t = this.nextNonSpace();
    if (t.typ === 'text') return { k: 'text', pos: t.pos, text: t.val };
    if (t.typ === 'leftDelim') return this.action();
    this.unexpected(t, 'input');
  }

  action(): Node | EndOrElse {
    const t = this.nextNonSpace();
    if (t.typ === 'kw') {
      switch (t.val) {
        case 'if':
        case 'range':
        case 'with':
          return this.control(t.val, t);
        case 'end':
          return { k: 'end', pos: this.expect('rightDelim', 'end').pos, elseIf: false };
        case 'else': {
          const p = this.peekNonSpace();
          if (p.typ === 'kw' && (p.val === 'if' || p.val === 'with')) return { k: 'else', pos: p.pos, elseIf: true };
          return { k: 'else', pos: this.expect('rightDelim', 'else').pos, elseIf: false };
        }
        case 'break':
        case 'continue':
          if (this.rangeDepth === 0) this.fail(`{{${t.val}}} outside {{range}}`, t);
          this.expect('rightDelim', `{{${t.val}}}`);
          return { k: t.val, pos: t.pos };
        default:
          this.fail(`{{${t.val}}} is not supported in this template`, t);
      }
    }
    this.backup();
    const p = this.peek();
    return { k: 'action', pos: p.pos, pipe: this.pipeline('command') };
  }

  control(kind: 'if' | 'range' | 'with', kwItem: Item): Node {
    const mark = this.vars.length;
    const pipe = this.pipeline(kind);
    if (kind === 'range') this.rangeDepth++;
    let [list, next] = this.itemList();
    if (kind === 'range') this.rangeDepth--;
    let elseList: Node[] | undefined;
    if (next.k === 'else') {
      const p = this.peekNonSpace();
      if (next.elseIf && kind !== 'range' && p.val === kind) {
        // {{else if x}} is {{else}}{{if x}}...{{end}}{{end}} with one {{end}}.
        const kw = this.nextNonSpace();
        elseList = [this.control(kind, kw)];
      } else {
        if (next.elseIf) this.unexpected(this.nextNonSpace(), kind);
        [elseList, next] = this.itemList();
        if (next.k !== 'end') this.fail(`expected end; found {{${next.k}}}`);
      }
    }
    this.vars.length = mark;
    void kwItem;
    return { k: kind, pos: pipe.pos, pipe, list, elseList };
  }

  pipeline(context: string): PipeNode {
    const first = this.peekNonSpace();
    const pipe: PipeNode = { k: 'pipe', pos: first.pos, isAssign: false, decl: [], cmds: [] };
    // Declarations: $x := / $x = / $k, $v := (range only).
    for (;;) {
      const v = this.peekNonSpace();
      if (v.typ !== 'variable') break;
      const save = this.i;
      this.nextNonSpace();
      const nx = this.peekNonSpace();
      if (nx.typ === 'assign' || nx.typ === 'declare') {
        this.nextNonSpace();
        pipe.isAssign = nx.typ === 'assign';
        pipe.decl.push({ k: 'variable', pos: v.pos, ident: v.val.split('.') });
        if (nx.typ === 'declare') this.vars.push(v.val);
        else if (!this.vars.includes(v.val)) this.fail(`undefined variable ${JSON.stringify(v.val)}`, v);
        break;
      }
      if (nx.typ === 'char' && nx.val === ',') {
        this.nextNonSpace();
        pipe.decl.push({ k: 'variable', pos: v.pos, ident: v.val.split('.') });
        this.vars.push(v.val);
        if (context === 'range' && pipe.decl.length < 2) {
          const p = this.peekNonSpace();
          if (p.typ === 'variable' || p.typ === 'rightDelim' || p.typ === 'rightParen') continue;
          this.fail('range can only initialize variables');
        }
        this.fail(`too many declarations in ${context}`);
      }
      this.i = save;
      break;
    }
    for (;;) {
      const t = this.nextNonSpace();
      switch (t.typ) {
        case 'rightDelim':
        case 'rightParen':
          if (pipe.cmds.length === 0) this.fail(`missing value for ${context}`, t);
          pipe.cmds.slice(1).forEach((c, i) => {
            if (['bool', 'dot', 'nil', 'number', 'string'].includes(c.args[0]!.k)) {
              this.fail(`non executable command in pipeline stage ${i + 2}`, t);
            }
          });
          if (t.typ === 'rightParen') this.backup();
          return pipe;
        case 'bool':
        case 'charConstant':
        case 'dot':
        case 'field':
        case 'identifier':
        case 'number':
        case 'nil':
        case 'rawString':
        case 'string':
        case 'variable':
        case 'leftParen':
          this.backup();
          pipe.cmds.push(this.command());
          break;
        default:
          this.unexpected(t, context);
      }
    }
  }

  command(): CommandNode {
    const cmd: CommandNode = { k: 'command', pos: this.peekNonSpace().pos, args: [] };
    for (;;) {
      this.peekNonSpace();
      const op = this.operand();
      if (op) cmd.args.push(op);
      const t = this.next();
      if (t.typ === 'space') continue;
      if (t.typ === 'error') this.fail(t.val, t);
      if (t.typ === 'rightDelim' || t.typ === 'rightParen') this.backup();
      else if (t.typ !== 'pipe') this.fail(`unexpected ${itemString(t)} in operand`, t);
      break;
    }
    if (cmd.args.length === 0) this.fail('empty command');
    return cmd;
  }

  operand(): ArgNode | undefined {
    const node = this.term();
    if (!node) return undefined;
    if (this.peek().typ !== 'field') return node;
    const fields: string[] = [];
    const pos = this.peek().pos;
    while (this.peek().typ === 'field') fields.push(this.next().val.slice(1));
    switch (node.k) {
      case 'field':
        return { k: 'field', pos: node.pos, ident: [...node.ident, ...fields] };
      case 'variable':
        return { k: 'variable', pos: node.pos, ident: [...node.ident, ...fields] };
      case 'bool':
      case 'string':
      case 'number':
      case 'nil':
      case 'dot':
        this.fail(`unexpected . after term ${JSON.stringify(nodeString(node))}`);
    }
    return { k: 'chain', pos, node, fields };
  }

  term(): ArgNode | undefined {
    const t = this.nextNonSpace();
    switch (t.typ) {
      case 'error':
        this.fail(t.val, t);
      case 'identifier':
        if (!this.funcs.has(t.val)) this.fail(`function ${JSON.stringify(t.val)} not defined`, t);
        return { k: 'identifier', pos: t.pos, name: t.val };
      case 'dot':
        return { k: 'dot', pos: t.pos };
      case 'nil':
        return { k: 'nil', pos: t.pos };
      case 'variable':
        if (!this.vars.includes(t.val.split('.')[0]!)) this.fail(`undefined variable ${JSON.stringify(t.val.split('.')[0])}`, t);
        return { k: 'variable', pos: t.pos, ident: t.val.split('.') };
      case 'field':
        return { k: 'field', pos: t.pos, ident: [t.val.slice(1)] };
      case 'bool':
        return { k: 'bool', pos: t.pos, value: t.val === 'true' };
      case 'number':
      case 'charConstant': {
        let n: ReturnType<typeof parseNumber>;
        try {
          n = parseNumber(t.val);
        } catch {
          n = undefined;
        }
        if (!n) this.fail(`illegal number syntax: ${JSON.stringify(t.val)}`, t);
        return { k: 'number', pos: t.pos, text: t.val, ...n };
      }
      case 'leftParen': {
        const pipe = this.pipeline('parenthesized pipeline');
        const close = this.next();
        if (close.typ !== 'rightParen') this.fail(`unclosed right paren: unexpected ${itemString(close)}`, close);
        return pipe;
      }
      case 'string':
      case 'rawString': {
        let value: string;
        try {
          value = t.typ === 'rawString' ? t.val.slice(1, -1).replace(/\r/g, '') : unquote(t.val.slice(1, -1), '"');
        } catch {
          this.fail('invalid syntax', t);
        }
        return { k: 'string', pos: t.pos, quoted: t.val, value };
      }
    }
    this.backup();
    return undefined;
  }
}

/** Parse `text`; `funcs` names the functions the template may call. */
export function parseGoTemplate(text: string, funcs: ReadonlySet<string>): ParsedTemplate {
  return { text, root: new Parser(lex(text), funcs).parse() };
}

/** The node as Go's parse package prints it (the `<...>` part of execution errors). */
export function nodeString(n: AnyNode): string {
  switch (n.k) {
    case 'field':
      return '.' + n.ident.join('.');
    case 'variable':
      return n.ident.join('.');
    case 'dot':
      return '.';
    case 'nil':
      return 'nil';
    case 'bool':
      return String(n.value);
    case 'number':
      return n.text;
    case 'string':
      return n.quoted;
    case 'identifier':
      return n.name;
    case 'chain':
      return (n.node.k === 'pipe' ? `(${nodeString(n.node)})` : nodeString(n.node)) + '.' + n.fields.join('.');
    case 'command':
      return n.args.map((a) => (a.k === 'pipe' ? `(${nodeString(a)})` : nodeString(a))).join(' ');
    case 'pipe': {
      const decl = n.decl.length ? `${n.decl.map(nodeString).join(', ')} ${n.isAssign ? '=' : ':='} ` : '';
      return decl + n.cmds.map(nodeString).join(' | ');
    }
    case 'action':
      return `{{${nodeString(n.pipe)}}}`;
    case 'text':
      return JSON.stringify(n.text);
    case 'if':
    case 'range':
    case 'with':
      return `{{${n.k} ${nodeString(n.pipe)}}}`;
    case 'break':
    case 'continue':
      return `{{${n.k}}}`;
  }
}
