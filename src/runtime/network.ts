/**
 * tsbuild's own network: a Linux bridge (`tsbuild0`) with a private IPv4 subnet, NAT out of the
 * host, and one veth per network namespace — what Docker's default `bridge` network is to a
 * container, and what BuildKit gives a RUN step by default. Steps reach the outside world through
 * the host's routes; they do not see the host's loopback services, abstract unix sockets or other
 * processes' traffic, because those live in the host's namespace.
 *
 * Host state, made on first use and shared by every tsbuild process (a lock file serializes set-up):
 * - the bridge, its gateway address (the subnet's first host address), `route_localnet` off on it
 *   unless a container publishes a port (see publish: then on, with the input chain dropping new
 *   traffic from the bridge to 127.0.0.0/8, so a step still cannot reach the host's 127.0.0.1:
 *   CVE-2020-8558 class);
 * - `net.ipv4.ip_forward=1`, as Docker sets it;
 * - nftables `table ip tsbuild`: masquerade of the subnet out of any other interface, forwarding
 *   from the bridge only with a source address of the subnet (no spoofing), to it only for replies;
 *   published ports as DNAT maps (prerouting and output, `fib daddr type local`), loopback and
 *   hairpin sources masqueraded onto the bridge;
 *   `table ip6 tsbuild`: nothing is forwarded to or from the bridge over IPv6;
 * - `/run/tsbuild/<bridge>.json` (the subnet chosen) and `/run/tsbuild/ipam/<bridge>/` (addresses).
 * The subnet is the first candidate that overlaps none of the host's routes or nameservers.
 */
import { processIdentity } from './proc-stat.js';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TsbuildError } from '../errors.js';
import { withLock } from '../image/lock.js';
import { randomHex } from '../image/digest.js';
import { formatCidr, formatIPv4, Ipam, overlaps, parseCidr, parseIPv4, type Subnet } from './network-ipam.js';

/** Where bridges keep their state unless told otherwise (tmpfs: gone at reboot, like the bridges). */
export const DEFAULT_STATE_DIR = '/run/tsbuild';

export interface BridgeNetworkOptions {
  /** The bridge interface (default `tsbuild0`). */
  bridge?: string;
  /** The nftables table name, in the `ip` and `ip6` families (default `tsbuild`). */
  table?: string;
  /** Where the state files live (default `/run/tsbuild`: gone at reboot, like the bridge). */
  stateDir?: string;
  /** Subnets to choose from, in order (default 10.89.0.0/16 ... 10.99.0.0/16, 172.29-31.0.0/16). */
  candidates?: string[];
  /** A user network's `--internal`: no NAT, nothing forwarded in or out of the bridge. */
  internal?: boolean;
  /** Held around each `attach` (a user network's lock, which its removal holds too): CHECK, run
   *  under it, throws when the network is gone, so no attach makes the bridge again after it. */
  attachGuard?: { lockPath: string; check(): void };
}

export interface BridgeInfo {
  bridge: string;
  subnet: string;
  prefixLength: number;
  gateway: string;
  mtu: number;
}

/** One namespace on the bridge. */
export interface Attachment {
  address: string;
  prefixLength: number;
  gateway: string;
  mtu: number;
  /** The host end of the veth pair (it goes away with the namespace). */
  hostInterface: string;
  /** Gives the address back; call after the namespace is gone. */
  release(): void;
}

export interface AttachOptions {
  /** Bridge port isolation: the namespace can talk to the host and out, not to other isolated
   *  namespaces on the bridge (default true: one build step must not reach another's). */
  isolated?: boolean;
  /** The process that owns the address (default: this one, and the address is given back when it
   *  exits). A container names its PID 1: the address then stays when tsbuild exits and becomes
   *  reclaimable when that process is gone. */
  owner?: number;
  /** The interface's name inside the namespace (default `eth0`; `network connect` adds `eth1`...). */
  ifname?: string;
  /** This address rather than the next free one (`--ip`). */
  address?: string;
  /** Set the address and bring the interface up inside the namespace here (a running container's
   *  second interface; eth0 is configured by the sandbox helper). */
  configure?: boolean;
}

