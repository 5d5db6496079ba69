/**
 * Containers on user networks: attaching at start (`--network NAME`: eth0 through the sandbox's
 * handshake; networks connected while stopped: eth1, eth2... moved into the running namespace),
 * `network connect`/`disconnect` of a running container, and name resolution.
 *
 * Docker answers names on a user network from its embedded DNS (127.0.0.11): a container's name,
 * short ID and `--network-alias`es resolve to its address on that network, for containers on that
 * network only; the default bridge resolves nothing. Without a daemon, tsbuild writes those names
 * into each attached running container's /etc/hosts (the file in its container dir, bound into
 * it): rewritten in place (same inode, so the bind mount sees it), under one lock, whenever a
 * container on a user network starts, stops (its exit command), connects, disconnects or is
 * removed, and by every `network` command (so a killed monitor's names go at the next one).
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TsbuildError } from '../errors.js';
import { withLock } from '../image/lock.js';
import type { Attachment } from '../runtime/network.js';
import { shortId } from './ids.js';
import { isBuiltinNetwork, Networks, notFound, type NetworkRecord } from './networks.js';
import { containerDir, lockPath, readRecord, readState, writeJsonAtomic, type ContainerPaths, type ContainerRecord, type ContainerState, type EndpointConfig } from './record.js';

export type Endpoint = NonNullable<ContainerState['Endpoints']>[string];

/** What this module needs of the container store. */
export interface ContainerLister {
  readonly paths: ContainerPaths;
  list(): Promise<{ record: ContainerRecord; state: ContainerState }[]>;
}

export class NetworkEndpoints {
  readonly networks: Networks;
  /** Refreshes under way in this process (their look at the containers must not start another:
   *  the hosts lock is not reentrant). */
  refreshing = 0;

  constructor(
    private readonly containers: ContainerLister,
    root: string,
  ) {
    this.networks = new Networks(root);
  }

  /** The user networks RECORD joins at start, its NetworkMode's first; a removed one is Docker's
   *  `network NAME not found` (125). */
  plan(record: ContainerRecord): { net: NetworkRecord; cfg: EndpointConfig }[] {
    const names = Object.keys(record.Networks ?? {});
    const mode = record.HostConfig.NetworkMode;
    const ordered = isBuiltinNetwork(mode) ? names : [mode, ...names.filter((n) => n !== mode)];
    return ordered.map((name) => {
      const cfg = record.Networks?.[name] ?? { NetworkID: '', Aliases: [] };
      const net = this.networks.get(cfg.NetworkID || name);
      if (!net || (cfg.NetworkID && net.Id !== cfg.NetworkID)) throw notFound(name, 125);
      return { net, cfg };
    });
  }

  /** eth0 of a container whose NetworkMode is a user network (the sandbox's netAttach). */
  attachPrimary(net: NetworkRecord, cfg: EndpointConfig, pid: number): Promise<Attachment> {
    return this.networks.bridgeOf(net).attach(pid, { isolated: false, owner: pid, ...(cfg.IPv4Address ? { address: cfg.IPv4Address } : {}) });
  }

  /** The Endpoints of a container just started with PID: the primary's (already attached as
   *  eth0), and the other planned networks attached now as eth1, eth2... */
  async attachRest(plan: readonly { net: NetworkRecord; cfg: EndpointConfig }[], pid: number, primary: Attachment | undefined, hasEth0: boolean): Promise<Record<string, Endpoint>> {
    const out: Record<string, Endpoint> = {};
    let next = hasEth0 ? 1 : 0;
    for (const [i, { net, cfg }] of plan.entries()) {
      if (i === 0 && primary) {
        out[net.Name] = endpointOf(net, primary, 'eth0');
        continue;
      }
      const ifname = `eth${next++}`;
      const a = await this.networks.bridgeOf(net).attach(pid, { isolated: false, owner: pid, ifname, configure: true, ...(cfg.IPv4Address ? { address: cfg.IPv4Address } : {}) });
      out[net.Name] = endpointOf(net, a, ifname);
    }
    return out;
  }

  /** `network connect`: records the network in the container (a stopped one joins it at its next
   *  start) and attaches a running one now. */
  async connect(id: string, net: NetworkRecord, opts: { aliases?: string[]; ip?: string } = {}): Promise<void> {
    const dir = containerDir(this.containers.paths, id);
    await withLock(lockPath(this.containers.paths, id), async () => {
      const record = readRecord(dir);
      if (!record) throw new TsbuildError('NOT_FOUND', `No such container: ${id}`);
      const mode = record.HostConfig.NetworkMode;
      if (mode === 'host') throw new TsbuildError('CONFLICT', 'container cannot be disconnected from host network or connected to host network');
      if (mode === 'none') throw new TsbuildError('CONFLICT', 'container cannot be connected to multiple networks with one of the networks in private (none) mode');
      if (record.Networks?.[net.Name] || mode === net.Name) {
        throw new TsbuildError('CONFLICT', `endpoint with name ${record.Name} already exists in network ${net.Name}`);
      }
      const cfg: EndpointConfig = { NetworkID: net.Id, Aliases: opts.aliases ?? [], ...(opts.ip ? { IPv4Address: opts.ip } : {}) };
      const st = readState(dir);
      if (st.Running && st.Pid > 0) {
        const used = new Set(Object.values(st.Endpoints ?? {}).map((e) => e.IfName));
        if (mode === 'bridge' || st.Network) used.add('eth0');
        let n = 0;
        while (used.has(`eth${n}`)) n++;
        const a = await this.networks.bridgeOf(net).attach(st.Pid, { isolated: false, owner: st.Pid, ifname: `eth${n}`, configure: true, ...(opts.ip ? { address: opts.ip } : {}) });
        writeJsonAtomic(join(dir, 'state.json'), { ...readState(dir), Endpoints: { ...(st.Endpoints ?? {}), [net.Name]: endpointOf(net, a, `eth${n}`) } });
      }
      writeJsonAtomic(join(dir, 'config.json'), { ...record, Networks: { ...(record.Networks ?? {}), [net.Name]: cfg } });
    });
    await this.refreshHosts();
  }

