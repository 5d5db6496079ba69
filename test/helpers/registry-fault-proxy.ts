/**
 * A fault-injecting HTTP proxy in front of a test registry (127.0.0.1 only). Requests pass through
 * unchanged (the Host header too, so the registry's upload Locations point back at the proxy)
 * unless a rule matches: then it answers a status (500, 429 + Retry-After), drops the connection
 * after N body bytes, corrupts the body, or dribbles it slowly. Rules fire `times` times.
 */
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';

export type FaultAction =
  | { kind: 'status'; status: number; headers?: Record<string, string>; body?: string }
  /** Forward the response but destroy the socket after this many body bytes. */
  | { kind: 'drop'; afterBytes: number }
  /** Forward the response with one byte of the body flipped. */
  | { kind: 'corrupt' }
  /** Forward the response in small pieces with a pause between them. */
  | { kind: 'slow'; delayMs: number; chunkBytes?: number }
  /** Close the connection without answering. */
  | { kind: 'reset' }
  /** Forward the request with one byte of its body flipped (bytes damaged on the way in). */
  | { kind: 'corruptRequest' };

export interface FaultRule {
  method?: string;
  path: RegExp;
  action: FaultAction;
  /** How many matching requests it applies to (default 1). */
  times?: number;
  /** Matching requests to let through untouched first (default 0). */
  after?: number;
}

export interface ProxyHit {
  method: string;
  path: string;
  range?: string;
  fault?: FaultAction['kind'];
}

export interface FaultProxy {
  host: string;
  url: string;
  hits: ProxyHit[];
  add(rule: FaultRule): void;
  clear(): void;
  stop(): Promise<void>;
}

export async function startFaultProxy(targetPort: number): Promise<FaultProxy> {
  const rules: { rule: FaultRule; left: number; skip: number }[] = [];
  const hits: ProxyHit[] = [];

  const server = createServer((req, res) => {
    const path = req.url ?? '/';
    const method = req.method ?? 'GET';
    let action: FaultAction | undefined;
    for (const r of rules) {
      if (r.left <= 0 || (r.rule.method && r.rule.method !== method) || !r.rule.path.test(path)) continue;
      if (r.skip > 0) {
        r.skip--;
        continue;
      }
      r.left--;
      action = r.rule.action;
      break;
    }
    const hit: ProxyHit = { method, path, fault: action?.kind };
    if (typeof req.headers.range === 'string') hit.range = req.headers.range;
    hits.push(hit);
    if (action?.kind === 'status') {
      req.resume();
      res.writeHead(action.status, action.headers ?? {});
      return void res.end(action.body ?? '');
    }
    if (action?.kind === 'reset') {
      req.resume();
      return void req.socket.destroy();
    }
    forward(req, res, action);
  });

  function forward(req: IncomingMessage, res: ServerResponse, action: FaultAction | undefined): void {
    const up = request(
      { host: '127.0.0.1', port: targetPort, method: req.method, path: req.url, headers: req.headers },
      (upRes) => {
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        if (!action || action.kind === 'corruptRequest') return void upRes.pipe(res);
        void relay(upRes, res, action);
      },
    );
    up.on('error', () => res.destroy());
    if (action?.kind !== 'corruptRequest') return void req.pipe(up);
    let flipped = false;
    req.on('data', (c: Buffer) => {
      if (!flipped && c.length > 0) {
        c = Buffer.from(c);
        c[0] = c[0]! ^ 0xff;
        flipped = true;
      }
      up.write(c);
    });
    req.on('end', () => up.end());
  }

  async function relay(upRes: IncomingMessage, res: ServerResponse, action: FaultAction): Promise<void> {
    let sent = 0;
    let flipped = false;
    for await (const c of upRes) {
      // The client went away (e.g. timed out): stop dribbling.
      if (res.destroyed) return void upRes.destroy();
      let chunk = c as Buffer;
      if (action.kind === 'drop' && sent + chunk.length >= action.afterBytes) {
        res.write(chunk.subarray(0, action.afterBytes - sent));
        // Let the partial bytes reach the client before cutting the connection.
        await new Promise((r) => setTimeout(r, 20));
        upRes.destroy();
        return void res.socket?.destroy();
      }
      if (action.kind === 'corrupt' && !flipped && chunk.length > 0) {
        chunk = Buffer.from(chunk);
        chunk[0] = chunk[0]! ^ 0xff;
        flipped = true;
      }
      if (action.kind === 'slow') {
        const step = action.chunkBytes ?? 1024;
        for (let i = 0; i < chunk.length && !res.destroyed; i += step) {
          res.write(chunk.subarray(i, i + step));
          await new Promise((r) => setTimeout(r, action.delayMs));
        }
      } else {
        res.write(chunk);
      }
      sent += chunk.length;
    }
    res.end();
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    host: `127.0.0.1:${port}`,
    url: `http://127.0.0.1:${port}`,
    hits,
    add: (rule) => rules.push({ rule, left: rule.times ?? 1, skip: rule.after ?? 0 }),
    clear: () => {
      rules.length = 0;
      hits.length = 0;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
