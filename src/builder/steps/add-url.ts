/**
 * ADD's remote sources: http(s) downloads (redirects followed, `--checksum=sha256:…` verified,
 * `Last-Modified` kept as the file's mtime) and the recognition of git URLs, which are not
 * supported yet. What a URL contributes to a cache key is decided here too.
 */
import { newHash } from '../../image/digest.js';
import { createWriteStream } from 'node:fs';
import type { IncomingMessage, RequestOptions } from 'node:http';
import { TsbuildError } from '../../errors.js';
import { tlsCa } from '../../registry/trusted-cas.js';

export interface Download {
  /** Host file holding the body. */
  file: string;
  size: number;
  /** sha256 of the body, `sha256:<hex>`. */
  digest: string;
  /** From Last-Modified, when the server sent one. */
  mtimeMs?: number;
  /** The final URL after redirects. */
  url: string;
}

const MAX_REDIRECTS = 10;
const IDLE_TIMEOUT_MS = 60_000;

/** http:// or https:// (what ADD downloads). */
export function isHttpUrl(src: string): boolean {
  return /^https?:\/\//iu.test(src);
}

/** A git source as BuildKit recognises one: git@host:…, git://, ssh://, or an http(s) URL whose
 *  path ends in `.git` (a `#ref:subdir` fragment allowed). */
export function isGitUrl(src: string): boolean {
  if (/^(git@[^:]+:|git:\/\/|ssh:\/\/|git\+)/iu.test(src)) return true;
  if (!isHttpUrl(src)) return false;
  try {
    return new URL(src).pathname.endsWith('.git');
  } catch {
    return false;
  }
}

/** The file name a download gets when the destination is a directory: the URL path's last part. */
export function urlFileName(url: string): string {
  let path: string;
  try {
    path = new URL(url).pathname;
  } catch {
    return '__unnamed__';
  }
  const parts = path.split('/').filter((p) => p !== '' && p !== '.' && p !== '..');
  const last = parts[parts.length - 1];
  return last ? decodeURIComponentSafe(last) : '__unnamed__';
}

/** Parses `--checksum` (only sha256 is meaningful for http sources). */
export function parseChecksum(checksum: string): string {
  const m = /^sha256:([0-9a-f]{64})$/u.exec(checksum.trim());
  if (!m) throw new TsbuildError('INVALID', `invalid --checksum ${JSON.stringify(checksum)}: expected sha256:<64 hex digits>`);
  return `sha256:${m[1]}`;
}

/** Downloads `url` to `file`, verifying `checksum` when given (CORRUPT on mismatch). */
export async function download(url: string, file: string, checksum?: string): Promise<Download> {
  const want = checksum === undefined ? undefined : parseChecksum(checksum);
  const res = await follow(url, 'GET');
  const h = newHash();
  let size = 0;
  const out = createWriteStream(file, { mode: 0o600 });
  try {
    for await (const chunk of res.msg) {
      h.update(chunk as Buffer);
      size += (chunk as Buffer).length;
      if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
    }
  } catch (e) {
    throw new TsbuildError('CORRUPT', `${url}: download interrupted after ${size} bytes: ${(e as Error).message}`);
  } finally {
    await new Promise<void>((resolve, reject) => out.end((e?: Error | null) => (e ? reject(e) : resolve())));
  }
  const digest = 'sha256:' + h.digest('hex');
  if (want !== undefined && want !== digest) {
    throw new TsbuildError('CORRUPT', `checksum mismatch for ${url}: expected ${want}, got ${digest}`);
  }
  const d: Download = { file, size, digest, url: res.url };
  const lm = lastModified(res.msg);
  if (lm !== undefined) d.mtimeMs = lm;
  return d;
}

/**
 * What identifies a URL's content for a cache key without keeping it: the checksum when given;
 * else the server's ETag (a HEAD request); else the sha256 of the body (a GET, not stored).
 */
export async function urlIdentity(url: string, checksum?: string): Promise<string> {
  if (checksum !== undefined) return `${url}\0${parseChecksum(checksum)}`;
  const head = await follow(url, 'HEAD').catch(() => undefined);
  if (head) {
    head.msg.resume();
    const etag = head.msg.headers.etag;
    if (etag) return `${url}\0etag:${etag}`;
  }
  const res = await follow(url, 'GET');
  const h = newHash();
  for await (const chunk of res.msg) h.update(chunk as Buffer);
  return `${url}\0sha256:${h.digest('hex')}`;
}

// ---------------------------------------------------------------------------------------------

async function follow(url: string, method: 'GET' | 'HEAD'): Promise<{ msg: IncomingMessage; url: string }> {
  let cur = url;
  for (let hops = 0; hops <= MAX_REDIRECTS; hops++) {
    const msg = await requestOnce(cur, method);
    const status = msg.statusCode ?? 0;
    if (status >= 300 && status < 400 && msg.headers.location) {
      msg.resume();
      cur = new URL(msg.headers.location, cur).toString();
      if (!isHttpUrl(cur)) throw new TsbuildError('INVALID', `${url}: redirected to a non-http URL ${cur}`);
      continue;
    }
    if (status !== 200) {
      msg.resume();
      throw new TsbuildError('NOT_FOUND', `${url}: download failed with HTTP status ${status}`);
    }
    return { msg, url: cur };
  }
  throw new TsbuildError('INVALID', `${url}: too many redirects`);
}

async function requestOnce(url: string, method: 'GET' | 'HEAD'): Promise<IncomingMessage> {
  const https = url.toLowerCase().startsWith('https:');
  // loaded on the first download, not with every build that has an ADD step
  const { request } = https ? await import('node:https') : await import('node:http');
  const opts: RequestOptions & { ca?: string[] } = { method };
  const ca = https ? tlsCa() : undefined;
  if (ca) opts.ca = ca;
  return new Promise((resolve, reject) => {
    const onError = (e: Error) => reject(new TsbuildError('NOT_FOUND', `${url}: download failed: ${e.message}`));
    const req = request(url, opts, resolve);
    req.on('error', onError);
    // A server that stops answering must not hang the build.
    req.setTimeout(IDLE_TIMEOUT_MS, () => req.destroy(new Error(`no data for ${IDLE_TIMEOUT_MS / 1000}s`)));
    req.end();
  });
}

function lastModified(msg: IncomingMessage): number | undefined {
  const v = msg.headers['last-modified'];
  if (!v) return undefined;
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : t;
}

/** Percent-decoded, unless decoding would put a separator (or NUL) into the name. */
function decodeURIComponentSafe(s: string): string {
  try {
    const d = decodeURIComponent(s);
    return /[/\0]/u.test(d) || d === '.' || d === '..' ? s : d;
  } catch {
    return s;
  }
}
