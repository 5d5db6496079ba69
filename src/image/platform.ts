/**
 * Platforms in OCI terms (`os/arch[/variant]`) and picking an index entry for one, as containerd's
 * default matcher does: entries without a platform, attestation manifests (`unknown/unknown`) and
 * other OSes never match; an absent wanted variant matches any, preferring arm64 v8 / arm v7.
 */
import { TsbuildError } from '../errors.js';
import type { Descriptor, Index } from './manifest.js';

export interface Platform {
  architecture: string;
  os: string;
  variant?: string;
  'os.version'?: string;
  'os.features'?: string[];
}

/** The platform this process runs on (linux/amd64 on x86-64). */
export function hostPlatform(): Platform {
  const archMap: Record<string, [string, string?]> = {
    x64: ['amd64'],
    arm64: ['arm64', 'v8'],
    arm: ['arm', 'v7'],
    ia32: ['386'],
    ppc64: ['ppc64le'],
    s390x: ['s390x'],
    riscv64: ['riscv64'],
  };
  const [architecture, variant] = archMap[process.arch] ?? [process.arch];
  const p: Platform = { os: process.platform === 'win32' ? 'windows' : process.platform, architecture };
  if (variant) p.variant = variant;
  return p;
}

/** Parses `os/arch[/variant]` as `--platform` takes it. */
export function parsePlatform(s: string): Platform {
  const parts = s.split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => p.length === 0)) {
    throw new TsbuildError('INVALID', `invalid platform "${s}": expected os/arch[/variant]`);
  }
  const p: Platform = { os: parts[0]!.toLowerCase(), architecture: normalizeArch(parts[1]!.toLowerCase()) };
  if (parts[2]) p.variant = parts[2].toLowerCase();
  return p;
}

export function formatPlatform(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter(Boolean).join('/');
}

/** The entry of an index for a platform (see the module comment), or undefined. */
export function selectPlatform<D extends string>(index: Index<D>, want: Platform): Descriptor<D> | undefined {
  const candidates = index.manifests.filter(
    (d) => d.platform && d.platform.os === want.os && normalizeArch(d.platform.architecture) === normalizeArch(want.architecture),
  );
  if (want.variant) {
    const exact = candidates.find((d) => normalizeVariant(d.platform!) === want.variant);
    if (exact) return exact;
    // arm64 entries often omit "v8".
    return candidates.find((d) => !d.platform!.variant && defaultVariant(want.architecture) === want.variant);
  }
  const def = defaultVariant(want.architecture);
  return candidates.find((d) => normalizeVariant(d.platform!) === def) ?? candidates[0];
}

function normalizeArch(a: string): string {
  if (a === 'x86_64' || a === 'x86-64') return 'amd64';
  if (a === 'aarch64') return 'arm64';
  return a;
}

function defaultVariant(arch: string): string | undefined {
  return arch === 'arm64' ? 'v8' : arch === 'arm' ? 'v7' : undefined;
}

function normalizeVariant(p: Platform): string | undefined {
  return p.variant ?? defaultVariant(normalizeArch(p.architecture));
}
