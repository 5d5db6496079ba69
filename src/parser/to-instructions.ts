/**
 * Raw parse tree → typed, validated instructions grouped into stages (BuildKit's
 * `instructions.Parse`): flag schemas, argument counts, exec/shell form, stage names, ARGs before
 * the first FROM, ONBUILD restrictions, heredoc sources. Errors are TsbuildError('INVALID') located
 * at the instruction (or the offending flag).
 */
import { TsbuildError } from '../errors.js';
import type { ParseResult, Position, RawNode, SourceRange } from './ast.js';
import { FLAG_SCHEMAS, FlagError, parseFlags, type ParsedFlags } from './flags.js';
import { chompHeredocContent, heredocOf } from './heredoc.js';
import { replaceEscapedBytes } from './utf8.js';
import {
  INSTRUCTION_KEYWORDS,
  type ArgInstruction,
  type CommandForm,
  type HeredocFile,
  type Instruction,
  type Instructions,
  type KeyValue,
  type RunMount,
  type Stage,
} from './instructions.js';
import { parseMount } from './run-mount.js';
import { parseChmod, parseGoDuration, parsePortSpec, parseSignal, suggest } from './values.js';

/** Smallest non-zero HEALTHCHECK interval Docker accepts. */
const MIN_HEALTH_INTERVAL_NS = 1e6;
const STAGE_NAME = /^[a-z][a-z0-9-_.]*$/;

export function toInstructions(result: ParseResult): Instructions {
  const metaArgs: ArgInstruction[] = [];
  const stages: Stage[] = [];
  const names = new Map<string, Stage>();
  // Instructions are UTF-8 text for the builder: invalid bytes, which the raw tree keeps for
  // Docker's dump, become U+FFFD here.
  const nodes = result.invalidUtf8 ? result.nodes.map(withoutEscapedBytes) : result.nodes;
  for (const node of nodes) {
    const ins = toInstruction(node, result.escapeToken);
    if (ins.kind === 'from') {
      const stage: Stage = {
        index: stages.length,
        baseName: ins.image,
        from: ins,
        instructions: [],
        location: ins.location,
        ...(ins.stageName !== undefined ? { name: ins.stageName } : {}),
        ...(ins.platform !== undefined ? { platform: ins.platform } : {}),
      };
      if (ins.stageName !== undefined) {
        if (names.has(ins.stageName)) {
          throw invalid(node, `duplicate stage name ${JSON.stringify(ins.stageName)}`);
        }
        names.set(ins.stageName, stage);
      }
      stages.push(stage);
    } else if (stages.length === 0) {
      if (ins.kind !== 'arg') {
        throw invalid(node, `${node.keywordRaw.toUpperCase()} must come after FROM: only ARG may precede the first FROM (no build stage in current context)`);
      }
      metaArgs.push(ins);
    } else {
      stages[stages.length - 1]!.instructions.push(ins);
    }
  }
  return { metaArgs, stages };
}

/** Instructions whose arguments Docker expands as shell words (an unclosed quote fails there). */
const EXPANDED = new Set(['add', 'copy', 'env', 'expose', 'from', 'label', 'stopsignal', 'user', 'volume', 'workdir', 'arg']);

/**
 * Validates one raw node (also used for ONBUILD triggers). `escape` is the file's escape token,
 * needed to tell an escaped quote from an unclosed one.
 */
