/**
 * HTTP(S) to registries on Node's own http/https: scheme choice (HTTPS unless the host is loopback
 * or listed insecure), keep-alive agents, redirects for GET/HEAD (dropping credentials when the
 * host changes, as blob storage redirects need), and bounded retries with backoff on 429, 5xx and
 * connection errors. Knows nothing of auth or of the distribution API.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import type * as Http from 'node:http';
import type * as Https from 'node:https';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { TsbuildError } from '../errors.js';
import { tlsCa } from './trusted-cas.js';

// http/https (and tls behind them) load on the first request: a build that never reaches a
// registry (every base image local) does not pay for them at start.
const require = createRequire(import.meta.url);
const http = (): typeof Http => require('node:http') as typeof Http;
const https = (): typeof Https => require('node:https') as typeof Https;

export interface TransportOptions {
  /** Hosts (`host` or `host:port`) spoken to over plain HTTP besides loopback ones. */
  insecureHosts?: string[];
  /**
   * Docker-style per-host TLS material: `<dir>/<host[:port]>/*.crt` are extra CAs, `*.cert` +
   * `*.key` a client certificate. A loopback host with such a folder is spoken to over HTTPS.
   * Default: /etc/docker/certs.d and /etc/containers/certs.d.
   */
  certsDirs?: string[];
  /** Loopback hosts to speak HTTPS to even without a certs folder. */
  tlsHosts?: string[];
  /** Retries after the first attempt (default 4). */
  maxRetries?: number;
  /** First backoff delay; doubles each retry with jitter (default 250 ms). */
  baseDelayMs?: number;
  /** Upper bound of one wait, Retry-After included (default 10 s). */
  maxDelayMs?: number;
  /** Socket idle timeout (default 60 s). */
  timeoutMs?: number;
  userAgent?: string;
  /** Parallel connections per host (default 8). */
  maxSockets?: number;
}

/** A body that can be sent again on retry: bytes, or a function that opens a fresh stream. */
export type RequestBody = Buffer | (() => Readable | Promise<Readable>);

export interface TransportRequest {
  method: string;
  url: URL;
  headers?: Record<string, string>;
  body?: RequestBody;
  /**
   * Whether a failed connection may be retried by re-sending. Default: true for GET/HEAD/PUT and
   * for anything without a body; PATCH/POST with a body are not (the server may have applied part).
   */
  retryConnection?: boolean;
  /** Retry 429/5xx answers (default true). */
  retryStatus?: boolean;
}

export interface TransportResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** The final URL after redirects. */
  url: URL;
  body: IncomingMessage;
  /** Reads the body (bounded) as text. */
  text(limit?: number): Promise<string>;
  buffer(limit?: number): Promise<Buffer>;
  /** Discards the body so the connection can be reused. */
  drain(): Promise<void>;
}

export class Transport {
  private readonly opts: Required<Omit<TransportOptions, 'insecureHosts' | 'userAgent' | 'certsDirs' | 'tlsHosts'>> & { userAgent: string };
  private readonly insecure: Set<string>;
  private readonly tlsHosts: Set<string>;
  private readonly certsDirs: string[];
  private httpAgentMade: Http.Agent | undefined;
  /** One HTTPS agent per host, carrying that host's certs.d material. */
  private readonly httpsAgents = new Map<string, Https.Agent>();
  private readonly certsDirCache = new Map<string, string | undefined>();

  constructor(options: TransportOptions = {}) {
    this.opts = {
      maxRetries: options.maxRetries ?? 4,
      baseDelayMs: options.baseDelayMs ?? 250,
      maxDelayMs: options.maxDelayMs ?? 10_000,
      timeoutMs: options.timeoutMs ?? 60_000,
      maxSockets: options.maxSockets ?? 8,
      userAgent: options.userAgent ?? 'tsbuild/0.1',
    };
    this.insecure = new Set(options.insecureHosts ?? []);
    this.tlsHosts = new Set(options.tlsHosts ?? []);
    this.certsDirs = options.certsDirs ?? ['/etc/docker/certs.d', '/etc/containers/certs.d'];
  }

  /** `https://host` or, for loopback and insecure hosts, `http://host`. */
  baseUrl(host: string): string {
    return `${this.isPlainHttp(host) ? 'http' : 'https'}://${host}`;
  }

