/**
 * The OCI distribution API for one process: manifests by tag or digest (verified), blobs as
 * verified streams that resume with Range after a broken connection, uploads (monolithic PUT,
 * streamed POST → PATCH → PUT ?digest=, or chunked PATCHes resumable from the registry's offset;
 * never holding more than one chunk in memory; a broken session restarts, bounded), cross-repo
 * mounts, and errors that name the registry and repository but never credentials.
 */
import { PassThrough, Readable } from 'node:stream';
import { TsbuildError } from '../errors.js';
import { registryHost, type ImageReference } from '../image/reference.js';
import { Authenticator, type CredentialProvider, type Scope } from './auth.js';
import { checkDigest, digestOf, DigestHasher } from '../image/digest.js';
import { MT, parseManifest, type ParsedManifest } from '../image/manifest.js';
import { ConnectionError, isConnectionError, Transport, type TransportOptions, type TransportRequest, type TransportResponse } from './transport.js';

/** A repository on a registry host: `{registry: 'registry-1.docker.io', name: 'library/busybox'}`. */
export interface RepositoryRef {
  registry: string;
  name: string;
}

export interface ClientOptions extends TransportOptions {
  credentials?: CredentialProvider;
  /** Share a transport (connection pool) between clients. */
  transport?: Transport;
}

export interface FetchedManifest {
  digest: string;
  mediaType: string;
  bytes: Buffer;
  parsed: ParsedManifest;
}

export interface BlobReadOptions {
  /** Expected size: checked at the end, and no more bytes than this are accepted. */
  size?: number;
  /** Called with the cumulative byte count as data arrives. */
  onProgress?: (current: number) => void;
  /** Times a broken download is resumed with a Range request (default 5). */
  maxResumes?: number;
}

export interface BlobWriteOptions {
  /**
   * Blobs up to this size go in one PUT (default 16 MiB). Larger ones are streamed in one PATCH
   * (as docker does), or in PATCHes of `chunkSize` bytes when that is set.
   */
  monolithicMax?: number;
  /** Chunked upload: PATCH this many bytes at a time (holding one chunk in memory). */
  chunkSize?: number;
  /** Try a cross-repository mount from this repository (same registry) first. */
  mountFrom?: string;
  onProgress?: (current: number) => void;
  /** Whole-upload attempts when the connection breaks (default 3). */
  attempts?: number;
}

export type BlobWriteResult = 'uploaded' | 'mounted';

/** Opens the blob's bytes; called again if an upload is restarted. */
export type BlobSource = () => Readable | Promise<Readable>;

/** What we ask registries for, best first. */
export const MANIFEST_ACCEPT = [MT.ociIndex, MT.dockerList, MT.ociManifest, MT.dockerManifest];

const MANIFEST_LIMIT = 4 * 1024 * 1024;

export function repositoryOf(ref: ImageReference): RepositoryRef {
  return { registry: registryHost(ref.domain), name: ref.path };
}

export class RegistryClient {
  readonly transport: Transport;
  readonly auth: Authenticator;
  private readonly ownTransport: boolean;

  constructor(opts: ClientOptions = {}) {
    this.ownTransport = !opts.transport;
    this.transport = opts.transport ?? new Transport(opts);
    this.auth = new Authenticator(this.transport, opts.credentials);
  }

  close(): void {
    if (this.ownTransport) this.transport.close();
  }

  /** Checks that the registry speaks the v2 API and accepts our credentials (login). */
  async ping(registry: string): Promise<void> {
    const res = await this.request(registry, [], { method: 'GET', url: this.url(registry, '/v2/') });
    if (res.status === 200) return void (await res.drain());
    if (res.status === 401) {
      await res.drain();
      throw new TsbuildError(
        'REGISTRY',
        (await this.auth.hasCredentials(registry))
          ? `authentication to registry ${registry} failed: incorrect username or password`
          : `registry ${registry} requires authentication`,
      );
    }
    throw await this.fail(res, { registry, name: '' }, 'checking the API version');
  }

