/**
 * `build --provenance`: an SLSA v0.2 provenance statement as BuildKit's attestation manifest in
 * the pushed image index (platform unknown/unknown, vnd.docker.reference.* annotations, an
 * application/vnd.in-toto+json layer annotated with its predicate type), read back with skopeo
 * from a real registry; `tsbuild inspect` shows the predicate; min mode leaves the build args out;
 * without the flag nothing changes (the pushed object stays a plain manifest).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { makeBaseStore, makeContext, type TempStore } from '../helpers/build.js';
import { runCli } from '../helpers/cli.js';
import { startRegistry, type TestRegistry } from '../helpers/registry-server.js';
import { sha256 } from '../../src/image/digest.js';
import { ImageStore } from '../../src/image/store.js';

let base: TempStore;
let registry: TestRegistry;
let ctx: string;
const DOCKERFILE = 'FROM busybox\nARG GREETING=hi\nCOPY hello.txt /hello.txt\nRUN echo $GREETING > /g\nCMD ["cat", "/g"]\n';

before(async () => {
  base = await makeBaseStore();
  registry = await startRegistry();
  ctx = makeContext({ Dockerfile: DOCKERFILE, 'hello.txt': 'hello\n' });
});
after(async () => {
  await registry.stop();
  rmSync(ctx, { recursive: true, force: true });
  base.cleanup();
});

const skopeo = (...args: string[]) => execFileSync('skopeo', [...args], { encoding: 'utf8' });

interface Desc {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { architecture: string; os: string };
  annotations?: Record<string, string>;
}

test('--provenance=mode=max: pushed as an index with BuildKit attestation manifest, readable by skopeo', async () => {
  const ref = `${registry.host}/prov/app:max`;
  const started = Date.now();
  const r = await runCli(['build', '--root', base.root, '--progress', 'plain', '--provenance=mode=max', '--build-arg', 'GREETING=hello', '-t', ref, '--push', ctx]);
  assert.equal(r.code, 0, r.stderr);
  const index = JSON.parse(skopeo('inspect', '--tls-verify=false', '--raw', `docker://${ref}`)) as { mediaType: string; manifests: Desc[] };
  assert.equal(index.mediaType, 'application/vnd.oci.image.index.v1+json');
  assert.equal(index.manifests.length, 2);
  const [img, att] = index.manifests as [Desc, Desc];
  assert.equal(img.mediaType, 'application/vnd.oci.image.manifest.v1+json');
  assert.equal(img.platform?.os, 'linux');
  assert.deepEqual(att.platform, { architecture: 'unknown', os: 'unknown' });
  assert.deepEqual(att.annotations, { 'vnd.docker.reference.digest': img.digest, 'vnd.docker.reference.type': 'attestation-manifest' });

  const attManifest = JSON.parse(skopeo('inspect', '--tls-verify=false', '--raw', `docker://${registry.host}/prov/app@${att.digest}`)) as { layers: Desc[]; config: Desc };
  assert.equal(attManifest.layers.length, 1);
  const layer = attManifest.layers[0]!;
  assert.equal(layer.mediaType, 'application/vnd.in-toto+json');
  assert.deepEqual(layer.annotations, { 'in-toto.io/predicate-type': 'https://slsa.dev/provenance/v0.2' });
  // the statement blob itself, fetched from the registry
  const statement = JSON.parse(await fetchBlob(`prov/app`, layer.digest)) as Statement;
  assert.equal(statement._type, 'https://in-toto.io/Statement/v0.1');
  assert.equal(statement.predicateType, 'https://slsa.dev/provenance/v0.2');
  assert.deepEqual(statement.subject[0]!.digest, { sha256: img.digest.slice(7) }, 'the subject is the pushed image manifest');
  assert.match(statement.subject[0]!.name, /^pkg:docker\/127\.0\.0\.1:\d+\/prov\/app@max\?platform=linux%2F/);
  const p = statement.predicate;
  assert.equal(p.buildType, 'https://mobyproject.org/buildkit@v1');
  assert.ok(p.builder.id);
  assert.equal(p.invocation.configSource.entryPoint, 'Dockerfile');
  assert.equal(p.invocation.configSource.digest.sha256, sha256(Buffer.from(DOCKERFILE)).slice(7));
  assert.equal(p.invocation.parameters.frontend, 'dockerfile.v0');
  assert.deepEqual(p.invocation.parameters.args, { 'build-arg:GREETING': 'hello' });
  // materials: the base image by its local manifest digest (never pulled), and the context
  const store = await ImageStore.open(base.root);
  const busybox = await store.resolve('busybox:latest');
  await store.close();
  assert.deepEqual(p.materials[0], { uri: `pkg:docker/busybox@latest?platform=${encodeURIComponent(`linux/${busybox.config.architecture}`)}`, digest: { sha256: busybox.manifestDigest.slice(7) } });
  assert.equal(p.materials[1]!.uri, 'context');
  assert.match(p.materials[1]!.digest.sha256, /^[0-9a-f]{64}$/);
  const t0 = Date.parse(p.metadata.buildStartedOn);
  const t1 = Date.parse(p.metadata.buildFinishedOn);
  assert.ok(t0 >= started - 1000 && t1 >= t0 && t1 <= Date.now(), 'times in order, within the build');
  assert.deepEqual(p.metadata.completeness, { parameters: true, environment: true, materials: false });
  assert.equal(p.metadata.reproducible, false);

  // the image itself still works as a plain image: skopeo reads its config through the index
  const cfg = JSON.parse(skopeo('inspect', '--tls-verify=false', '--config', `docker://${ref}`)) as { config: { Cmd: string[] } };
  assert.deepEqual(cfg.config.Cmd, ['cat', '/g']);

  // a later `tsbuild push` of the stored image sends the attestation too
  const again = `${registry.host}/prov/again:1`;
  assert.equal((await runCli(['tag', '--root', base.root, ref, again])).code, 0);
  const pushed = await runCli(['push', '--root', base.root, '--progress', 'quiet', again]);
  assert.equal(pushed.code, 0, pushed.stderr);
  const index2 = JSON.parse(skopeo('inspect', '--tls-verify=false', '--raw', `docker://${again}`)) as { manifests: Desc[] };
  assert.deepEqual(index2.manifests.map((m) => m.annotations?.['vnd.docker.reference.type']), [undefined, 'attestation-manifest']);
  assert.equal(index2.manifests[0]!.digest, img.digest, 'the same image manifest');

  // tsbuild inspect shows the predicate
  const ins = await runCli(['inspect', '--root', base.root, '--format', '{{json .Provenance.SLSA.invocation.parameters.args}}', ref]);
  assert.equal(ins.code, 0, ins.stderr);
  assert.deepEqual(JSON.parse(ins.stdout), { 'build-arg:GREETING': 'hello' });
});

test('--provenance=true is min mode (no build args); without the flag the push is a plain manifest', async () => {
  const minRef = `${registry.host}/prov/app:min`;
  const r = await runCli(['build', '--root', base.root, '--progress', 'quiet', '--provenance=true', '--build-arg', 'GREETING=secretish', '-t', minRef, '--push', ctx]);
  assert.equal(r.code, 0, r.stderr);
  const index = JSON.parse(skopeo('inspect', '--tls-verify=false', '--raw', `docker://${minRef}`)) as { manifests: Desc[] };
  const att = JSON.parse(skopeo('inspect', '--tls-verify=false', '--raw', `docker://${registry.host}/prov/app@${index.manifests[1]!.digest}`)) as { layers: Desc[] };
  const statement = JSON.parse(await fetchBlob('prov/app', att.layers[0]!.digest)) as Statement;
  assert.equal(statement.predicate.invocation.parameters.args, undefined);
  assert.equal(JSON.stringify(statement).includes('secretish'), false);
  assert.equal(statement.predicate.metadata.completeness.parameters, false);

  const plainRef = `${registry.host}/prov/app:plain`;
  const p = await runCli(['build', '--root', base.root, '--progress', 'quiet', '-t', plainRef, '--push', ctx]);
  assert.equal(p.code, 0, p.stderr);
  const raw = JSON.parse(skopeo('inspect', '--tls-verify=false', '--raw', `docker://${plainRef}`)) as { mediaType: string };
  assert.equal(raw.mediaType, 'application/vnd.oci.image.manifest.v1+json');
  const bad = await runCli(['build', '--root', base.root, '--provenance=mode=huge', ctx]);
  assert.equal(bad.code, 1, 'a value buildx checks itself (as --output)');
  assert.match(bad.stderr, /invalid --provenance "mode=huge"/);
});

interface Statement {
  _type: string;
  predicateType: string;
  subject: Array<{ name: string; digest: { sha256: string } }>;
  predicate: {
    buildType: string;
    builder: { id: string };
    invocation: { configSource: { entryPoint: string; digest: { sha256: string } }; parameters: { frontend: string; args?: Record<string, string> } };
    materials: Array<{ uri: string; digest: { sha256: string } }>;
    metadata: { buildStartedOn: string; buildFinishedOn: string; completeness: Record<string, boolean>; reproducible: boolean };
  };
}

async function fetchBlob(repo: string, digest: string): Promise<string> {
  const res = await fetch(`${registry.url}/v2/${repo}/blobs/${digest}`);
  assert.equal(res.status, 200);
  return res.text();
}
