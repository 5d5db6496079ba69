/**
 * Where a build's Dockerfile comes from: `-f PATH`, `-f -` (its text), or CONTEXT/Dockerfile, and
 * the name errors and checks show for it (`Dockerfile` unless `-f` names a file). Read once, by
 * the build and by `build --check`.
 */
import { readFileSync, statSync } from 'node:fs';
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
  let isDir = false;
  try {
    isDir = statSync(contextDir).isDirectory();
  } catch {
    /* absent or unreadable: not a directory */
  }
  if (!isDir) {
    throw new TsbuildError('NOT_FOUND', `build context ${options.contextDir} is not a directory`);
  }
  const path = options.dockerfile !== undefined ? resolve(options.dockerfile) : join(contextDir, 'Dockerfile');
  const fromStdin = options.dockerfileText !== undefined;
  const displayName = fromStdin ? 'Dockerfile' : options.dockerfile ?? 'Dockerfile';
  let text: string;
  if (options.dockerfileText !== undefined) text = options.dockerfileText;
  else {
    try {
      // synchronously: a Dockerfile is small, and the thread pool's four round trips (open, stat,
      // read, close) cost ~35 ms of a no-op rebuild under load
      text = readFileSync(path, 'utf8');
    } catch {
      throw new TsbuildError('NOT_FOUND', `failed to read Dockerfile: ${displayName}: no such file`);
    }
  }
  return { contextDir, path, fromStdin, displayName, text };
}
