/**
 * Where a build's Dockerfile comes from: `-f PATH`, `-f -` (its text), or CONTEXT/Dockerfile, and
 * the name errors and checks show for it (`Dockerfile` unless `-f` names a file). Read once, by
 * the build and by `build --check`.
 */
import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { TsbuildError } from '../errors.js';
import type { BuildOptions } from './options.js';

export interface DockerfileSource {
  contextDir: string;
  /** Absolute path of the Dockerfile (meaningless for `-f -`, see fromStdin). */
  path: string;
  fromStdin: boolean;
  displayName: string;
  text: string;
}

export async function readDockerfile(options: Pick<BuildOptions, 'contextDir' | 'dockerfile' | 'dockerfileText'>): Promise<DockerfileSource> {
  const contextDir = resolve(options.contextDir);
  if (!existsSync(contextDir) || !statSync(contextDir).isDirectory()) {
    throw new TsbuildError('NOT_FOUND', `build context ${options.contextDir} is not a directory`);
  }
  const path = options.dockerfile !== undefined ? resolve(options.dockerfile) : join(contextDir, 'Dockerfile');
  const fromStdin = options.dockerfileText !== undefined;
  const displayName = fromStdin ? 'Dockerfile' : options.dockerfile ?? 'Dockerfile';
  let text: string;
  if (options.dockerfileText !== undefined) text = options.dockerfileText;
  else {
    try {
      text = await readFile(path, 'utf8');
    } catch {
      throw new TsbuildError('NOT_FOUND', `failed to read Dockerfile: ${displayName}: no such file`);
    }
  }
  return { contextDir, path, fromStdin, displayName, text };
}
