import { createHash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';

/** True when `a` and `b` are the same SHA-256 in hex, ignoring case. */
export function sameSha256(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

// 4 MiB reads into one buffer: a stream's fresh buffer per read (createReadStream) is garbage for
// V8 to collect, ~0.3 CPU-s per GB hashed on a server's heap.
const fileRangeReadInBytes = 4 * 1024 * 1024;

/**
 * Size and SHA-256 (hex) of bytes [start, end) of an open file, read into one reused 4 MiB buffer
 * (each read is hashed before the next fills it); a file that ends before `end` gives a smaller size.
 * @example const { sizeInBytes, sha256 } = await hashFileRange(handle, 0, expectedSize);
 */
export async function hashFileRange(
  file: FileHandle,
  start: number,
  end: number,
): Promise<{ sizeInBytes: number; sha256: string }> {
  const hash = createHash('sha256');
  const buffer = Buffer.allocUnsafeSlow(Math.max(1, Math.min(fileRangeReadInBytes, end - start)));
  let position = start;
  while (position < end) {
    const { bytesRead } = await file.read(buffer, 0, Math.min(buffer.length, end - position), position);
    if (bytesRead === 0) break;
    hash.update(buffer.subarray(0, bytesRead));
    position += bytesRead;
  }
  return { sizeInBytes: position - start, sha256: hash.digest('hex') };
}
