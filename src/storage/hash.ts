import { createHash } from 'node:crypto';

/** Size and SHA-256 (lower-case hex) of everything a stream yields. */
export async function hashStream(stream: NodeJS.ReadableStream): Promise<{ sizeInBytes: number; sha256: string }> {
  const hash = createHash('sha256');
  let sizeInBytes = 0;
  for await (const chunk of stream as AsyncIterable<Buffer | string>) {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    hash.update(bytes);
    sizeInBytes += bytes.length;
  }
  return { sizeInBytes, sha256: hash.digest('hex') };
}

/** True when `a` and `b` are the same SHA-256 in hex, ignoring case. */
export function sameSha256(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}
