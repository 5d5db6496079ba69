/**
 * User-defined networks as Docker's `bridge` driver keeps them, without a daemon: one record per
 * network, `ROOT/networks/<id>.json`, holding what `docker network inspect` shows (Name, Id of 64
 * hex, Created, Driver "bridge", IPAM Config Subnet/Gateway, Internal, Labels); the built-in
 * `bridge`, `host` and `none` are not stored. Pinned Docker behaviour:
 * - names unique: `network with name NAME already exists` (exit 1); names as Docker's
 *   (`[a-zA-Z0-9][a-zA-Z0-9_.-]*`); an unknown name or ID: `network NAME not found`;
 * - a network is found by full name, full ID or unique ID prefix (name first);
 * - each network gets its own Linux bridge `tsb-<11 hex of the ID>` and nftables tables
 *   `tsb_<12 hex>` (runtime/network.ts: NAT out, nothing new forwarded into the bridge from another
 *   bridge, so networks are isolated from each other and from the default bridge, but for what a
 *   published port DNATs to a container on it: `run --network NAME -p` works as Docker's); the subnet is
 *   chosen (or checked) at create, clear of the host's routes and of every other tsbuild bridge,
 *   the bridge made when the first container attaches and removed with the network.
 * - a network whose store is gone (its root deleted while the network existed) would keep its
 *   bridge, tables and subnet reservation forever: `<stateDir>/<bridge>.owner` names the record of
 *   each network, and `network create` and `network prune` of any store remove the bridges whose
 *   record is gone and on which no container is left (`sweepOrphans`).
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { TsbuildError } from '../errors.js';
import { withLock } from '../image/lock.js';
import { BridgeNetwork, DEFAULT_STATE_DIR, USER_CANDIDATES } from '../runtime/network.js';
import { formatCidr, parseCidr, parseIPv4 } from '../runtime/network-ipam.js';
import { formatRfc3339Nano } from './log-time.js';
import { writeJsonAtomic } from './record.js';

export interface NetworkRecord {
  Name: string;
  Id: string;
  Created: string;
  Scope: 'local';
  Driver: string;
  EnableIPv6: boolean;
  IPAM: { Driver: 'default'; Options: Record<string, string>; Config: { Subnet: string; Gateway: string }[] };
  Internal: boolean;
  Attachable: boolean;
  Ingress: boolean;
  ConfigFrom: { Network: string };
  ConfigOnly: boolean;
  Options: Record<string, string>;
  Labels: Record<string, string>;
}

export interface CreateNetworkOptions {
  driver?: string;
  subnet?: string;
  gateway?: string;
  internal?: boolean;
  labels?: Record<string, string>;
}

/** The built-in networks (not stored): their drivers as Docker names them. */
export const BUILTIN_NETWORKS: readonly { name: string; driver: string }[] = [
  { name: 'bridge', driver: 'bridge' },
  { name: 'host', driver: 'host' },
  { name: 'none', driver: 'null' },
];

export const isBuiltinNetwork = (name: string) => name === 'default' || BUILTIN_NETWORKS.some((b) => b.name === name);

/** A built-in network's ID: stable per host name of the network (Docker's are random per daemon). */
export function builtinNetworkId(name: string): string {
  return createHash('sha256').update(`tsbuild-network-${name}`).digest('hex');
}

export const notFound = (word: string, exitCode = 1) => new TsbuildError('NOT_FOUND', `network ${word} not found`, undefined, exitCode);

/** The Linux bridge of network ID (15 characters: the kernel's limit). */
export const bridgeNameOf = (id: string) => `tsb-${id.slice(0, 11)}`;
const tableNameOf = (id: string) => `tsb_${id.slice(0, 12)}`;

export class Networks {
  readonly dir: string;

  constructor(
    root: string,
    /** Where the bridges' state lives (runtime/network.ts's stateDir). */
    private readonly stateDir?: string,
  ) {
    this.dir = join(root, 'networks');
  }