  /** Fetches a manifest or index by tag or digest; the bytes are verified against a digest reference. */
  async getManifest(repo: RepositoryRef, reference: string, accept: string[] = MANIFEST_ACCEPT): Promise<FetchedManifest> {
    const byDigest = reference.includes(':');
    if (byDigest) checkDigest(reference);
    const res = await this.request(repo.registry, [pull(repo)], {
      method: 'GET',
      url: this.url(repo.registry, `/v2/${repo.name}/manifests/${reference}`),
      headers: { accept: accept.join(', ') },
    });
    if (res.status !== 200) throw await this.fail(res, repo, `manifest ${reference}`, 'manifest');
    const bytes = await res.buffer(MANIFEST_LIMIT);
    const alg = byDigest ? reference.slice(0, reference.indexOf(':')) : 'sha256';
    const digest = digestOf(bytes, alg);
    if (byDigest && digest !== reference) {
      throw new TsbuildError('CORRUPT', `manifest from ${show(repo)} does not match its digest: expected ${reference}, got ${digest}`);
    }
    const claimed = header(res, 'docker-content-digest');
    if (!byDigest && claimed?.startsWith('sha256:') && claimed !== digest) {
      throw new TsbuildError('CORRUPT', `manifest ${reference} from ${show(repo)} does not match the digest the registry claims (${claimed})`);
    }
    const parsed = parseManifest(bytes, header(res, 'content-type'));
    return { digest, mediaType: parsed.mediaType, bytes, parsed };
  }

  /** Resolves a tag to a digest without downloading the manifest; undefined when absent. */
  async headManifest(repo: RepositoryRef, reference: string): Promise<{ digest?: string; mediaType?: string; size: number } | undefined> {
    const res = await this.request(repo.registry, [pull(repo)], {
      method: 'HEAD',
      url: this.url(repo.registry, `/v2/${repo.name}/manifests/${reference}`),
      headers: { accept: MANIFEST_ACCEPT.join(', ') },
    });
    await res.drain();
    if (res.status === 404) return undefined;
    if (res.status !== 200) throw await this.fail(res, repo, `manifest ${reference}`, 'manifest');
    const out: { digest?: string; mediaType?: string; size: number } = { size: Number(header(res, 'content-length') ?? 0) };
    const d = header(res, 'docker-content-digest');
    const mt = header(res, 'content-type');
    if (d) out.digest = d;
    if (mt) out.mediaType = mt;
    return out;
  }

  /** Uploads a manifest under a tag or its digest; returns its digest. */
  async putManifest(repo: RepositoryRef, reference: string, bytes: Buffer, mediaType: string): Promise<string> {
    const digest = digestOf(bytes);
    if (reference.includes(':') && reference !== digest) {
      throw new TsbuildError('INVALID', `manifest digest ${digest} does not match reference ${reference}`);
    }
    const res = await this.request(repo.registry, [pushPull(repo)], {
      method: 'PUT',
      url: this.url(repo.registry, `/v2/${repo.name}/manifests/${reference}`),
      headers: { 'content-type': mediaType },
      body: bytes,
    });
    if (res.status !== 201 && res.status !== 200) throw await this.fail(res, repo, `pushing manifest ${reference}`, 'manifest');
    await res.drain();
    const claimed = header(res, 'docker-content-digest');
    if (claimed && claimed !== digest) {
      throw new TsbuildError('REGISTRY', `registry ${repo.registry} stored manifest ${reference} of ${repo.name} as ${claimed}, expected ${digest}`);
    }
    return digest;
  }

  /** All tags of a repository, following `Link` pagination. */
  async listTags(repo: RepositoryRef, pageSize = 1000): Promise<string[]> {
    const tags: string[] = [];
    let url: URL | undefined = this.url(repo.registry, `/v2/${repo.name}/tags/list?n=${pageSize}`);
    for (let pages = 0; url && pages < 1000; pages++) {
      const res = await this.request(repo.registry, [pull(repo)], { method: 'GET', url });
      if (res.status !== 200) throw await this.fail(res, repo, 'tag list');
      const body = JSON.parse(await res.text(16 * 1024 * 1024)) as { tags?: string[] | null };
      tags.push(...(body.tags ?? []));
      const next = /<([^>]+)>\s*;\s*rel="?next"?/.exec(header(res, 'link') ?? '');
      url = next ? new URL(next[1]!, res.url) : undefined;
    }
    return tags;
  }