/** A host port forwarded to an address on the bridge. */
export interface PortForward {
  proto: 'tcp' | 'udp';
  /** '0.0.0.0': every address of the host. */
  hostIp: string;
  hostPort: number;
  address: string;
  port: number;
  /** The process the forward belongs to (a container's PID 1): recorded with the rule, which is
   *  swept once that process is gone, whoever forgot to remove it. */
  owner?: number;
}

export const DEFAULT_BRIDGE = 'tsbuild0';

const deleteLine = (table: string, f: PortForward) => `delete element ip ${table} ${mapOf(f)} { ${keyOf(f)} }`;
const mapOf = (f: PortForward) => (f.hostIp === '0.0.0.0' ? 'pub_any' : 'pub_ip');
const keyOf = (f: PortForward) => (f.hostIp === '0.0.0.0' ? `${f.proto} . ${f.hostPort}` : `${f.hostIp} . ${f.proto} . ${f.hostPort}`);

const sameKey = (a: PortForward, b: PortForward) => a.proto === b.proto && a.hostIp === b.hostIp && a.hostPort === b.hostPort;

/** The values go into an nft script: only what parses as an address and a port. */
function checkForward(f: PortForward): void {
  const port = (n: number) => Number.isInteger(n) && n > 0 && n <= 65535;
  if ((f.proto !== 'tcp' && f.proto !== 'udp') || parseIPv4(f.hostIp) === undefined || parseIPv4(f.address) === undefined || !port(f.hostPort) || !port(f.port)) {
    throw new TsbuildError('INVALID', `bad port forward ${JSON.stringify(f)}`);
  }
}

/** Subnets for user networks (`network create` without `--subnet`): none of the default bridge's. */
export const USER_CANDIDATES = Array.from({ length: 100 }, (_, i) => `10.${100 + i}.0.0/16`);

const DEFAULT_CANDIDATES = [
  ...Array.from({ length: 11 }, (_, i) => `10.${89 + i}.0.0/16`),
  '172.29.0.0/16',
  '172.30.0.0/16',
  '172.31.0.0/16',
];

interface State {
  subnet: string;
  mtu: number;
}

export class BridgeNetwork {
  readonly bridge: string;
  private readonly table: string;
  private readonly stateDir: string;
  private readonly candidates: string[];
  private readonly internal: boolean;
  private readonly attachGuard: BridgeNetworkOptions['attachGuard'];
  private ready: Promise<BridgeInfo> | undefined;
  private ipam: Ipam | undefined;

  constructor(opts: BridgeNetworkOptions = {}) {
    this.bridge = opts.bridge ?? DEFAULT_BRIDGE;
    if (!/^[A-Za-z0-9_-]{1,15}$/.test(this.bridge)) throw new TsbuildError('INVALID', `bad bridge name ${JSON.stringify(this.bridge)}`);
    this.table = opts.table ?? 'tsbuild';
    if (!/^[A-Za-z0-9_]{1,32}$/.test(this.table)) throw new TsbuildError('INVALID', `bad nftables table name ${JSON.stringify(this.table)}`);
    this.stateDir = opts.stateDir ?? DEFAULT_STATE_DIR;
    this.candidates = opts.candidates ?? DEFAULT_CANDIDATES;
    this.internal = opts.internal === true;
    this.attachGuard = opts.attachGuard;
  }

  /**
   * Chooses the bridge's subnet now, without making the bridge (a user network's subnet is known
   * from `network create` on, while its bridge is made by the first container): the same choice as
   * set-up's, recorded in the state file so other tsbuild networks keep clear of it.
   */
  async reserve(): Promise<{ subnet: string; gateway: string }> {
    mkdirSync(this.stateDir, { recursive: true, mode: 0o700 });
    return withLock(join(this.stateDir, 'subnets.lock'), async () => {
      const routes = await hostRoutes(this.bridge);
      const subnet = this.chooseSubnet(routes, readState(this.statePath()));
      if (!subnet) throw new TsbuildError('CONFLICT', 'invalid pool request: Pool overlaps with other one on this address space');
      writeState(this.statePath(), { subnet: formatCidr(subnet), mtu: egressMtu(routes) });
      return { subnet: formatCidr(subnet), gateway: formatIPv4(subnet.base + 1) };
    });
  }

