/**
 * Address management for tsbuild's bridge: one file per address in use under a directory (
 * `/run/tsbuild/ipam/<bridge>/10.89.0.7`), created with O_EXCL so concurrent tsbuild processes
 * never hand out the same address, and holding its owner (`PID STARTTIME`) so entries left by a
 * killed process are reclaimed. Like Docker's IPAM, addresses are handed out round-robin from a
 * shared hint instead of lowest-free: a just-released address (whose old namespace the kernel may
 * still be tearing down) is not reused at once.
 */
import { processIdentity } from './proc-stat.js';
import { closeSync, constants, mkdirSync, openSync, readFileSync, readdirSync, renameSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { TsbuildError } from '../errors.js';

/** An IPv4 subnet as numbers. */
export interface Subnet {
  /** The network address as an unsigned 32-bit number. */
  base: number;
  prefixLength: number;
}

export interface AddressLease {
  address: string;
  /** Gives the address back (idempotent). */
  release(): void;
}

export function parseIPv4(text: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return undefined;
  return ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0;
}

export function formatIPv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** `10.89.0.0/16` → Subnet (host bits cleared); undefined when malformed. */
export function parseCidr(text: string): Subnet | undefined {
  const [addr, len] = text.split('/');
  const base = parseIPv4(addr ?? '');
  const prefixLength = len === undefined ? 32 : /^\d{1,2}$/.test(len) ? Number(len) : NaN;
  if (base === undefined || !(prefixLength >= 0 && prefixLength <= 32)) return undefined;
  return { base: (base & mask(prefixLength)) >>> 0, prefixLength };
}

export function formatCidr(s: Subnet): string {
  return `${formatIPv4(s.base)}/${s.prefixLength}`;
}

export function overlaps(a: Subnet, b: Subnet): boolean {
  const m = mask(Math.min(a.prefixLength, b.prefixLength));
  return ((a.base & m) >>> 0) === ((b.base & m) >>> 0);
}

function mask(len: number): number {
  return len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
}

/** This process's identity as an IPAM owner: PID plus start time, so a reused PID is not taken
 *  for the process that made the entry. */
const ownerOf = processIdentity;

let self: string | undefined;

/**
 * The addresses of one subnet. The network address, the gateway (`base + 1`) and the broadcast
 * address are never handed out.
 */
export class Ipam {
  private readonly held = new Set<string>();
  private exitHooked = false;

  constructor(
    private readonly dir: string,
    private readonly subnet: Subnet,
  ) {}

  /** Claims a free address for this process, or for process OWNER (then not released when this
   *  process exits). */
  allocate(owner?: number): AddressLease {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const size = 2 ** (32 - this.subnet.prefixLength);
    const first = 2; // .0 network, .1 gateway
    const count = size - 3; // and not the broadcast address
    if (count <= 0) throw new TsbuildError('RUNTIME', `network ${formatCidr(this.subnet)} has no room for addresses`);
    const me = owner !== undefined ? ownerOf(owner) : (self ??= ownerOf(process.pid) ?? `${process.pid} 0`);
    if (me === undefined) throw new TsbuildError('RUNTIME', `cannot claim an address for process ${owner}: it is gone`);
    const read = this.readHint();
    const hint = read >= 1 && read < size ? read : 1;
    for (let pass = 0; pass < 2; pass++) {
      const used = new Set(this.entries());
      for (let i = 0; i < count; i++) {
        const offset = first + ((hint + 1 - first + i + count) % count);
        const address = formatIPv4(this.subnet.base + offset);
        if (used.has(address)) continue;
        if (this.tryClaim(address, me)) {
          this.writeHint(offset);
          return this.lease(address, owner === undefined);
        }
      }
      // full: entries of dead processes are the only hope
      if (this.reclaimStale() === 0) break;
    }
    throw new TsbuildError('RUNTIME', `no free address left in tsbuild's network ${formatCidr(this.subnet)} (${this.dir})`);
  }

  /** Claims ADDRESS (`--ip`): Docker's words when it is outside the subnet or taken. */
  claim(address: string, owner?: number): AddressLease {
    const n = parseIPv4(address);
    const size = 2 ** (32 - this.subnet.prefixLength);
    const offset = n === undefined ? -1 : n - this.subnet.base;
    if (offset < 2 || offset >= size - 1) throw new TsbuildError('INVALID', `no configured subnet or ip-range contain the IP address ${address}`, undefined, 125);
    const me = owner !== undefined ? ownerOf(owner) : (self ??= ownerOf(process.pid) ?? `${process.pid} 0`);
    if (me === undefined) throw new TsbuildError('RUNTIME', `cannot claim an address for process ${owner}: it is gone`);
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    if (!this.tryClaim(address, me)) {
      this.releaseIfStale(address);
      if (!this.tryClaim(address, me)) throw new TsbuildError('CONFLICT', `Address already in use`, undefined, 125);
    }
    return this.lease(address, owner === undefined);
  }

  /**
   * Removes the entries whose owner is gone; returns how many. Call it while holding the network
   * lock: only then can nobody replace an entry between the owner check and the unlink.
   */
  reclaimStale(): number {
    let n = 0;
    for (const address of this.entries()) {
      const path = join(this.dir, address);
      let owner: string;
      try {
        owner = readFileSync(path, 'utf8').trim();
      } catch {
        continue;
      }
      const pid = Number.parseInt(owner, 10);
      // an empty entry is a claimer between create and write: leave it to its owner
      if (!Number.isInteger(pid) || pid <= 0 || ownerOf(pid) === owner) continue;
      try {
        unlinkSync(path);
        n++;
      } catch {
        /* released meanwhile */
      }
    }
    return n;
  }

  /** Addresses with an entry (in use or stale). */
  entries(): string[] {
    try {
      return readdirSync(this.dir).filter((n) => parseIPv4(n) !== undefined);
    } catch {
      return [];
    }
  }

  private tryClaim(address: string, owner: string): boolean {
    let fd: number;
    try {
      fd = openSync(join(this.dir, address), constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw e;
    }
    try {
      writeSync(fd, owner + '\n');
    } finally {
      closeSync(fd);
    }
    return true;
  }

  /** Removes ADDRESS's entry when its owner is gone (call holding the network lock). */
  releaseIfStale(address: string): void {
    const path = join(this.dir, address);
    let owner: string;
    try {
      owner = readFileSync(path, 'utf8').trim();
    } catch {
      return;
    }
    const pid = Number.parseInt(owner, 10);
    if (!Number.isInteger(pid) || pid <= 0 || ownerOf(pid) === owner) return;
    try {
      unlinkSync(path);
    } catch {
      /* released meanwhile */
    }
  }

  private lease(address: string, ours = true): AddressLease {
    if (ours) {
      this.held.add(address);
      this.hookExit();
    }
    return {
      address,
      release: () => {
        if (ours && !this.held.delete(address)) return;
        try {
          unlinkSync(join(this.dir, address));
        } catch {
          /* reclaimed by someone who thought we were dead */
        }
      },
    };
  }

  /** Entries are released when the process exits with leases still out (the sandboxes are
   *  killed by the runtime's own exit handler, their namespaces go with them). */
  private hookExit(): void {
    if (this.exitHooked) return;
    this.exitHooked = true;
    process.on('exit', () => {
      for (const a of this.held) {
        try {
          unlinkSync(join(this.dir, a));
        } catch {
          /* best effort */
        }
      }
      this.held.clear();
    });
  }

  private readHint(): number {
    try {
      const n = Number.parseInt(readFileSync(join(this.dir, 'next'), 'utf8'), 10);
      return Number.isInteger(n) ? n : 1;
    } catch {
      return 1;
    }
  }

  /** A hint only: a lost update makes the next claim skip or retry a few addresses. */
  private writeHint(offset: number): void {
    const tmp = join(this.dir, `.next.${process.pid}`);
    try {
      writeFileSync(tmp, String(offset));
      renameSync(tmp, join(this.dir, 'next'));
    } catch {
      /* ignore */
    }
  }
}
