import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { createServer, request, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
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

const execFileAsync = promisify(execFile);
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

/** A recorded request that went through {@link startProxy}. */
interface SeenRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
}

/**
 * A recording proxy between the agent's uploader and Azurite: the SAS signs no host, so a grant's
 * URL can point at the proxy while the proxy forwards every request as it came. `answer` may
 * answer a request itself instead (after reading its body), as a storage that lost blocks would.
 */
async function startProxy(answer?: (seen: SeenRequest, res: ServerResponse) => boolean) {
  const seen: SeenRequest[] = [];
  const proxy = createServer((req, res) => {
    const entry = { method: req.method ?? '', url: req.url ?? '', headers: req.headers };
    seen.push(entry);
    if (answer) {
      req.resume();
      let answered = false;
      req.on('end', () => {
        answered = answer(entry, res);
        if (!answered) forward(req, res, true);
      });
      return;
    }
    forward(req, res, false);
  });
  const bodies = new Map<IncomingMessage, Buffer[]>();
  // Forwards a request; `replay`: its body was read already (kept by the 'data' listener below).
  function forward(req: IncomingMessage, res: ServerResponse, replay: boolean): void {
    const upstream = request(
      { host: '127.0.0.1', port: azurite.port, method: req.method, path: req.url, headers: req.headers },
      (reply) => {
        res.writeHead(reply.statusCode ?? 502, reply.headers);
        reply.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    if (replay) upstream.end(Buffer.concat(bodies.get(req) ?? []));
    else req.pipe(upstream);
  }
  if (answer)
    proxy.prependListener('request', (req: IncomingMessage) => {
      const chunks: Buffer[] = [];
      bodies.set(req, chunks);
      req.on('data', (c: Buffer) => chunks.push(c));
    });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  return {
    seen,
    /** The grant with its SAS URL pointing at the proxy. */
    via(grant: AzureBlobUploadGrant): AzureBlobUploadGrant {
      const url = new URL(grant.sasUrl);
      url.host = `127.0.0.1:${(proxy.address() as AddressInfo).port}`;
      return { ...grant, sasUrl: url.toString() };
    },
    async close(): Promise<void> {
      proxy.closeAllConnections();
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
    },
  };
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
    const proxy = await startProxy();
    try {
      const loc = nextLocation();
      const grant = (await store.grantUpload(loc, {
        sizeInBytes: large.sizeInBytes,
        expiresInSeconds: 300,
      })) as AzureBlobUploadGrant;
      const result = await uploadFile(proxy.via(grant), large.path, {
        sizeInBytes: large.sizeInBytes,
        sha256: large.sha256,
        retryBudgetInMs: 10_000,
      });
      assert.deepEqual(result, { ok: true });
      const blocks = proxy.seen.filter((r) => r.method === 'PUT' && /[?&]comp=block(&|$)/.test(r.url));
      assert.equal(blocks.length, Math.ceil(large.sizeInBytes / grant.blockSizeInBytes), 'every block went through');
      for (const block of blocks) {
        assert.equal(block.headers['content-md5'], undefined, 'Content-MD5 on a block');
        assert.equal(block.headers['x-ms-content-crc64'], undefined, 'a CRC64 on a block');
      }
      assert.equal(await store.verify(loc, { sizeInBytes: large.sizeInBytes, sha256: large.sha256 }), true);
      assert.equal((await store.openRead(loc)).sizeInBytes, large.sizeInBytes);
    } finally {
      await proxy.close();
    }
  });

  test('a commit refused with InvalidBlockList (the storage lost the blocks) stages every block again and commits', async () => {
    let refused = 0;
    const proxy = await startProxy((seen, res) => {
      if (refused > 0 || !/[?&]comp=blocklist(&|$)/.test(seen.url)) return false;
      refused += 1;
      res.writeHead(400, { 'x-ms-error-code': 'InvalidBlockList', 'content-type': 'application/xml' });
      res.end(
        '<?xml version="1.0" encoding="utf-8"?><Error><Code>InvalidBlockList</Code><Message>lost</Message></Error>',
      );
      return true;
    });
    try {
      const loc = nextLocation();
      const grant = (await store.grantUpload(loc, {
        sizeInBytes: large.sizeInBytes,
        expiresInSeconds: 300,
      })) as AzureBlobUploadGrant;
      const result = await uploadFile(proxy.via(grant), large.path, {
        sizeInBytes: large.sizeInBytes,
        sha256: large.sha256,
        retryBudgetInMs: 10_000,
      });
      assert.deepEqual(result, { ok: true });
      const blockCount = Math.ceil(large.sizeInBytes / grant.blockSizeInBytes);
      const blocks = proxy.seen.filter((r) => /[?&]comp=block(&|$)/.test(r.url));
      const commits = proxy.seen.filter((r) => /[?&]comp=blocklist(&|$)/.test(r.url));
      assert.equal(refused, 1);
      assert.equal(blocks.length, 2 * blockCount, 'every block staged twice');
      assert.equal(commits.length, 2);
      assert.equal(commits[1]?.headers['x-ms-blob-content-type'], 'application/vnd.tcpdump.pcap');
      assert.equal(await store.verify(loc, { sizeInBytes: large.sizeInBytes, sha256: large.sha256 }), true);
    } finally {
      await proxy.close();
    }
  });

  test('a file changed since it was hashed is never committed (LocalFileChanged), and its reason holds no SAS', async () => {
    const loc = nextLocation();
    const grant = await store.grantUpload(loc, { sizeInBytes: large.sizeInBytes, expiresInSeconds: 300 });
    const result = await uploadFile(grant, large.path, {
      sizeInBytes: large.sizeInBytes,
      sha256: 'f'.repeat(64),
      retryBudgetInMs: 5_000,
    });
    assert.equal(result.ok, false);
    assert.match(!result.ok ? result.reason : '', /^LocalFileChanged/);
    assert.equal(!result.ok && result.retryable, false);
    assert.equal(await store.stat(loc), null, 'no blob');
  });

  test('an Azure upload loads no Azure SDK: the uploader speaks Put Block and Put Block List itself', async () => {
    const loc = nextLocation();
    const grant = await store.grantUpload(loc, { sizeInBytes: large.sizeInBytes, expiresInSeconds: 300 });
    const grantPath = join(workDir, 'sdk-free-grant.json');
    const log = join(workDir, 'sdk-free-resolved.txt');
    await writeFile(grantPath, JSON.stringify(grant));
    // A resolve hook sees every module an ESM import reaches, CommonJS packages' entries included.
    const hook = `import { appendFileSync } from 'node:fs'; export async function resolve(s, c, next) { const r = await next(s, c); appendFileSync(${JSON.stringify(log)}, r.url + '\\n'); return r; }`;
    const register = `import { register } from 'node:module'; register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(hook)}));`;
    const upload = `import { readFileSync } from 'node:fs';
      const { uploadFile } = await import('./src/storage/uploader.ts');
      const [grantPath, filePath, size, sha256] = process.argv.slice(1);
      const result = await uploadFile(JSON.parse(readFileSync(grantPath, 'utf8')), filePath, { sizeInBytes: Number(size), sha256, retryBudgetInMs: 10000 });
      process.stdout.write(JSON.stringify(result));`;
    const { stdout } = await execFileAsync(
      process.execPath,
      [
        '--import',
        `data:text/javascript,${encodeURIComponent(register)}`,
        '--import',
        'tsx',
        '--input-type=module',
        '--eval',
        upload,
        grantPath,
        large.path,
        String(large.sizeInBytes),
        large.sha256,
      ],
      { cwd: fileURLToPath(new URL('../..', import.meta.url)), timeout: 60_000 },
    );
    assert.deepEqual(JSON.parse(stdout), { ok: true });
    const resolved = (await readFile(log, 'utf8')).split('\n');
    assert.ok(
      resolved.some((u) => u.endsWith('/src/storage/upload-azure.ts')),
      'the hook saw the Azure uploader',
    );
    assert.deepEqual(resolved.filter((u) => u.includes('@azure/')).slice(0, 3), [], 'an Azure SDK module was loaded');
    assert.equal(await store.verify(loc, { sizeInBytes: large.sizeInBytes, sha256: large.sha256 }), true);
  });
});
