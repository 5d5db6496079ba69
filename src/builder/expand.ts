/** Word expansion in a stage's scope, with errors located at the instruction. */
import { TsbuildError } from '../errors.js';
import type { SourceRange } from '../parser/ast.js';
import { ShellLex } from '../parser/word-expansion.js';
import { expansionEnv } from './args.js';
import { at } from './plan.js';
import type { StageState } from './stage-state.js';

export class StageExpander {
  private readonly lex: ShellLex;
  constructor(escapeToken: string) {
    this.lex = new ShellLex(escapeToken);
  }

  word(state: StageState, word: string, loc: SourceRange): string {
    return this.wrap(loc, () => this.lex.processWord(word, expansionEnv(state.args, state.config.config.Env)));
  }

  words(state: StageState, word: string, loc: SourceRange): string[] {
    return this.wrap(loc, () => this.lex.processWords(word, expansionEnv(state.args, state.config.config.Env)));
  }

  private wrap<T>(loc: SourceRange, fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      if (e instanceof TsbuildError) throw new TsbuildError(e.code, e.message, at(loc));
      throw e;
    }
  }
}