  /**
   * The size of a blob if the repository has it. `forPush` asks for a pull,push token up front
   * so a push needs one token, not two.
   */
  async headBlob(repo: RepositoryRef, digest: string, opts: { forPush?: boolean } = {}): Promise<number | undefined> {
    checkDigest(digest);
    const res = await this.request(repo.registry, [opts.forPush ? pushPull(repo) : pull(repo)], { method: 'HEAD', url: this.url(repo.registry, `/v2/${repo.name}/blobs/${digest}`) });
    await res.drain();
    if (res.status === 404) return undefined;
    if (res.status !== 200) throw await this.fail(res, repo, `blob ${digest}`, 'blob');
    return Number(header(res, 'content-length') ?? 0);
  }

  /**
   * A blob as a stream that ends only if every byte matched `digest` (and `size`); otherwise it
   * errors, so a consumer that commits on 'end' never accepts bad content. A connection broken
   * mid-body is resumed with `Range: bytes=N-` (or by skipping N bytes if the range is ignored).
   */
  getBlob(repo: RepositoryRef, digest: string, opts: BlobReadOptions = {}): Readable {
    checkDigest(digest);
    return Readable.from(this.blobChunks(repo, digest, opts), { objectMode: false });
  }

  /** Reads a small blob (a config) fully into memory, verified. */
  async getBlobBuffer(repo: RepositoryRef, digest: string, size?: number, limit = 64 * 1024 * 1024): Promise<Buffer> {
    const parts: Buffer[] = [];
    let n = 0;
    for await (const c of this.getBlob(repo, digest, size === undefined ? {} : { size })) {
      n += (c as Buffer).length;
      if (n > limit) throw new TsbuildError('REGISTRY', `blob ${digest} of ${show(repo)} is larger than ${limit} bytes`);
      parts.push(c as Buffer);
    }
    return Buffer.concat(parts);
  }

  /**
   * Mounts a blob from another repository of the same registry. True if mounted; false if the
   * registry declined (the upload session it opened instead is left to expire).
   */
  async mountBlob(repo: RepositoryRef, digest: string, from: string): Promise<boolean> {
    return (await this.tryMount(repo, digest, from)) === true;
  }

