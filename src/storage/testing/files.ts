import { createHash, randomBytes } from 'node:crypto';
import { open } from 'node:fs/promises';

/** A file made for a test and its SHA-256. */
export interface TestFile {
  path: string;
  sizeInBytes: number;
  sha256: string;
}

/**
 * Writes a capture-like file: a pcap global header followed by random bytes, `sizeInBytes` in
 * all, in 1 MiB writes (a 1 GiB benchmark file never sits in memory at once).
 */
export async function writeRandomCaptureFile(path: string, sizeInBytes: number): Promise<TestFile> {
  const hash = createHash('sha256');
  const handle = await open(path, 'w');
  try {
    // pcap global header: magic, v2.4, zone 0, sigfigs 0, snaplen 262144, linktype 1 (Ethernet).
    const header = Buffer.alloc(24);
    header.writeUInt32LE(0xa1b2c3d4, 0);
    header.writeUInt16LE(2, 4);
    header.writeUInt16LE(4, 6);
    header.writeUInt32LE(262_144, 16);
    header.writeUInt32LE(1, 20);
    let written = 0;
    while (written < sizeInBytes) {
      const length = Math.min(1024 * 1024, sizeInBytes - written);
      const chunk = randomBytes(length);
      if (written === 0) header.copy(chunk, 0, 0, Math.min(header.length, length));
      await handle.write(chunk, 0, length, written);
      hash.update(chunk);
      written += length;
    }
  } finally {
    await handle.close();
  }
  return { path, sizeInBytes, sha256: hash.digest('hex') };
}

/** SHA-256 (hex) of everything a stream yields. */
export async function sha256OfStream(stream: NodeJS.ReadableStream): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of stream as AsyncIterable<Buffer>) hash.update(chunk);
  return hash.digest('hex');
}
