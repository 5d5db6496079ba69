/**
 * `tsbuild update [OPTIONS] CONTAINER...` (also `container update`): Docker's flags; each
 * container's name or ID is printed as given once updated; errors are printed per container and
 * make the exit code 1; a flag's bad value is 125 before any container is touched; no flag at all:
 * `you must provide one or more flags when using this command`, 1 (containers/update.ts).
 */
import type { Command } from 'commander';
import { TsbuildError } from '../errors.js';

interface UpdateOpts {
  memory?: string;
  memorySwap?: string;
  cpus?: string;
  cpuShares?: string;
  pidsLimit?: string;
  restart?: string;
  root?: string;
}

export function addUpdateCommand(parent: Command): void {
  parent
    .command('update')
    .description('Update configuration of one or more containers')
    .argument('<container...>')
    .option('-m, --memory <bytes>', 'memory limit')
    .option('--memory-swap <bytes>', "swap limit equal to memory plus swap: '-1' to enable unlimited swap")
    .option('--cpus <decimal>', 'number of CPUs')
    .option('-c, --cpu-shares <int>', 'CPU shares (relative weight)')
    .option('--pids-limit <int>', 'tune container pids limit (set -1 for unlimited)')
    .option('--restart <policy>', 'restart policy to apply when a container exits')
    .action(async (words: string[], opts: UpdateOpts) => {
      const [{ ImageStore }, { resolveRoot }, { Containers }, { hasUpdateFlags, updateContainer }, { parseResources, ramInBytes }, { parseRestartPolicy }, { each }] = await Promise.all([
        import('../image/store.js'),
        import('../image/root.js'),
        import('../containers/containers.js'),
        import('../containers/update.js'),
        import('../containers/resources.js'),
        import('../containers/restart.js'),
        import('./containers.js'),
      ]);
      const flags = {
        ...(opts.memory !== undefined ? { memory: opts.memory } : {}),
        ...(opts.memorySwap !== undefined ? { memorySwap: opts.memorySwap } : {}),
        ...(opts.cpus !== undefined ? { cpus: opts.cpus } : {}),
        ...(opts.cpuShares !== undefined ? { cpuShares: opts.cpuShares } : {}),
        ...(opts.pidsLimit !== undefined ? { pidsLimit: opts.pidsLimit } : {}),
        ...(opts.restart !== undefined ? { restart: opts.restart } : {}),
      };
      if (!hasUpdateFlags(flags)) throw new TsbuildError('USAGE', 'you must provide one or more flags when using this command', undefined, 1);
      // the values' syntax once, before any container (the range of CPUs is the daemon's check)
      if (flags.memory !== undefined) ramInBytes(flags.memory);
      if (flags.memorySwap !== undefined && flags.memorySwap !== '-1') ramInBytes(flags.memorySwap);
      parseResources({ ...(flags.cpus ? { cpus: flags.cpus } : {}), ...(flags.cpuShares ? { cpuShares: flags.cpuShares } : {}), ...(flags.pidsLimit ? { pidsLimit: flags.pidsLimit } : {}) }, Infinity);
      if (flags.restart !== undefined) parseRestartPolicy(flags.restart);
      const c = new Containers(await ImageStore.open(resolveRoot(opts.root)));
      await each(words, async (w) => {
        await updateContainer(c, w, flags);
        process.stdout.write(`${w}\n`);
      });
    });
}