  /** The first candidate (the saved subnet first) clear of the host's routes and nameservers and
   *  of every other tsbuild bridge's subnet (their state files). */
  private chooseSubnet(routes: HostRoutes, saved: State | undefined): Subnet | undefined {
    const taken = [...routes.dsts, ...hostNameservers(), ...otherBridgeSubnets(this.stateDir, this.bridge)];
    const fits = (s: Subnet) => !taken.some((t) => overlaps(s, t));
    const savedSubnet = saved ? parseCidr(saved.subnet) : undefined;
    return savedSubnet && fits(savedSubnet) ? savedSubnet : this.candidates.map((c) => parseCidr(c)).find((c): c is Subnet => !!c && fits(c));
  }

  /** Takes a namespace's interface off the bridge (`network disconnect`): its host end goes, the
   *  inner end with it. */
  async detach(hostInterface: string): Promise<void> {
    if (!/^tsb[0-9a-f]{10}$/.test(hostInterface)) return;
    await tool('ip', ['link', 'del', 'dev', hostInterface], '');
  }

  /** Makes sure the bridge, its address, forwarding and the NAT rules are in place (once per
   *  process; again after `attach` finds the bridge gone). */
  ensure(): Promise<BridgeInfo> {
    const p = (this.ready ??= this.setUp());
    p.catch(() => {
      if (this.ready === p) this.ready = undefined;
    });
    return p;
  }

  /**
   * Puts the network namespace of PID on the bridge: a veth pair whose inner end is `eth0` in that
   * namespace (down, unconfigured: the caller sets the address and route) and whose host end is a
   * bridge port. The MAC address is derived from the IP address, as Docker does, so the host's
   * neighbour cache stays right when an address is reused.
   */
  attach(pid: number, opts: AttachOptions = {}): Promise<Attachment> {
    const g = this.attachGuard;
    if (!g) return this.attachNow(pid, opts);
    return withLock(g.lockPath, () => {
      g.check();
      return this.attachNow(pid, opts);
    });
  }

  /** The interfaces on the bridge now (its ports: one per attached namespace, gone with it). */
  ports(): string[] {
    try {
      return readdirSync(`/sys/class/net/${this.bridge}/brif`);
    } catch {
      return [];
    }
  }

  private async attachNow(pid: number, opts: AttachOptions): Promise<Attachment> {
    if (!Number.isInteger(pid) || pid <= 0) throw new TsbuildError('INVALID', `bad pid ${pid}`);
    for (let attempt = 0; ; attempt++) {
      const info = await this.ensure();
      const ifname = opts.ifname ?? 'eth0';
      if (!/^eth\d{1,2}$/.test(ifname)) throw new TsbuildError('INVALID', `bad interface name ${JSON.stringify(ifname)}`);
      const lease = opts.address !== undefined ? this.ipam!.claim(opts.address, opts.owner) : this.ipam!.allocate(opts.owner);
      const name = `tsb${randomHex(5)}`;
      const a = parseIPv4(lease.address)!;
      const mac = `02:74:${[a >>> 24, (a >>> 16) & 255, (a >>> 8) & 255, a & 255].map((b) => b.toString(16).padStart(2, '0')).join(':')}`;
      const cmds = [
        `link add name ${name} mtu ${info.mtu} type veth peer name ${ifname} address ${mac} mtu ${info.mtu} netns ${pid}`,
        `link set dev ${name} master ${this.bridge}`,
        ...(opts.isolated === false ? [] : [`link set dev ${name} type bridge_slave isolated on`]),
        `link set dev ${name} up`,
      ];
      let r = await tool('ip', ['-batch', '-'], cmds.join('\n') + '\n');
      if (r.code === 0 && opts.configure) {
        const inner = [`addr add ${lease.address}/${info.prefixLength} dev ${ifname}`, `link set dev ${ifname} up`];
        r = await tool('nsenter', [`--net=/proc/${pid}/ns/net`, 'ip', '-batch', '-'], inner.join('\n') + '\n');
      }
      if (r.code === 0) {
        return { address: lease.address, prefixLength: info.prefixLength, gateway: info.gateway, mtu: info.mtu, hostInterface: name, release: lease.release };
      }
      lease.release();
      // the pair may exist without its port settings: it must not outlive this call
      await tool('ip', ['link', 'del', 'dev', name], '');
      const gone = !existsSync(`/sys/class/net/${this.bridge}`);
      if (gone && attempt === 0) {
        this.ready = undefined; // removed behind our back: set up again, once
        continue;
      }
      throw new TsbuildError('RUNTIME', `cannot attach the network namespace of process ${pid} to ${this.bridge}: ${r.stderr.trim() || `ip exited with ${r.code}`}`);
    }
  }

