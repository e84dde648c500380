import { mkdirSync, realpathSync, existsSync } from 'node:fs';
import { dirname, isAbsolute, normalize, relative } from 'node:path';

/** A local capture path that is not allowed (outside the capture root, escaping it, or not a .cap). */
export class CapturePathError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CapturePathError';
  }
}

/**
 * Confines a capture file path to the capture root: absolute, `.cap`, no `..`, and — after
 * resolving symbolic links of every existing parent — still inside the root, so a link planted
 * under /var/captures cannot make the agent (root) write elsewhere. Creates missing parents
 * (inside the root) and refuses an existing file, which would otherwise be overwritten.
 */
export function confineCapturePath(root: string, path: string): string {
  if (!isAbsolute(path) || path.split('/').includes('..')) throw new CapturePathError(`'${path}' must be an absolute path without '..'.`);
  if (!path.endsWith('.cap')) throw new CapturePathError(`'${path}' must end in '.cap'.`);
  const normalRoot = normalize(root);
  const normalPath = normalize(path);
  const rel = relative(normalRoot, normalPath);
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) throw new CapturePathError(`'${path}' is not under ${normalRoot}.`);
  mkdirSync(normalRoot, { recursive: true, mode: 0o700 });
  const realRoot = realpathSync(normalRoot);
  mkdirSync(dirname(normalPath), { recursive: true, mode: 0o700 });
  const realParent = realpathSync(dirname(normalPath));
  const realRel = relative(realRoot, realParent);
  if (realRel.startsWith('..') || isAbsolute(realRel)) throw new CapturePathError(`'${path}' leaves ${normalRoot} through a symbolic link.`);
  if (existsSync(normalPath)) throw new CapturePathError(`'${path}' already exists; choose another file name.`);
  return normalPath;
}
