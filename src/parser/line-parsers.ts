/**
 * BuildKit's per-instruction argument rules (its `line_parsers.go` dispatch table), applied to
 * the text after the keyword and flags:
 *
 *   ADD COPY VOLUME              JSON array of strings, else words split on [\t\v\f\r ]
 *   FROM EXPOSE                  words split on [\t\v\f\r ] (never JSON)
 *   RUN CMD ENTRYPOINT SHELL     JSON array of strings, else the whole text
 *   HEALTHCHECK                  a type word (split on a white-space byte), then as CMD
 *   ENV LABEL                    name=value pairs, or the legacy `name value`
 *   ARG                          quote-aware words
 *   MAINTAINER STOPSIGNAL USER WORKDIR   the whole text
 *   anything else                one empty argument (the instruction is kept, unvalidated)
 *
 * "JSON" is decided on the whole text (grammar.ts): `CMD ["a"] b` is the shell form.
 */
import { parseExecForm } from './grammar.js';
import { goQuote } from './go-quote.js';
import { goTrimLeft, isGoSpace, splitQuotedWords, splitWhitespace, WHITESPACE_RUN } from './text.js';
import { fromByteString, isAscii, toByteString } from './utf8.js';

export interface ParsedArgs {
  args: string[];
  json: boolean;
}

/** A refusal, with the offset (in the argument text) it concerns. */
export class ArgsError extends Error {
  constructor(
    message: string,
    readonly offset = 0,
  ) {
    super(message);
  }
}

const NOT_STRINGS = 'when using JSON array syntax, arrays must be comprised of strings only';
const NONE: ParsedArgs = { args: [], json: false };

/** Arguments of instruction `keyword` (lower-cased) from its trimmed argument text. */
export function parseArgs(keyword: string, rest: string, escape: string): ParsedArgs {
  switch (keyword) {
    case 'add':
    case 'copy':
    case 'volume':
      return maybeJsonToList(rest);
    case 'from':
    case 'expose':
      return words(rest);
    case 'run':
    case 'cmd':
    case 'entrypoint':
    case 'shell':
      return maybeJson(rest);
    case 'healthcheck':
      return healthConfig(rest);
    case 'env':
      return nameValues(rest, 'ENV', escape);
    case 'label':
      return nameValues(rest, 'LABEL', escape);
    case 'arg':
      return { args: splitQuotedWords(rest, escape), json: false };
    case 'maintainer':
    case 'stopsignal':
    case 'user':
    case 'workdir':
      return rest === '' ? NONE : { args: [rest], json: false };
    default:
      return { args: [''], json: false };
  }
}

function words(rest: string): ParsedArgs {
  return rest === '' ? NONE : { args: splitWhitespace(rest), json: false };
}

function maybeJson(rest: string): ParsedArgs {
  if (rest === '') return NONE;
  const form = parseExecForm(goTrimLeft(rest));
  if (form.kind === 'exec') return { args: form.values, json: true };
  if (form.kind === 'nonString') throw new ArgsError(NOT_STRINGS);
  return { args: [rest], json: false };
}

function maybeJsonToList(rest: string): ParsedArgs {
  const form = parseExecForm(rest);
  if (form.kind === 'exec') return { args: form.values, json: true };
  if (form.kind === 'nonString') throw new ArgsError(NOT_STRINGS);
  return words(rest);
}

/** The type word ends at the first white-space byte (BuildKit reads bytes here). */
function healthConfig(rest: string): ParsedArgs {
  const ascii = isAscii(rest);
  const b = ascii ? rest : toByteString(rest);
  let sep = 0;
  while (sep < b.length && !isGoSpace(b.charCodeAt(sep))) sep++;
  let next = sep;
  while (next < b.length && isGoSpace(b.charCodeAt(next))) next++;
  if (sep === 0) return NONE;
  const type = ascii ? b.slice(0, sep) : fromByteString(b.slice(0, sep));
  const cmd = ascii ? b.slice(next) : fromByteString(b.slice(next));
  const parsed = maybeJson(cmd);
  return { args: [type, ...parsed.args], json: parsed.json };
}

/** ENV/LABEL: `k=v k2=v2 ...` or the legacy `k value with spaces`; (key, value, sep) triples. */
function nameValues(rest: string, key: string, escape: string): ParsedArgs {
  const ws = splitQuotedWords(rest, escape);
  if (ws.length === 0) return NONE;
  if (!ws[0]!.includes('=')) {
    const m = WHITESPACE_RUN.exec(rest);
    if (!m) throw new ArgsError(`${key} must have two arguments`);
    return { args: [rest.slice(0, m.index), rest.slice(m.index + m[0].length), ''], json: false };
  }
  const out: string[] = [];
  for (const w of ws) {
    const eq = w.indexOf('=');
    if (eq < 0) throw new ArgsError(`Syntax error - can't find = in ${goQuote(w)}. Must be of the form: name=value`);
    out.push(w.slice(0, eq), w.slice(eq + 1), '=');
  }
  return { args: out, json: false };
}
