// Test fixtures of src/storage: real storage servers (Azurite, Swift's S3 API, the local routes) on
// loopback or inside a test network namespace (TestServerPlacement), and capture-like files.
// For tests and benchmarks only; never imported by src/.

export { startAzurite } from './azurite.js';
export type { AzuriteServer } from './azurite.js';
export { startSwiftS3, swiftIsInstalled } from './swift-s3.js';
export type { S3TestServer } from './swift-s3.js';
export { startLocalStorageServer } from './local-server.js';
export type { LocalStorageTestServer } from './local-server.js';
export { writeRandomCaptureFile, sha256OfStream } from './files.js';
export type { TestFile } from './files.js';
export { findFreePort } from './processes.js';
export type { TestServerPlacement } from './processes.js';
export { uploadThroughOutage } from './outage.js';
export type { RestartableServer } from './outage.js';
export { storageContract } from './contract.js';
export type { StorageKindUnderTest } from './contract.js';
