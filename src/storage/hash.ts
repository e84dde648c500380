import { createHash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { openWholeFileReader } from '../lib/index.js';

/** True when `a` and `b` are the same SHA-256 in hex, ignoring case. */
export function sameSha256(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

// 4 MiB reads into one buffer: a stream's fresh buffer per read (createReadStream) is garbage for
// V8 to collect, ~0.3 CPU-s per GB hashed on a server's heap. Through O_DIRECT where the file
// system allows it (lib/direct-read.ts): the file is read once, cold (a capture nw-capture wrote
// past the page cache, a stored blob), where a buffered read costs the kernel ~1.5–2.3 CPU-s per
// GB and O_DIRECT ~0.02.
const fileRangeReadInBytes = 4 * 1024 * 1024;

/**
 * Size and SHA-256 (hex) of bytes [start, end) of an open file, read into one reused 4 MiB buffer
 * (each read is hashed before the next fills it; O_DIRECT where the file system allows it, see
 * opts.tryDirect); a file that ends before `end` gives a smaller size.
 * @example const { sizeInBytes, sha256 } = await hashFileRange(handle, 0, expectedSize);
 */
export async function hashFileRange(
  file: FileHandle,
  start: number,
  end: number,
  opts: { tryDirect?: boolean; onRead?: (how: { direct: boolean }) => void } = {},
): Promise<{ sizeInBytes: number; sha256: string }> {
  const hash = createHash('sha256');
  let position = start;
  if (end > start) {
    const reader = openWholeFileReader(file, {
      maxReadBytes: Math.min(fileRangeReadInBytes, end - start),
      ...(opts.tryDirect === false ? { tryDirect: false } : {}),
    });
    try {
      while (position < end) {
        const piece = await reader.read(position, Math.min(reader.maxReadBytes, end - position));
        if (piece.length === 0) break;
        hash.update(piece);
        position += piece.length;
      }
      opts.onRead?.({ direct: reader.direct });
    } finally {
      reader.close();
    }
  }
  return { sizeInBytes: position - start, sha256: hash.digest('hex') };
}