  /** Gives ADDRESS back if the process that owned it is gone (a container's, after it stopped). */
  async releaseIfStale(address: string): Promise<void> {
    if (parseIPv4(address) === undefined) return;
    mkdirSync(this.stateDir, { recursive: true, mode: 0o700 });
    await withLock(this.lockPath(), () => new Ipam(this.ipamDir(), { base: 0, prefixLength: 0 }).releaseIfStale(address));
  }

  /** Gives ADDRESS back now (an interface taken off a running container). */
  async release(address: string): Promise<void> {
    if (parseIPv4(address) === undefined) return;
    mkdirSync(this.stateDir, { recursive: true, mode: 0o700 });
    await withLock(this.lockPath(), () => rmSync(join(this.ipamDir(), address), { force: true }));
  }

  /** Addresses currently recorded as in use (stale entries included). */
  addressesInUse(): string[] {
    return this.ipam?.entries() ?? new Ipam(this.ipamDir(), { base: 0, prefixLength: 30 }).entries();
  }

  /**
   * Forwards host ports to a namespace on the bridge: elements of the `pub_any` (host IP 0.0.0.0)
   * and `pub_ip` maps, which the prerouting (other hosts) and output (this host, 127.0.0.1 too)
   * chains use for DNAT. The caller holds the host ports (bound sockets), so an element already
   * there for one of them is a dead container's and is replaced.
   *
   * 127.0.0.1 needs `route_localnet` on the bridge (the kernel refuses to route a loopback source
   * out of it otherwise; the source is then masqueraded to the gateway). It is turned on only while
   * a port is published, and the input chain drops anything new from the bridge to 127.0.0.0/8, so
   * neither containers nor build steps reach the host's loopback services (CVE-2020-8558).
   */
  async publish(forwards: readonly PortForward[]): Promise<void> {
    if (!forwards.length) return;
    for (const f of forwards) checkForward(f);
    await this.ensure();
    await withLock(this.lockPath(), async () => {
      const have = await this.readPublished();
      const lines = this.sweepLines(have, forwards);
      for (const f of forwards) {
        const old = have.find((h) => sameKey(h, f));
        if (old && !lines.includes(deleteLine(this.table, old))) lines.push(deleteLine(this.table, old));
        const who = f.owner !== undefined ? processIdentity(f.owner) : undefined;
        lines.push(`add element ip ${this.table} ${mapOf(f)} { ${keyOf(f)}${who ? ` comment "${who}"` : ''} : ${f.address} . ${f.port} }`);
      }
      // every tsbuild network publishes in its own table and the first DNAT wins: an element for
      // one of these ports in another network's table is a dead container's (we hold the port)
      for (const other of await otherTables(this.table)) {
        for (const h of await readPublishedIn(other)) if (forwards.some((f) => sameKey(h, f))) lines.push(deleteLine(other, h));
      }
      const r = await tool('nft', ['-f', '-'], lines.join('\n') + '\n');
      if (r.code !== 0) throw new TsbuildError('RUNTIME', `cannot publish ports on ${this.bridge}: ${firstLine(r.stderr)}`);
      writeSysctl(`net/ipv4/conf/${this.bridge}/route_localnet`, '1');
    });
  }

