/**
 * Docker's parse-tree dump (`Node.Dump`), the format of the conformance `result` files:
 * `(keyword ["--flags"] "arg" ...)` one instruction per line, ONBUILD nesting its child.
 */
import type { ParseResult, RawNode } from './ast.js';
import { goQuote, goQuoteList } from './go-quote.js';
import { goTrimSpace } from './text.js';

export function dumpNode(node: RawNode): string {
  // iterative: ONBUILD chains can be thousands deep
  let s = '';
  let depth = 0;
  for (let n: RawNode | undefined = node; n; n = n.child) {
    let part = n.keyword;
    if (n.flags.length > 0) part += ' ' + goQuoteList(n.flags);
    for (const a of n.args) part += ' ' + goQuote(a);
    if (depth > 0) s += ' (';
    s += goTrimSpace(part);
    depth++;
  }
  return s + ')'.repeat(depth - 1);
}

export function dumpAst(result: ParseResult): string {
  let out = '';
  for (const n of result.nodes) out += '(' + dumpNode(n) + ')\n';
  return out;
}
