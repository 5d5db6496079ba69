/**
 * The image config as the OCI image spec and Docker write it (`application/vnd.oci.image.config.v1+json`),
 * with Docker's extra runtime fields (Healthcheck, OnBuild, Shell). Field names are the JSON names,
 * so a config read from any archive or registry round-trips byte-for-byte when untouched.
 */
import type { Digest } from './digest.js';

export interface HealthConfig {
  Test?: string[];
  Interval?: number;
  Timeout?: number;
  StartPeriod?: number;
  StartInterval?: number;
  Retries?: number;
}

/** The runtime part (`config` in the JSON). */
export interface ContainerConfig {
  User?: string;
  ExposedPorts?: Record<string, object>;
  Env?: string[];
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  Volumes?: Record<string, object>;
  WorkingDir?: string;
  Labels?: Record<string, string>;
  StopSignal?: string;
  Healthcheck?: HealthConfig;
  OnBuild?: string[] | null;
  Shell?: string[];
  ArgsEscaped?: boolean;
  [other: string]: unknown;
}

export interface HistoryEntry {
  created?: string;
  created_by?: string;
  author?: string;
  comment?: string;
  empty_layer?: boolean;
}

export interface ImageConfig {
  created?: string;
  author?: string;
  architecture: string;
  os: string;
  variant?: string;
  'os.version'?: string;
  config?: ContainerConfig;
  rootfs: { type: 'layers'; diff_ids: Digest[] };
  history?: HistoryEntry[];
  [other: string]: unknown;
}

/** Go's GOARCH names, as image configs use them. */
export function hostArchitecture(): string {
  const map: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };
  return map[process.arch] ?? process.arch;
}

/** An empty config for `FROM scratch` / `import`, with the host platform. */
export function emptyConfig(created?: string): ImageConfig {
  const c: ImageConfig = { architecture: hostArchitecture(), os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [] }, history: [] };
  if (created) c.created = created;
  return c;
}

/** The config's history entries, paired with the layer each non-empty one produced. */
export function historyWithLayers(cfg: ImageConfig): Array<{ entry: HistoryEntry; layerIndex: number | undefined }> {
  const out: Array<{ entry: HistoryEntry; layerIndex: number | undefined }> = [];
  let li = 0;
  const hist = cfg.history ?? [];
  for (const entry of hist) {
    if (entry.empty_layer) out.push({ entry, layerIndex: undefined });
    else out.push({ entry, layerIndex: li < cfg.rootfs.diff_ids.length ? li++ : undefined });
  }
  // Layers without history entries (some tools write none) still show up, as Docker shows them.
  while (li < cfg.rootfs.diff_ids.length) out.push({ entry: {}, layerIndex: li++ });
  return out;
}

/** Canonical serialization of configs tsbuild writes (key order as given, no whitespace). */
export function serializeConfig(cfg: ImageConfig): Buffer {
  return Buffer.from(JSON.stringify(cfg));
}
