/**
 * `tsbuild pause|unpause CONTAINER...` (also under `container`): each container frozen or thawed
 * (containers/pause.ts), its word printed as given; errors per container, exit 1 at the end.
 */
import type { Command } from 'commander';

export function addPauseCommands(parent: Command): void {
  for (const [name, description] of [
    ['pause', 'Pause all processes within one or more containers'],
    ['unpause', 'Unpause all processes within one or more containers'],
  ] as const) {
    parent
      .command(name)
      .description(description)
      .argument('<container...>')
      .action(async (words: string[], opts: { root?: string }) => {
        const [{ ImageStore }, { resolveRoot }, { Containers }, pause, { each }] = await Promise.all([
          import('../image/store.js'),
          import('../image/root.js'),
          import('../containers/containers.js'),
          import('../containers/pause.js'),
          import('./containers.js'),
        ]);
        const c = new Containers(await ImageStore.open(resolveRoot(opts.root)));
        await each(words, async (w) => {
          await (name === 'pause' ? pause.pauseContainer(c, w) : pause.unpauseContainer(c, w));
          process.stdout.write(`${w}\n`);
        });
      });
  }
}
