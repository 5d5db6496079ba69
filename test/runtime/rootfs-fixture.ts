/** Lower dirs for runtime tests: the busybox rootfs extracted once per test file, plus helpers. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { busyboxRootfsTar } from '../helpers/fixtures.js';
import { removeTreeSync } from '../../src/image/remove-tree.js';
import type { SnapshotMounts } from '../../src/image/snapshots.js';

export interface Scratch {
  dir: string;
  /** The extracted busybox rootfs (a lower dir). */
  busybox: string;
  /** A fresh empty directory under the scratch dir. */
  mkdir(name: string): string;
  /** Mounts for `runtime.prepare` over LOWERS (see snapshotMounts), under the scratch dir. */
  mounts(lowers: readonly string[]): SnapshotMounts & { dir: string };
  cleanup(): void;
}

export function scratch(): Scratch {
  const dir = mkdtempSync(join(tmpdir(), 'tsbuild-rt-test-'));
  const busybox = join(dir, 'busybox');
  mkdirSync(busybox);
  execFileSync('tar', ['-xf', busyboxRootfsTar(), '-C', busybox, '--numeric-owner']);
  return {
    dir,
    busybox,
    mkdir(name) {
      const p = join(dir, name);
      mkdirSync(p, { recursive: true });
      return p;
    },
    mounts(lowers) {
      return snapshotMounts(dir, lowers);
    },
    cleanup() {
      removeTreeSync(dir); // runs may leave trees deeper than PATH_MAX
    },
  };
}

/**
 * What a snapshotter's prepare hands the runtime, over any dirs (the runtime's tests stack
 * hand-made lowers, not committed snapshots): LOWERS, bottom first, and a fresh upper and work dir
 * in a new dir under PARENT, which the caller removes (test/image covers the real snapshotter).
 */
export function snapshotMounts(parent: string, lowers: readonly string[]): SnapshotMounts & { dir: string } {
  const dir = mkdtempSync(join(parent, 'active-'));
  const m = { dir, lowerDirs: [...lowers], upperDir: join(dir, 'upper'), workDir: join(dir, 'work') };
  for (const d of [m.upperDir, m.workDir]) mkdirSync(d, { mode: 0o755 });
  return m;
}

/** Collects a run's output. */
export function sink(): { out: Buffer[]; text(): string; fn: (b: Buffer) => void } {
  const out: Buffer[] = [];
  return { out, text: () => Buffer.concat(out).toString('utf8'), fn: (b) => out.push(b) };
}

/** Mount points of this (host) mount namespace. */
export function hostMountPoints(): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(' ')[4]!);
}

/** PIDs of processes whose command line contains MARKER (zombies excluded). */
export function processesWith(marker: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(name) || Number(name) === process.pid) continue;
    try {
      const cmd = readFileSync(`/proc/${name}/cmdline`, 'utf8');
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2)[0] === 'Z') continue;
      if (cmd.includes(marker)) out.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}
