import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createReadStream } from 'node:fs';
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
  sha256OfStream,
  startAzurite,
  uploadThroughOutage,
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
  test('a 5 MB capture uploads, verifies and downloads with the same SHA-256', async () => {
    const loc = nextLocation();
    const grant = await store.grantUpload(loc, { sizeInBytes: small.sizeInBytes, expiresInSeconds: 300 });
    assert.equal(grant.kind, 'azureBlob');
    const result = await uploadFile(grant, small.path, {
      sizeInBytes: small.sizeInBytes,
      sha256: small.sha256,
      retryBudgetInMs: 5_000,
    });
    assert.deepEqual(result, { ok: true });
    assert.equal(await store.verify(loc, { sizeInBytes: small.sizeInBytes, sha256: small.sha256 }), true);
    assert.equal(await store.verify(loc, { sizeInBytes: small.sizeInBytes, sha256: '0'.repeat(64) }), false);
    assert.deepEqual(await store.stat(loc), { sizeInBytes: small.sizeInBytes });
    const read = await store.openRead(loc);
    assert.equal(read.sizeInBytes, small.sizeInBytes);
    assert.equal(await sha256OfStream(read.stream), small.sha256);
    const { blobEndpoint } = parseAzureConnectionString(azurite.connectionString);
    assert.equal(store.blobUrl(loc), `${blobEndpoint}/${CAPTURE_CONTAINER}/${loc.blobPath}`);
    assert.equal(grant.blobUrl, store.blobUrl(loc));
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

  test('an upload survives Azurite stopping mid-way and completes after it restarts', async () => {
    const loc = nextLocation();
    const grant = await store.grantUpload(loc, { sizeInBytes: large.sizeInBytes, expiresInSeconds: 300 });
    const { result, sentAtStop } = await uploadThroughOutage(grant, large, azurite, {
      stopAtBytes: 8_000_000,
      downForMs: 1_000,
      retryBudgetInMs: 30_000,
    });
    assert.ok(sentAtStop > 0, 'Azurite was stopped during the upload');
    assert.deepEqual(result, { ok: true });
    assert.equal(await store.verify(loc, { sizeInBytes: large.sizeInBytes, sha256: large.sha256 }), true);
  });

  test('Azurite down longer than the budget fails retryably, leaves the file alone, and a later call succeeds', async () => {
    const loc = nextLocation();
    const grant = await store.grantUpload(loc, { sizeInBytes: large.sizeInBytes, expiresInSeconds: 300 });
    await azurite.stop();
    try {
      const result = await uploadFile(grant, large.path, {
        sizeInBytes: large.sizeInBytes,
        sha256: large.sha256,
        retryBudgetInMs: 1_500,
      });
      assert.equal(result.ok, false);
      assert.ok(!result.ok && result.retryable);
      assert.match(!result.ok ? result.reason : '', /^StorageUnavailable/);
    } finally {
      await azurite.start();
    }
    assert.equal(await sha256OfStream(createReadStream(large.path)), large.sha256);
    assert.deepEqual(
      await uploadFile(grant, large.path, {
        sizeInBytes: large.sizeInBytes,
        sha256: large.sha256,
        retryBudgetInMs: 10_000,
      }),
      { ok: true },
    );
    assert.equal(await store.verify(loc, { sizeInBytes: large.sizeInBytes, sha256: large.sha256 }), true);
  });

  test("parseContainerUrl accepts this account's container URIs only", () => {
    const { blobEndpoint } = parseAzureConnectionString(azurite.connectionString);
    assert.deepEqual(store.parseContainerUrl(`${blobEndpoint}/mycontainer`), { container: 'mycontainer', prefix: '' });
    assert.deepEqual(store.parseContainerUrl(`${blobEndpoint}/mycontainer/a/b/?sv=x&sig=y`), {
      container: 'mycontainer',
      prefix: 'a/b',
    });
    assert.equal(store.parseContainerUrl('https://other.blob.core.windows.net/mycontainer'), null);
    assert.equal(store.parseContainerUrl(`http://127.0.0.1:${azurite.port}/otheraccount/mycontainer`), null);
  });

  test('delete removes the blob and reports whether there was one', async () => {
    const loc = nextLocation();
    const grant = await store.grantUpload(loc, { sizeInBytes: small.sizeInBytes, expiresInSeconds: 300 });
    assert.deepEqual(
      await uploadFile(grant, small.path, {
        sizeInBytes: small.sizeInBytes,
        sha256: small.sha256,
        retryBudgetInMs: 5_000,
      }),
      { ok: true },
    );
    assert.equal(await store.delete(loc), true);
    assert.equal(await store.delete(loc), false);
    assert.equal(await store.stat(loc), null);
    await assert.rejects(store.openRead(loc), { name: 'BlobNotFoundError' });
  });
});
