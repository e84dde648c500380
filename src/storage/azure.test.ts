import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { AnonymousCredential, BlockBlobClient, newPipeline } from '@azure/storage-blob';
import {
  CAPTURE_CONTAINER,
  azureCaptureBlobPath,
  openBlobStore,
  parseAzureConnectionString,
  uploadFile,
  type AzureBlobUploadGrant,
  type BlobStore,
} from './index.js';
import {
  startAzurite,
  storageContract,
  writeRandomCaptureFile,
  type AzuriteServer,
  type TestFile,
} from './testing/index.js';

let workDir: string;
let azurite: AzuriteServer;
let store: BlobStore;
let small: TestFile;
let large: TestFile;
let captureCounter = 0;

function nextLocation() {
  captureCounter += 1;
  return {
    container: CAPTURE_CONTAINER,
    blobPath: azureCaptureBlobPath({
      subscriptionId: 'sub-1',
      resourceGroup: 'RG-Azure',
      vmName: 'VM1',
      createdAt: new Date(Date.UTC(2024, 0, 2, 3, 4, 5, captureCounter)),
    }),
  };
}

function sasClient(sasUrl: string): BlockBlobClient {
  return new BlockBlobClient(sasUrl, newPipeline(new AnonymousCredential(), { retryOptions: { maxTries: 1 } }));
}

async function statusOfFailure(operation: Promise<unknown>): Promise<number | undefined> {
  try {
    await operation;
    return 200;
  } catch (error) {
    return (error as { statusCode?: number }).statusCode;
  }
}

before(async () => {
  workDir = await mkdtemp(join(tmpdir(), `nw-storage-azure-${process.pid}-`));
  azurite = await startAzurite(join(workDir, 'azurite'));
  store = openBlobStore(
    'azacct',
    { type: 'azureBlob', connectionString: azurite.connectionString },
    { publicBaseUrl: 'http://127.0.0.1:1', signingKey: randomBytes(32) },
  );
  await store.ensureContainer(CAPTURE_CONTAINER);
  small = await writeRandomCaptureFile(join(workDir, 'small.cap'), 5 * 1000 * 1000);
  large = await writeRandomCaptureFile(join(workDir, 'large.cap'), 30 * 1000 * 1000);
});

after(async () => {
  await azurite?.stop();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

describe('azure blob storage (Azurite)', () => {
  storageContract({
    serverName: 'Azurite',
    grantKind: 'azureBlob',
    store: () => store,
    server: () => azurite,
    small: () => small,
    large: () => large,
    nextLocation,
    expectedBlobUrl: (loc) =>
      `${parseAzureConnectionString(azurite.connectionString).blobEndpoint}/${CAPTURE_CONTAINER}/${loc.blobPath}`,
    ownContainerUrls: () => {
      const { blobEndpoint } = parseAzureConnectionString(azurite.connectionString);
      return [
        [`${blobEndpoint}/mycontainer`, { container: 'mycontainer', prefix: '' }],
        [`${blobEndpoint}/mycontainer/a/b/?sv=x&sig=y`, { container: 'mycontainer', prefix: 'a/b' }],
      ];
    },
    foreignContainerUrls: () => [
      'https://other.blob.core.windows.net/mycontainer',
      `http://127.0.0.1:${azurite.port}/otheraccount/mycontainer`,
    ],
    outage: { stopAtBytes: 8_000_000, downForMs: 1_000, retryBudgetInMs: 30_000 },
    async afterSmallUpload(loc, grant) {
      assert.equal(grant.kind === 'azureBlob' && grant.blobUrl, store.blobUrl(loc));
    },
  });

  test('the SAS is refused for another blob, for reading, and after expiry', async () => {
    const loc = nextLocation();
    const grant = (await store.grantUpload(loc, { sizeInBytes: 10, expiresInSeconds: 300 })) as AzureBlobUploadGrant;
    const otherBlob = grant.sasUrl.replace('.cap?', '-other.cap?');
    assert.notEqual(otherBlob, grant.sasUrl);
    assert.equal(await statusOfFailure(sasClient(otherBlob).upload(Buffer.alloc(10), 10)), 403);
    assert.equal(await statusOfFailure(sasClient(grant.sasUrl).upload(Buffer.alloc(10), 10)), 200);
    // create+write only: the agent cannot read or delete with it.
    assert.equal(await statusOfFailure(sasClient(grant.sasUrl).download()), 403);
    assert.equal(await statusOfFailure(sasClient(grant.sasUrl).delete()), 403);

    const shortLived = (await store.grantUpload(nextLocation(), {
      sizeInBytes: 10,
      expiresInSeconds: 1,
    })) as AzureBlobUploadGrant;
    await new Promise((resolve) => setTimeout(resolve, 2_100));
    assert.equal(await statusOfFailure(sasClient(shortLived.sasUrl).upload(Buffer.alloc(10), 10)), 403);

    const tampered = await uploadFile({ ...grant, sizeInBytes: small.sizeInBytes, sasUrl: otherBlob }, small.path, {
      sizeInBytes: small.sizeInBytes,
      sha256: small.sha256,
      retryBudgetInMs: 2_000,
    });
    assert.equal(tampered.ok, false);
    assert.match(!tampered.ok ? tampered.reason : '', /^GrantRejected/);
    assert.doesNotMatch(!tampered.ok ? tampered.reason : '', /sig=/);
  });
});
