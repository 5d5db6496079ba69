import type { Command } from 'commander';

/** Registers the import, load, save, images, history, inspect, tag, rmi, prune commands. */
export function registerImageCommands(program: Command): void {
  void program;
}