  /** Removes the forwards that are still exactly these (a port taken over since is left alone);
   *  `route_localnet` goes off with the last one. */
  async unpublish(forwards: readonly PortForward[]): Promise<void> {
    if (!forwards.length) return;
    for (const f of forwards) checkForward(f);
    mkdirSync(this.stateDir, { recursive: true, mode: 0o700 });
    await withLock(this.lockPath(), async () => {
      const have = await this.readPublished();
      const mine = have.filter((h) => forwards.some((f) => sameKey(h, f) && h.address === f.address && h.port === f.port));
      const lines = [...new Set([...mine.map((f) => deleteLine(this.table, f)), ...this.sweepLines(have, [])])];
      if (lines.length) {
        const script = lines.join('\n') + '\n';
        const r = await tool('nft', ['-f', '-'], script);
        if (r.code !== 0) throw new TsbuildError('RUNTIME', `cannot remove published ports from ${this.bridge}: ${firstLine(r.stderr)}`);
      }
      if (have.length === lines.length && existsSync(`/sys/class/net/${this.bridge}`)) writeSysctl(`net/ipv4/conf/${this.bridge}/route_localnet`, '0');
    });
  }

  /** Deletions of the forwards whose owner is gone (a monitor killed before anyone cleaned up, a
   *  store removed with its containers), except those being replaced anyway (KEEP's keys). */
  private sweepLines(have: readonly (PortForward & { ownerIdentity?: string })[], keep: readonly PortForward[]): string[] {
    return have
      .filter((h) => !keep.some((k) => sameKey(h, k)))
      .filter((h) => !h.ownerIdentity || processIdentity(h.owner ?? 0) !== h.ownerIdentity)
      .map((h) => deleteLine(this.table, h));
  }

  /** The forwards in this network's maps now (none when the table is missing). */
  readPublished(): Promise<(PortForward & { ownerIdentity?: string })[]> {
    return readPublishedIn(this.table);
  }

  /** Removes the bridge, the nftables tables and the state files (for tests and uninstalling;
   *  the namespaces still attached lose their network). Forwarding stays on. */
  async remove(): Promise<void> {
    await withLock(this.lockPath(), async () => {
      if (existsSync(`/sys/class/net/${this.bridge}`)) await tool('ip', ['link', 'del', 'dev', this.bridge], '');
      await tool('nft', ['-f', '-'], `table ip ${this.table} {}\ndelete table ip ${this.table}\ntable ip6 ${this.table} {}\ndelete table ip6 ${this.table}\n`);
      rmSync(this.statePath(), { force: true });
      rmSync(this.ipamDir(), { recursive: true, force: true });
    });
    this.ready = undefined;
    this.ipam = undefined;
  }

  // ---- set-up ---------------------------------------------------------------------------------

  private lockPath(): string {
    return join(this.stateDir, `${this.bridge}.lock`);
  }

  private statePath(): string {
    return join(this.stateDir, `${this.bridge}.json`);
  }

  private ipamDir(): string {
    return join(this.stateDir, 'ipam', this.bridge);
  }

