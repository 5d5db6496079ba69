/**
 * `login`/`logout`: check credentials against the registry first, then store them the way
 * docker does (config.json `auths`, or its credential store), so docker and tsbuild share them.
 */
import { registryHost } from '../image/reference.js';
import { removeCredentials, saveCredentials, type DockerConfigOptions } from './auth.js';
import { RegistryClient } from './client.js';
import type { TransportOptions } from './transport.js';

export type LoginOptions = DockerConfigOptions & TransportOptions;

/** Verifies `username`/`password` on `server` (a reference domain such as docker.io or host:port), then saves them. */
export async function login(server: string, creds: { username: string; password: string }, opts: LoginOptions = {}): Promise<void> {
  const client = new RegistryClient({ ...opts, credentials: async () => creds });
  try {
    await client.ping(registryHost(server));
  } finally {
    client.close();
  }
  await saveCredentials(server, creds, opts);
}

/** Forgets stored credentials; false if none were stored. */
export function logout(server: string, opts: DockerConfigOptions = {}): Promise<boolean> {
  return removeCredentials(server, opts);
}
