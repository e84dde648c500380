// The storage contract, once: what every kind of BlobStore (local, Azure Blob, S3) must do for the
// agent's uploads and the server's reads, run by each kind's test file against its real server.
// Each file keeps beside it only what is that kind's own (its signatures, its multipart uploads).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { uploadFile, type BlobLocation, type BlobStore, type UploadGrant } from '../index.js';
import { sha256OfStream, type TestFile } from './files.js';
import { uploadThroughOutage, type RestartableServer } from './outage.js';

/** One storage kind under the contract. Getters, because the test file sets them up in its `before`. */
export interface StorageKindUnderTest {
  /** Words in the test names ("Azurite", "the S3 server"). */
  serverName: string;
  /** The `kind` of the grants it gives. */
  grantKind: UploadGrant['kind'];
  store(): BlobStore;
  server(): RestartableServer;
  /** A file of a few MB (one request for every kind but local's chunks). */
  small(): TestFile;
  /** A file large enough to span several blocks, parts or chunks. */
  large(): TestFile;
  /** A location not used before. */
  nextLocation(): BlobLocation;
  /** The URL `blobUrl` must give for a location. */
  expectedBlobUrl(location: BlobLocation): string;
  /** Container URLs of this account and what they parse to. */
  ownContainerUrls(): Array<[url: string, expected: { container: string; prefix: string }]>;
  /** Container URLs of other accounts, buckets or hosts: none is this account's. */
  foreignContainerUrls(): string[];
  /** The mid-upload outage: when to stop the server, for how long, and what to check while down and after. */
  outage: {
    stopAtBytes: number;
    downForMs: number;
    retryBudgetInMs: number;
    whileDown?(): Promise<void>;
    /** Checks of the grant before the upload. */
    check?(grant: UploadGrant): void;
    /** Checks once the upload completed (of what `whileDown` saw). */
    after?(): void;
  };
  /** Checks of this kind on a stored small capture (its download URL, its grant's mode …). */
  afterSmallUpload?(location: BlobLocation, grant: UploadGrant): Promise<void>;
}

/**
 * Registers the contract tests for one kind (call inside its `describe`): upload, verify, stat,
 * read back with the same SHA-256; an outage in the middle of an upload; storage down longer
 * than the retry budget; container URLs of this account only; delete.
 * @example describe('azure blob storage (Azurite)', () => { storageContract(azuriteKind); … });
 */
export function storageContract(kind: StorageKindUnderTest): void {
  test('a 5 MB capture uploads, verifies and downloads with the same SHA-256', async () => {
    const store = kind.store();
    const small = kind.small();
    const loc = kind.nextLocation();
    const grant = await store.grantUpload(loc, { sizeInBytes: small.sizeInBytes, expiresInSeconds: 300 });
    assert.equal(grant.kind, kind.grantKind);
    const progress: number[] = [];
    const result = await uploadFile(grant, small.path, {
      sizeInBytes: small.sizeInBytes,
      sha256: small.sha256,
      retryBudgetInMs: 5_000,
      onProgress: (sent) => progress.push(sent),
    });
    assert.deepEqual(result, { ok: true });
    assert.equal(progress.at(-1), small.sizeInBytes);
    assert.equal(await store.verify(loc, { sizeInBytes: small.sizeInBytes, sha256: small.sha256 }), true);
    assert.equal(await store.verify(loc, { sizeInBytes: small.sizeInBytes, sha256: '0'.repeat(64) }), false);
    assert.deepEqual(await store.stat(loc), { sizeInBytes: small.sizeInBytes });
    const read = await store.openRead(loc);
    assert.equal(read.sizeInBytes, small.sizeInBytes);
    assert.equal(await sha256OfStream(read.stream), small.sha256);
    assert.equal(store.blobUrl(loc), kind.expectedBlobUrl(loc));
    await kind.afterSmallUpload?.(loc, grant);
  });

  test(`verify refuses a blob on ${kind.serverName} with one byte changed (same size), and accepts it for its own SHA-256`, async () => {
    const store = kind.store();
    const small = kind.small();
    const bytes = await readFile(small.path);
    const middle = Math.floor(bytes.length / 2);
    bytes[middle] = bytes[middle]! ^ 0x01;
    const changed = { path: `${small.path}.one-byte-changed`, sizeInBytes: bytes.length };
    const changedSha256 = createHash('sha256').update(bytes).digest('hex');
    assert.equal(changed.sizeInBytes, small.sizeInBytes);
    assert.notEqual(changedSha256, small.sha256);
    await writeFile(changed.path, bytes);
    const loc = kind.nextLocation();
    try {
      const grant = await store.grantUpload(loc, { sizeInBytes: changed.sizeInBytes, expiresInSeconds: 300 });
      assert.deepEqual(
        await uploadFile(grant, changed.path, {
          sizeInBytes: changed.sizeInBytes,
          sha256: changedSha256,
          retryBudgetInMs: 5_000,
        }),
        { ok: true },
      );
      assert.equal(await store.verify(loc, { sizeInBytes: small.sizeInBytes, sha256: small.sha256 }), false);
      assert.equal(await store.verify(loc, { sizeInBytes: changed.sizeInBytes, sha256: changedSha256 }), true);
    } finally {
      await rm(changed.path, { force: true });
      await store.delete(loc).catch(() => false);
    }
  });

  test(`an upload survives ${kind.serverName} stopping mid-way and completes after it restarts`, async () => {
    const store = kind.store();
    const large = kind.large();
    const loc = kind.nextLocation();
    const grant = await store.grantUpload(loc, { sizeInBytes: large.sizeInBytes, expiresInSeconds: 300 });
    kind.outage.check?.(grant);
    const { result, sentAtStop } = await uploadThroughOutage(grant, large, kind.server(), {
      stopAtBytes: kind.outage.stopAtBytes,
      downForMs: kind.outage.downForMs,
      retryBudgetInMs: kind.outage.retryBudgetInMs,
      ...(kind.outage.whileDown ? { whileDown: kind.outage.whileDown } : {}),
    });
    assert.ok(sentAtStop > 0, `${kind.serverName} was stopped during the upload`);
    kind.outage.after?.();
    assert.deepEqual(result, { ok: true });
    assert.equal(await store.verify(loc, { sizeInBytes: large.sizeInBytes, sha256: large.sha256 }), true);
  });

  test(`${kind.serverName} down longer than the budget fails retryably, leaves the file alone, and a later call succeeds`, async () => {
    const store = kind.store();
    const large = kind.large();
    const loc = kind.nextLocation();
    const grant = await store.grantUpload(loc, { sizeInBytes: large.sizeInBytes, expiresInSeconds: 300 });
    await kind.server().stop();
    try {
      const startedAt = Date.now();
      const result = await uploadFile(grant, large.path, {
        sizeInBytes: large.sizeInBytes,
        sha256: large.sha256,
        retryBudgetInMs: 1_500,
      });
      assert.equal(result.ok, false);
      assert.ok(!result.ok && result.retryable);
      assert.match(!result.ok ? result.reason : '', /^StorageUnavailable/);
      assert.ok(Date.now() - startedAt < 10_000, 'the budget bounds the attempt');
    } finally {
      await kind.server().start();
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
    const store = kind.store();
    for (const [url, expected] of kind.ownContainerUrls())
      assert.deepEqual(store.parseContainerUrl(url), expected, url);
    for (const url of kind.foreignContainerUrls()) assert.equal(store.parseContainerUrl(url), null, url);
  });

  test('delete removes the blob and reports whether there was one', async () => {
    const store = kind.store();
    const small = kind.small();
    const loc = kind.nextLocation();
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
}
