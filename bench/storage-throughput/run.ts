// Storage throughput benchmark: uploads (uploadFile with a grant, as an agent does) and
// downloads (as `nw download` does) a file for each storage kind, and reports each as a ratio
// to copying the same file with the storage's own means in the same run: fs.copyFile for
// local, @azure/storage-blob's uploadFile/downloadToFile for Azure (Azurite), and
// @aws-sdk/client-s3 PutObject/GetObject for S3 (Swift's s3api). All servers run on loopback.
// Usage: node --import tsx bench/storage-throughput/run.ts [--size-mib N] [--kinds local,azureBlob,s3]
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { BlobServiceClient } from '@azure/storage-blob';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import {
  CAPTURE_CONTAINER,
  openBlobStore,
  uploadFile,
  type BlobLocation,
  type BlobStore,
  type StorageBackendConfig,
} from '../../src/storage/index.js';
import {
  sha256OfStream,
  startAzurite,
  startLocalStorageServer,
  startSwiftS3,
  writeRandomCaptureFile,
  type TestFile,
} from '../../src/storage/testing/index.js';

interface Row {
  kind: string;
  operation: 'upload' | 'download';
  seconds: number;
  baselineSeconds: number;
  baseline: string;
}

const { values } = parseArgs({
  options: {
    'size-mib': { type: 'string', default: '1024' },
    kinds: { type: 'string', default: 'local,azureBlob,s3' },
  },
});
const sizeInBytes = Number(values['size-mib']) * 1024 * 1024;
if (!Number.isInteger(sizeInBytes) || sizeInBytes <= 0) throw new Error('--size-mib must be a positive integer');
const kinds = new Set((values.kinds ?? '').split(',').map((kind) => kind.trim()));

async function timed<T>(work: () => Promise<T>): Promise<[T, number]> {
  const started = process.hrtime.bigint();
  const result = await work();
  return [result, Number(process.hrtime.bigint() - started) / 1e9];
}

async function uploadWithGrant(store: BlobStore, loc: BlobLocation, file: TestFile): Promise<void> {
  const grant = await store.grantUpload(loc, { sizeInBytes: file.sizeInBytes, expiresInSeconds: 3600 });
  const result = await uploadFile(grant, file.path, {
    sizeInBytes: file.sizeInBytes,
    sha256: file.sha256,
    retryBudgetInMs: 30_000,
  });
  if (!result.ok) throw new Error(`upload failed: ${result.reason}`);
}

async function downloadTo(store: BlobStore, loc: BlobLocation, path: string): Promise<void> {
  const { stream } = await store.openRead(loc);
  await pipeline(stream as Readable, createWriteStream(path));
}

async function checkSha(path: string, file: TestFile, what: string): Promise<void> {
  const sha = await sha256OfStream(createReadStream(path));
  if (sha !== file.sha256) throw new Error(`${what}: downloaded file differs from the original`);
}

async function benchLocal(dir: string, file: TestFile, loc: BlobLocation): Promise<Row[]> {
  const signingKey = randomBytes(32);
  const rootDir = join(dir, 'local-root');
  const server = await startLocalStorageServer({ accountName: 'bench', rootDir, signingKey });
  try {
    const store = openBlobStore(
      'bench',
      { type: 'local', rootDir },
      { publicBaseUrl: server.publicBaseUrl, signingKey },
    );
    await store.ensureContainer(loc.container);
    const [, up] = await timed(() => uploadWithGrant(store, loc, file));
    const [, baseUp] = await timed(() => copyFile(file.path, join(dir, 'copy-1.cap')));
    const target = join(dir, 'download.cap');
    const [, down] = await timed(async () => {
      // Through the HTTP route with the bearer token, as `nw download` would.
      const response = await fetch(store.blobUrl(loc), { headers: { authorization: `Bearer ${server.readToken}` } });
      if (response.status !== 200 || !response.body) throw new Error(`download answered ${response.status}`);
      await pipeline(Readable.fromWeb(response.body as never), createWriteStream(target));
    });
    await checkSha(target, file, 'local');
    const [, baseDown] = await timed(() =>
      copyFile(join(rootDir, loc.container, loc.blobPath), join(dir, 'copy-2.cap')),
    );
    return [
      { kind: 'local', operation: 'upload', seconds: up, baselineSeconds: baseUp, baseline: 'fs.copyFile' },
      { kind: 'local', operation: 'download', seconds: down, baselineSeconds: baseDown, baseline: 'fs.copyFile' },
    ];
  } finally {
    await server.stop();
    await rm(rootDir, { recursive: true, force: true });
    await rm(join(dir, 'copy-1.cap'), { force: true });
    await rm(join(dir, 'copy-2.cap'), { force: true });
  }
}

