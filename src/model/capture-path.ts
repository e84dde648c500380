// The capture-file path rule, once: the server and alert-capture check it up front (a clear 400
// naming the field, nothing changed) and the agent checks it again against its own root before
// confining the file (src/agent/capture-files.ts creates it without following links).
import { posix } from 'node:path';
import { ApiError } from '../lib/index.js';

/** Local capture files on a Linux host live under this folder (Azure's rule, and the agent's default root). */
export const CAPTURE_ROOT = '/var/captures';

/** Longest local capture path accepted (Linux PATH_MAX is 4096; a server message is bounded well below). */
export const MAX_CAPTURE_PATH_BYTES = 1024;

/**
 * Why `path` is not a local capture path under `root`, or null when it is one: at most
 * {@link MAX_CAPTURE_PATH_BYTES}, no NUL or control characters, absolute, no `.` or `..`
 * component, ending in `.cap`, strictly under the root. Purely lexical: links are the agent's job.
 * @example captureFilePathProblem('/var/captures', '/var/captures/../etc/x.cap') // "… without '.' or '..'"
 */
export function captureFilePathProblem(root: string, path: string): string | null {
  if (typeof path !== 'string' || Buffer.byteLength(path) > MAX_CAPTURE_PATH_BYTES)
    return `a local capture path must be at most ${MAX_CAPTURE_PATH_BYTES} bytes`;
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(path)) return 'a local capture path must not hold control characters';
  if (!path.startsWith('/') || path.split('/').some((c) => c === '..' || c === '.'))
    return "it must be an absolute path without '.' or '..' components";
  if (!path.endsWith('.cap')) return "the file name must end in '.cap'";
  const rel = posix.relative(posix.normalize(root), posix.normalize(path));
  if (rel === '' || rel.startsWith('..') || posix.isAbsolute(rel))
    return `a capture file on a Linux host must be under ${posix.normalize(root)}/`;
  return null;
}

/**
 * Checks a capture file path given in a request against {@link CAPTURE_ROOT}; returns it
 * normalized. A bad path is a 400 InvalidFilePath naming the field.
 * @example parseCaptureFilePath('/var/captures//pc1.cap', 'properties.storageLocation.filePath') === '/var/captures/pc1.cap'
 */
export function parseCaptureFilePath(path: string, field: string): string {
  const problem = captureFilePathProblem(CAPTURE_ROOT, path);
  if (problem !== null)
    throw new ApiError(
      'InvalidFilePath',
      `${field} '${path}' is invalid: ${problem} (for example ${CAPTURE_ROOT}/capture1.cap).`,
      { target: field },
    );
  return posix.normalize(path);
}
