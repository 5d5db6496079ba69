/**
 * SLSA provenance (v0.2 predicate, in an in-toto v0.1 statement) for a built image, shaped as
 * BuildKit's `--provenance` writes it: buildType `https://mobyproject.org/buildkit@v1`, the
 * builder's id, `invocation.configSource` (the Dockerfile: entry point and digest),
 * `invocation.parameters` (frontend; the build args and target in max mode only), the
 * environment's platform, `materials` (each base image as a pkg:docker URL with its digest, and
 * the build context's content digest), and `metadata` (start and finish times, completeness,
 * reproducible). Off unless asked for (BuildKit defaults to min; tsbuild does not, so its images
 * stay plain manifests by default).
 */
import { hexOf, randomHex, sha256 } from '../image/digest.js';
import { platformOfConfig, purlOf, recordPredicates } from '../image/attestation.js';
import { originOf } from '../image/pull-records.js';
import { familiarRepository, parseReference } from '../image/reference.js';
import type { StoredImage } from '../image/store.js';
import type { BuildCache, ImageCatalog, StoreContent } from '../image/store-roles.js';
import type { BuildPlan } from './plan.js';

export const SLSA_PROVENANCE_V02 = 'https://slsa.dev/provenance/v0.2';
export const BUILDKIT_BUILD_TYPE = 'https://mobyproject.org/buildkit@v1';
/** Who built it: this tool, as a URN (BuildKit leaves the id to its client; no URL is claimed). */
export const BUILDER_ID = 'urn:tsbuild:builder';

export type ProvenanceMode = 'min' | 'max';

export interface ProvenanceInput {
  mode: ProvenanceMode;
  dockerfileName: string;
  dockerfileText: string;
  buildArgs: Readonly<Record<string, string>>;
  target?: string;
  plan: BuildPlan;
  /** The build context's content digest (`sha256:...`), when it was read. */
  contextDigest?: string;
  startedOn: Date;
  finishedOn: Date;
}

export interface Material {
  uri: string;
  digest: { sha256: string };
}

/** The SLSA v0.2 predicate for `image`. */
export async function provenancePredicate(store: ImageCatalog & BuildCache, image: StoredImage, input: ProvenanceInput): Promise<Record<string, unknown>> {
  const platform = platformOfConfig(image.config);
  const materials = await baseMaterials(store, input.plan);
  if (input.contextDigest) materials.push({ uri: 'context', digest: { sha256: hexOf(input.contextDigest as `sha256:${string}`) } });
  const max = input.mode === 'max';
  const args: Record<string, string> = {};
  if (max) {
    for (const [k, v] of Object.entries(input.buildArgs)) args[`build-arg:${k}`] = v;
    if (input.target !== undefined) args.target = input.target;
  }
  return {
    builder: { id: BUILDER_ID },
    buildType: BUILDKIT_BUILD_TYPE,
    materials,
    invocation: {
      configSource: { entryPoint: input.dockerfileName, digest: { sha256: hexOf(sha256(Buffer.from(input.dockerfileText))) } },
      parameters: { frontend: 'dockerfile.v0', ...(max ? { args } : {}), locals: [{ name: 'context' }, { name: 'dockerfile' }] },
      environment: { platform: [platform.os, platform.architecture, platform.variant].filter(Boolean).join('/') },
    },
    metadata: {
      buildInvocationID: randomHex(13).slice(0, 25),
      buildStartedOn: input.startedOn.toISOString(),
      buildFinishedOn: input.finishedOn.toISOString(),
      completeness: { parameters: max, environment: true, materials: false },
      reproducible: false,
    },
  };
}

/** Records the provenance of a just-built image in the store (src/image/attestation.ts). */
export async function recordProvenance(store: ImageCatalog & BuildCache & StoreContent, image: StoredImage, input: ProvenanceInput): Promise<void> {
  const predicate = await provenancePredicate(store, image, input);
  await recordPredicates(store, image.manifestDigest, [{ predicateType: SLSA_PROVENANCE_V02, predicate }]);
}

/** Each base image the build stood on: its pkg:docker URL and the digest it had on its registry
 *  (the local manifest's when it was never pulled). */
async function baseMaterials(store: ImageCatalog & BuildCache, plan: BuildPlan): Promise<Material[]> {
  const out: Material[] = [];
  const seen = new Set<string>();
  for (const p of plan.stages) {
    if (p.base.kind !== 'image' || seen.has(p.base.ref)) continue;
    seen.add(p.base.ref);
    const img = await store.getImage(p.base.ref);
    if (!img) continue;
    const ref = parseReference(p.base.ref);
    const digest = originOf(store, img.manifestDigest)?.root ?? img.manifestDigest;
    out.push({ uri: purlOf(familiarRepository(ref), ref.digest ? undefined : ref.tag, platformOfConfig(img.config)), digest: { sha256: digest.replace(/^sha256:/, '') } });
  }
  return out;
}
