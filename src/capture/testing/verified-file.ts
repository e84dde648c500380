// Test support: a finished capture file checked against the outcome the engine reported for it.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { readPcapBuffer } from '../../pcap/index.js';
import type { PcapContents } from '../../pcap/index.js';
import type { CaptureOutcome } from '../types.js';

/**
 * Reads the finished file and asserts that the outcome's size, SHA-256 and packet count are the
 * file's, and that it is a whole, valid pcap (readPcapBuffer throws otherwise).
 * @example const contents = await verifiedCaptureFile(spec.outputPath, await session.done);
 */
export async function verifiedCaptureFile(path: string, outcome: CaptureOutcome): Promise<PcapContents> {
  const bytes = await readFile(path);
  assert.equal(outcome.fileSizeInBytes, bytes.length);
  assert.equal(outcome.sha256, createHash('sha256').update(bytes).digest('hex'));
  const contents = readPcapBuffer(bytes);
  assert.equal(contents.records.length, outcome.packetsCaptured);
  return contents;
}
