import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createReadStream } from 'node:fs';
import { createServer, request, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import {
  CAPTURE_CONTAINER,
  azureCaptureBlobPath,
  openBlobStore,
  uploadFile,
  type BlobStore,
  type S3MultipartUploadGrant,
  type S3SingleUploadGrant,
  type StorageBackendConfig,
} from './index.js';
import { openS3BlobStore } from './s3-store.js';
import {
  sha256OfStream,
  startSwiftS3,
  storageContract,
  writeRandomCaptureFile,
  type S3TestServer,
  type TestFile,
} from './testing/index.js';

const bucket = 'nw-captures';
let workDir: string;
let s3: S3TestServer;
let config: Extract<StorageBackendConfig, { type: 's3' }>;
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
      resourceGroup: 'RG-S3',
      vmName: 'VM1',
      createdAt: new Date(Date.UTC(2024, 0, 2, 3, 4, 5, captureCounter)),
    }),
  };
}

before(async () => {
  workDir = await mkdtemp(join(tmpdir(), `nw-storage-s3-${process.pid}-`));
  s3 = await startSwiftS3(join(workDir, 'swift'));
  config = {
    type: 's3',
    endpoint: s3.endpoint,
    region: s3.region,
    bucket,
    accessKeyId: s3.accessKeyId,
    secretAccessKey: s3.secretAccessKey,
    forcePathStyle: true,
  };
  store = openBlobStore('s3acct', config, { publicBaseUrl: 'http://127.0.0.1:1', signingKey: randomBytes(32) });
  await store.ensureContainer(CAPTURE_CONTAINER);
  await store.ensureContainer(CAPTURE_CONTAINER); // idempotent once the bucket exists
  small = await writeRandomCaptureFile(join(workDir, 'small.cap'), 5 * 1000 * 1000);
  large = await writeRandomCaptureFile(join(workDir, 'large.cap'), 30 * 1000 * 1000);
});

