import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { createServer, request, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
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

  test('block uploads carry no Content-MD5 on the wire (the server verify checks the whole blob)', async () => {
    // A recording proxy between the agent's uploader and Azurite: the SAS signs no host, so the
    // grant's URL can point at the proxy while the proxy forwards every request as it came.
    const seen: Array<{ method: string; url: string; headers: IncomingHttpHeaders }> = [];
    const proxy = createServer((req, res) => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
      const upstream = request(
        { host: '127.0.0.1', port: azurite.port, method: req.method, path: req.url, headers: req.headers },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      upstream.on('error', () => res.destroy());
      req.pipe(upstream);
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    try {
      const loc = nextLocation();
      const grant = (await store.grantUpload(loc, {
        sizeInBytes: large.sizeInBytes,
        expiresInSeconds: 300,
      })) as AzureBlobUploadGrant;
      const viaProxy = new URL(grant.sasUrl);
      viaProxy.host = `127.0.0.1:${(proxy.address() as AddressInfo).port}`;
      const result = await uploadFile({ ...grant, sasUrl: viaProxy.toString() }, large.path, {
        sizeInBytes: large.sizeInBytes,
        sha256: large.sha256,
        retryBudgetInMs: 10_000,
      });
      assert.deepEqual(result, { ok: true });
      const blocks = seen.filter((r) => r.method === 'PUT' && /[?&]comp=block(&|$)/.test(r.url));
      assert.equal(blocks.length, Math.ceil(large.sizeInBytes / grant.blockSizeInBytes), 'every block went through');
      for (const block of blocks) {
        assert.equal(block.headers['content-md5'], undefined, 'Content-MD5 on a block');
        assert.equal(block.headers['x-ms-content-crc64'], undefined, 'a CRC64 on a block');
      }
      assert.equal(await store.verify(loc, { sizeInBytes: large.sizeInBytes, sha256: large.sha256 }), true);
    } finally {
      proxy.closeAllConnections();
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
    }
  });
});
