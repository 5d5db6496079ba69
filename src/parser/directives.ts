/**
 * Parser directives (`# syntax=`, `# escape=`, `# check=`): only on the lines before anything
 * else; an unknown key or any other line ends them; a repeated key is an error. Key matching is
 * case-insensitive, values are case-sensitive. Same rules as BuildKit's DirectiveParser.
 */
import type { Directive } from './ast.js';

const KNOWN = new Set(['syntax', 'escape', 'check']);
// Go's \s is [\t\n\f\r ] (no \v); kept explicit so JS's wider \s does not leak in.
const DIRECTIVE = /^#[\t\n\f\r ]*([a-zA-Z][a-zA-Z0-9]*)[\t\n\f\r ]*=[\t\n\f\r ]*(.+?)[\t\n\f\r ]*$/;

export class DirectiveScanner {
  readonly found: Directive[] = [];
  private done = false;

  /**
   * Looks at one line (newline and leading blanks already removed). Returns the directive it
   * holds, if any; throws a plain Error with Docker's message for a repeated directive.
   */
  scan(line: string, lineNo: number): Directive | undefined {
    if (this.done) return undefined;
    const m = DIRECTIVE.exec(line);
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