  private async setUp(): Promise<BridgeInfo> {
    mkdirSync(this.stateDir, { recursive: true, mode: 0o700 });
    return withLock(this.lockPath(), async () => {
      const routes = await hostRoutes(this.bridge);
      let subnet = existsSync(`/sys/class/net/${this.bridge}`) ? await bridgeSubnet(this.bridge) : undefined;
      const saved = readState(this.statePath());
      let mtu = saved?.mtu ?? egressMtu(routes);
      if (!subnet) {
        subnet = this.chooseSubnet(routes, saved);
        if (!subnet) {
          throw new TsbuildError('RUNTIME', `no free subnet for ${this.bridge}: each of ${this.candidates.join(', ')} overlaps a route of the host (use --network=none or --network=host)`);
        }
        mtu = egressMtu(routes);
        // a bridge of ours without its address is half-made (killed during set-up): start over
        if (existsSync(`/sys/class/net/${this.bridge}`)) await tool('ip', ['link', 'del', 'dev', this.bridge], '');
        await this.createBridge(subnet, mtu);
      }
      writeState(this.statePath(), { subnet: formatCidr(subnet), mtu });
      writeSysctl('net/ipv4/ip_forward', '1');
      await this.applyRules(subnet);
      // route_localnet only while a port is published (see publish)
      writeSysctl(`net/ipv4/conf/${this.bridge}/route_localnet`, (await this.readPublished()).length ? '1' : '0');
      this.ipam = new Ipam(this.ipamDir(), subnet);
      this.ipam.reclaimStale();
      return { bridge: this.bridge, subnet: formatCidr(subnet), prefixLength: subnet.prefixLength, gateway: formatIPv4(subnet.base + 1), mtu };
    });
  }

  private async createBridge(subnet: Subnet, mtu: number): Promise<void> {
    const gw = `${formatIPv4(subnet.base + 1)}/${subnet.prefixLength}`;
    const r = await tool(
      'ip',
      ['-batch', '-'],
      [`link add name ${this.bridge} mtu ${mtu} type bridge`, `addr add ${gw} dev ${this.bridge}`, `link set dev ${this.bridge} up`].join('\n') + '\n',
    );
    if (r.code !== 0) {
      await tool('ip', ['link', 'del', 'dev', this.bridge], '');
      throw new TsbuildError('RUNTIME', `cannot create the network bridge ${this.bridge}: ${r.stderr.trim()}`);
    }
  }

  /**
   * Sets tsbuild's nftables rules in one `nft -f` transaction. The `ip` table is not replaced but its
   * chains are flushed and refilled: the published-port maps (`pub_any`, `pub_ip`) keep the
   * elements of running containers whichever tsbuild process sets the rules up again. The `ip6`
   * table is replaced.
   */
  private async applyRules(subnet: Subnet): Promise<void> {
    const t = this.table;
    const b = this.bridge;
    const net = formatCidr(subnet);
    const dnat = `dnat ip to ip daddr . meta l4proto . th dport map @pub_ip
    fib daddr type local dnat ip to meta l4proto . th dport map @pub_any`;
    const nat = this.internal ? '' : `ip saddr ${net} oifname != "${b}" masquerade`;
    // internal: nothing leaves or enters the bridge but replies to the host's own connections
    const out = this.internal ? `iifname "${b}" oifname != "${b}" drop` : '';
    const script = `table ip ${t} {
  map pub_any { type inet_proto . inet_service : ipv4_addr . inet_service; }
  map pub_ip { type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service; }
  chain postrouting { type nat hook postrouting priority srcnat; policy accept; }
  chain forward { type filter hook forward priority filter; policy accept; }
  chain prerouting { type nat hook prerouting priority dstnat; policy accept; }
  chain output { type nat hook output priority -100; policy accept; }
  chain input { type filter hook input priority filter; policy accept; }
}
flush chain ip ${t} postrouting
flush chain ip ${t} forward
flush chain ip ${t} prerouting
flush chain ip ${t} output
flush chain ip ${t} input
table ip ${t} {
  chain postrouting {
    ${nat}
    oifname "${b}" ip saddr 127.0.0.0/8 masquerade
    oifname "${b}" iifname "${b}" ct status dnat masquerade
  }
  chain forward {
    ${out}
    iifname "${b}" ip saddr ${net} accept
    iifname "${b}" drop
    oifname "${b}" ct state established,related accept
    oifname "${b}" ct status dnat accept
    oifname "${b}" drop
  }
  chain prerouting {
    fib daddr type local ${dnat}
  }
  chain output {
    fib daddr type local ${dnat}
  }
  chain input {
    iifname "${b}" ip daddr 127.0.0.0/8 ct direction original drop
  }
}
table ip6 ${t} {}
delete table ip6 ${t}
table ip6 ${t} {
  chain forward {
    type filter hook forward priority filter; policy accept;
    iifname "${b}" drop
    oifname "${b}" drop
  }
}
`;
    const r = await tool('nft', ['-f', '-'], script);
    if (r.code === 0) return;
    if (r.code === -1) {
      throw new TsbuildError('RUNTIME', `the default network needs nftables' nft command (${r.stderr.trim()}): install it (apt-get install nftables) or build with --network=none`);
    }
    if (/not supported|Protocol not supported|No such file or directory|Could not process rule/i.test(r.stderr)) {
      throw new TsbuildError('RUNTIME', `cannot set up NAT for ${b}: this kernel seems to lack nf_tables/nf_nat (${firstLine(r.stderr)}); build with --network=none or --network=host`);
    }
    throw new TsbuildError('RUNTIME', `cannot set up NAT for ${b}: ${firstLine(r.stderr)}`);
  }
}