  /** Uploads a blob whose digest and size are known, streaming it from `open()`. */
  async putBlob(repo: RepositoryRef, desc: { digest: string; size: number }, open: BlobSource, opts: BlobWriteOptions = {}): Promise<BlobWriteResult> {
    checkDigest(desc.digest);
    // A declined mount opens an upload session (202 + Location): the first attempt uses it.
    let session: URL | undefined;
    if (opts.mountFrom && opts.mountFrom !== repo.name) {
      const m = await this.tryMount(repo, desc.digest, opts.mountFrom);
      if (m === true) return 'mounted';
      session = m;
    }
    const attempts = opts.attempts ?? 3;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.uploadOnce(repo, desc, open, opts, session);
        return 'uploaded';
      } catch (e) {
        const restartable = e instanceof ConnectionError || e instanceof UploadSessionError || isConnectionError(e);
        if (attempt >= attempts || !restartable) throw wrapConn(e, repo);
        session = undefined;
      }
    }
  }

  /** POST ?mount=&from=: true when mounted, else the upload session the registry opened instead. */
  private async tryMount(repo: RepositoryRef, digest: string, from: string): Promise<true | URL> {
    const res = await this.request(repo.registry, [pushPull(repo), { repository: from, actions: ['pull'] }], {
      method: 'POST',
      url: this.url(repo.registry, `/v2/${repo.name}/blobs/uploads/?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(from)}`),
    });
    if (res.status !== 201 && res.status !== 202) throw await this.fail(res, repo, `mounting blob ${digest} from ${from}`, 'blob');
    await res.drain();
    return res.status === 201 ? true : this.location(repo, res);
  }

  private async uploadOnce(
    repo: RepositoryRef,
    desc: { digest: string; size: number },
    open: BlobSource,
    opts: BlobWriteOptions,
    session?: URL,
  ): Promise<void> {
    const scopes = [pushPull(repo)];
    let location: URL;
    let minChunk = 0;
    if (session) {
      location = session;
    } else {
      const start = await this.request(repo.registry, scopes, { method: 'POST', url: this.url(repo.registry, `/v2/${repo.name}/blobs/uploads/`) });
      if (start.status !== 202) throw await this.fail(start, repo, `starting upload of blob ${desc.digest}`, 'blob');
      await start.drain();
      location = this.location(repo, start);
      minChunk = Number(header(start, 'oci-chunk-min-length') ?? 0);
    }
    const progress = opts.onProgress ?? (() => {});

    if (desc.size <= (opts.monolithicMax ?? 16 * 1024 * 1024)) {
      const body = countingBody(open, progress);
      const res = await this.request(repo.registry, scopes, {
        method: 'PUT',
        url: withDigest(location, desc.digest),
        headers: { 'content-type': 'application/octet-stream', 'content-length': String(desc.size) },
        body,
        retryConnection: false,
      });
      return this.finishUpload(res, repo, desc.digest);
    }

    if (!opts.chunkSize && !minChunk) {
      // Streamed: the whole blob in one PATCH, then an empty PUT ?digest=.
      const body = countingBody(open, progress);
      const res = await this.request(repo.registry, scopes, {
        method: 'PATCH',
        url: location,
        headers: {
          'content-type': 'application/octet-stream',
          'content-length': String(desc.size),
          'content-range': `0-${desc.size - 1}`,
        },
        body,
        retryConnection: false,
        retryStatus: false,
      });
      if (res.status !== 202) throw await this.uploadFailure(res, repo, desc.digest);
      await res.drain();
      location = this.location(repo, res);
      const done = await this.request(repo.registry, scopes, { method: 'PUT', url: withDigest(location, desc.digest) });
      return this.finishUpload(done, repo, desc.digest);
    }

    const chunkSize = Math.max(opts.chunkSize ?? 8 * 1024 * 1024, minChunk);
    let sent = 0;
    const src = await open();
    let pending: Buffer[] = [];
    let pendingLen = 0;
    /** Sends the first `limit` pending bytes as one PATCH; the rest stays pending. */
    const flush = async (limit: number): Promise<void> => {
      const all = Buffer.concat(pending, pendingLen);
      let chunk = all.subarray(0, limit);
      const rest = all.subarray(limit);
      pending = rest.length ? [rest] : [];
      pendingLen = rest.length;
      for (let resumes = 0; ; resumes++) {
        let res: TransportResponse;
        try {
          res = await this.request(repo.registry, scopes, {
            method: 'PATCH',
            url: location,
            headers: {
              'content-type': 'application/octet-stream',
              'content-range': `${sent}-${sent + chunk.length - 1}`,
            },
            body: chunk,
            retryConnection: false,
          });
        } catch (e) {
          // A broken PATCH: ask the registry how much it kept and send the rest of this chunk.
          if (resumes >= 3 || !(e instanceof ConnectionError || isConnectionError(e))) throw e;
          const status = await this.uploadStatus(repo, location, sent);
          if (!status || status.offset < sent || status.offset > sent + chunk.length) throw e;
          location = status.location;
          chunk = chunk.subarray(status.offset - sent);
          progress((sent = status.offset));
          if (chunk.length === 0) return;
          continue;
        }
        if (res.status !== 202) throw await this.uploadFailure(res, repo, desc.digest);
        await res.drain();
        location = this.location(repo, res);
        progress((sent += chunk.length));
        return;
      }
    };
    try {
      for await (const c of src) {
        pending.push(c as Buffer);
        pendingLen += (c as Buffer).length;
        while (pendingLen >= chunkSize) await flush(chunkSize);
      }
      if (pendingLen > 0) await flush(pendingLen);
    } finally {
      src.destroy();
    }
    if (sent !== desc.size) {
      throw new TsbuildError('CORRUPT', `blob ${desc.digest} has ${sent} bytes locally, expected ${desc.size}`);
    }
    const res = await this.request(repo.registry, scopes, { method: 'PUT', url: withDigest(location, desc.digest) });
    return this.finishUpload(res, repo, desc.digest);
  }

  /** An upload answer that is not success; session-level failures may restart the upload. */
  private async uploadFailure(res: TransportResponse, repo: RepositoryRef, digest: string): Promise<TsbuildError> {
    const err = await this.fail(res, repo, `uploading blob ${digest}`, 'blob');
    // The session went wrong (bytes lost or doubled on a broken connection, session expired).
    if (res.status >= 500 || /DIGEST_INVALID|BLOB_UPLOAD_INVALID|BLOB_UPLOAD_UNKNOWN|SIZE_INVALID/.test(err.message)) {
      return new UploadSessionError(err.message);
    }
    return err;
  }

  /** Where an upload session stands (GET on its location); undefined if the registry lost it. */
  private async uploadStatus(repo: RepositoryRef, location: URL, expectedAtLeast: number): Promise<{ offset: number; location: URL } | undefined> {
    let res: TransportResponse;
    try {
      res = await this.request(repo.registry, [pushPull(repo)], { method: 'GET', url: location });
    } catch {
      return undefined;
    }
    await res.drain();
    if (res.status !== 204 && res.status !== 200) return undefined;
    const m = /^(?:bytes=)?0-(\d+)$/.exec(header(res, 'range') ?? '');
    // Distribution says "0-0" for an empty upload too; at offset 0 read it as nothing kept.
    const offset = !m ? 0 : m[1] === '0' && expectedAtLeast === 0 ? 0 : Number(m[1]) + 1;
    return { offset, location: header(res, 'location') ? this.location(repo, res) : location };
  }

  private async finishUpload(res: TransportResponse, repo: RepositoryRef, digest: string): Promise<void> {
    if (res.status !== 201 && res.status !== 204) throw await this.uploadFailure(res, repo, digest);
    await res.drain();
    const claimed = header(res, 'docker-content-digest');
    if (claimed && claimed !== digest) {
      throw new TsbuildError('REGISTRY', `registry ${repo.registry} stored blob of ${repo.name} as ${claimed}, expected ${digest}`);
    }
  }

  private async *blobChunks(repo: RepositoryRef, digest: string, opts: BlobReadOptions): AsyncGenerator<Buffer> {
    const hasher = new DigestHasher(digest);
    const maxResumes = opts.maxResumes ?? 5;
    let resumes = 0;
    for (;;) {
      const offset = hasher.bytes;
      const headers: Record<string, string> = {};
      if (offset > 0) headers.range = `bytes=${offset}-`;
      let res: TransportResponse;
      try {
        res = await this.request(repo.registry, [pull(repo)], { method: 'GET', url: this.url(repo.registry, `/v2/${repo.name}/blobs/${digest}`), headers });
      } catch (e) {
        throw wrapConn(e, repo);
      }
      let skip = 0;
      if (res.status === 206 && offset > 0) {
        const m = /^bytes (\d+)-/.exec(header(res, 'content-range') ?? '');
        if (!m || Number(m[1]) !== offset) {
          res.body.destroy();
          throw new TsbuildError('REGISTRY', `registry ${repo.registry} answered a wrong range for blob ${digest} of ${repo.name}`);
        }
      } else if (res.status === 200) {
        skip = offset; // range ignored: the body starts over
      } else {
        throw await this.fail(res, repo, `blob ${digest}`, 'blob');
      }
      try {
        for await (const c of res.body) {
          let chunk = c as Buffer;
          if (skip > 0) {
            const n = Math.min(skip, chunk.length);
            skip -= n;
            chunk = chunk.subarray(n);
            if (chunk.length === 0) continue;
          }
          if (opts.size !== undefined && hasher.bytes + chunk.length > opts.size) {
            res.body.destroy();
            throw new TsbuildError('CORRUPT', `blob ${digest} from ${show(repo)} is larger than its expected ${opts.size} bytes`);
          }
          hasher.update(chunk);
          opts.onProgress?.(hasher.bytes);
          yield chunk;
        }
        if (!res.body.complete) throw Object.assign(new Error('aborted'), { code: 'ECONNRESET' });
        break;
      } catch (e) {
        if (e instanceof TsbuildError || !isConnectionError(e) || resumes >= maxResumes) throw wrapConn(e, repo);
        resumes++;
      }
    }
    if (opts.size !== undefined && hasher.bytes !== opts.size) {
      throw new TsbuildError('CORRUPT', `blob ${digest} from ${show(repo)} has ${hasher.bytes} bytes, expected ${opts.size}`);
    }
    const got = hasher.digest();
    if (got !== digest) {
      throw new TsbuildError('CORRUPT', `blob from ${show(repo)} does not match its digest: expected ${digest}, got ${got}`);
    }
  }

  /** Sends with auth: after a 401 challenge, retries while the authorization to send changes. */
  private async request(registry: string, scopes: Scope[], req: TransportRequest): Promise<TransportResponse> {
    let authz = await this.auth.authorization(registry, scopes);
    for (let attempt = 0; ; attempt++) {
      const headers = { ...req.headers };
      if (authz) headers.authorization = authz;
      const res = await this.transport.send({ ...req, headers });
      if (res.status !== 401 || attempt >= 2) return res;
      this.auth.onUnauthorized(registry, header(res, 'www-authenticate'), authz);
      const next = await this.auth.authorization(registry, scopes);
      if (!next || next === authz) return res;
      await res.drain();
      authz = next;
    }
  }

  private url(registry: string, path: string): URL {
    return new URL(`${this.transport.baseUrl(registry)}${path}`);
  }

  private location(repo: RepositoryRef, res: TransportResponse): URL {
    const loc = header(res, 'location');
    if (!loc) throw new TsbuildError('REGISTRY', `registry ${repo.registry} sent no upload location for ${repo.name}`);
    return new URL(loc, res.url);
  }

  /** Turns an unexpected answer into a clear error naming registry and repository. */
  private async fail(res: TransportResponse, repo: RepositoryRef, what: string, kind?: 'manifest' | 'blob'): Promise<TsbuildError> {
    let detail = '';
    let code = '';
    try {
      const body = JSON.parse(await res.text(64 * 1024)) as { errors?: { code?: string; message?: string }[] };
      const first = body.errors?.[0];
      code = first?.code ?? '';
      detail = [first?.code, first?.message].filter(Boolean).join(': ');
    } catch {
      // not a JSON error body
    }
    const where = show(repo);
    switch (res.status) {
      case 401:
        if (/insufficient_scope/.test(header(res, 'www-authenticate') ?? '')) {
          return new TsbuildError('REGISTRY', `access to ${where} denied: insufficient scope (${what})`);
        }
        return new TsbuildError(
          'REGISTRY',
          `unauthorized: authentication required for ${where} (${what}); the repository may not exist, or needs a login to ${repo.registry}`,
        );
      case 403:
        return new TsbuildError('REGISTRY', `access to ${where} denied (${what})`);
      case 404:
        if (kind === 'manifest' || code === 'MANIFEST_UNKNOWN') return new TsbuildError('NOT_FOUND', `${what} not found in ${where}${code === 'NAME_UNKNOWN' ? ' (repository unknown)' : ''}`);
        return new TsbuildError('NOT_FOUND', `${what} not found in ${where}`);
      case 429:
        return new TsbuildError('REGISTRY', `registry ${repo.registry} is rate limiting requests (${what} in ${repo.name})`);
      default:
        return new TsbuildError('REGISTRY', `registry ${repo.registry} answered HTTP ${res.status} for ${what} in ${repo.name}${detail ? `: ${detail}` : ''}`);
    }
  }
}

