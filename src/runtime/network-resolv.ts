/**
 * /etc/resolv.conf for a step on tsbuild's private network, as Docker writes it for a container
 * on its default bridge: the host's file, minus the nameservers the step cannot reach — loopback
 * ones (127.0.0.0/8, ::1: inside the namespace they are the step's own loopback) and IPv6 ones (the
 * bridge is IPv4 only) — and Google's public servers when nothing is left. A host running
 * systemd-resolved (only 127.0.0.53) is read through /run/systemd/resolve/resolv.conf, the upstream
 * list, as Docker does.
 */
import { readFileSync } from 'node:fs';

/** Docker's fallback when the host has no usable nameserver. */
export const FALLBACK_NAMESERVERS = ['8.8.8.8', '8.8.4.4'];

const RESOLVED_STUB = '/run/systemd/resolve/resolv.conf';

/** The host's resolv.conf, made usable from a private network namespace (read synchronously:
 *  two small files, and a run's rootfs is made ahead with it: rootfs.ts). */
export function privateResolvConf(path = '/etc/resolv.conf'): string {
  let text = readText(path) ?? '';
  const servers = nameservers(text);
  if (servers.length > 0 && servers.every((s) => s === '127.0.0.53')) text = readText(RESOLVED_STUB) ?? text;
  return filterResolvConf(text);
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** Drops loopback and IPv6 nameservers; adds the fallbacks when none is left. Pure. */
export function filterResolvConf(text: string): string {
  const out: string[] = [];
  let kept = 0;
  for (const line of text.split('\n')) {
    const server = nameserverOf(line);
    if (server !== undefined) {
      if (server.includes(':') || /^127\./.test(server)) continue;
      kept++;
    }
    out.push(line);
  }
  while (out.length > 0 && out[out.length - 1] === '') out.pop();
  if (kept === 0) out.push(...FALLBACK_NAMESERVERS.map((s) => `nameserver ${s}`));
  return out.join('\n') + '\n';
}

function nameservers(text: string): string[] {
  return text.split('\n').flatMap((l) => nameserverOf(l) ?? []);
}

function nameserverOf(line: string): string | undefined {
  const m = /^\s*nameserver\s+(\S+)/.exec(line);
  return m?.[1];
}