/** The forwards in the published-port maps of nftables table `ip TABLE` (none when it is missing). */
async function readPublishedIn(table: string): Promise<(PortForward & { ownerIdentity?: string })[]> {
  const out: (PortForward & { ownerIdentity?: string })[] = [];
  for (const map of ['pub_any', 'pub_ip'] as const) {
    const r = await tool('nft', ['-j', 'list', 'map', 'ip', table, map], '');
    if (r.code !== 0) continue;
    type Concat = { concat: (string | number)[] };
    type Key = Concat | { elem: { val: Concat; comment?: string } };
    const doc = JSON.parse(r.stdout || '{}') as { nftables?: { map?: { elem?: [Key, Concat][] } }[] };
    for (const e of doc.nftables?.find((x) => x.map)?.map?.elem ?? []) {
      const key = 'elem' in e[0] ? e[0].elem.val : e[0];
      const comment = 'elem' in e[0] ? e[0].elem.comment : undefined;
      const k = key.concat;
      const v = e[1].concat;
      const [hostIp, proto, hostPort] = map === 'pub_any' ? ['0.0.0.0', k[0], k[1]] : [k[0], k[1], k[2]];
      const owner = comment ? Number.parseInt(comment, 10) : NaN;
      out.push({
        proto: proto === 'udp' ? 'udp' : 'tcp',
        hostIp: String(hostIp),
        hostPort: Number(hostPort),
        address: String(v[0]),
        port: Number(v[1]),
        // no owner recorded: made before owners were, and swept like a dead one
        owner: Number.isInteger(owner) && owner > 0 ? owner : 0,
        ...(comment ? { ownerIdentity: comment } : {}),
      });
    }
  }
  return out;
}

/** The other tsbuild networks' `ip` tables (the default's `tsbuild`, user networks' `tsb_<hex>`). */
async function otherTables(table: string): Promise<string[]> {
  const r = await tool('nft', ['-j', 'list', 'tables', 'ip'], '');
  if (r.code !== 0) return [];
  const doc = JSON.parse(r.stdout || '{}') as { nftables?: { table?: { name?: string } }[] };
  return (doc.nftables ?? []).flatMap((x) => x.table?.name ?? []).filter((n) => n !== table && /^tsb[A-Za-z0-9_]*$/.test(n));
}

/** Subnets in the state files of tsbuild's other bridges (`<stateDir>/<bridge>.json`). */
function otherBridgeSubnets(stateDir: string, bridge: string): Subnet[] {
  let names: string[];
  try {
    names = readdirSync(stateDir);
  } catch {
    return [];
  }
  return names
    .filter((n) => n.endsWith('.json') && n !== `${bridge}.json`)
    .flatMap((n) => {
      const s = readState(join(stateDir, n));
      return s ? (parseCidr(s.subnet) ?? []) : [];
    });
}

