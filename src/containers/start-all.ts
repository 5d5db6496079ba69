/**
 * `start --all [--filter ...]`: what dockerd's restore does at its start, for a daemonless tool
 * run once after a reboot (a systemd unit, see the README): every stopped container whose restart
 * policy says it comes back (containers/restart.ts startsAtBoot: `always`, `unless-stopped` unless
 * the user stopped it, `on-failure` after a failed or interrupted run), newest last. The filters
 * are `ps`'s (containers/ps-filter.ts) plus `restart=no|always|unless-stopped|on-failure`
 * (alternatives, as a key's values are), which only narrow the choice.
 */
import { TsbuildError } from '../errors.js';
import type { ContainerView, Containers } from './containers.js';
import { psFilter } from './ps-filter.js';
import { startsAtBoot, type RestartPolicy } from './restart.js';
import { ZERO_TIME } from './record.js';

const POLICIES = ['no', 'always', 'unless-stopped', 'on-failure'];

/** The stopped containers `start --all` starts, oldest first. */
export async function bootCandidates(c: Containers, filters: readonly string[]): Promise<ContainerView[]> {
  const policies: string[] = [];
  const others: string[] = [];
  for (const f of filters) {
    const m = /^restart=(.*)$/i.exec(f);
    if (!m) {
      others.push(f);
      continue;
    }
    if (!POLICIES.includes(m[1]!)) throw new TsbuildError('USAGE', `Invalid filter 'restart=${m[1]}'`);
    policies.push(m[1]!);
  }
  const keep = await psFilter(others, c.store);
  return (await c.list())
    .filter((v) => !v.state.Running && keep(v))
    .filter((v) => !policies.length || policies.includes(v.record.HostConfig.RestartPolicy.Name))
    .filter((v) =>
      startsAtBoot(v.record.HostConfig.RestartPolicy as RestartPolicy, {
        everStarted: v.state.StartedAt !== ZERO_TIME && !!v.state.StartedAt,
        exitCode: v.state.ExitCode,
        restartCount: v.state.RestartCount,
        manualStop: !!v.state.ManualStop,
      }),
    )
    .reverse();
}