  /** `network disconnect`: the container leaves the network (its interface goes if it runs). */
  async disconnect(id: string, net: NetworkRecord): Promise<void> {
    const dir = containerDir(this.containers.paths, id);
    await withLock(lockPath(this.containers.paths, id), async () => {
      const record = readRecord(dir);
      if (!record) throw new TsbuildError('NOT_FOUND', `No such container: ${id}`);
      if (!record.Networks?.[net.Name] && record.HostConfig.NetworkMode !== net.Name) {
        throw new TsbuildError('CONFLICT', `container ${id} is not connected to network ${net.Name}`);
      }
      const st = readState(dir);
      const ep = st.Endpoints?.[net.Name];
      if (ep) {
        const bridge = this.networks.bridgeOf(net);
        await bridge.detach(ep.HostInterface);
        const endpoints = { ...st.Endpoints };
        delete endpoints[net.Name];
        writeJsonAtomic(join(dir, 'state.json'), { ...readState(dir), Endpoints: endpoints });
        await bridge.release(ep.IPAddress);
      }
      const networks = { ...(record.Networks ?? {}) };
      delete networks[net.Name];
      // leaving its NetworkMode's network leaves the container on none, as Docker's
      const mode = record.HostConfig.NetworkMode === net.Name ? 'none' : record.HostConfig.NetworkMode;
      writeJsonAtomic(join(dir, 'config.json'), { ...record, Networks: networks, HostConfig: { ...record.HostConfig, NetworkMode: mode } });
    });
    await this.refreshHosts([id]);
  }

  /** Gives back the addresses of a stopped container's endpoints (those still its own). */
  async release(endpoints: Record<string, Endpoint>): Promise<void> {
    for (const [name, ep] of Object.entries(endpoints)) {
      const net = this.networks.get(ep.NetworkID);
      if (net && net.Name === name) await this.networks.bridgeOf(net).releaseIfStale(ep.IPAddress).catch(() => undefined);
    }
  }

  /** The running containers attached to network N: ID → endpoint and name. */
  async attached(n: NetworkRecord): Promise<{ id: string; name: string; endpoint: Endpoint }[]> {
    const views = await this.containers.list();
    return views.flatMap((v) => {
      const ep = v.state.Running ? v.state.Endpoints?.[n.Name] : undefined;
      return ep && ep.NetworkID === n.Id ? [{ id: v.record.Id, name: v.record.Name, endpoint: ep }] : [];
    });
  }

  /**
   * Rewrites /etc/hosts of every running container on a user network: its own lines as Docker
   * writes them, then, for each of its networks, each attached container's address there with its
   * name, short ID and aliases. Addresses of containers found stopped are given back. ALSO: IDs
   * of running containers rewritten even without user networks (one that just left its last).
   */
  async refreshHosts(also: readonly string[] = []): Promise<void> {
    if (!existsSync(this.networks.dir)) return;
    const { hostsFile } = await import('./containers.js');
    this.refreshing++;
    // read under the lock: a refresh never writes what an older look at the containers saw
    await withLock(join(this.networks.dir, '.hosts.lock'), async () => {
      const views = await this.containers.list();
      const running = views.filter((v) => v.state.Running && (Object.keys(v.state.Endpoints ?? {}).length || also.includes(v.record.Id)));
      for (const v of views) if (!v.state.Running && v.state.Endpoints) await this.release(v.state.Endpoints);
      for (const v of running) {
        const own = v.state.Network?.IPAddress ?? Object.values(v.state.Endpoints ?? {}).find((e) => e.IfName === 'eth0')?.IPAddress;
        const lines: string[] = [];
        for (const [name, ep] of Object.entries(v.state.Endpoints ?? {})) {
          for (const peer of running) {
            const pe = peer.state.Endpoints?.[name];
            if (!pe || pe.NetworkID !== ep.NetworkID) continue;
            const aliases = peer.record.Networks?.[name]?.Aliases ?? [];
            lines.push(`${pe.IPAddress}\t${[...new Set([peer.record.Name, shortId(peer.record.Id), ...aliases])].join(' ')}`);
          }
        }
        try {
          // in place: the container sees this file through a bind mount of its inode
          writeFileSync(join(containerDir(this.containers.paths, v.record.Id), 'hosts'), hostsFile(v.record.Config.Hostname || shortId(v.record.Id), own) + lines.map((l) => l + '\n').join(''));
        } catch {
          /* removed meanwhile */
        }
      }
    }).finally(() => this.refreshing--);
  }
}

function endpointOf(net: NetworkRecord, a: Attachment, ifname: string): Endpoint {
  const ip = a.address.split('.').map(Number);
  return {
    NetworkID: net.Id,
    IPAddress: a.address,
    IPPrefixLen: a.prefixLength,
    Gateway: a.gateway,
    MacAddress: `02:74:${ip.map((b) => b.toString(16).padStart(2, '0')).join(':')}`,
    HostInterface: a.hostInterface,
    IfName: ifname,
  };
}
