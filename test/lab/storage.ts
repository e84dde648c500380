/**
 * Azure Blob (Azurite) and S3 (OpenStack Swift's s3api) servers for the lab, placed inside its
 * server namespace (see Lab.storagePlacement) so the server and the agents reach them.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import {
  startAzurite,
  startSwiftS3,
  swiftIsInstalled,
  type AzuriteServer,
  type S3TestServer,
} from '../../src/storage/testing/index.js';
import { openBlobStore, type BlobStore, type StorageBackendConfig } from '../../src/storage/index.js';
import type { CommandResult, Lab } from './lab.js';

/** Starts both storage servers with their data under `workDir`; fails with the install line when Swift is missing. */
export async function startLabStorage(
  lab: Lab,
  workDir: string,
): Promise<{ azurite: AzuriteServer; swift: S3TestServer }> {
  const placement = lab.storagePlacement();
  const [azurite, swift] = await Promise.all([
    startAzurite(join(workDir, 'azurite'), placement),
    swiftIsInstalled() ? startSwiftS3(join(workDir, 'swift'), placement) : Promise.resolve(undefined),
  ]);
  assert.ok(
    swift,
    'the S3 tests need OpenStack Swift: apt-get install -y --no-install-recommends swift-proxy swift-object swift-container swift-account',
  );
  return { azurite, swift };
}

/** `nw storage account create` of an Azure Blob account on Azurite, as a user types it. */
export function createAzureAccount(lab: Lab, name: string, rg: string, azurite: AzuriteServer): Promise<CommandResult> {
  return lab.nw([
    'storage',
    'account',
    'create',
    '-n',
    name,
    '-g',
    rg,
    '--kind',
    'azureBlob',
    '--connection-string',
    azurite.connectionString,
  ]);
}

/** `nw storage account create` of an S3 account on Swift (path-style), as a user types it. */
export function createS3Account(
  lab: Lab,
  name: string,
  rg: string,
  swift: S3TestServer,
  bucket: string,
): Promise<CommandResult> {
  return lab.nw([
    'storage',
    'account',
    'create',
    '-n',
    name,
    '-g',
    rg,
    '--kind',
    's3',
    '--endpoint',
    swift.endpoint,
    '--region',
    swift.region,
    '--bucket',
    bucket,
    '--access-key-id',
    swift.accessKeyId,
    '--secret-access-key',
    swift.secretAccessKey,
    '--path-style',
    'true',
  ]);
}

/** This process's own view of a storage the lab's server writes to: to check what really landed there. */
export function openDirectStore(config: StorageBackendConfig): BlobStore {
  return openBlobStore('direct', config, { publicBaseUrl: 'http://127.0.0.1:1', signingKey: directSigningKey });
}
const directSigningKey = randomBytes(32);
