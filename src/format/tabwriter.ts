/**
 * Go's text/tabwriter (elastic tabstops) as docker/cli configures it for every table
 * (`tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)`: minimum cell width 10, padding 3, spaces).
 *
 * Pinned behaviour: a cell is text terminated by a tab; tab-terminated cells in *contiguous*
 * lines form a column whose width is max(minwidth, widest cell + padding); the text after the
 * last tab of a line is not part of any column and is written as is (no trailing padding); a
 * line without tabs ends every column block above it. Widths count display columns (wide CJK
 * characters as two), as docker's fork of tabwriter does with go-runewidth. Pure.
 */

import { stringWidth } from './text-width.js';

export interface TabwriterOptions {
  minWidth?: number;
  padding?: number;
}

interface Cell {
  text: string;
  width: number;
}

/** Align `text` (lines separated by \n, cells terminated by \t) into columns. */
export function tabwrite(text: string, opts: TabwriterOptions = {}): string {
  const minWidth = opts.minWidth ?? 10;
  const padding = opts.padding ?? 3;
  const rawLines = text.split('\n');
  const lines: Cell[][] = rawLines.map((l) => l.split('\t').map((t) => ({ text: t, width: stringWidth(t) })));
  const out: string[] = [];
  const widths: number[] = [];

  const writeLines = (from: number, to: number) => {
    for (let i = from; i < to; i++) {
      const line = lines[i]!;
      let s = '';
      for (let j = 0; j < line.length; j++) {
        const c = line[j]!;
        s += c.text;
        if (j < widths.length) s += ' '.repeat(Math.max(0, widths[j]! - c.width));
      }
      out.push(s);
    }
  };

  // Go's Writer.format: find column blocks recursively, left to right.
  const format = (line0: number, line1: number) => {
    const column = widths.length;
    for (let cur = line0; cur < line1; cur++) {
      if (column >= lines[cur]!.length - 1) continue;
      writeLines(line0, cur);
      line0 = cur;
      let width = minWidth;
      for (; cur < line1; cur++) {
        const line = lines[cur]!;
        if (column >= line.length - 1) break;
        width = Math.max(width, line[column]!.width + padding);
      }
      widths.push(width);
      format(line0, cur);
      widths.pop();
      line0 = cur; // line `cur` lacks this column, so the loop's increment may step over it
    }
    writeLines(line0, line1);
  };

  format(0, lines.length);
  return out.join('\n');
}
