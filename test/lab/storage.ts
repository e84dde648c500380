/**
 * Azure Blob (Azurite) and S3 (OpenStack Swift's s3api) servers for the lab, placed inside its
 * server namespace (see Lab.storagePlacement) so the server and the agents reach them.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import {
  startAzurite,
  startSwiftS3,
  swiftIsInstalled,
  type AzuriteServer,
  type S3TestServer,
} from '../../src/storage/testing/index.js';
import type { Lab } from './lab.js';

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
