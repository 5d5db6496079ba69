/**
 * Published ports as Docker has them: `-p [IP:][HOSTPORT:]CTRPORT[/tcp|udp]` parsed as
 * go-connections' nat.ParsePortSpec (ranges `8000-8001:80-81` too; its error texts), `-P` giving
 * every exposed port a free host port, `Config.ExposedPorts` (the image's EXPOSE plus what is
 * published), `HostConfig.PortBindings` (`{"80/tcp":[{"HostIp":"","HostPort":"8080"}]}`),
 * `NetworkSettings.Ports` (the host side as bound, `null` for exposed-only ports, `{}` when not
 * running), the PORTS column of `ps` (`0.0.0.0:8080->80/tcp, 443/tcp`) and `port`'s lines
 * (`80/tcp -> 0.0.0.0:8080`). IPv4 only: an IPv6 host address is refused (Docker would also bind
 * `::`). Pure.
 */
import { TsbuildError } from '../errors.js';
import { parseIPv4 } from '../runtime/network-ipam.js';
import type { PortForward } from '../runtime/network.js';

export interface PortBinding {
  HostIp: string;
  HostPort: string;
}

/** `80/tcp` → its bindings (Docker's nat.PortMap). */
export type PortMap = Record<string, PortBinding[]>;

export interface ParsedPublish {
  /** Ports to add to Config.ExposedPorts. */
  exposed: string[];
  bindings: PortMap;
}

const bad = (msg: string) => new TsbuildError('INVALID', msg, undefined, 125);

/** Parses every `-p` value (in order; the same container port may be bound several times). */
export function parsePublish(specs: readonly string[]): ParsedPublish {
  const out: ParsedPublish = { exposed: [], bindings: {} };
  for (const raw of specs) {
    for (const { key, binding } of parsePortSpec(raw)) {
      if (!out.exposed.includes(key)) out.exposed.push(key);
      (out.bindings[key] ??= []).push(binding);
    }
  }
  return out;
}

function parsePortSpec(raw: string): { key: string; binding: PortBinding }[] {
  if (raw.includes('[') || raw.split(':').length > 3) {
    throw new TsbuildError('INVALID', `IPv6 host addresses in -p are not supported by tsbuild yet: ${raw}`, undefined, 125);
  }
  const parts = raw.split(':');
  const [ip, hostPort, ctr] = parts.length === 3 ? parts : parts.length === 2 ? ['', parts[0]!, parts[1]!] : ['', '', parts[0]!];
  const slash = ctr!.indexOf('/');
  const ctrPort = slash < 0 ? ctr! : ctr!.slice(0, slash);
  const proto = slash < 0 ? 'tcp' : ctr!.slice(slash + 1).toLowerCase() || 'tcp';
  if (ip && parseIPv4(ip!) === undefined) throw bad(`invalid IP address: ${ip}`);
  if (ctrPort === '') throw bad(`no port specified: ${raw}<empty>`);
  const c = portRange(ctrPort);
  if (!c) throw bad(`invalid containerPort: ${ctrPort}`);
  const h = hostPort ? portRange(hostPort) : undefined;
  if (hostPort && !h) throw bad(`invalid hostPort: ${hostPort}`);
  if (!['tcp', 'udp', 'sctp'].includes(proto)) throw bad(`invalid proto: ${proto}`);
  if (proto === 'sctp') throw new TsbuildError('INVALID', `sctp ports are not supported by tsbuild yet: ${raw}`, undefined, 125);
  const n = c[1] - c[0];
  if (h && h[1] - h[0] !== n && !(n === 0 && h[1] > h[0])) throw bad(`invalid ranges specified for container and host Ports: ${ctrPort} and ${hostPort}`);
  if (h && n === 0 && h[1] > h[0]) {
    throw new TsbuildError('INVALID', `a host port range for one container port is not supported by tsbuild yet: ${raw}`, undefined, 125);
  }
  const out: { key: string; binding: PortBinding }[] = [];
  for (let i = 0; i <= n; i++) {
    out.push({ key: `${c[0] + i}/${proto}`, binding: { HostIp: ip ?? '', HostPort: h ? String(h[0] + i) : '' } });
  }
  return out;
}

