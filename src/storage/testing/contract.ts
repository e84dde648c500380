// The storage contract, once: what every kind of BlobStore (local, Azure Blob, S3) must do for the
// agent's uploads and the server's reads, run by each kind's test file against its real server.
// Each file keeps beside it only what is that kind's own (its signatures, its multipart uploads).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { closeSync, createReadStream, openSync, readSync, writeSync } from 'node:fs';
import { copyFile, open, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { fileIdentityOfPath } from '../../lib/file-identity.js';
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

  // The agent's check (localContentCheck { identity }): the file's identity recorded when the
  // engine hashed it, compared at the open and before the step that makes the blob exist.
  const copyWithIdentity = async (file: TestFile, name: string) => {
    const path = `${file.path}.${name}`;
    await copyFile(file.path, path);
    return { path, identity: fileIdentityOfPath(path) };
  };
  const flipOneByte = async (path: string, position: number): Promise<void> => {
    const handle = await open(path, 'r+');
    try {
      const byte = Buffer.alloc(1);
      await handle.read(byte, 0, 1, position);
      byte[0] = byte[0]! ^ 0xff;
      await handle.write(byte, 0, 1, position);
    } finally {
      await handle.close();
    }
  };

  test(`with its identity an unchanged file is stored on ${kind.serverName} without being hashed again (a wrong SHA-256 is then the server's verify to find)`, async () => {
    const store = kind.store();
    for (const file of [kind.small(), kind.large()]) {
      const copy = await copyWithIdentity(file, 'identity-unchanged');
      const wrong = kind.nextLocation();
      const right = kind.nextLocation();
      try {
        const upload = async (loc: BlobLocation, sha256: string) =>
          uploadFile(
            await store.grantUpload(loc, { sizeInBytes: file.sizeInBytes, expiresInSeconds: 300 }),
            copy.path,
            {
              sizeInBytes: file.sizeInBytes,
              sha256,
              retryBudgetInMs: 5_000,
              localContentCheck: { identity: copy.identity },
            },
          );
        // No SHA-256 of the file here: the identity vouches for the bytes the engine hashed.
        assert.deepEqual(await upload(wrong, 'c'.repeat(64)), { ok: true });
        assert.equal(await store.verify(wrong, { sizeInBytes: file.sizeInBytes, sha256: 'c'.repeat(64) }), false);
        assert.deepEqual(await upload(right, file.sha256), { ok: true });
        assert.equal(await store.verify(right, { sizeInBytes: file.sizeInBytes, sha256: file.sha256 }), true);
      } finally {
        await rm(copy.path, { force: true });
        await store.delete(wrong).catch(() => false);
        await store.delete(right).catch(() => false);
      }
    }
  });

  test(`a file modified after its identity was recorded, or replaced by another of the same size, is never stored on ${kind.serverName} (LocalFileChanged)`, async () => {
    const store = kind.store();
    for (const file of [kind.small(), kind.large()]) {
      for (const how of ['modified', 'replaced'] as const) {
        const copy = await copyWithIdentity(file, `identity-${how}`);
        const loc = kind.nextLocation();
        try {
          if (how === 'modified') await flipOneByte(copy.path, Math.floor(file.sizeInBytes / 2));
          else {
            await copyFile(file.path, `${copy.path}.other`);
            await flipOneByte(`${copy.path}.other`, file.sizeInBytes - 1);
            await rename(`${copy.path}.other`, copy.path);
          }
          const grant = await store.grantUpload(loc, { sizeInBytes: file.sizeInBytes, expiresInSeconds: 300 });
          const result = await uploadFile(grant, copy.path, {
            sizeInBytes: file.sizeInBytes,
            sha256: file.sha256,
            retryBudgetInMs: 5_000,
            localContentCheck: { identity: copy.identity },
          });
          assert.deepEqual(
            [result.ok, !result.ok && result.retryable, !result.ok && result.reason.split(':')[0]],
            [false, false, 'LocalFileChanged'],
            `${how}, ${file.sizeInBytes} bytes`,
          );
          assert.equal(await store.stat(loc), null, `${how}: nothing stored`);
        } finally {
          await rm(copy.path, { force: true });
          await store.delete(loc).catch(() => false);
        }
      }
    }
  });

  test(`a file touched after its identity was recorded but with the same bytes is still stored on ${kind.serverName} (hashed then)`, async () => {
    const store = kind.store();
    const file = kind.small();
    const copy = await copyWithIdentity(file, 'identity-touched');
    const loc = kind.nextLocation();
    try {
      const handle = await open(copy.path, 'r+');
      try {
        await handle.utimes(new Date(), new Date(Date.now() + 5_000));
      } finally {
        await handle.close();
      }
      const grant = await store.grantUpload(loc, { sizeInBytes: file.sizeInBytes, expiresInSeconds: 300 });
      assert.deepEqual(
        await uploadFile(grant, copy.path, {
          sizeInBytes: file.sizeInBytes,
          sha256: file.sha256,
          retryBudgetInMs: 5_000,
          localContentCheck: { identity: copy.identity },
        }),
        { ok: true },
      );
      assert.equal(await store.verify(loc, { sizeInBytes: file.sizeInBytes, sha256: file.sha256 }), true);
    } finally {
      await rm(copy.path, { force: true });
      await store.delete(loc).catch(() => false);
    }
  });

  test(`a file written to while it is uploaded (bytes already sent) is never stored on ${kind.serverName} (LocalFileChanged)`, async () => {
    const store = kind.store();
    const large = kind.large();
    const copy = await copyWithIdentity(large, 'identity-during');
    const loc = kind.nextLocation();
    try {
      const grant = await store.grantUpload(loc, { sizeInBytes: large.sizeInBytes, expiresInSeconds: 300 });
      let written = false;
      const result = await uploadFile(grant, copy.path, {
        sizeInBytes: large.sizeInBytes,
        sha256: large.sha256,
        retryBudgetInMs: 5_000,
        localContentCheck: { identity: copy.identity },
        // At the first bytes sent, a byte the upload has read already changes: what is sent is
        // still what was hashed, but the file is no longer the one the status describes.
        // Synchronously, so that it lands before any later step of the upload runs.
        onProgress: () => {
          if (written) return;
          written = true;
          const fd = openSync(copy.path, 'r+');
          try {
            const byte = Buffer.alloc(1);
            readSync(fd, byte, 0, 1, 0);
            byte[0] = byte[0]! ^ 0xff;
            writeSync(fd, byte, 0, 1, 0);
          } finally {
            closeSync(fd);
          }
        },
      });
      assert.equal(written, true, 'the file was written during the upload');
      assert.deepEqual(
        [result.ok, !result.ok && result.retryable, !result.ok && result.reason.split(':')[0]],
        [false, false, 'LocalFileChanged'],
      );
      assert.equal(await store.stat(loc), null, 'nothing stored');
    } finally {
      await rm(copy.path, { force: true });
      await store.delete(loc).catch(() => false);
    }
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