// ---- host facts ---------------------------------------------------------------------------------

interface HostRoutes {
  /** Destinations of the host's IPv4 routes, all tables, except default routes and our bridge's. */
  dsts: Subnet[];
  /** The interface of the (first) default route. */
  defaultDev?: string;
}

async function hostRoutes(bridge: string): Promise<HostRoutes> {
  const r = await tool('ip', ['-j', '-4', 'route', 'show', 'table', 'all'], '');
  if (r.code !== 0) {
    throw new TsbuildError('RUNTIME', `cannot read the host's routes: ${r.code === -1 ? 'the ip command (iproute2) is missing' : firstLine(r.stderr)}`);
  }
  const out: HostRoutes = { dsts: [] };
  for (const e of JSON.parse(r.stdout || '[]') as { dst?: string; dev?: string; type?: string }[]) {
    if (!e.dst || e.dev === bridge) continue;
    if (e.dst === 'default') {
      out.defaultDev ??= e.dev;
      continue;
    }
    const dst = parseCidr(e.dst);
    if (dst) out.dsts.push(dst);
  }
  return out;
}

/** The MTU of the interface carrying the default route (1500 when there is none). */
function egressMtu(routes: HostRoutes): number {
  const dev = routes.defaultDev;
  if (!dev || !/^[^/]+$/.test(dev)) return 1500;
  const n = Number.parseInt(readText(`/sys/class/net/${dev}/mtu`) ?? '', 10);
  return n >= 1280 && n <= 65535 ? n : 1500;
}

function hostNameservers(): Subnet[] {
  const text = readText('/etc/resolv.conf') ?? '';
  return [...text.matchAll(/^\s*nameserver\s+(\d+\.\d+\.\d+\.\d+)\s*$/gm)].flatMap((m) => parseCidr(`${m[1]}/32`) ?? []);
}

async function bridgeSubnet(bridge: string): Promise<Subnet | undefined> {
  const r = await tool('ip', ['-j', '-4', 'addr', 'show', 'dev', bridge], '');
  if (r.code !== 0) return undefined;
  const links = JSON.parse(r.stdout || '[]') as { addr_info?: { local?: string; prefixlen?: number }[] }[];
  const a = links[0]?.addr_info?.[0];
  if (!a?.local || a.prefixlen === undefined) return undefined;
  const s = parseCidr(`${a.local}/${a.prefixlen}`);
  // the gateway is the first host address; a bridge set up otherwise is not ours to reuse
  return s && parseIPv4(a.local) === s.base + 1 ? s : undefined;
}

function readState(path: string): State | undefined {
  try {
    const s = JSON.parse(readFileSync(path, 'utf8')) as Partial<State>;
    return typeof s.subnet === 'string' && typeof s.mtu === 'number' ? { subnet: s.subnet, mtu: s.mtu } : undefined;
  } catch {
    return undefined;
  }
}

function writeState(path: string, s: State): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(s) + '\n', { mode: 0o600 });
  renameSync(tmp, path);
}

function writeSysctl(key: string, value: string): void {
  const path = `/proc/sys/${key}`;
  if (readText(path)?.trim() === value) return;
  try {
    writeFileSync(path, value);
  } catch (e) {
    throw new TsbuildError('RUNTIME', `cannot set ${key.replace(/\//g, '.')}=${value}: ${(e as Error).message}`);
  }
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

function firstLine(s: string): string {
  return s.trim().split('\n').find((l) => l.trim() !== '') ?? '';
}

/** Runs an iproute2/nftables command; code -1 when it could not be started. */
function tool(cmd: string, args: string[], input: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' } });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.stdin.on('error', () => {});
    child.stdin.end(input);
    child.on('error', (e) => resolve({ code: -1, stdout: '', stderr: `${cmd}: ${e.message}` }));
    child.on('close', (code) => resolve({ code: code ?? 1, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }));
  });
}
