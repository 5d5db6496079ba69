/**
 * How tsbuild makes a registry client when nobody hands it one: credentials from docker's
 * config.json ($DOCKER_CONFIG), plain HTTP for loopback hosts and for the hosts named with
 * `--insecure-registry` or in $TSBUILD_INSECURE_REGISTRIES (comma-separated).
 */
import { dockerConfigCredentials } from './auth.js';
import { RegistryClient } from './client.js';
import type { TransportOptions } from './transport.js';

/** The insecure hosts named in the environment. */
export function insecureHostsFromEnv(env: NodeJS.ProcessEnv = process.env): string[] {
  return (env.TSBUILD_INSECURE_REGISTRIES ?? '')
    .split(',')
    .map((s) => s.trim().replace(/^[a-z]+:\/\//i, '').replace(/\/.*$/, ''))
    .filter(Boolean);
}

export interface DefaultClientOptions extends TransportOptions {
  env?: NodeJS.ProcessEnv;
}

export function defaultRegistryClient(opts: DefaultClientOptions = {}): RegistryClient {
  const { env, insecureHosts, ...rest } = opts;
  return new RegistryClient({
    ...rest,
    insecureHosts: [...(insecureHosts ?? []), ...insecureHostsFromEnv(env)],
    credentials: dockerConfigCredentials(env ? { env } : {}),
  });
}