  isPlainHttp(host: string): boolean {
    if (this.insecure.has(host) || this.insecure.has(hostname(host))) return true;
    if (!isLoopbackHost(host)) return false;
    return !this.tlsHosts.has(host) && this.hostCertsDir(host) === undefined;
  }

  /** Sends with retries. Returns the last response even if it is an error status. */
  async send(req: TransportRequest): Promise<TransportResponse> {
    const method = req.method.toUpperCase();
    const retryConn = req.retryConnection ?? (req.body === undefined || ['GET', 'HEAD', 'PUT'].includes(method));
    const retryStatus = req.retryStatus ?? true;
    for (let attempt = 0; ; attempt++) {
      const last = attempt >= this.opts.maxRetries;
      let res: TransportResponse;
      try {
        res = await this.sendFollowing(req, method);
      } catch (e) {
        if (last || !retryConn || !isConnectionError(e)) throw connectionError(req.url, e);
        await sleep(this.backoff(attempt));
        continue;
      }
      if (!last && retryStatus && isRetryableStatus(res.status)) {
        const wait = retryAfterMs(res.headers['retry-after']) ?? this.backoff(attempt);
        await res.drain();
        await sleep(Math.min(wait, this.opts.maxDelayMs));
        continue;
      }
      return res;
    }
  }

  close(): void {
    this.httpAgentMade?.destroy();
    this.httpAgentMade = undefined;
    for (const a of this.httpsAgents.values()) a.destroy();
    this.httpsAgents.clear();
  }

  /** The host's certs.d folder, looked up once per host. */
  private hostCertsDir(host: string): string | undefined {
    if (!this.certsDirCache.has(host)) {
      this.certsDirCache.set(host, this.certsDirs.map((d) => join(d, host)).find((p) => existsSync(p)));
    }
    return this.certsDirCache.get(host);
  }

  private httpAgent(): Http.Agent {
    return (this.httpAgentMade ??= new (http().Agent)({ keepAlive: true, maxSockets: this.opts.maxSockets }));
  }

  private httpsAgent(host: string): Https.Agent {
    let agent = this.httpsAgents.get(host);
    if (agent) return agent;
    const opts: Https.AgentOptions = { keepAlive: true, maxSockets: this.opts.maxSockets };
    const dir = this.hostCertsDir(host);
    const files = dir ? readdirSync(dir) : [];
    const ca = tlsCa(files.filter((f) => f.endsWith('.crt')).map((f) => readFileSync(join(dir!, f), 'utf8')));
    if (ca) opts.ca = ca;
    if (dir) {
      const cert = files.find((f) => f.endsWith('.cert'));
      if (cert) {
        const key = cert.replace(/\.cert$/, '.key');
        if (!files.includes(key)) throw new TsbuildError('INVALID', `client certificate ${join(dir, cert)} has no matching ${key}`);
        opts.cert = readFileSync(join(dir, cert));
        opts.key = readFileSync(join(dir, key));
      }
    }
    agent = new (https().Agent)(opts);
    this.httpsAgents.set(host, agent);
    return agent;
  }

  private backoff(attempt: number): number {
    const d = this.opts.baseDelayMs * 2 ** attempt;
    return Math.min(this.opts.maxDelayMs, d / 2 + Math.random() * (d / 2));
  }

  private async sendFollowing(req: TransportRequest, method: string): Promise<TransportResponse> {
    let url = req.url;
    let headers = { ...req.headers };
    for (let hops = 0; ; hops++) {
      const res = await this.sendOnce(method, url, headers, req.body);
      const loc = res.headers.location;
      if (!(method === 'GET' || method === 'HEAD') || ![301, 302, 303, 307, 308].includes(res.status) || !loc) return res;
      if (hops >= 5) throw new TsbuildError('REGISTRY', `too many redirects from ${req.url.host}`);
      await res.drain();
      const next = new URL(loc, url);
      // Redirect targets (blob storage) get no registry credentials.
      if (next.host !== url.host) {
        const { authorization: _drop, ...rest } = headers;
        headers = rest;
      }
      url = next;
    }
  }

