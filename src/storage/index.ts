// Public surface of src/storage: registered storage accounts (local folder, Azure Blob, S3),
// per-blob upload grants for agents, the agent-side uploader and the local kind's routes.
// See docs/storage.md.

export type { StorageBackendConfig, AzureConnectionParts } from './config.js';
export {
  storageBackendConfigSchema,
  storedBackendConfigSchema,
  parseStorageBackendConfig,
  redactBackendConfig,
  parseAzureConnectionString,
} from './config.js';
export type { BlobLocation, CaptureBlobPathInput } from './blob-path.js';
export {
  CAPTURE_CONTAINER,
  azureCaptureBlobPath,
  resolveCaptureLocation,
  assertValidBlobLocation,
} from './blob-path.js';
export type {
  UploadGrant,
  LocalUploadGrant,
  AzureBlobUploadGrant,
  S3SingleUploadGrant,
  S3MultipartUploadGrant,
} from './grant.js';
export { uploadGrantSchema, CAPTURE_CONTENT_TYPE } from './grant.js';
export type { BlobStore, GrantUploadOptions, BlobReadStream } from './blob-store.js';
export { openBlobStore } from './open-blob-store.js';
export type { LocalStoreDeps } from './local-store.js';
export { fileHasSha256, uploadFile } from './upload.js';
export type { UploadFileOptions, UploadFileResult } from './upload.js';
export { registerLocalStorageRoutes, RECEIVED_BYTES_HEADER } from './local-routes.js';
export type { LocalStorageRoutesOptions } from './local-routes.js';
export { redactUrl, redactSecretsInText } from './redact.js';
export {
  StorageError,
  StorageConfigError,
  InvalidBlobLocationError,
  BlobNotFoundError,
  StorageServiceError,
  UNREACHABLE_STORAGE,
} from './errors.js';
export type { StorageOutboundOptions } from './outbound.js';