after(async () => {
  await s3?.stop();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

describe('s3 storage (Swift s3api)', () => {
  test('presigned URLs are refused for another key, another part, a wrong secret, and after expiry', async () => {
    const loc = nextLocation();
    const single = (await store.grantUpload(loc, { sizeInBytes: 10, expiresInSeconds: 300 })) as S3SingleUploadGrant;
    const put = (url: string) =>
      fetch(url, {
        method: 'PUT',
        body: Buffer.alloc(10, 1),
        headers: { 'content-type': 'application/vnd.tcpdump.pcap' },
      });
    const otherKey = single.putUrl.replace('.cap?', '-other.cap?');
    assert.notEqual(otherKey, single.putUrl);
    assert.equal((await put(otherKey)).status, 403);
    assert.equal(
      (await put(single.putUrl.replace(/X-Amz-Signature=[0-9a-f]+/, `X-Amz-Signature=${'0'.repeat(64)}`))).status,
      403,
    );
    const wrongSecret = openS3BlobStore({ ...config, secretAccessKey: 'not-the-secret' });
    const forged = (await wrongSecret.grantUpload(loc, {
      sizeInBytes: 10,
      expiresInSeconds: 300,
    })) as S3SingleUploadGrant;
    assert.equal((await put(forged.putUrl)).status, 403);
    assert.equal(await store.stat(loc), null);

    const multi = (await store.grantUpload(nextLocation(), {
      sizeInBytes: 20 * 1024 * 1024,
      expiresInSeconds: 300,
    })) as S3MultipartUploadGrant;
    assert.equal(multi.mode, 'multipart');
    const partTwoAsOne = (multi.partUrls[1] as string).replace('partNumber=2', 'partNumber=1');
    assert.equal((await fetch(partTwoAsOne, { method: 'PUT', body: Buffer.alloc(5 * 1024 * 1024) })).status, 403);

    const shortLived = (await store.grantUpload(loc, { sizeInBytes: 10, expiresInSeconds: 1 })) as S3SingleUploadGrant;
    await new Promise((resolve) => setTimeout(resolve, 2_100));
    assert.equal((await put(shortLived.putUrl)).status, 403);
    assert.equal(await store.stat(loc), null);
    assert.equal((await put(single.putUrl)).status, 200);
    assert.deepEqual(await store.stat(loc), { sizeInBytes: 10 });
  });

  test('S3 stopping mid-upload past the budget fails retryably, leaves the file alone, and a later call (new grant) resumes the same multipart upload', async () => {
    const loc = nextLocation();
    const grant = (await store.grantUpload(loc, {
      sizeInBytes: large.sizeInBytes,
      expiresInSeconds: 300,
    })) as S3MultipartUploadGrant;
    let stopped: Promise<void> | undefined;
    const result = await uploadFile(grant, large.path, {
      sizeInBytes: large.sizeInBytes,
      sha256: large.sha256,
      retryBudgetInMs: 1_500,
      onProgress(sent) {
        if (stopped === undefined && sent >= 8_000_000) stopped = s3.stop();
      },
    });
    await stopped;
    try {
      assert.equal(result.ok, false);
      assert.ok(!result.ok && result.retryable);
      assert.match(!result.ok ? result.reason : '', /^StorageUnavailable/);
    } finally {
      await s3.start();
    }
    assert.equal(await sha256OfStream(createReadStream(large.path)), large.sha256);
    const regrant = (await store.grantUpload(loc, {
      sizeInBytes: large.sizeInBytes,
      expiresInSeconds: 300,
    })) as S3MultipartUploadGrant;
    assert.equal(regrant.uploadId, grant.uploadId, 'the new grant continues the same multipart upload');
    assert.deepEqual(
      await uploadFile(regrant, large.path, {
        sizeInBytes: large.sizeInBytes,
        sha256: large.sha256,
        retryBudgetInMs: 10_000,
      }),
      { ok: true },
    );
    assert.equal(await store.verify(loc, { sizeInBytes: large.sizeInBytes, sha256: large.sha256 }), true);
  });

  test('neither the single PUT nor the parts carry Content-MD5 (the server verify checks the whole object)', async () => {
    // A recording proxy in front of Swift; it restores the Host the URLs were signed for.
    const upstream = new URL(s3.probeEndpoint);
    const seen: Array<{ method: string; url: string; headers: IncomingHttpHeaders }> = [];
    const proxy = createServer((req, res) => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
      const forwarded = request(
        {
          host: upstream.hostname,
          port: upstream.port,
          method: req.method,
          path: req.url,
          headers: { ...req.headers, host: new URL(s3.endpoint).host },
        },
        (reply) => {
          res.writeHead(reply.statusCode ?? 502, reply.headers);
          reply.pipe(res);
        },
      );
      forwarded.on('error', () => res.destroy());
      req.pipe(forwarded);
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const viaProxy = (url: string): string => {
      const at = new URL(url);
      at.host = `127.0.0.1:${(proxy.address() as AddressInfo).port}`;
      return at.toString();
    };
    try {
      const one = nextLocation();
      const single = (await store.grantUpload(one, {
        sizeInBytes: small.sizeInBytes,
        expiresInSeconds: 300,
      })) as S3SingleUploadGrant;
      assert.equal(single.mode, 'single');
      const many = nextLocation();
      const multi = (await store.grantUpload(many, {
        sizeInBytes: large.sizeInBytes,
        expiresInSeconds: 300,
      })) as S3MultipartUploadGrant;
      const options = (file: TestFile) => ({
        sizeInBytes: file.sizeInBytes,
        sha256: file.sha256,
        retryBudgetInMs: 10_000,
      });
      assert.deepEqual(await uploadFile({ ...single, putUrl: viaProxy(single.putUrl) }, small.path, options(small)), {
        ok: true,
      });
      const proxied = {
        ...multi,
        partUrls: multi.partUrls.map(viaProxy),
        listPartsUrl: viaProxy(multi.listPartsUrl),
        completeUrl: viaProxy(multi.completeUrl),
      };
      assert.deepEqual(await uploadFile(proxied, large.path, options(large)), { ok: true });
      const puts = seen.filter((r) => r.method === 'PUT');
      assert.equal(puts.length, 1 + multi.partUrls.length, 'the single PUT and every part went through');
      for (const put of puts)
        assert.equal(put.headers['content-md5'], undefined, `Content-MD5 on ${put.url.split('?')[0]}`); // no signature in the message
      assert.equal(await store.verify(one, { sizeInBytes: small.sizeInBytes, sha256: small.sha256 }), true);
      assert.equal(await store.verify(many, { sizeInBytes: large.sizeInBytes, sha256: large.sha256 }), true);
    } finally {
      proxy.closeAllConnections();
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
    }
  });

  test('a virtual-hosted endpoint parses and writes bucket-host URLs', () => {
    const virtualHosted = openS3BlobStore({
      ...config,
      endpoint: 'https://s3.eu-west-1.amazonaws.com',
      region: 'eu-west-1',
      forcePathStyle: false,
    });
    assert.deepEqual(virtualHosted.parseContainerUrl(`https://${bucket}.s3.eu-west-1.amazonaws.com/caps/p`), {
      container: 'caps',
      prefix: 'p',
    });
    assert.equal(
      virtualHosted.blobUrl({ container: 'caps', blobPath: 'a b.cap' }),
      `https://${bucket}.s3.eu-west-1.amazonaws.com/caps/a%20b.cap`,
    );
  });

  test('delete removes any unfinished multipart upload of the blob', async () => {
    const unfinished = nextLocation();
    await store.grantUpload(unfinished, { sizeInBytes: large.sizeInBytes, expiresInSeconds: 300 });
    const client = openS3BlobStore(config).client;
    const key = `${unfinished.container}/${unfinished.blobPath}`;
    const before = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: key }));
    assert.equal(before.Uploads?.length, 1);
    assert.equal(await store.delete(unfinished), false);
    const afterDelete = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: key }));
    assert.equal(afterDelete.Uploads?.length ?? 0, 0);
  });

  // Registered after the tests above, as the outage test always ran: run first (as the old
  // 30 MB outage test also failed when run alone), Swift did not come back within a 30 s budget
  // after its restart (its first restart is slow; cause not found yet; the budget is now 120 s).
  storageContract({
    serverName: 'the S3 server',
    grantKind: 's3',
    store: () => store,
    server: () => s3,
    small: () => small,
    large: () => large,
    nextLocation,
    expectedBlobUrl: (loc) => `${s3.endpoint}/${bucket}/${CAPTURE_CONTAINER}/${loc.blobPath}`,
    ownContainerUrls: () => [
      [`${s3.endpoint}/${bucket}/mycontainer`, { container: 'mycontainer', prefix: '' }],
      [`s3://${bucket}/mycontainer/a/b/`, { container: 'mycontainer', prefix: 'a/b' }],
    ],
    foreignContainerUrls: () => [`${s3.endpoint}/otherbucket/mycontainer`, 's3://otherbucket/mycontainer'],
    // 30 MB: a multipart upload.
    outage: {
      stopAtBytes: 8_000_000,
      downForMs: 1_000,
      // Swift's restart alone took over 30 s on a loaded CI machine; the agent's own budget is 5 minutes.
      retryBudgetInMs: 120_000,
      check: (grant) => assert.equal(grant.kind === 's3' && grant.mode, 'multipart'),
    },
    // 5 MB: one presigned PUT.
    async afterSmallUpload(_loc, grant) {
      assert.equal(grant.kind === 's3' && grant.mode, 'single');
    },
  });
});
