/**
 * Which network a RUN step gets, as BuildKit decides it: `default` (a private network namespace
 * with outbound NAT through tsbuild's bridge), `none` (only `lo`) or `host` (the host's own
 * network). Host networking is an entitlement: the build (`--network=host`) or any RUN
 * (`RUN --network=host`) asking for it without `--allow network.host` fails before any step runs
 * with BuildKit's "network.host is not allowed". Under `--network=none` no RUN gets a network:
 * `RUN --network=default|host` still gets `none` (a Dockerfile cannot widen what the builder
 * chose); otherwise `RUN --network=none|host` picks its own and `default` means the build's.
 */
import { TsbuildError } from '../errors.js';
import type { Instruction } from '../parser/instructions.js';
import type { Entitlement, NetworkMode } from './options.js';
import { at } from './plan.js';

/** What the runtime is asked for. */
export type RunNetwork = 'private' | 'none' | 'host';

/**
 * The network of one RUN. `RUN --network=default` is the build's network; `none` always wins;
 * `host` (entitled) is granted unless the build is `none`, which nothing in the Dockerfile undoes.
 */
export function stepNetwork(build: NetworkMode, run: NetworkMode | undefined): NetworkMode {
  if (build === 'none' || run === 'none') return 'none';
  return run === 'host' ? 'host' : build;
}

export function runtimeNetwork(mode: NetworkMode): RunNetwork {
  return mode === 'default' ? 'private' : mode;
}

/** Throws unless every request for the host network is covered by the `network.host` entitlement. */
export function checkNetworkEntitlements(build: NetworkMode, allow: readonly Entitlement[] | undefined, instructions: Iterable<Instruction>): void {
  if (allow?.includes('network.host')) return;
  if (build === 'host') throw notAllowed();
  for (const ins of instructions) checkRun(ins, allow);
}

/** The same check for one instruction (ONBUILD triggers arrive with their base image). */
export function checkRun(ins: Instruction, allow: readonly Entitlement[] | undefined): void {
  if (ins.kind === 'run' && ins.network === 'host' && !allow?.includes('network.host')) throw notAllowed(ins);
}

function notAllowed(ins?: Instruction): TsbuildError {
  return new TsbuildError(
    'INVALID',
    'network.host is not allowed (host networking needs the network.host entitlement: --allow network.host)',
    ins ? at(ins.location) : undefined,
  );
}
