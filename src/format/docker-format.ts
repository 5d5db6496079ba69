/**
 * docker/cli's `--format` handling on top of the Go template engine (formatter.Format and
 * formatter.Context).
 *
 * Pinned behaviour:
 * - `table …` strips the word `table`, trims spaces, and turns the two-character sequences `\t`
 *   and `\n` into a tab and a newline; the output is a header row (the same template executed on
 *   the column names with docker's header functions, its errors ignored as docker ignores them)
 *   followed by one row per item, aligned by tabwriter (min width 10, padding 3). A header is
 *   printed even with no rows.
 * - `json` alone is `{{json .}}`; a bare `table` is the caller's default table format.
 * - Every other format is executed once per item, each followed by a newline.
 * - Errors read as docker prints them: `template parsing error: template: :1: …` for parse and
 *   execution errors alike; nothing is printed when any row fails.
 * Pure.
 */

import { TsbuildError } from '../errors.js';
import { DOCKER_HEADER_FUNCS, GoTemplate, type ExecuteOptions, type GoFunc } from './go-template.js';
import { tabwrite } from './tabwriter.js';

export interface DockerFormat {
  /** The format as the user gave it. */
  source: string;
  isTable: boolean;
  template: GoTemplate;
}

function wrap(e: unknown): never {
  if (e instanceof TsbuildError) throw new TsbuildError(e.code, `template parsing error: ${e.message}`);
  throw e;
}

/** docker/cli Format.templateString: what is handed to the template parser. */
export function templateString(format: string): string {
  if (format === 'table') return '';
  if (format === 'json') return '{{json .}}';
  let out = format.startsWith('table') ? format.slice('table'.length) : format;
  out = out.replace(/^ +| +$/g, '');
  return out.replace(/\\t|\\n/g, (m) => (m === '\\t' ? '\t' : '\n'));
}

/**
 * Parse a `--format` value. `defaultTable` is used for an empty format or a bare `table`
 * (e.g. ps's `table {{.ID}}\t{{.Image}}…`).
 */
export function parseDockerFormat(format: string, defaultTable?: string, funcs: Record<string, GoFunc> = {}): DockerFormat {
  const source = (format === '' || format === 'table') && defaultTable !== undefined ? defaultTable : format;
  try {
    return { source, isTable: source.startsWith('table'), template: GoTemplate.parse(templateString(source), funcs) };
  } catch (e) {
    wrap(e);
  }
}

/**
 * Render `items` with a parsed format; `header` holds the column names by field (docker's
 * SubHeaderContext, e.g. { ID: 'CONTAINER ID', Image: 'IMAGE' }). Returns the whole output.
 */
export function renderDockerFormat(f: DockerFormat, items: readonly unknown[], header: Record<string, string> = {}, opts: ExecuteOptions = {}): string {
  let body = '';
  for (const item of items) {
    try {
      body += f.template.execute(item, opts) + '\n';
    } catch (e) {
      wrap(e);
    }
  }
  if (!f.isTable) return body;
  const head: string[] = [];
  try {
    f.template.execute(header, { ...opts, funcs: { ...opts.funcs, ...DOCKER_HEADER_FUNCS } }, head);
  } catch {
    // docker ignores a failing header (e.g. a method with arguments on the header map) and
    // keeps what was written before the failure
  }
  return tabwrite(head.join('') + '\n' + body);
}
