import type { BlobLocation } from './blob-path.js';
import type { StorageBackendConfig } from './config.js';
import type { UploadGrant } from './grant.js';

/** Options of {@link BlobStore.grantUpload}. */
export interface GrantUploadOptions {
  /** Exact size of the file the agent will upload; the grant is only good for this size. */
  sizeInBytes: number;
  /** Lifetime of every URL in the grant. */
  expiresInSeconds: number;
}

/** A readable blob and its size. */
export interface BlobReadStream {
  stream: NodeJS.ReadableStream;
  sizeInBytes: number;
}

/** One registered storage account, seen from the server (which holds its secrets). */
export interface BlobStore {
  /** Which kind of backend this is. */
  readonly type: StorageBackendConfig['type'];
  /** The blob's real URL, without any credential (local: `${publicBaseUrl}/storage/{account}/{container}/{blobPath}`). */
  blobUrl(loc: BlobLocation): string;
  /** For a user's `--storage-path` container URI: its container and blob-path prefix, or null if it is not this account's. */
  parseContainerUrl(url: string): { container: string; prefix: string } | null;
  /** Creates the container if it does not exist (for S3: the bucket, if missing; the container is a key prefix). */
  ensureContainer(container: string): Promise<void>;
  /** A short-lived grant to upload exactly this one blob of exactly `sizeInBytes`. */
  grantUpload(loc: BlobLocation, opts: GrantUploadOptions): Promise<UploadGrant>;
  /** Size of the stored blob, or null if there is none. */
  stat(loc: BlobLocation): Promise<{ sizeInBytes: number } | null>;
  /** Reads the blob back and hashes it: true only if it exists with exactly this size and SHA-256 (hex). */
  verify(loc: BlobLocation, expected: { sizeInBytes: number; sha256: string }): Promise<boolean>;
  /** Streams the blob; throws BlobNotFoundError if it does not exist. */
  openRead(loc: BlobLocation): Promise<BlobReadStream>;
  /** Deletes the blob (and any unfinished upload of it); false if there was nothing to delete. */
  delete(loc: BlobLocation): Promise<boolean>;
}
