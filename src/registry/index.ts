/** The registry's public API: the distribution protocol (transport, auth, manifests and blobs over HTTP), pull, push, the build cache's registry format. */
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
export { pull, pullImage, resolveManifests } from './pull.js';
export type { PullOptions, PullResult, PullImageResult, ResolvedManifests } from './pull.js';
export { push, pushImage } from './push.js';
export type { PushOptions, PushResult, PushImageOptions, PushImageResult } from './push.js';
export type { BlobStatus, ItemStatus, ItemStatusListener } from '../events.js';
export { exportCache, importCache, RemoteCache, CACHE_ARTIFACT_TYPE, CACHE_CONFIG_MEDIA_TYPE } from './cache-export.js';
export type { CacheRecord, CacheExportOptions } from './cache-export.js';
export { login, logout } from './login.js';
export type { LoginOptions } from './login.js';