/** `80` or `8000-8010` (Docker's nat.ParsePortRange: 1-65535 for a container port, 0 allowed on
 *  the host side meaning "any"). */
function portRange(text: string): [number, number] | undefined {
  const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(text);
  if (!m) return undefined;
  const a = Number(m[1]);
  const b = m[2] === undefined ? a : Number(m[2]);
  if (a > 65535 || b > 65535 || b < a) return undefined;
  return [a, b];
}

/** `-P`: every exposed port without a binding gets one on a free host port. */
export function publishAll(exposed: readonly string[], bindings: PortMap): PortMap {
  const out: PortMap = { ...bindings };
  for (const key of exposed) if (!out[key]) out[key] = [{ HostIp: '', HostPort: '' }];
  return out;
}

/** `80/tcp` → its number and protocol (undefined when not one of ours: sctp, malformed). */
export function splitPortKey(key: string): { port: number; proto: 'tcp' | 'udp' } | undefined {
  const m = /^(\d{1,5})(?:\/(tcp|udp))?$/.exec(key);
  return m ? { port: Number(m[1]), proto: (m[2] ?? 'tcp') as 'tcp' | 'udp' } : undefined;
}

/** A published port as the container's state keeps it while it runs: forwarded to its address on
 *  its first network, whose nftables table holds the rule (NETWORK: a user network's ID; absent:
 *  the default bridge). */
export type PublishedPort = Omit<PortForward, 'address'> & { address?: string; network?: string };

/** The host sockets the monitor must hold for BINDINGS, in a stable order with their container
 *  ports. */
export function hostPortsOf(bindings: PortMap): { proto: 'tcp' | 'udp'; ip: string; port: number; ctrPort: number }[] {
  const out: { proto: 'tcp' | 'udp'; ip: string; port: number; ctrPort: number }[] = [];
  for (const [key, list] of Object.entries(bindings)) {
    const k = splitPortKey(key);
    if (!k) continue;
    for (const b of list ?? []) out.push({ proto: k.proto, ip: b.HostIp || '0.0.0.0', port: b.HostPort ? Number(b.HostPort) : 0, ctrPort: k.port });
  }
  return out;
}

/** NetworkSettings.Ports: every exposed port, with the host side while running. */
export function networkPorts(exposed: readonly string[], published: readonly PublishedPort[] | undefined, running: boolean): Record<string, PortBinding[] | null> {
  if (!running) return {};
  const out: Record<string, PortBinding[] | null> = {};
  for (const key of exposed) out[key] = null;
  for (const p of published ?? []) (out[`${p.port}/${p.proto}`] ??= []).push({ HostIp: p.hostIp, HostPort: String(p.hostPort) });
  return out;
}

/** The PORTS column of `ps` (Docker's api.DisplayablePorts without its range folding). */
export function displayPorts(exposed: readonly string[], published: readonly PublishedPort[] | undefined): string {
  const shown = new Set<string>();
  const items: string[] = [];
  for (const p of published ?? []) {
    shown.add(`${p.port}/${p.proto}`);
    items.push(`${p.hostIp}:${p.hostPort}->${p.port}/${p.proto}`);
  }
  for (const key of exposed) if (!shown.has(key)) items.push(key);
  return items.join(', ');
}

/** `port CONTAINER [PRIVATE_PORT[/PROTO]]`'s lines; undefined when PRIVATE is asked and not published. */
export function portLines(published: readonly PublishedPort[] | undefined, privatePort?: string): string[] | undefined {
  const all = published ?? [];
  if (privatePort === undefined) return all.map((p) => `${p.port}/${p.proto} -> ${p.hostIp}:${p.hostPort}`);
  const k = splitPortKey(privatePort);
  const hits = k ? all.filter((p) => p.port === k.port && p.proto === k.proto) : [];
  return hits.length ? hits.map((p) => `${p.hostIp}:${p.hostPort}`) : undefined;
}
