/**
 * The certificate authorities tsbuild's TLS clients (registries, `ADD https://`) trust, with the
 * meaning Node and Docker give NODE_EXTRA_CA_CERTS: its certificates are trusted in addition to
 * the built-in roots.
 *
 * Node parses that file, with all of its built-in roots, before any JavaScript runs — tens of ms
 * on every start, paid even by the many runs that never speak TLS. So bin/tsbuild hands the file
 * on as TSBUILD_EXTRA_CA_CERTS instead; the CLI adopts it at start (restoring NODE_EXTRA_CA_CERTS
 * for child processes), and a connection gets it here as an explicit `ca` list, read only when a
 * TLS connection is made. An explicit `ca` replaces Node's whole default store (extra file
 * included), so host CAs (certs.d) are always combined with the roots and the extra file too.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

/** The extra-CA file bin/tsbuild kept from Node, once the CLI has adopted it. */
let launcherFile: string | undefined;
const fileText = new Map<string, string | undefined>();

/**
 * Takes over TSBUILD_EXTRA_CA_CERTS (set by bin/tsbuild) and puts NODE_EXTRA_CA_CERTS back into
 * the environment, so child processes (git, credential helpers) see the user's environment.
 */
export function adoptLauncherCaFile(env: NodeJS.ProcessEnv = process.env): void {
  const file = env.TSBUILD_EXTRA_CA_CERTS;
  if (!file) return;
  launcherFile = file;
  delete env.TSBUILD_EXTRA_CA_CERTS;
  if (!env.NODE_EXTRA_CA_CERTS) env.NODE_EXTRA_CA_CERTS = file;
}

/**
 * The `ca` option for a TLS connection that also trusts `hostCas` (PEM text), or undefined when
 * Node's default store already is the right one.
 */
export function tlsCa(hostCas: string[] = []): string[] | undefined {
  // Node loaded NODE_EXTRA_CA_CERTS itself unless the launcher kept it away; only an explicit
  // list (host CAs) then needs it read here, since that list replaces Node's store.
  const extraFile = launcherFile ?? (hostCas.length ? process.env.NODE_EXTRA_CA_CERTS || undefined : undefined);
  const extra = extraFile === undefined ? undefined : readPem(extraFile);
  if (extra === undefined && hostCas.length === 0) return undefined;
  const tls = createRequire(import.meta.url)('node:tls') as typeof import('node:tls');
  return [...tls.rootCertificates, ...(extra === undefined ? [] : [extra]), ...hostCas];
}

/** The file's text; a missing or unreadable file is ignored, as Node ignores it. */
function readPem(file: string): string | undefined {
  if (!fileText.has(file)) {
    let text: string | undefined;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      text = undefined;
    }
    fileText.set(file, text);
  }
  return fileText.get(file);
}
