import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import {
  CAPTURE_CONTAINER,
  InvalidBlobLocationError,
  RECEIVED_BYTES_HEADER,
  azureCaptureBlobPath,
  openBlobStore,
  uploadFile,
  type BlobStore,
  type LocalUploadGrant,
} from './index.js';
import { signLocalUrl } from './local-signing.js';
import {
  sha256OfStream,
  startLocalStorageServer,
  storageContract,
  writeRandomCaptureFile,
  type LocalStorageTestServer,
  type TestFile,
} from './testing/index.js';

const accountName = 'localacct';
const signingKey = randomBytes(32);
let workDir: string;
let rootDir: string;
let server: LocalStorageTestServer;
let store: BlobStore;
let small: TestFile;
let large: TestFile;
let captureCounter = 0;

function rawPut(path: string, body: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port: server.port,
        method: 'PUT',
        path,
        headers: { 'content-type': 'application/octet-stream', 'content-length': String(body.length) },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

function nextLocation() {
  captureCounter += 1;
  return {
    container: CAPTURE_CONTAINER,
    blobPath: azureCaptureBlobPath({
      subscriptionId: 'sub-1',
      resourceGroup: 'RG-Local',
      vmName: 'VM1',
      createdAt: new Date(Date.UTC(2024, 0, 2, 3, 4, 5, captureCounter)),
    }),
  };
}

before(async () => {
  workDir = await mkdtemp(join(tmpdir(), `nw-storage-local-${process.pid}-`));
  rootDir = join(workDir, 'root');
  server = await startLocalStorageServer({ accountName, rootDir, signingKey });
  store = openBlobStore(accountName, { type: 'local', rootDir }, { publicBaseUrl: server.publicBaseUrl, signingKey });
  await store.ensureContainer(CAPTURE_CONTAINER);
  small = await writeRandomCaptureFile(join(workDir, 'small.cap'), 5 * 1000 * 1000);
  // Over 32 MiB so a local upload spans more than one PUT chunk.
  large = await writeRandomCaptureFile(join(workDir, 'large.cap'), 40 * 1024 * 1024);
});

after(async () => {
  await server?.stop();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

describe('local storage', () => {
  let heldAtStop = 0;
  storageContract({
    serverName: 'the server',
    grantKind: 'local',
    store: () => store,
    server: () => server,
    small: () => small,
    large: () => large,
    nextLocation,
    expectedBlobUrl: (loc) => `${server.publicBaseUrl}/storage/${accountName}/${CAPTURE_CONTAINER}/${loc.blobPath}`,
    ownContainerUrls: () => [
      [`${server.publicBaseUrl}/storage/${accountName}/mycontainer`, { container: 'mycontainer', prefix: '' }],
      [
        `${server.publicBaseUrl}/storage/${accountName}/mycontainer/some/prefix/`,
        { container: 'mycontainer', prefix: 'some/prefix' },
      ],
    ],
    foreignContainerUrls: () => [
      `${server.publicBaseUrl}/storage/other/mycontainer`,
      'https://acct.blob.core.windows.net/mycontainer',
    ],
    outage: {
      stopAtBytes: 10_000_000,
      downForMs: 1_500,
      retryBudgetInMs: 20_000,
      async whileDown() {
        const parts = await readdir(join(rootDir, '.uploads'));
        heldAtStop = (
          await Promise.all(parts.map(async (name) => (await stat(join(rootDir, '.uploads', name))).size))
        ).reduce((a, b) => a + b, 0);
      },
      after() {
        // What the server held when it stopped is kept and the upload goes on from there.
        assert.ok(heldAtStop > 0 && heldAtStop < large.sizeInBytes, `held ${heldAtStop} bytes at the stop`);
      },
    },
    // The blob over its URL, with the server's read token: whole, a range, and nothing without the token.
    async afterSmallUpload(loc) {
      const url = store.blobUrl(loc);
      const download = await fetch(url, { headers: { authorization: `Bearer ${server.readToken}` } });
      assert.equal(download.status, 200);
      const body = Buffer.from(await download.arrayBuffer());
      assert.equal(body.length, small.sizeInBytes);
      assert.equal(
        await sha256OfStream(
          (async function* () {
            yield body;
          })() as unknown as NodeJS.ReadableStream,
        ),
        small.sha256,
      );

      const partial = await fetch(url, {
        headers: { authorization: `Bearer ${server.readToken}`, range: 'bytes=10-19' },
      });
      assert.equal(partial.status, 206);
      assert.deepEqual(Buffer.from(await partial.arrayBuffer()), body.subarray(10, 20));

      assert.equal((await fetch(url)).status, 401);
      // Nothing is left behind in the uploads folder once a blob is complete.
      assert.deepEqual(await readdir(join(rootDir, '.uploads')), []);
    },
  });

  test('a signed URL is refused for another blob, another method, another size, another account and after expiry', async () => {
    const loc = nextLocation();
    const grant = (await store.grantUpload(loc, { sizeInBytes: 10, expiresInSeconds: 300 })) as LocalUploadGrant;
    const put = (url: string, body = Buffer.alloc(10, 1)) =>
      fetch(url, { method: 'PUT', body, headers: { 'content-type': 'application/octet-stream' } });

    const otherBlob = grant.uploadUrl.replace('.cap?', '-other.cap?');
    assert.notEqual(otherBlob, grant.uploadUrl);
    assert.equal((await put(otherBlob)).status, 403);
    const statusSignatureForPut = grant.uploadUrl.replace(/sig=[^&]+/, /sig=([^&]+)/.exec(grant.statusUrl)?.[0] ?? '');
    assert.equal((await put(statusSignatureForPut)).status, 403);
    assert.equal((await put(grant.uploadUrl.replace('sz=10', 'sz=11'), Buffer.alloc(11))).status, 403);
    assert.equal((await put(grant.uploadUrl.replace(`/storage/${accountName}/`, '/storage/otheracct/'))).status, 403);
    assert.equal((await put(grant.uploadUrl.replace(/sig=[^&]+/, 'sig=AAAA'))).status, 403);
    assert.equal((await put(grant.uploadUrl.replace(/sig=[^&]+&?/, ''))).status, 403);
    // A body of another size than the grant's is refused even with a valid signature.
    assert.equal((await put(grant.uploadUrl, Buffer.alloc(9))).status, 400);
    assert.equal(await store.stat(loc), null);

    const shortLived = (await store.grantUpload(loc, { sizeInBytes: 10, expiresInSeconds: 1 })) as LocalUploadGrant;
    await new Promise((resolve) => setTimeout(resolve, 2_100));
    const expired = await put(shortLived.uploadUrl);
    assert.equal(expired.status, 403);
    assert.match(await expired.text(), /expired/);
    assert.equal(await store.stat(loc), null);

    assert.equal((await put(grant.uploadUrl)).status, 201);
    assert.deepEqual(await store.stat(loc), { sizeInBytes: 10 });
  });

  test('paths cannot leave the account root', async () => {
    assert.throws(
      () => store.blobUrl({ container: CAPTURE_CONTAINER, blobPath: '../../etc/passwd' }),
      InvalidBlobLocationError,
    );
    await assert.rejects(
      store.grantUpload(
        { container: CAPTURE_CONTAINER, blobPath: 'a/../../x.cap' },
        { sizeInBytes: 1, expiresInSeconds: 60 },
      ),
      InvalidBlobLocationError,
    );
    await assert.rejects(
      store.grantUpload({ container: '..', blobPath: 'x.cap' }, { sizeInBytes: 1, expiresInSeconds: 60 }),
      InvalidBlobLocationError,
    );
    // Even a correctly signed URL (which only the server can make) for a traversing path is
    // refused; sent raw, since fetch would normalize the dots away.
    const expiresAtInSeconds = Math.floor(Date.now() / 1000) + 60;
    for (const [blobPath, rawPath] of [
      ['a/../../../escaped.cap', `a/../../../escaped.cap`],
      ['../../../escaped.cap', `..%2F..%2F..%2Fescaped.cap`],
    ] as const) {
      const signed = new URL(
        signLocalUrl(
          server.publicBaseUrl,
          {
            method: 'PUT',
            account: accountName,
            container: CAPTURE_CONTAINER,
            blobPath,
            expiresAtInSeconds,
            sizeInBytes: 3,
          },
          signingKey,
        ),
      );
      const status = await rawPut(
        `/storage/${accountName}/${CAPTURE_CONTAINER}/${rawPath}${signed.search}`,
        Buffer.from('abc'),
      );
      assert.equal(status, 400, rawPath);
    }
    await assert.rejects(stat(join(workDir, 'escaped.cap')));
    await assert.rejects(stat(join(rootDir, 'escaped.cap')));
    const read = await fetch(
      `${server.publicBaseUrl}/storage/${accountName}/${CAPTURE_CONTAINER}/..%2F..%2F..%2Fsmall.cap`,
      { headers: { authorization: `Bearer ${server.readToken}` } },
    );
    assert.notEqual(read.status, 200);
  });

  test('a PUT that skips ahead of what the server holds gets 416 and the held byte count', async () => {
    const loc = nextLocation();
    const grant = (await store.grantUpload(loc, { sizeInBytes: 100, expiresInSeconds: 300 })) as LocalUploadGrant;
    const first = await fetch(grant.uploadUrl, {
      method: 'PUT',
      body: Buffer.alloc(40, 7),
      headers: { 'content-type': 'application/octet-stream', 'content-range': 'bytes 0-39/100' },
    });
    assert.equal(first.status, 202);
    assert.equal(first.headers.get(RECEIVED_BYTES_HEADER), '40');
    const ahead = await fetch(grant.uploadUrl, {
      method: 'PUT',
      body: Buffer.alloc(10),
      headers: { 'content-type': 'application/octet-stream', 'content-range': 'bytes 50-59/100' },
    });
    assert.equal(ahead.status, 416);
    assert.equal(ahead.headers.get(RECEIVED_BYTES_HEADER), '40');
    const status = await fetch(grant.statusUrl, { method: 'HEAD' });
    assert.equal(status.headers.get(RECEIVED_BYTES_HEADER), '40');
    const rest = await fetch(grant.uploadUrl, {
      method: 'PUT',
      body: Buffer.alloc(60, 8),
      headers: { 'content-type': 'application/octet-stream', 'content-range': 'bytes 40-99/100' },
    });
    assert.equal(rest.status, 201);
    const stored = await readFile(join(rootDir, CAPTURE_CONTAINER, loc.blobPath));
    assert.deepEqual(stored, Buffer.concat([Buffer.alloc(40, 7), Buffer.alloc(60, 8)]));
  });

  test('the bytes of a body that breaks off are kept (written in batches, the last one too) and the upload resumes after them', async () => {
    const loc = nextLocation();
    const total = 4 * 1024 * 1024;
    const content = randomBytes(total);
    const grant = (await store.grantUpload(loc, { sizeInBytes: total, expiresInSeconds: 300 })) as LocalUploadGrant;
    // 1.5 MiB of a 4 MiB body, then the client goes away: one full batch and part of the next.
    const sent = 1.5 * 1024 * 1024;
    await new Promise<void>((resolve) => {
      const url = new URL(grant.uploadUrl);
      const req = httpRequest({
        host: url.hostname,
        port: url.port,
        method: 'PUT',
        path: `${url.pathname}${url.search}`,
        headers: { 'content-length': String(total), 'content-range': `bytes 0-${total - 1}/${total}` },
      });
      req.on('error', () => resolve());
      req.write(content.subarray(0, sent), () => setTimeout(() => req.destroy(), 300));
      req.on('close', () => resolve());
    });
    let held = 0;
    for (let i = 0; i < 50 && held < sent; i++) {
      const status = await fetch(grant.statusUrl, { method: 'HEAD' });
      held = Number(status.headers.get(RECEIVED_BYTES_HEADER));
      if (held < sent) await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(held, sent, 'every byte that arrived was written');
    const rest = await fetch(grant.uploadUrl, {
      method: 'PUT',
      body: content.subarray(held),
      headers: { 'content-type': 'application/octet-stream', 'content-range': `bytes ${held}-${total - 1}/${total}` },
    });
    assert.equal(rest.status, 201);
    assert.deepEqual(await readFile(join(rootDir, CAPTURE_CONTAINER, loc.blobPath)), content);
  });

  test('uploadFile reads the file once: the SHA-256 check comes from the reads that send it', async () => {
    // /proc/self/io's rchar counts every byte read by this process: the server's socket reads
    // (the file once) and the agent's file reads. Hashing the file before sending it was a
    // third pass (3× the file); one read to send and hash it makes 2×.
    const rchar = async (): Promise<number> =>
      Number(/^rchar: (\d+)$/m.exec(await readFile('/proc/self/io', 'utf8'))?.[1] ?? NaN);
    const loc = nextLocation();
    const grant = await store.grantUpload(loc, { sizeInBytes: large.sizeInBytes, expiresInSeconds: 300 });
    const before = await rchar();
    const result = await uploadFile(grant, large.path, {
      sizeInBytes: large.sizeInBytes,
      sha256: large.sha256,
      retryBudgetInMs: 10_000,
    });
    const read = (await rchar()) - before;
    assert.deepEqual(result, { ok: true });
    assert.ok(read < 2.5 * large.sizeInBytes, `read ${read} bytes for a file of ${large.sizeInBytes}`);
    assert.equal(await store.verify(loc, { sizeInBytes: large.sizeInBytes, sha256: large.sha256 }), true);
  });

  test('a file that no longer has its SHA-256 is never stored, in one chunk or in several', async () => {
    for (const file of [small, large]) {
      const loc = nextLocation();
      const grant = await store.grantUpload(loc, { sizeInBytes: file.sizeInBytes, expiresInSeconds: 300 });
      const changed = await uploadFile(grant, file.path, {
        sizeInBytes: file.sizeInBytes,
        sha256: 'e'.repeat(64),
        retryBudgetInMs: 1_000,
      });
      assert.deepEqual(
        [changed.ok, !changed.ok && changed.retryable, !changed.ok && changed.reason.split(':')[0]],
        [false, false, 'LocalFileChanged'],
      );
      assert.equal(await store.stat(loc), null);
    }
  });

  test('expected failures are returned, not thrown', async () => {
    const loc = nextLocation();
    const grant = await store.grantUpload(loc, { sizeInBytes: small.sizeInBytes, expiresInSeconds: 300 });
    const missing = await uploadFile(grant, join(workDir, 'nope.cap'), {
      sizeInBytes: small.sizeInBytes,
      sha256: small.sha256,
      retryBudgetInMs: 1_000,
    });
    assert.deepEqual(
      [missing.ok, !missing.ok && missing.retryable, !missing.ok && missing.reason.split(':')[0]],
      [false, false, 'LocalFileMissing'],
    );
    const changed = await uploadFile(grant, small.path, {
      sizeInBytes: small.sizeInBytes,
      sha256: 'f'.repeat(64),
      retryBudgetInMs: 1_000,
    });
    assert.deepEqual(
      [changed.ok, !changed.ok && changed.retryable, !changed.ok && changed.reason.split(':')[0]],
      [false, false, 'LocalFileChanged'],
    );
    const wrongSize = await uploadFile(grant, large.path, {
      sizeInBytes: large.sizeInBytes,
      sha256: large.sha256,
      retryBudgetInMs: 1_000,
    });
    assert.deepEqual([wrongSize.ok, !wrongSize.ok && wrongSize.reason.split(':')[0]], [false, 'GrantMismatch']);
    const expired = await uploadFile({ ...grant, expiresAt: new Date(Date.now() - 1000).toISOString() }, small.path, {
      sizeInBytes: small.sizeInBytes,
      sha256: small.sha256,
      retryBudgetInMs: 1_000,
    });
    assert.deepEqual(
      [expired.ok, !expired.ok && expired.retryable, !expired.ok && expired.reason.split(':')[0]],
      [false, true, 'GrantExpired'],
    );
    const tampered = await uploadFile(
      {
        ...(grant as LocalUploadGrant),
        uploadUrl: (grant as LocalUploadGrant).uploadUrl.replace(/sig=[^&]+/, 'sig=AAAA'),
      },
      small.path,
      { sizeInBytes: small.sizeInBytes, sha256: small.sha256, retryBudgetInMs: 1_000 },
    );
    assert.equal(tampered.ok, false);
    // The status URL is still valid, so the refusal comes from the PUT.
    assert.match(!tampered.ok ? tampered.reason : '', /^GrantRejected/);
    assert.doesNotMatch(!tampered.ok ? tampered.reason : '', /sig=/);
  });
});