export function toInstruction(node: RawNode, escape = '\\'): Instruction {
  const kw = node.keyword;
  if (EXPANDED.has(kw) && !node.json) {
    for (const word of node.args) {
      const q = unclosedQuote(word, escape);
      if (q) throw invalid(node, `${node.keywordRaw.toUpperCase()}: unterminated ${q === '"' ? 'double' : 'single'} quote in ${JSON.stringify(word)}`);
    }
  }
  const base = { location: node.range, original: node.original };
  const args = node.args;
  const form: CommandForm = node.json ? 'exec' : 'shell';
  const name = kw.toUpperCase();
  switch (kw) {
    case 'from': {
      const f = flags(node);
      if (args.length !== 1 && !(args.length === 3 && args[1]!.toLowerCase() === 'as')) {
        throw invalid(node, 'FROM requires either one or three arguments');
      }
      let stageName: string | undefined;
      if (args.length === 3) {
        stageName = args[2]!.toLowerCase();
        if (!STAGE_NAME.test(stageName)) {
          throw invalid(
            node,
            `invalid name for build stage: ${JSON.stringify(args[2])}, name can't start with a number or contain symbols`,
          );
        }
      }
      const platform = f.strings.get('platform');
      return {
        kind: 'from',
        ...base,
        image: args[0]!,
        ...(stageName !== undefined ? { stageName } : {}),
        ...(platform !== undefined ? { platform } : {}),
      };
    }
    case 'run': {
      const f = flags(node);
      if (args.length === 0) throw invalid(node, 'RUN requires at least one argument');
      const mounts: RunMount[] = [];
      (f.lists.get('mount') ?? []).forEach((spec) => {
        try {
          mounts.push(parseMount(spec));
        } catch (e) {
          throw invalidAtFlag(node, 'mount', (e as Error).message);
        }
      });
      const network = f.strings.get('network');
      if (network !== undefined && !['default', 'none', 'host'].includes(network)) {
        throw invalidAtFlag(node, 'network', `unsupported network mode ${JSON.stringify(network)}`);
      }
      const security = f.strings.get('security');
      if (security !== undefined && !['sandbox', 'insecure'].includes(security)) {
        throw invalidAtFlag(node, 'security', `unsupported security mode ${JSON.stringify(security)}`);
      }
      return {
        kind: 'run',
        ...base,
        form,
        command: args,
        heredocs: heredocFiles(node),
        mounts,
        ...(network !== undefined ? { network: network as 'default' | 'none' | 'host' } : {}),
        ...(security !== undefined ? { security: security as 'sandbox' | 'insecure' } : {}),
      };
    }
    case 'cmd':
    case 'entrypoint':
      flags(node);
      return { kind: kw, ...base, form, command: args };
    case 'shell':
      flags(node);
      if (args.length === 0) throw invalid(node, 'SHELL requires at least one argument');
      if (!node.json) throw invalid(node, 'SHELL requires the arguments to be in JSON form');
      return { kind: 'shell', ...base, shell: args };
    case 'env':
    case 'label': {
      flags(node);
      const pairs = keyValues(node, name);
      return kw === 'env' ? { kind: 'env', ...base, env: pairs } : { kind: 'label', ...base, labels: pairs };
    }
    case 'maintainer':
      flags(node);
      return { kind: 'maintainer', ...base, maintainer: exactlyOne(node, name) };
    case 'user':
      flags(node);
      return { kind: 'user', ...base, user: exactlyOne(node, name) };
    case 'workdir':
      flags(node);
      return { kind: 'workdir', ...base, path: exactlyOne(node, name) };
    case 'stopsignal': {
      flags(node);
      const signal = exactlyOne(node, name);
      if (!signal.includes('$')) {
        try {
          parseSignal(signal);
        } catch (e) {
          throw invalid(node, (e as Error).message, node.argsPosition);
        }
      }
      return { kind: 'stopsignal', ...base, signal };
    }
    case 'expose': {
      flags(node);
      if (args.length === 0) throw invalid(node, 'EXPOSE requires at least one argument');
      for (const p of args) {
        if (p.includes('$')) continue;
        try {
          parsePortSpec(p);
        } catch (e) {
          throw invalid(node, (e as Error).message, node.argsPosition);
        }
      }
      return { kind: 'expose', ...base, ports: args };
    }
    case 'volume': {
      flags(node);
      if (args.length === 0) throw invalid(node, 'VOLUME requires at least one argument');
      const volumes = args.map((v) => v.trim());
      if (volumes.some((v) => v === '')) throw invalid(node, 'VOLUME specified can not be an empty string');
      return { kind: 'volume', ...base, form, volumes };
    }
    case 'arg': {
      flags(node);
      if (args.length === 0) throw invalid(node, 'ARG requires at least one argument');
      return {
        kind: 'arg',
        ...base,
        args: args.map((a) => {
          const eq = a.indexOf('=');
          if (eq < 0) return { key: a };
          if (eq === 0) throw invalid(node, 'ARG names can not be blank');
          return { key: a.slice(0, eq), value: a.slice(eq + 1) };
        }),
      };
    }
    case 'copy':
    case 'add':
      return copyLike(node, kw, base, form);
    case 'healthcheck':
      return healthcheck(node, base);
    case 'onbuild': {
      flags(node);
      const child = node.child;
      if (!child) throw invalid(node, 'ONBUILD requires at least one argument');
      const trigger = child.keyword.toUpperCase();
      if (trigger === 'ONBUILD') throw invalid(child, 'Chaining ONBUILD via `ONBUILD ONBUILD` isn\'t allowed');
      if (trigger === 'FROM' || trigger === 'MAINTAINER') throw invalid(child, `${trigger} isn't allowed as an ONBUILD trigger`);
      let expression = node.original.replace(/^\s*ONBUILD\s*/i, '');
      for (const h of node.heredocs) expression += '\n' + h.content + h.name;
      const withHeredocs: RawNode = { ...child, heredocs: node.heredocs };
      return { kind: 'onbuild', ...base, expression, trigger: toInstruction(withHeredocs, escape) };
    }
    default: {
      if (kw === '') throw invalid(node, 'empty instruction (a line continuation with nothing after it?)');
      const hint = suggest(kw, INSTRUCTION_KEYWORDS);
      throw new TsbuildError(
        'PARSE',
        `unknown instruction: ${node.keywordRaw.toUpperCase()}${hint ? ` (did you mean ${hint.toUpperCase()}?)` : ''}`,
        at(node.range),
      );
    }
  }
}

