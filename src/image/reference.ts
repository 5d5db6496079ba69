/**
 * Image references as Docker normalizes them: `busybox` is `docker.io/library/busybox:latest`,
 * `host:5000/a/b:tag` keeps its registry, `name@sha256:...` pins a digest. Pure; the grammar is
 * the one of the distribution reference spec.
 */
import { TsbuildError } from '../errors.js';

export interface ImageReference {
  /** Registry host (with port), `docker.io` for Docker Hub. */
  domain: string;
  /** Repository path below the registry, e.g. `library/busybox`. */
  path: string;
  tag?: string;
  /** `algorithm:hex`, e.g. `sha256:...` */
  digest?: string;
}

export const DEFAULT_DOMAIN = 'docker.io';
export const DEFAULT_TAG = 'latest';
/** The host Docker talks to for `docker.io` names. */
export const DOCKER_HUB_REGISTRY = 'registry-1.docker.io';

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN =
  /^(?:(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$/;
const NAME_MAX = 255;

/**
 * Parses and normalizes a reference. Without tag and digest the tag is `latest`
 * (pass `defaultTag: false` to keep it absent, e.g. for `rmi` of a repository).
 */
export function parseReference(input: string, opts: { defaultTag?: boolean } = {}): ImageReference {
  const bad = (why: string): never => {
    throw new TsbuildError('INVALID', `invalid reference format "${input}": ${why}`);
  };
  if (input.length === 0) bad('empty');
  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) bad('invalid digest');
    if (digest.startsWith('sha256:') && digest.length !== 7 + 64) bad('sha256 digest must have 64 hex digits');
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) bad('invalid tag');
  }
  if (rest.length === 0) bad('missing repository name');
  let domain = DEFAULT_DOMAIN;
  let path = rest;
  const slash = rest.indexOf('/');
  if (slash >= 0) {
    const first = rest.slice(0, slash);
    if (first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase()) {
      domain = first;
      path = rest.slice(slash + 1);
      if (!DOMAIN.test(domain)) bad('invalid registry host');
    }
  }
  if (domain === 'index.docker.io') domain = DEFAULT_DOMAIN;
  if (domain === DEFAULT_DOMAIN && !path.includes('/')) path = `library/${path}`;
  for (const c of path.split('/')) {
    if (c !== c.toLowerCase()) bad('repository name must be lowercase');
    if (!COMPONENT.test(c)) bad(`invalid repository name component "${c}"`);
  }
  if (domain.length + 1 + path.length > NAME_MAX) bad(`repository name must not be longer than ${NAME_MAX} characters`);
  if (!tag && !digest && opts.defaultTag !== false) tag = DEFAULT_TAG;
  const ref: ImageReference = { domain, path };
  if (tag) ref.tag = tag;
  if (digest) ref.digest = digest;
  return ref;
}

/** `domain/path` — the repository part of a reference, fully qualified. */
export function repositoryName(ref: ImageReference): string {
  return `${ref.domain}/${ref.path}`;
}

/** The fully qualified form: `docker.io/library/busybox:latest`, `host/a@sha256:...`. */
export function formatReference(ref: ImageReference): string {
  let s = repositoryName(ref);
  if (ref.tag) s += `:${ref.tag}`;
  if (ref.digest) s += `@${ref.digest}`;
  return s;
}

/** The repository as `docker images` shows it: `busybox`, `user/app`, `host:5000/a/b`. */
export function familiarRepository(ref: ImageReference): string {
  if (ref.domain !== DEFAULT_DOMAIN) return repositoryName(ref);
  return ref.path.startsWith('library/') && ref.path.split('/').length === 2 ? ref.path.slice(8) : ref.path;
}

/** The short form a user types: `busybox:latest`, `host:5000/a/b@sha256:...`. */
export function familiarString(ref: ImageReference): string {
  let s = familiarRepository(ref);
  if (ref.tag) s += `:${ref.tag}`;
  if (ref.digest) s += `@${ref.digest}`;
  return s;
}

/** The registry host to contact for a domain (`docker.io` means Docker Hub's registry host). */
export function registryHost(domain: string): string {
  return domain === DEFAULT_DOMAIN ? DOCKER_HUB_REGISTRY : domain;
}
