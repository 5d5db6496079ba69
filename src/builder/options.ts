/** What a build is asked to do: the library API's input, which the CLI fills from its flags. */
import type { Platform } from '../image/platform.js';
import type { BuildEventListener } from './events.js';
import type { StepMiss } from './explain-reason.js';

/** RUN's network: `default` = a namespace of its own behind tsbuild's bridge and NAT; `none` =
 *  only `lo`; `host` = the host's network (needs the `network.host` entitlement). */
export type NetworkMode = 'default' | 'none' | 'host';

/** Per-step resource limits; `pidsMax: 0` means no pids limit (Docker's `--pids-limit -1`). */
export interface RunLimits {
  memoryBytes?: number;
  pidsMax?: number;
  cpuShares?: number;
}

/** Privileges a build must be granted explicitly (BuildKit's `--allow`). */
export type Entitlement = 'network.host';
export const ENTITLEMENTS: readonly Entitlement[] = ['network.host'];

export interface SecretSpec {
  id: string;
  /** Read the secret from this file ... */
  src?: string;
  /** ... or from this environment variable. */
  env?: string;
}

/** `--ssh id=SOCKET`: an SSH agent socket that `RUN --mount=type=ssh,id=ID` may use. */
export interface SshSpec {
  id: string;
  /** Path of the agent's Unix socket on the host. */
  socket: string;
}

export type OutputSpec =
  | { type: 'image' }
  | { type: 'docker' | 'oci' | 'tar'; dest: string }
  /** `preserveOwner`: the image's owners, setuid bits and device nodes as they are (else the
   *  invoking user owns everything and nothing special is written: see export-rootfs.ts). */
  | { type: 'local'; dest: string; preserveOwner?: boolean };

/** A parsed `--cache-from` / `--cache-to` value (the CLI parses them: cli/build-flags.ts). */
export type CacheSpec = (
  | { type: 'registry'; ref: string; mode: 'min' | 'max'; ignoreError: boolean }
  | { type: 'local'; dir: string; tag: string; mode: 'min' | 'max'; ignoreError: boolean }
) & {
  /** `mounts=true`: also export/import the contents of `RUN --mount=type=cache` dirs (cache-mounts-export.ts). */
  mounts?: boolean;
  /** `mounts-max-size=SIZE` (--cache-to): the most content bytes of cache mounts to export. */
  mountsMaxBytes?: number;
};

/** A `--build-context NAME=VALUE` source, parsed (cli/build-flags.ts; resolved by build-contexts.ts). */
export type NamedContextSource =
  /** A directory on the host, read as a build context of its own (its `.dockerignore` applies). */
  | { kind: 'local'; dir: string }
  /** `docker-image://REF`: an image, from the store or its registry. */
  | { kind: 'image'; ref: string }
  /** `oci-layout://DIR[:TAG][@sha256:...]`: an image in an OCI image layout directory. */
  | { kind: 'oci-layout'; dir: string; tag?: string; digest?: string };

export interface BuildOptions {
  /** The build context directory. */
  contextDir: string;
  /** Path of the Dockerfile (default `<context>/Dockerfile`). Ignored when `dockerfileText` is set. */
  dockerfile?: string;
  /** The Dockerfile's text itself (`-f -`). */
  dockerfileText?: string;
  tags?: string[];
  buildArgs?: Record<string, string>;
  target?: string;
  noCache?: boolean;
  pull?: boolean;
  labels?: Record<string, string>;
  network?: NetworkMode;
  /** Entitlements granted (`--allow network.host`): without it, `network: 'host'` and
   *  `RUN --network=host` fail before any step runs. */
  allow?: Entitlement[];
  /** Limits for each RUN step's cgroup (`--memory`, `--pids-limit`, `--cpu-shares`). Absent ones take
   *  defaults that protect the host: 4096 processes, half of the host's memory. Not part of cache keys
   *  (as in Docker, a limit does not change what a step writes). */
  limits?: RunLimits;
  secrets?: SecretSpec[];
  ssh?: SshSpec[];
  /** `--platform`, parsed (the CLI checks it is the host's). */
  platform?: Platform;
  outputs?: OutputSpec[];
  /** `--cache-from` specs (`type=registry,ref=...`, `type=local,src=DIR`, or a bare reference), parsed. */
  cacheFrom?: CacheSpec[];
  /** `--cache-to` specs (`type=registry,ref=...[,mode=max]`, `type=local,dest=DIR`), parsed. */
  cacheTo?: CacheSpec[];
  /** `--build-context`: named contexts by normalized name (`alpine`, not `alpine:latest`); they
   *  replace a stage or image of that name in `FROM`, `COPY --from` and `RUN --mount=from=`. */
  buildContexts?: Record<string, NamedContextSource>;
  /** `--squash`: the layers this build made become one layer on the base image's (see squash.ts). */
  squash?: boolean;
  /** `--provenance`: record an SLSA provenance attestation for the image (pushed as BuildKit's
   *  attestation manifest in an image index; builder/provenance.ts). Off by default. */
  provenance?: { mode: 'min' | 'max' };
  /** Push every tag after the build (`--push`). */
  push?: boolean;
  onEvent?: BuildEventListener;
  /** False when nothing shows the build's warnings (`-q`): the wasted-space hint, which reads every
   *  layer's listing at the end of the build, is then not worked out at all. Default true. */
  warningsShown?: boolean;
  signal?: AbortSignal;
}

export interface BuildResult {
  /** Image ID as Docker shows it: the config digest (`sha256:...`). */
  imageId: string;
  /** Manifest digest in the store. */
  manifestDigest: string;
  tags: string[];
  /** The steps that ran (missed the cache), each with why: also in the events as `step-miss`. */
  misses: StepMiss[];
  /** A step reads what neither the context nor the store holds (ADD of a URL or git repository):
   *  the same build run again may give another image. */
  remoteSources: boolean;
}
