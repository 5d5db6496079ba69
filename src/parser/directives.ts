/**
 * Parser directives (`# syntax=`, `# escape=`, `# check=`): only on the lines before anything
 * else; an unknown key or any other line ends them; a repeated key is an error. Key matching is
 * case-insensitive, values are case-sensitive. Same rules as BuildKit's DirectiveParser.
 */
import type { Directive } from './ast.js';
import { goTrimLeft } from './text.js';

const KNOWN = new Set(['syntax', 'escape', 'check']);
// After `#` and any Go white space. Go's \s is [\t\n\f\r ] (no \v) and its `.` matches a CR
// (JavaScript's does not): both kept explicit.
const DIRECTIVE = /^([a-zA-Z][a-zA-Z0-9]*)[\t\n\f\r ]*=[\t\n\f\r ]*([^\n]+?)[\t\n\f\r ]*$/;

export class DirectiveScanner {
  readonly found: Directive[] = [];
  private done = false;

  /**
   * Looks at one line (newline and leading blanks already removed). Returns the directive it
   * holds, if any; throws a plain Error with Docker's message for a repeated directive.
   */
  scan(line: string, lineNo: number): Directive | undefined {
    if (this.done) return undefined;
    const m = line.charCodeAt(0) === 0x23 ? DIRECTIVE.exec(goTrimLeft(line.slice(1))) : null;
    if (!m) {
      this.done = true;
      return undefined;
    }
    const name = m[1]!.toLowerCase();
    if (!KNOWN.has(name)) {
      this.done = true;
      return undefined;
    }
    if (this.found.some((d) => d.name === name)) {
      throw new Error(`only one ${name} parser directive can be used`);
    }
    const d: Directive = { name, value: m[2]!, line: lineNo };
    this.found.push(d);
    return d;
  }
}

/** Validates an escape directive value. */
export function escapeTokenFrom(value: string): string {
  if (value !== '`' && value !== '\\') {
    throw new Error(`invalid escape token '${value}' does not match \` or \\`);
  }
  return value;
}

export interface SyntaxDirective {
  /** The frontend reference (the value up to its first space). */
  syntax: string;
  /** The whole directive value. */
  cmdline: string;
  /** 1-based line of the directive (0 for the JSON form). */
  line: number;
}

/**
 * Docker's `DetectSyntax`: the `syntax` directive in `# syntax=`, `// syntax=` or whole-file JSON
 * (`{"syntax": "..."}`) form, after an optional BOM and `#!` shebang line.
 */
export function detectSyntax(text: string): SyntaxDirective | undefined {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  let offset = 0;
  const nl = text.indexOf('\n');
  const firstLine = nl < 0 ? text : text.slice(0, nl);
  if (firstLine.startsWith('#!')) {
    text = nl < 0 ? '' : text.slice(nl + 1);
    offset = 1;
  }
  for (const prefix of ['#', '//']) {
    const re = new RegExp(`^${prefix}[\\t\\n\\f\\r ]*([a-zA-Z][a-zA-Z0-9]*)[\\t\\n\\f\\r ]*=[\\t\\n\\f\\r ]*([^\\n]+?)[\\t\\n\\f\\r ]*$`);
    const seen = new Set<string>();
    const lines = text.split('\n');
    for (let i = 0; i < lines.length; i++) {
      const m = re.exec(lines[i]!.replace(/\r$/, ''));
      if (!m) break;
      const name = m[1]!.toLowerCase();
      if (!KNOWN.has(name) || seen.has(name)) break;
      seen.add(name);
      if (name === 'syntax') {
        const value = m[2]!;
        return { syntax: value.split(' ')[0]!, cmdline: value, line: i + 1 + offset };
      }
    }
  }
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) {
      const v = (parsed as Record<string, unknown>)['syntax'];
      if (typeof v === 'string') return { syntax: v, cmdline: v, line: offset };
    }
  } catch {
    // not JSON
  }
  return undefined;
}
