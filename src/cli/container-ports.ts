/**
 * `tsbuild port CONTAINER [PRIVATE_PORT[/PROTO]]` (also `container port`): the published ports of
 * a running container as docker prints them (`80/tcp -> 0.0.0.0:8080`, or `0.0.0.0:8080` for one
 * port), and docker's error when the asked port is not published.
 */
import type { Command } from 'commander';
import { TsbuildError } from '../errors.js';

export function addPortCommand(parent: Command): void {
  parent
    .command('port')
    .description('List port mappings or a specific mapping for the container')
    .argument('<container>')
    .argument('[private-port]', 'PRIVATE_PORT[/PROTO]')
    .action(async (word: string, privatePort: string | undefined, opts: { root?: string }) => {
      const [{ ImageStore }, { resolveRoot }, { Containers }, { portLines }] = await Promise.all([
        import('../image/store.js'),
        import('../image/root.js'),
        import('../containers/containers.js'),
        import('../containers/ports.js'),
      ]);
      const c = new Containers(await ImageStore.open(resolveRoot(opts.root)));
      const v = await c.find(word);
      const lines = portLines(v.state.Running ? v.state.Ports : [], privatePort);
      if (!lines) {
        const key = privatePort!.includes('/') ? privatePort! : `${privatePort}/tcp`;
        throw new TsbuildError('NOT_FOUND', `No public port '${key}' published for ${word}`);
      }
      if (lines.length) process.stdout.write(lines.join('\n') + '\n');
    });
}
