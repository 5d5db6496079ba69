/**
 * `tsbuild stats [-a] [--no-stream] [--no-trunc] [--format] [CONTAINER...]` (also `container
 * stats`): Docker's columns from two samples a second apart (containers/stats.ts); without
 * --no-stream the table is redrawn every second until interrupted, as docker's.
 */
import type { Command } from 'commander';

export function addStatsCommand(parent: Command): void {
  parent
    .command('stats')
    .description('Display a live stream of container(s) resource usage statistics')
    .argument('[container...]')
    .option('-a, --all', 'show all containers (default shows just running)')
    .option('--no-stream', 'disable streaming stats and only pull the first result')
    .option('--no-trunc', "don't truncate output")
    .option('--format <format>', 'pretty-print stats using a Go template')
    .action(async (words: string[], opts: { all?: boolean; stream: boolean; trunc: boolean; format?: string; root?: string }) => {
      const [{ ImageStore }, { resolveRoot }, { Containers }, stats, { parseDockerFormat, renderDockerFormat }] = await Promise.all([
        import('../image/store.js'),
        import('../image/root.js'),
        import('../containers/containers.js'),
        import('../containers/stats.js'),
        import('../format/docker-format.js'),
      ]);
      const c = new Containers(await ImageStore.open(resolveRoot(opts.root)));
      const pick = async () => (words.length ? Promise.all(words.map((w) => c.find(w))) : (await c.list()).filter((v) => opts.all || v.state.Running));
      const f = parseDockerFormat(opts.format ?? '', stats.STATS_DEFAULT_FORMAT);
      let stop = false;
      process.once('SIGINT', () => (stop = true));
      let previous = new Map<string, ReturnType<typeof stats.sample>>();
      for (let first = true; ; first = false) {
        const list = await pick();
        const before = first ? new Map(list.map((v) => [v.record.Id, stats.sample(v)])) : previous;
        await new Promise((r) => setTimeout(r, 1000));
        const now = await Promise.all(list.map((v) => c.sync(v.record.Id).then((state) => ({ ...v, state }))));
        previous = new Map(now.map((v) => [v.record.Id, stats.sample(v)]));
        const rows = now.map((v) => stats.statsRow(v, before.get(v.record.Id), previous.get(v.record.Id), !opts.trunc));
        const text = renderDockerFormat(f, rows, stats.STATS_HEADERS);
        process.stdout.write(opts.stream ? `\x1b[2J\x1b[H${text}` : text);
        if (!opts.stream || stop) return;
      }
    });
}
