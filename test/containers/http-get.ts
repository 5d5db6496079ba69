/** One HTTP GET to the host's loopback, as a browser on the host fetches a published port's page. */
import { get } from 'node:http';

/** `STATUS BODY` of GET 127.0.0.1:PORT PATH (fails after 5 s without an answer). */
export function httpGet(port: number, path = '/'): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = get({ host: '127.0.0.1', port, path, timeout: 5000 }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve(`${res.statusCode} ${body}`));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}
