import type { Command } from 'commander';

/** `tsbuild parse [--format json|dump] [FILE|-]` (filled in by the parser work). */
export function registerParse(program: Command): void {
  program
    .command('parse')
    .description('parse a Dockerfile and print its instructions')
    .argument('[file]', 'Dockerfile to read, or - for standard input', 'Dockerfile')
    .option('--format <format>', 'json (validated instructions) or dump (raw parse)', 'json')
    .action(() => {
      throw new Error('not implemented');
    });
}