/** An upload session the registry rejected at the end; the whole upload may be restarted. */
class UploadSessionError extends TsbuildError {
  constructor(message: string) {
    super('REGISTRY', message);
  }
}

function pull(repo: RepositoryRef): Scope {
  return { repository: repo.name, actions: ['pull'] };
}

function pushPull(repo: RepositoryRef): Scope {
  return { repository: repo.name, actions: ['pull', 'push'] };
}

function show(repo: RepositoryRef): string {
  return repo.name ? `${repo.registry}/${repo.name}` : repo.registry;
}

function header(res: TransportResponse, name: string): string | undefined {
  const v = res.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** A request body factory reporting bytes sent; each (re)open counts from zero. */
function countingBody(open: BlobSource, progress: (n: number) => void): () => Promise<Readable> {
  return async () => {
    const src = await open();
    const counter = new PassThrough({ highWaterMark: 1024 * 1024 });
    let sent = 0;
    counter.on('data', (c: Buffer) => progress((sent += c.length)));
    src.on('error', (e) => counter.destroy(e));
    return src.pipe(counter);
  };
}

function withDigest(location: URL, digest: string): URL {
  const u = new URL(location);
  u.searchParams.set('digest', digest);
  return u;
}

function wrapConn(e: unknown, repo: RepositoryRef): unknown {
  if (e instanceof TsbuildError) return e;
  if (isConnectionError(e)) {
    const err = e as { code?: string };
    return new ConnectionError(`connection to registry ${repo.registry} broke while transferring ${repo.name}: ${err.code ?? 'aborted'}`);
  }
  return e;
}
