/** Where the store lives: `--root DIR`, else `TSBUILD_ROOT`, else a per-user default. */
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

export function resolveRoot(flag?: string, env: NodeJS.ProcessEnv = process.env): string {
  if (flag) return resolve(flag);
  if (env.TSBUILD_ROOT) return resolve(env.TSBUILD_ROOT);
  if (process.getuid?.() === 0) return '/var/lib/tsbuild';
  const data = env.XDG_DATA_HOME || join(env.HOME || homedir(), '.local', 'share');
  return join(data, 'tsbuild');
}
