/** The registry client's public API. */
export { RegistryClient, repositoryOf, MANIFEST_ACCEPT } from './client.js';
export type { RepositoryRef, ClientOptions, FetchedManifest, BlobReadOptions, BlobWriteOptions, BlobWriteResult, BlobSource } from './client.js';
export { Transport, ConnectionError, isLoopbackHost } from './transport.js';
export type { TransportOptions } from './transport.js';
export {
  Authenticator,
  parseChallenges,
  formatScope,
  dockerConfigCredentials,
  dockerConfigPath,
  saveCredentials,
  removeCredentials,
  configKey,
} from './auth.js';
export type { Credentials, CredentialProvider, Challenge, Scope, DockerConfigOptions } from './auth.js';
export type { ContentStore, ExpectedBlob, TransferProgress, ProgressCallback } from './content.js';
export { OciLayoutStore } from './oci-layout.js';
export { pull, resolveManifests } from './pull.js';
export type { PullOptions, PullResult, ResolvedManifests } from './pull.js';
export { push } from './push.js';
export type { PushOptions, PushResult } from './push.js';
export { exportCache, importCache, RemoteCache, CACHE_ARTIFACT_TYPE, CACHE_CONFIG_MEDIA_TYPE } from './cache-export.js';
export type { CacheRecord, CacheExportOptions } from './cache-export.js';
export { login, logout } from './login.js';
export type { LoginOptions } from './login.js';
