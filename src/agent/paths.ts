import { closeSync } from 'node:fs';
import { isAbsolute, normalize, relative } from 'node:path';
import { ConfinedDir, ConfinedPathError } from './confined-dir.js';

/** A local capture path that is not allowed (outside the capture root, escaping it, or not a .cap). */
export class CapturePathError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CapturePathError';
  }
}

/** Longest local capture path accepted (Linux PATH_MAX is 4096; a server message is bounded well below). */
const MAX_CAPTURE_PATH_BYTES = 1024;

/**
 * The lexical rules of a local capture path, checked before anything touches the disk: absolute,
 * `.cap`, bounded, no NUL or control characters, no `.` or `..` component, strictly under the
 * root. Returns the path relative to the root. Links are the job of {@link ConfinedDir}, which
 * creates the file without following any.
 */
export function captureRelativePath(root: string, path: string): string {
  if (typeof path !== 'string' || Buffer.byteLength(path) > MAX_CAPTURE_PATH_BYTES)
    throw new CapturePathError(`a local capture path must be at most ${MAX_CAPTURE_PATH_BYTES} bytes.`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(path))
    throw new CapturePathError('a local capture path must not hold control characters.');
  if (!isAbsolute(path) || path.split('/').some((c) => c === '..' || c === '.'))
    throw new CapturePathError(`'${path}' must be an absolute path without '..'.`);
  if (!path.endsWith('.cap')) throw new CapturePathError(`'${path}' must end in '.cap'.`);
  const normalRoot = normalize(root);
  const rel = relative(normalRoot, normalize(path));
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel))
    throw new CapturePathError(`'${path}' is not under ${normalRoot}.`);
  return rel;
}

/**
 * Confines a capture file path to the capture root: the lexical rules of
 * {@link captureRelativePath}, then every folder below the root is walked (and made, 0700)
 * without following a symbolic link, and an existing file is refused, as it would otherwise be
 * overwritten. The capture manager then creates the file itself with O_EXCL|O_NOFOLLOW through
 * the held folder, so a link planted after this check cannot redirect it either.
 */
export function confineCapturePath(root: string, path: string): string {
  const rel = captureRelativePath(root, path);
  const dir = ConfinedDir.open(normalize(root));
  try {
    const existing = dir.openExisting(rel, false);
    if (existing) {
      closeSync(existing.fd);
      closeSync(existing.dirFd);
      throw new CapturePathError(`'${path}' already exists; choose another file name.`);
    }
    const { dirFd } = dir.openParent(rel, true);
    closeSync(dirFd);
  } catch (error) {
    if (error instanceof ConfinedPathError)
      throw new CapturePathError(
        error.message.replace('goes through a symbolic link', `leaves ${normalize(root)} through a symbolic link`),
      );
    throw error;
  } finally {
    dir.close();
  }
  return normalize(path);
}