function copyLike(node: RawNode, kw: 'copy' | 'add', base: { location: SourceRange; original: string }, form: CommandForm): Instruction {
  const f = flags(node);
  const name = kw.toUpperCase();
  const args = node.args;
  if (args.length < 2) {
    throw invalid(node, `${name} requires at least two arguments, but only one was provided. Destination could not be determined.`);
  }
  const dest = args[args.length - 1]!;
  const heredocs = new Map(node.heredocs.map((h) => [h.name, h]));
  const sources: string[] = [];
  const contents: HeredocFile[] = [];
  if (!node.json && heredocOf(dest)) throw invalid(node, `${name} cannot accept a heredoc as a destination`);
  for (const src of args.slice(0, -1)) {
    const marker = node.json ? undefined : heredocOf(src);
    if (marker) {
      const h = heredocs.get(marker.name);
      const content = h?.content ?? '';
      contents.push({ ...marker, content, data: marker.chomp ? chompHeredocContent(content) : content });
    } else {
      sources.push(src);
    }
  }
  const chmod = f.strings.get('chmod');
  if (chmod !== undefined && !chmod.includes('$')) {
    try {
      parseChmod(chmod);
    } catch (e) {
      throw invalidAtFlag(node, 'chmod', (e as Error).message);
    }
  }
  const common = {
    ...base,
    form,
    sources,
    contents,
    dest,
    link: f.bools.get('link') ?? false,
    exclude: f.lists.get('exclude') ?? [],
    ...(f.strings.has('chown') ? { chown: f.strings.get('chown')! } : {}),
    ...(chmod !== undefined ? { chmod } : {}),
  };
  if (kw === 'copy') {
    const from = f.strings.get('from');
    return { kind: 'copy', ...common, parents: f.bools.get('parents') ?? false, ...(from !== undefined ? { from } : {}) };
  }
  const checksum = f.strings.get('checksum');
  const unpack = f.bools.get('unpack');
  return {
    kind: 'add',
    ...common,
    keepGitDir: f.bools.get('keep-git-dir') ?? false,
    ...(checksum !== undefined ? { checksum } : {}),
    ...(unpack !== undefined ? { unpack } : {}),
  };
}

function healthcheck(node: RawNode, base: { location: SourceRange; original: string }): Instruction {
  const args = node.args;
  if (args.length === 0) throw invalid(node, 'HEALTHCHECK requires at least one argument');
  const typ = args[0]!.toUpperCase();
  const none = { interval: 0, timeout: 0, startPeriod: 0, startInterval: 0, retries: 0 };
  if (typ === 'NONE') {
    flags(node);
    if (args.length !== 1) throw invalid(node, 'HEALTHCHECK NONE takes no arguments');
    return { kind: 'healthcheck', ...base, test: ['NONE'], ...none };
  }
  const f = flags(node);
  if (typ !== 'CMD') throw invalid(node, `Unknown type ${JSON.stringify(typ)} in HEALTHCHECK (try CMD)`, node.argsPosition);
  const cmd = args.slice(1);
  if (cmd.length === 0) throw invalid(node, 'Missing command after HEALTHCHECK CMD');
  const duration = (flag: string): number => {
    const v = f.strings.get(flag);
    if (v === undefined || v === '') return 0;
    let ns: number;
    try {
      ns = parseGoDuration(v);
    } catch (e) {
      throw invalidAtFlag(node, flag, (e as Error).message);
    }
    if (ns === 0) return 0;
    if (ns < MIN_HEALTH_INTERVAL_NS) throw invalidAtFlag(node, flag, `Interval "${flag}" cannot be less than 1ms`);
    return ns;
  };
  let retries = 0;
  const r = f.strings.get('retries');
  if (r !== undefined && r !== '') {
    if (!/^[+-]?[0-9]+$/.test(r) || Math.abs(Number(r)) > 2147483647) {
      throw invalidAtFlag(node, 'retries', `--retries: invalid number ${JSON.stringify(r)}`);
    }
    retries = Number(r);
    if (retries < 0) throw invalidAtFlag(node, 'retries', `--retries cannot be negative (${retries})`);
  }
  return {
    kind: 'healthcheck',
    ...base,
    test: [node.json ? 'CMD' : 'CMD-SHELL', ...cmd],
    interval: duration('interval'),
    timeout: duration('timeout'),
    startPeriod: duration('start-period'),
    startInterval: duration('start-interval'),
    retries,
  };
}