async function benchAzure(dir: string, file: TestFile, loc: BlobLocation): Promise<Row[]> {
  const azurite = await startAzurite(join(dir, 'azurite'));
  try {
    const config: StorageBackendConfig = { type: 'azureBlob', connectionString: azurite.connectionString };
    const store = openBlobStore('bench', config, { publicBaseUrl: 'http://127.0.0.1:1', signingKey: randomBytes(32) });
    await store.ensureContainer(loc.container);
    const [, up] = await timed(() => uploadWithGrant(store, loc, file));
    const sdkBlob = BlobServiceClient.fromConnectionString(azurite.connectionString)
      .getContainerClient(loc.container)
      .getBlockBlobClient('baseline/copy.cap');
    const [, baseUp] = await timed(() => sdkBlob.uploadFile(file.path));
    const target = join(dir, 'download.cap');
    const [, down] = await timed(() => downloadTo(store, loc, target));
    await checkSha(target, file, 'azureBlob');
    // The baseline reads the same blob ours wrote, so only the reading differs.
    const sameBlob = BlobServiceClient.fromConnectionString(azurite.connectionString)
      .getContainerClient(loc.container)
      .getBlockBlobClient(loc.blobPath);
    const [, baseDown] = await timed(() => sameBlob.downloadToFile(join(dir, 'baseline.cap')));
    return [
      {
        kind: 'azureBlob',
        operation: 'upload',
        seconds: up,
        baselineSeconds: baseUp,
        baseline: 'BlockBlobClient.uploadFile',
      },
      {
        kind: 'azureBlob',
        operation: 'download',
        seconds: down,
        baselineSeconds: baseDown,
        baseline: 'BlobClient.downloadToFile (same blob)',
      },
    ];
  } finally {
    await azurite.stop();
    await rm(join(dir, 'azurite'), { recursive: true, force: true });
    await rm(join(dir, 'baseline.cap'), { force: true });
  }
}

async function benchS3(dir: string, file: TestFile, loc: BlobLocation): Promise<Row[]> {
  const s3 = await startSwiftS3(join(dir, 'swift'));
  try {
    const config: StorageBackendConfig = {
      type: 's3',
      endpoint: s3.endpoint,
      region: s3.region,
      bucket: 'bench',
      accessKeyId: s3.accessKeyId,
      secretAccessKey: s3.secretAccessKey,
      forcePathStyle: true,
    };
    const store = openBlobStore('bench', config, { publicBaseUrl: 'http://127.0.0.1:1', signingKey: randomBytes(32) });
    await store.ensureContainer(loc.container);
    const [, up] = await timed(() => uploadWithGrant(store, loc, file));
    const client = new S3Client({
      endpoint: s3.endpoint,
      region: s3.region,
      forcePathStyle: true,
      credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
    const [, baseUp] = await timed(() =>
      client.send(
        new PutObjectCommand({
          Bucket: 'bench',
          Key: 'baseline/copy.cap',
          Body: createReadStream(file.path),
          ContentLength: file.sizeInBytes,
        }),
      ),
    );
    const target = join(dir, 'download.cap');
    const [, down] = await timed(() => downloadTo(store, loc, target));
    await checkSha(target, file, 's3');
    const [, baseDown] = await timed(async () => {
      // The baseline reads the same object ours wrote (a multipart object), so only the reading differs.
      const response = await client.send(
        new GetObjectCommand({ Bucket: 'bench', Key: `${loc.container}/${loc.blobPath}` }),
      );
      await pipeline(response.Body as Readable, createWriteStream(join(dir, 'baseline.cap')));
    });
    return [
      { kind: 's3', operation: 'upload', seconds: up, baselineSeconds: baseUp, baseline: 'S3Client PutObject' },
      {
        kind: 's3',
        operation: 'download',
        seconds: down,
        baselineSeconds: baseDown,
        baseline: 'S3Client GetObject (same object)',
      },
    ];
  } finally {
    await s3.stop();
    await rm(join(dir, 'swift'), { recursive: true, force: true });
    await rm(join(dir, 'baseline.cap'), { force: true });
  }
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), `nw-bench-storage-${process.pid}-`));
  try {
    const file = await writeRandomCaptureFile(join(dir, 'source.cap'), sizeInBytes);
    const loc: BlobLocation = { container: CAPTURE_CONTAINER, blobPath: 'bench/packetcapture_00_00_00_000.cap' };
    const rows: Row[] = [];
    if (kinds.has('local')) rows.push(...(await benchLocal(dir, file, loc)));
    if (kinds.has('azureBlob')) rows.push(...(await benchAzure(dir, file, loc)));
    if (kinds.has('s3')) rows.push(...(await benchS3(dir, file, loc)));
    const mib = sizeInBytes / 1024 / 1024;
    console.log(
      `storage throughput, ${mib} MiB file, all servers on loopback (ratio = ours / baseline throughput; 1.00 = as fast as the baseline)`,
    );
    console.log('kind       operation  ours MiB/s  baseline MiB/s  ratio  baseline');
    for (const row of rows) {
      const ours = mib / row.seconds;
      const base = mib / row.baselineSeconds;
      console.log(
        `${row.kind.padEnd(10)} ${row.operation.padEnd(10)} ${ours.toFixed(1).padStart(10)}  ${base.toFixed(1).padStart(14)}  ${(ours / base).toFixed(2).padStart(5)}  ${row.baseline}`,
      );
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