  /** Every user network, by name. */
  list(): NetworkRecord[] {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch {
      return [];
    }
    return names
      .filter((n) => /^[0-9a-f]{64}\.json$/.test(n))
      .flatMap((n) => this.read(n.slice(0, 64)) ?? [])
      .sort((a, b) => (a.Name < b.Name ? -1 : a.Name > b.Name ? 1 : 0));
  }

  /** The user network WORD names (name, full ID, unique ID prefix); undefined when none. */
  get(word: string): NetworkRecord | undefined {
    const all = this.list();
    const byName = all.find((n) => n.Name === word);
    if (byName) return byName;
    if (!/^[0-9a-f]+$/.test(word)) return undefined;
    const hits = all.filter((n) => n.Id.startsWith(word));
    if (hits.length > 1) throw new TsbuildError('CONFLICT', `network ${word} is ambiguous (${hits.length} matches found on name)`);
    return hits[0];
  }

  /** `get`, or Docker's `network NAME not found`. */
  find(word: string, exitCode = 1): NetworkRecord {
    const n = this.get(word);
    if (!n) throw notFound(word, exitCode);
    return n;
  }

  async create(name: string, opts: CreateNetworkOptions = {}): Promise<NetworkRecord> {
    const driver = opts.driver ?? 'bridge';
    if (driver !== 'bridge') throw new TsbuildError('NOT_FOUND', `plugin "${driver}" not found`);
    if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(name)) {
      throw new TsbuildError('INVALID', `invalid network name "${name}": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
    }
    if (isBuiltinNetwork(name)) throw new TsbuildError('CONFLICT', `network with name ${name} already exists`);
    let subnet: string | undefined;
    if (opts.subnet !== undefined) {
      const s = parseCidr(opts.subnet);
      if (!s || !opts.subnet.includes('/')) throw new TsbuildError('INVALID', `invalid CIDR address: ${opts.subnet}`);
      if (s.prefixLength > 30) throw new TsbuildError('INVALID', `invalid pool request: subnet ${opts.subnet} is too small`);
      subnet = formatCidr(s);
      if (opts.gateway !== undefined && parseIPv4(opts.gateway) !== s.base + 1) {
        throw new TsbuildError('INVALID', `gateway ${opts.gateway} is not supported: tsbuild's gateway is the subnet's first address`);
      }
    } else if (opts.gateway !== undefined) throw new TsbuildError('INVALID', 'every ip-range or gateway must have a corresponding subnet');
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    // subnets held by networks of deleted stores are free again
    await this.sweepOrphans();
    return withLock(join(this.dir, '.lock'), async () => {
      if (this.list().some((n) => n.Name === name)) throw new TsbuildError('CONFLICT', `network with name ${name} already exists`);
      const id = randomBytes(32).toString('hex');
      const bridge = this.bridgeOf({ Id: id, Internal: false, IPAM: { Config: subnet ? [{ Subnet: subnet }] : [] } }, subnet ? [subnet] : USER_CANDIDATES);
      const chosen = await bridge.reserve();
      const record: NetworkRecord = {
        Name: name,
        Id: id,
        Created: formatRfc3339Nano(BigInt(Date.now()) * 1_000_000n),
        Scope: 'local',
        Driver: 'bridge',
        EnableIPv6: false,
        IPAM: { Driver: 'default', Options: {}, Config: [{ Subnet: chosen.subnet, Gateway: chosen.gateway }] },
        Internal: opts.internal === true,
        Attachable: false,
        Ingress: false,
        ConfigFrom: { Network: '' },
        ConfigOnly: false,
        Options: {},
        Labels: opts.labels ?? {},
      };
      try {
        writeJsonAtomic(join(this.dir, `${id}.json`), record);
        // after the record: an owner file always names an existing record but while it is removed
        writeFileSync(this.ownerPath(id), `${join(this.dir, `${id}.json`)}\n`, { mode: 0o600 });
      } catch (e) {
        await bridge.remove();
        rmSync(join(this.dir, `${id}.json`), { force: true });
        throw e;
      }
      return record;
    });
  }

  /**
   * Removes the network: its bridge, rules, addresses and record. ENDPOINTS are the IDs of the
   * running containers attached to it (then Docker's refusal).
   */
  async remove(n: NetworkRecord, endpoints: readonly string[]): Promise<void> {
    const busy = () => new TsbuildError('CONFLICT', `error while removing network: network ${n.Name} id ${n.Id} has active endpoints`);
    if (endpoints.length) throw busy();
    // under the network's lock, which every attach holds: an attach either came first (its
    // interface is on the bridge, though its container's state may not say so yet) or finds the
    // network gone
    await withLock(join(this.dir, '.lock'), () =>
      withLock(this.lockPath(n), async () => {
        const bridge = this.bridgeOf(n);
        if (bridge.ports().length) throw busy();
        await bridge.remove();
        rmSync(join(this.dir, `${n.Id}.json`), { force: true });
        rmSync(this.ownerPath(n.Id), { force: true });
      }),
    );
  }

  /**
   * Removes the bridges (with their tables, addresses and subnet reservation) of networks whose
   * record is gone — their store was deleted — once no container is on them; bridges of networks
   * made before owner files existed, and the default bridge, have none and are left alone. Returns
   * the bridges removed.
   */
  async sweepOrphans(): Promise<string[]> {
    const stateDir = this.stateDir ?? DEFAULT_STATE_DIR;
    let names: string[];
    try {
      names = readdirSync(stateDir);
    } catch {
      return [];
    }
    const gone: string[] = [];
    for (const name of names) {
      const m = /^(tsb-[0-9a-f]{11})\.owner$/.exec(name);
      if (!m) continue;
      let record: string;
      try {
        record = readFileSync(join(stateDir, name), 'utf8').trim();
      } catch {
        continue;
      }
      const id = basename(record, '.json');
      if (!/^[0-9a-f]{64}$/.test(id) || bridgeNameOf(id) !== m[1] || existsSync(record)) continue;
      const bridge = this.bridgeOf({ Id: id, Internal: false, IPAM: { Config: [] } });
      if (bridge.ports().length) continue; // a container of the deleted store still runs on it
      await bridge.remove();
      rmSync(join(stateDir, name), { force: true });
      gone.push(m[1]);
    }
    return gone;
  }

  /** The file naming network ID's record, beside its bridge's state. */
  private ownerPath(id: string): string {
    return join(this.stateDir ?? DEFAULT_STATE_DIR, `${bridgeNameOf(id)}.owner`);
  }

  /** The bridge of network N (made when a container first attaches). */
  bridgeOf(n: Pick<NetworkRecord, 'Id' | 'Internal'> & { Name?: string; IPAM: { Config: { Subnet: string }[] } }, candidates?: string[]): BridgeNetwork {
    return new BridgeNetwork({
      bridge: bridgeNameOf(n.Id),
      table: tableNameOf(n.Id),
      candidates: candidates ?? n.IPAM.Config.map((c) => c.Subnet),
      internal: n.Internal,
      attachGuard: {
        lockPath: this.lockPath(n),
        check: () => {
          if (!this.read(n.Id)) throw notFound(n.Name ?? n.Id, 125);
        },
      },
      ...(this.stateDir ? { stateDir: this.stateDir } : {}),
    });
  }

  /** The bridge of network ID for removing what its containers left (its published ports): the
   *  record may be gone, its table then too, and nothing is left to remove. */
  bridgeOfId(id: string): BridgeNetwork {
    return this.bridgeOf(this.get(id) ?? { Id: id, Internal: false, IPAM: { Config: [] } });
  }

  /** The lock serializing network N's removal and its containers' attaches. */
  lockPath(n: Pick<NetworkRecord, 'Id'>): string {
    return join(this.dir, `.${n.Id.slice(0, 12)}.lock`);
  }

  private read(id: string): NetworkRecord | undefined {
    try {
      const r = JSON.parse(readFileSync(join(this.dir, `${id}.json`), 'utf8')) as NetworkRecord;
      return r.Id === id && typeof r.Name === 'string' ? r : undefined;
    } catch {
      return undefined;
    }
  }
}
