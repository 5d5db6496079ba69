/**
 * `build --check` output, as buildx prints a lint result: `Check complete, N warnings have been
 * found!` (or `Check complete, no warnings found.`), then per warning, in line order,
 * `WARNING: Rule - URL`, the message, and the Dockerfile excerpt BuildKit's errdefs.Source.Print
 * draws (`NAME:LINE`, the lines around it, `>>>` on the instruction's lines). Pure: text out.
 */
import type { CheckWarning } from './rules.js';

export function formatCheckReport(warnings: readonly CheckWarning[], sourceText: string): string {
  if (warnings.length === 0) return 'Check complete, no warnings found.\n';
  let out = `Check complete, ${warnings.length === 1 ? '1 warning has' : `${warnings.length} warnings have`} been found!\n`;
  const sorted = [...warnings].sort((a, b) => a.line - b.line);
  const lines = sourceText.split('\n');
  for (const w of sorted) {
    out += `\nWARNING: ${w.rule}${w.url ? ` - ${w.url}` : ''}\n${w.message}\n`;
    out += sourceExcerpt(w.file, lines, w.line, Math.max(w.line, w.endLine));
  }
  return out;
}

/** errdefs.Source.Print: up to 2 lines of context (4 for a one-line range), split around it. */
function sourceExcerpt(file: string, lines: readonly string[], first: number, last: number): string {
  if (first > lines.length || first < 1) return '';
  let start = first;
  let end = Math.min(last, lines.length);
  const pad = end === start ? 4 : 2;
  // the same loop as BuildKit's, quirks included (every round counts once more)
  for (let p = 0; p < pad; p++) {
    if (start > 1) {
      start--;
      p++;
    }
    if (end !== lines.length) {
      end++;
      p++;
    }
  }
  let out = `${file}:${first}\n--------------------\n`;
  for (let i = start; i <= end; i++) {
    const mark = i >= first && i <= last ? '>>>' : '   ';
    out += ` ${String(i).padStart(3)} | ${mark} ${lines[i - 1]}\n`;
  }
  return out + '--------------------\n';
}
