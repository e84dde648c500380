import { openAzureBlobStore } from './azure-store.js';
import type { BlobStore } from './blob-store.js';
import type { StorageBackendConfig } from './config.js';
import { openLocalBlobStore, type LocalStoreDeps } from './local-store.js';
import type { StorageOutboundOptions } from './outbound.js';
import { openS3BlobStore } from './s3-store.js';

/**
 * The {@link BlobStore} of one registered storage account. `deps` is used by the local kind (its
 * URLs and their signatures); `outbound` bounds where the Azure and S3 kinds connect (default:
 * never to link-local or metadata addresses).
 * @example
 * const store = openBlobStore('acct', { type: 'azureBlob', connectionString }, { publicBaseUrl, signingKey });
 * const grant = await store.grantUpload({ container: 'network-watcher-logs', blobPath }, { sizeInBytes, expiresInSeconds: 900 });
 */
export function openBlobStore(
  accountName: string,
  config: StorageBackendConfig,
  deps: LocalStoreDeps,
  outbound: StorageOutboundOptions = {},
): BlobStore {
  switch (config.type) {
    case 'local':
      return openLocalBlobStore(accountName, config.rootDir, deps);
    case 'azureBlob':
      return openAzureBlobStore(config.connectionString, outbound);
    case 's3':
      return openS3BlobStore(config, outbound);
  }
}
