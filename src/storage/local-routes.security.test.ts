/**
 * Issue 9 point 4, storage side: an upload URL works for the one upload that creates its blob,
 * and once a blob is stored nothing overwrites it — not a replay of the same signed URL, not a
 * new grant for the same blob path (two captures may not share a blob while one's file exists).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CAPTURE_CONTAINER, openBlobStore, uploadFile, type BlobStore, type LocalUploadGrant } from './index.js';
import { startLocalStorageServer, type LocalStorageTestServer } from './testing/index.js';

const signingKey = randomBytes(32);
let workDir: string;
let server: LocalStorageTestServer;
let store: BlobStore;

before(async () => {
  workDir = await mkdtemp(join(tmpdir(), `nw-local-sec-${process.pid}-`));
  server = await startLocalStorageServer({ accountName: 'secacct', rootDir: join(workDir, 'root'), signingKey });
  store = openBlobStore(
    'secacct',
    { type: 'local', rootDir: join(workDir, 'root') },
    { publicBaseUrl: server.publicBaseUrl, signingKey },
  );
  await store.ensureContainer(CAPTURE_CONTAINER);
});
after(async () => {
  await server?.stop();
  await rm(workDir, { recursive: true, force: true });
});

const put = (url: string, body: Buffer) =>
  fetch(url, { method: 'PUT', body, headers: { 'content-type': 'application/octet-stream' } });

test('a stored blob is never overwritten: a replayed URL and a new grant for the same path are refused', async () => {
  const loc = { container: CAPTURE_CONTAINER, blobPath: 'a/b/packetcapture_00_00_00_000.cap' };
  const original = Buffer.alloc(100, 1);
  const grant = (await store.grantUpload(loc, { sizeInBytes: 100, expiresInSeconds: 300 })) as LocalUploadGrant;
  assert.equal((await put(grant.uploadUrl, original)).status, 201);

  const replay = await put(grant.uploadUrl, Buffer.alloc(100, 2));
  assert.equal(replay.status, 409, 'the same URL a second time');
  const other = (await store.grantUpload(loc, { sizeInBytes: 100, expiresInSeconds: 300 })) as LocalUploadGrant;
  assert.equal((await put(other.uploadUrl, Buffer.alloc(100, 3))).status, 409, 'a fresh grant for the same blob');

  const path = join(workDir, 'source.cap');
  const { writeFile } = await import('node:fs/promises');
  await writeFile(path, Buffer.alloc(100, 4));
  const viaUploader = await uploadFile(other, path, {
    sizeInBytes: 100,
    sha256: '0'.repeat(64),
    retryBudgetInMs: 1_000,
  });
  assert.equal(viaUploader.ok, false);
  assert.deepEqual(
    await readFile(join(workDir, 'root', CAPTURE_CONTAINER, loc.blobPath)),
    original,
    'the stored blob is as first uploaded',
  );
});
