/**
 * A Docker token server for tests (the `auth: token:` scheme of distribution): GET /token with
 * `service`, `scope`s and optional basic credentials answers a JWT signed RS256 by a key whose
 * self-signed certificate is the registry's `rootcertbundle`; the cert travels in the `x5c` header
 * so the registry can check the chain. Counts requests so tests can assert token reuse.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { execFileSync } from 'node:child_process';
import { createPrivateKey, randomUUID, sign, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Which actions a user (undefined = anonymous) gets on a repository; default: all asked if logged in. */
export type TokenPolicy = (user: string | undefined, repository: string, asked: string[]) => string[];

export interface TokenRequestLog {
  user: string | undefined;
  scopes: string[];
  granted: boolean;
}

export interface TokenServer {
  realm: string;
  service: string;
  issuer: string;
  certFile: string;
  /** Every request, in order. */
  requests: TokenRequestLog[];
  stop(): Promise<void>;
}

export interface TokenServerOptions {
  users: Record<string, string>;
  service: string;
  issuer: string;
  workDir: string;
  policy?: TokenPolicy;
  /** Token lifetime in seconds (default 300). */
  expiresIn?: number;
}

export async function startTokenServer(opts: TokenServerOptions): Promise<TokenServer> {
  const keyFile = join(opts.workDir, 'token.key');
  const certFile = join(opts.workDir, 'token.crt');
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', '/CN=tsbuild-test-token'],
    { stdio: 'ignore' },
  );
  const key = createPrivateKey(readFileSync(keyFile));
  const certDer = pemBody(readFileSync(certFile, 'utf8'));
  const requests: TokenRequestLog[] = [];
  const policy: TokenPolicy = opts.policy ?? ((user, _repo, asked) => (user ? asked : []));
  const expiresIn = opts.expiresIn ?? 300;

  const server = createServer((req, res) => {
    try {
      handle(req, res);
    } catch (e) {
      res.writeHead(500).end(String(e));
    }
  });
  function handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname !== '/token') return void res.writeHead(404).end();
    const scopes = url.searchParams.getAll('scope').flatMap((s) => s.split(' ')).filter(Boolean);
    let user: string | undefined;
    const authz = req.headers.authorization;
    if (authz?.startsWith('Basic ')) {
      const [u, ...p] = Buffer.from(authz.slice(6), 'base64').toString('utf8').split(':');
      if (opts.users[u!] === undefined || opts.users[u!] !== p.join(':')) {
        requests.push({ user: u, scopes, granted: false });
        res.writeHead(401, { 'content-type': 'application/json' });
        return void res.end(JSON.stringify({ details: 'incorrect username or password' }));
      }
      user = u;
    }
    if (url.searchParams.get('service') !== opts.service) return void res.writeHead(400).end('bad service');
    const access = scopes.flatMap((s) => {
      const [type, ...rest] = s.split(':');
      const actions = rest.pop()!.split(',');
      const name = rest.join(':');
      if (type !== 'repository') return [];
      return [{ type, name, actions: policy(user, name, actions).filter((a) => actions.includes(a)) }];
    });
    requests.push({ user, scopes, granted: true });
    const now = Math.floor(Date.now() / 1000);
    const token = jwt(key, certDer, {
      iss: opts.issuer,
      sub: user ?? '',
      aud: opts.service,
      exp: now + expiresIn,
      nbf: now - 10,
      iat: now,
      jti: randomUUID(),
      access,
    });
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ token, access_token: token, expires_in: expiresIn, issued_at: new Date().toISOString() }));
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    realm: `http://127.0.0.1:${port}/token`,
    service: opts.service,
    issuer: opts.issuer,
    certFile,
    requests,
    stop: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

function pemBody(pem: string): string {
  return pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
}

function b64url(b: Buffer | string): string {
  return Buffer.from(b).toString('base64url');
}

function jwt(key: KeyObject, certDer: string, claims: object): string {
  const header = { typ: 'JWT', alg: 'RS256', x5c: [certDer] };
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
  return `${input}.${b64url(sign('sha256', Buffer.from(input), key))}`;
}
