/**
 * Container IDs and how a user's word finds a container, as Docker does it.
 *
 * Pinned (moby stringid and daemon.GetContainer):
 * - An ID is 64 lowercase hex characters from a CSPRNG; its 12-character short form is never
 *   all digits, because it is the container's default hostname (moby#3869).
 * - Lookup order: an exact full ID, then an exact name (with or without the leading `/`), then a
 *   unique ID prefix. An empty word is invalid; a prefix matching several IDs is
 *   `multiple IDs found with provided prefix: X`; nothing is `No such container: X`.
 * Pure (apart from the random bytes).
 */

import { randomBytes } from 'node:crypto';
import { TsbuildError } from '../errors.js';

export const SHORT_ID_LENGTH = 12;
const FULL_ID = /^[0-9a-f]{64}$/;

/** A new 64-hex ID whose short form is not all digits. */
export function newContainerId(random: (n: number) => Buffer = randomBytes): string {
  for (;;) {
    const id = random(32).toString('hex');
    if (!/^[0-9]+$/.test(id.slice(0, SHORT_ID_LENGTH))) return id;
  }
}

export function isFullId(s: string): boolean {
  return FULL_ID.test(s);
}

/** stringid.TruncateID: drop an `algo:` prefix, keep 12 characters. */
export function shortId(id: string): string {
  const i = id.indexOf(':');
  return (i >= 0 ? id.slice(i + 1) : id).slice(0, SHORT_ID_LENGTH);
}

/** What the lookup needs to know of each container. */
export interface ContainerRef {
  id: string;
  /** Docker's name without the leading `/`. */
  name: string;
}

/** Find the container a user's word names (full ID, exact name, unique ID prefix). */
export function resolveContainer<T extends ContainerRef>(word: string, containers: readonly T[]): T {
  if (word === '') throw new TsbuildError('INVALID', 'invalid container name or ID: value is empty');
  const byId = containers.find((c) => c.id === word);
  if (byId) return byId;
  const name = word.startsWith('/') ? word.slice(1) : word;
  const byName = containers.find((c) => c.name === name);
  if (byName) return byName;
  const matches = containers.filter((c) => c.id.startsWith(word));
  if (matches.length > 1) throw new TsbuildError('INVALID', `multiple IDs found with provided prefix: ${word}`);
  if (matches.length === 1) return matches[0]!;
  throw new TsbuildError('NOT_FOUND', `No such container: ${word}`);
}
