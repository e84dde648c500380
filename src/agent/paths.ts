import { closeSync } from 'node:fs';
import { normalize, relative } from 'node:path';
import { captureFilePathProblem } from '../model/index.js';
import { ConfinedDir, ConfinedPathError } from './confined-dir.js';

/** A local capture path that is not allowed (outside the capture root, escaping it, or not a .cap). */
export class CapturePathError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CapturePathError';
  }
}

/**
 * The lexical rules of a local capture path ({@link captureFilePathProblem}, the same the server
 * checks up front), checked before anything touches the disk, against this agent's root. Returns
 * the path relative to the root. Links are the job of {@link ConfinedDir}, which creates the file
 * without following any.
 */
export function captureRelativePath(root: string, path: string): string {
  const problem = captureFilePathProblem(root, path);
  if (problem !== null) throw new CapturePathError(`local capture path '${path}' is refused: ${problem}.`);
  return relative(normalize(root), normalize(path));
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
