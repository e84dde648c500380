import { createReadStream } from 'node:fs';
import { mkdir, open, stat, unlink, type FileHandle } from 'node:fs/promises';
import { assertValidBlobLocation, splitContainerPath, type BlobLocation } from './blob-path.js';
import type { BlobStore, GrantUploadOptions, BlobReadStream } from './blob-store.js';
import { BlobNotFoundError } from './errors.js';
import type { LocalUploadGrant } from './grant.js';
import { hashFileRange, sameSha256 } from './hash.js';
import { localBlobFilePath, localContainerDirPath, localUploadTempPath } from './local-paths.js';
import { localBlobRoutePath, signLocalUrl } from './local-signing.js';

/** What the local kind needs besides its folder. */
export interface LocalStoreDeps {
  /** Public origin of the server the agents reach (the local routes live under it). */
  publicBaseUrl: string;
  /** Key of the HMAC that signs upload URLs; the routes must be given the same key. */
  signingKey: Buffer;
}

function isNotFound(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | null)?.code === 'ENOENT';
}

/** A {@link BlobStore} over a folder of the server; agents upload through {@link registerLocalStorageRoutes}. */
export function openLocalBlobStore(accountName: string, rootDir: string, deps: LocalStoreDeps): BlobStore {
  const baseUrl = deps.publicBaseUrl.replace(/\/+$/, '');
  const accountPrefix = `${baseUrl}/storage/${encodeURIComponent(accountName)}/`;

  async function statFile(loc: BlobLocation): Promise<number | null> {
    try {
      const info = await stat(localBlobFilePath(rootDir, loc));
      return info.isFile() ? info.size : null;
    } catch (error) {
      if (isNotFound(error)) return null;
      throw error;
    }
  }

  const blobUrl = (loc: BlobLocation): string => {
    assertValidBlobLocation(loc);
    return `${baseUrl}${localBlobRoutePath(accountName, loc.container, loc.blobPath)}`;
  };

  return {
    type: 'local',
    blobUrl,

    parseContainerUrl(url) {
      const clean = url.split(/[?#]/, 1)[0] ?? '';
      if (!clean.toLowerCase().startsWith(accountPrefix.toLowerCase())) return null;
      return splitContainerPath(clean.slice(accountPrefix.length));
    },

    async ensureContainer(container) {
      await mkdir(localContainerDirPath(rootDir, container), { recursive: true });
    },

    async grantUpload(loc, opts: GrantUploadOptions): Promise<LocalUploadGrant> {
      localUploadTempPath(rootDir, loc); // validates the location before anything is signed
      const expiresAtInSeconds = Math.floor(Date.now() / 1000) + opts.expiresInSeconds;
      const scope = {
        account: accountName,
        container: loc.container,
        blobPath: loc.blobPath,
        expiresAtInSeconds,
        sizeInBytes: opts.sizeInBytes,
      };
      return {
        kind: 'local',
        expiresAt: new Date(expiresAtInSeconds * 1000).toISOString(),
        sizeInBytes: opts.sizeInBytes,
        blobUrl: blobUrl(loc),
        uploadUrl: signLocalUrl(baseUrl, { ...scope, method: 'PUT' }, deps.signingKey),
        statusUrl: signLocalUrl(baseUrl, { ...scope, method: 'HEAD' }, deps.signingKey),
      };
    },

    async stat(loc) {
      const size = await statFile(loc);
      return size === null ? null : { sizeInBytes: size };
    },

    async verify(loc, expected) {
      const size = await statFile(loc);
      if (size !== expected.sizeInBytes) return false;
      // 4 MiB reads (the default 64 KiB stream doubled the cost of hashing the stored file) into
      // one buffer: a fresh one per read was garbage for the server's GC.
      let handle: FileHandle;
      try {
        handle = await open(localBlobFilePath(rootDir, loc), 'r');
      } catch (error) {
        if (isNotFound(error)) return false;
        throw error;
      }
      try {
        // One byte past the size: a blob that grew since the stat is not this one either.
        const actual = await hashFileRange(handle, 0, expected.sizeInBytes + 1);
        return actual.sizeInBytes === expected.sizeInBytes && sameSha256(actual.sha256, expected.sha256);
      } finally {
        await handle.close();
      }
    },

    async openRead(loc): Promise<BlobReadStream> {
      const size = await statFile(loc);
      if (size === null) throw new BlobNotFoundError(loc.container, loc.blobPath);
      return { stream: createReadStream(localBlobFilePath(rootDir, loc)), sizeInBytes: size };
    },

    async delete(loc) {
      let deleted = false;
      try {
        await unlink(localBlobFilePath(rootDir, loc));
        deleted = true;
      } catch (error) {
        if (!isNotFound(error)) throw error;
      }
      try {
        await unlink(localUploadTempPath(rootDir, loc));
      } catch (error) {
        if (!isNotFound(error)) throw error;
      }
      return deleted;
    },
  };
}