/** The quote character left open at the end of a shell word, if any. */
function unclosedQuote(word: string, escape: string): string | undefined {
  for (let i = 0; i < word.length; i++) {
    const c = word[i];
    if (c === escape) {
      i++;
    } else if (c === "'") {
      const end = word.indexOf("'", i + 1);
      if (end < 0) return "'";
      i = end;
    } else if (c === '"') {
      for (i++; i < word.length && word[i] !== '"'; i++) if (word[i] === escape) i++;
      if (i >= word.length) return '"';
    }
  }
  return undefined;
}

function heredocFiles(node: RawNode): HeredocFile[] {
  return node.heredocs.map((h) => ({ ...h, data: h.chomp ? chompHeredocContent(h.content) : h.content }));
}

function keyValues(node: RawNode, name: string): KeyValue[] {
  const args = node.args;
  if (args.length === 0) throw invalid(node, `${name} requires at least one argument`);
  const out: KeyValue[] = [];
  for (let i = 0; i + 1 < args.length; i += 3) {
    if (args[i] === '') throw invalid(node, `${name} names can not be blank`);
    out.push({ key: args[i]!, value: args[i + 1]! });
  }
  return out;
}

function exactlyOne(node: RawNode, name: string): string {
  if (node.args.length !== 1) throw invalid(node, `${name} requires exactly one argument`);
  return node.args[0]!;
}

function flags(node: RawNode): ParsedFlags {
  try {
    return parseFlags(node.flags, FLAG_SCHEMAS[node.keyword] ?? {});
  } catch (e) {
    if (e instanceof FlagError) {
      const p = node.flagPositions[e.index] ?? node.range;
      throw new TsbuildError('INVALID', `${node.keywordRaw.toUpperCase()}: ${e.message}`, {
        file: node.range.file,
        line: p.line,
        column: p.column,
      });
    }
    throw e;
  }
}

function at(r: SourceRange, p?: Position) {
  return { file: r.file, line: p?.line ?? r.line, column: p?.column ?? r.column };
}

function invalid(node: RawNode, message: string, p?: Position): TsbuildError {
  return new TsbuildError('INVALID', message, at(node.range, p));
}

function invalidAtFlag(node: RawNode, flag: string, message: string): TsbuildError {
  const i = node.flags.findIndex((f) => f === `--${flag}` || f.startsWith(`--${flag}=`));
  return invalid(node, `${node.keywordRaw.toUpperCase()} --${flag}: ${message}`, i >= 0 ? node.flagPositions[i] : undefined);
}

/** A copy of an ONBUILD chain with escaped invalid bytes replaced (iterative: chains can be long). */
function withoutEscapedBytes(node: RawNode): RawNode {
  const fix = replaceEscapedBytes;
  let top: RawNode | undefined;
  let parent: RawNode | undefined;
  for (let n: RawNode | undefined = node; n; n = n.child) {
    const copy: RawNode = {
      ...n,
      keyword: fix(n.keyword),
      keywordRaw: fix(n.keywordRaw),
      flags: n.flags.map(fix),
      args: n.args.map(fix),
      original: fix(n.original),
      heredocs: n.heredocs.map((h) => ({ ...h, name: fix(h.name), content: fix(h.content) })),
      comments: n.comments.map(fix),
    };
    if (parent) parent.child = copy;
    else top = copy;
    parent = copy;
  }
  return top!;
}
