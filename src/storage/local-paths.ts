import { createHash } from 'node:crypto';
import { mkdir, realpath } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep, isAbsolute } from 'node:path';
import { assertValidBlobLocation, type BlobLocation } from './blob-path.js';
import { InvalidBlobLocationError } from './errors.js';

// Layout of a local account's root folder:
//   {rootDir}/{container}/{blobPath}        finished blobs
//   {rootDir}/.uploads/{sha256(loc)}.part   uploads in progress (same filesystem, so the final
//                                           rename is atomic); no container name starts with '.'.
const uploadsFolderName = '.uploads';

function assertInside(rootDir: string, path: string): void {
  const rel = relative(rootDir, path);
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) {
    throw new InvalidBlobLocationError('blob path escapes the storage root');
  }
}

/** Absolute file path of a finished blob; throws InvalidBlobLocationError for a location that is invalid or would leave `rootDir`. */
export function localBlobFilePath(rootDir: string, loc: BlobLocation): string {
  assertValidBlobLocation(loc);
  const root = resolve(rootDir);
  const path = resolve(root, loc.container, ...loc.blobPath.split('/'));
  assertInside(root, path);
  return path;
}

/** Absolute path of the temporary file an upload of `loc` writes before it is renamed into place. */
export function localUploadTempPath(rootDir: string, loc: BlobLocation): string {
  assertValidBlobLocation(loc);
  const id = createHash('sha256').update(`${loc.container}\n${loc.blobPath}`).digest('hex');
  return join(resolve(rootDir), uploadsFolderName, `${id}.part`);
}

/**
 * Creates the folder that will hold `filePath` and checks, after resolving symbolic links, that
 * it is still inside `rootDir`: a symlink planted inside the root must not redirect writes.
 */
export async function prepareParentInsideRoot(rootDir: string, filePath: string): Promise<void> {
  const parent = dirname(filePath);
  await mkdir(parent, { recursive: true });
  const [realRoot, realParent] = await Promise.all([realpath(rootDir), realpath(parent)]);
  if (realParent !== realRoot && !realParent.startsWith(realRoot + sep)) {
    throw new InvalidBlobLocationError('blob path escapes the storage root');
  }
}

/** Absolute folder of a container; throws InvalidBlobLocationError for an invalid container name. */
export function localContainerDirPath(rootDir: string, container: string): string {
  assertValidBlobLocation({ container, blobPath: 'placeholder' });
  return resolve(rootDir, container);
}