  private async sendOnce(method: string, url: URL, headers: Record<string, string>, body: RequestBody | undefined): Promise<TransportResponse> {
    const stream = typeof body === 'function' ? await body() : undefined;
    const h: Record<string, string> = { 'user-agent': this.opts.userAgent, ...headers };
    if (Buffer.isBuffer(body)) h['content-length'] = String(body.length);
    else if (body === undefined && (method === 'PUT' || method === 'POST' || method === 'PATCH')) h['content-length'] = '0';
    const mod = url.protocol === 'https:' ? https() : http();
    const agent = url.protocol === 'https:' ? this.httpsAgent(url.host) : this.httpAgent();
    return new Promise<TransportResponse>((resolve, reject) => {
      const r = mod.request(url, { method, headers: h, agent }, (res) => resolve(wrap(res, url)));
      r.setTimeout(this.opts.timeoutMs, () => r.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
      r.on('error', (e) => {
        stream?.destroy();
        reject(tlsError(url, e) ?? e);
      });
      if (Buffer.isBuffer(body)) r.end(body);
      else if (stream) {
        stream.on('error', (e) => r.destroy(e));
        stream.pipe(r);
      } else r.end();
    });
  }
}

export function isLoopbackHost(host: string): boolean {
  const h = hostname(host);
  return h === 'localhost' || h === '::1' || /^127(?:\.\d{1,3}){3}$/.test(h);
}

/** The host without its port (and without IPv6 brackets). */
export function hostname(host: string): string {
  if (host.startsWith('[')) return host.slice(1, host.indexOf(']'));
  const colon = host.lastIndexOf(':');
  return colon >= 0 && host.indexOf(':') === colon ? host.slice(0, colon) : host;
}

export function isRetryableStatus(status: number): boolean {
  return status === 429 || status === 408 || (status >= 500 && status !== 501 && status !== 505);
}

/** Parses Retry-After (seconds or an HTTP date) into milliseconds. */
export function retryAfterMs(v: string | string[] | undefined, now = Date.now()): number | undefined {
  const s = Array.isArray(v) ? v[0] : v;
  if (!s) return undefined;
  if (/^\d+$/.test(s.trim())) return Number(s.trim()) * 1000;
  const t = Date.parse(s);
  return Number.isNaN(t) ? undefined : Math.max(0, t - now);
}

const CONNECTION_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNABORTED', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_SOCKET']);

export function isConnectionError(e: unknown): boolean {
  const err = e as { code?: string; message?: string };
  return (err?.code !== undefined && CONNECTION_CODES.has(err.code)) || /socket hang up|aborted/i.test(err?.message ?? '');
}

/** A registry could not be reached or the connection broke; callers may retry a larger unit. */
export class ConnectionError extends TsbuildError {
  constructor(message: string) {
    super('REGISTRY', message);
  }
}

function connectionError(url: URL, e: unknown): unknown {
  if (e instanceof TsbuildError || !isConnectionError(e)) return e;
  const err = e as { code?: string; message?: string };
  const why = err.code === 'ECONNREFUSED' ? 'connection refused' : err.code === 'ENOTFOUND' ? 'host not found' : err.code ?? err.message;
  return new ConnectionError(`cannot reach registry ${url.host}: ${why}`);
}

const CERT_CODES = /CERT|SELF_SIGNED|UNABLE_TO_GET_ISSUER|UNABLE_TO_VERIFY|ALTNAME/;

/** Certificate failures are not retried and say how to fix them. */
function tlsError(url: URL, e: unknown): TsbuildError | undefined {
  const code = (e as { code?: string }).code ?? '';
  if (!CERT_CODES.test(code)) return undefined;
  return new TsbuildError(
    'REGISTRY',
    `TLS certificate of registry ${url.host} is not trusted (${code}): put its CA in /etc/docker/certs.d/${url.host}/ca.crt or mark the registry insecure`,
  );
}

function wrap(res: IncomingMessage, url: URL): TransportResponse {
  const buffer = async (limit = 4 * 1024 * 1024): Promise<Buffer> => {
    const parts: Buffer[] = [];
    let n = 0;
    for await (const c of res) {
      n += (c as Buffer).length;
      if (n > limit) {
        res.destroy();
        throw new TsbuildError('REGISTRY', `response from ${url.host} is larger than ${limit} bytes`);
      }
      parts.push(c as Buffer);
    }
    return Buffer.concat(parts);
  };
  return {
    status: res.statusCode ?? 0,
    headers: res.headers,
    url,
    body: res,
    buffer,
    text: async (limit) => (await buffer(limit)).toString('utf8'),
    drain: async () => {
      res.resume();
      // finished() also settles for a stream that already ended before we looked.
      await finished(res).catch(() => {});
    },
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
