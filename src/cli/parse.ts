/**
 * `tsbuild parse`: the parser's output, for tools and for checking a Dockerfile without building.
 * The parser (chevrotain) is imported by the action: commands that never parse should not load it.
 */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { TsbuildError } from '../errors.js';

/** `tsbuild parse [--format json|dump] [FILE|-]` */
export function registerParse(program: Command): void {
  program
    .command('parse')
    .description('parse a Dockerfile and print its instructions')
    .argument('[file]', 'Dockerfile to read, or - for standard input', 'Dockerfile')
    .option('--format <format>', 'json (validated instructions) or dump (raw parse, Docker\'s format)', 'json')
    .action(async (file: string, opts: { format: string }) => {
      if (opts.format !== 'json' && opts.format !== 'dump') {
        throw new TsbuildError('USAGE', `unknown format ${JSON.stringify(opts.format)} (use json or dump)`);
      }
      let bytes: Buffer;
      try {
        bytes = file === '-' ? await readStdin() : await readFile(file);
      } catch (e) {
        throw new TsbuildError('NOT_FOUND', `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      }
      const parser = await import('../parser/index.js');
      const name = file === '-' ? 'Dockerfile' : file;
      const result = parser.parseDockerfile(bytes, { file: name });
      for (const w of result.warnings) {
        process.stderr.write(`${name}:${w.line}: warning: ${w.message.split('\n')[0]}\n`);
      }
      if (opts.format === 'dump') {
        process.stdout.write(parser.dumpAst(result));
        return;
      }
      const { metaArgs, stages } = parser.toInstructions(result);
      const out = {
        file: name,
        escapeToken: result.escapeToken,
        directives: result.directives,
        warnings: result.warnings,
        metaArgs,
        stages,
      };
      process.stdout.write(JSON.stringify(out, null, 2) + '\n');
    });
}

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}
