/** Base class of every error this folder throws; `code` is stable and safe to show (never holds a secret). */
export class StorageError extends Error {
  /** Stable machine-readable code, e.g. `BlobNotFound`. */
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StorageError';
    this.code = code;
  }
}

/** A storage account's settings are invalid (bad connection string, missing field). */
export class StorageConfigError extends StorageError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('InvalidStorageConfig', message, options);
    this.name = 'StorageConfigError';
  }
}

/** A container name or blob path is not allowed (traversal, bad characters, wrong length). */
export class InvalidBlobLocationError extends StorageError {
  constructor(message: string) {
    super('InvalidBlobLocation', message);
    this.name = 'InvalidBlobLocationError';
  }
}

/** The blob does not exist. */
export class BlobNotFoundError extends StorageError {
  constructor(container: string, blobPath: string) {
    super('BlobNotFound', `blob ${container}/${blobPath} does not exist`);
    this.name = 'BlobNotFoundError';
  }
}

/** The storage service answered with an error or could not be reached; `cause` holds the SDK error. */
export class StorageServiceError extends StorageError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('StorageServiceError', message, options);
    this.name = 'StorageServiceError';
  }
}

/**
 * What a storage error says when the endpoint gave no HTTP answer, whatever the socket said
 * (refused, reset, timeout, TLS, outbound policy): the message reaches API answers (capture
 * status), and telling ECONNREFUSED from a timeout per registered endpoint would make storage
 * accounts a port scanner of the server's network. The cause keeps the detail for the log.
 */
export const UNREACHABLE_STORAGE = 'the storage endpoint cannot be reached';
