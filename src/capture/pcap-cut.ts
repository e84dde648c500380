// The one pass over a finished capture file: walk its record headers, cut it at the last record
// boundary the limits allow, and hash exactly what remains. tcpdump writes the file itself (see
// session.ts), so this is where the engine's guarantees (size limit, time limit, whole records,
// SHA-256 of the stored bytes) are made, after the capture, off the packet path.
import { createHash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import {
  PCAP_GLOBAL_HEADER_BYTES,
  PCAP_RECORD_HEADER_BYTES,
  decodePcapHeader,
  maxCapturedLengthFor,
} from '../pcap/index.js';
import type { PcapHeader } from '../pcap/index.js';

/** Hex SHA-256 of no bytes. */
export const EMPTY_SHA256 = createHash('sha256').digest('hex');

// Large reads: one 4 MiB read from the page cache costs about what sixteen 64 KiB ones cost in
// syscalls, and the buffer is reused, so the pass allocates nothing per record.
const READ_CHUNK_BYTES = 4 * 1024 * 1024;

/** What the cut keeps. */
export interface CaptureFileCutRules {
  /** The file never exceeds this many bytes after the cut; 0 = no limit. */
  maxBytes: number;
  /** Records stamped after this instant (ms since the epoch) and all that follow them are cut; null = none. */
  stopAfterInMs: number | null;
}

/** Why the file ends where it ends after the cut. */
export type CaptureFileCutReason = 'end' | 'size' | 'time' | 'malformed';

/** A capture file after the cut. */
export interface CutCaptureFile {
  /** Bytes kept (the file's size after the cut); 0 when there was no pcap header. */
  sizeInBytes: number;
  /** Hex SHA-256 of those bytes. */
  sha256: string;
  /** Whole records kept. */
  packetsCaptured: number;
  /** 'end': the last whole record; 'size'/'time': a limit; 'malformed': bytes that are not a pcap record. */
  reason: CaptureFileCutReason;
  /** Timestamp (ms since the epoch) of the first record kept; absent when none is. */
  firstPacketTimeInMs?: number;
  /** Timestamp (ms since the epoch) of the last record kept; absent when none is. */
  lastPacketTimeInMs?: number;
}

/**
 * Cuts the pcap file open as `handle` after its last whole record that the rules keep (a torn
 * trailing record, records past the size limit, records from after the stop instant), truncates
 * it there and returns what it now holds with its SHA-256, in one streaming pass. A file without a
 * whole pcap header is truncated to 0. Not a regular file (a device): nothing is cut, size 0.
 * @example const cut = await cutCaptureFile(handle, { maxBytes: 1 << 30, stopAfterInMs: null }); // { sizeInBytes, sha256, packetsCaptured, reason: 'end' }
 */
export async function cutCaptureFile(handle: FileHandle, rules: CaptureFileCutRules): Promise<CutCaptureFile> {
  const st = await handle.stat();
  if (!st.isFile()) return { sizeInBytes: 0, sha256: EMPTY_SHA256, packetsCaptured: 0, reason: 'end' };
  const fileSize = st.size;
  const limit = rules.maxBytes > 0 ? rules.maxBytes : Number.POSITIVE_INFINITY;
  const hash = createHash('sha256');
  const buf = Buffer.allocUnsafe(Math.min(READ_CHUNK_BYTES, Math.max(fileSize, PCAP_GLOBAL_HEADER_BYTES)));
  let header: PcapHeader | null = null;
  let maxCaptured = 0;
  let next = 0; // offset of the next record header to look at
  let kept = 0; // end of the last unit (header or record) kept
  let hashedTo = 0; // every kept byte before this offset is hashed; each read starts here
  let packets = 0;
  let firstInMs: number | null = null;
  let lastInMs: number | null = null;
  let reason: CaptureFileCutReason = 'end';
  let done = false;
  while (!done && hashedTo < fileSize) {
    const start = hashedTo;
    const { bytesRead } = await handle.read(buf, 0, Math.min(buf.length, fileSize - start), start);
    if (bytesRead === 0) break; // the file shrank under us
    const end = start + bytesRead;
    if (header === null) {
      if (bytesRead < PCAP_GLOBAL_HEADER_BYTES) break;
      try {
        header = decodePcapHeader(buf.subarray(0, PCAP_GLOBAL_HEADER_BYTES));
      } catch {
        reason = 'malformed';
        break;
      }
      maxCaptured = maxCapturedLengthFor(header);
      next = kept = PCAP_GLOBAL_HEADER_BYTES;
    }
    const le = header.littleEndian;
    const nanoseconds = header.magic === 'nsec';
    while (next + PCAP_RECORD_HEADER_BYTES <= end) {
      const o = next - start;
      const capturedLength = le ? buf.readUInt32LE(o + 8) : buf.readUInt32BE(o + 8);
      if (capturedLength > maxCaptured) {
        reason = 'malformed';
        done = true;
        break;
      }
      const recordEnd = next + PCAP_RECORD_HEADER_BYTES + capturedLength;
      if (recordEnd > fileSize) {
        done = true; // torn trailing record
        break;
      }
      const seconds = le ? buf.readUInt32LE(o) : buf.readUInt32BE(o);
      const fraction = le ? buf.readUInt32LE(o + 4) : buf.readUInt32BE(o + 4);
      const timeInMs = seconds * 1000 + (nanoseconds ? fraction / 1e6 : fraction / 1e3);
      if (rules.stopAfterInMs !== null && timeInMs > rules.stopAfterInMs) {
        reason = 'time';
        done = true;
        break;
      }
      if (recordEnd > limit) {
        reason = 'size';
        done = true;
        break;
      }
      firstInMs ??= timeInMs;
      lastInMs = timeInMs;
      packets++;
      kept = next = recordEnd;
    }
    const hashEnd = Math.min(kept, end);
    if (hashEnd > hashedTo) {
      hash.update(buf.subarray(hashedTo - start, hashEnd - start));
      hashedTo = hashEnd;
    }
    // A record header cut by the end of the file: nothing more can be kept.
    if (!done && hashedTo === start && next + PCAP_RECORD_HEADER_BYTES > fileSize) break;
  }
  if (header === null) kept = 0;
  if (fileSize > kept) await handle.truncate(kept);
  return {
    sizeInBytes: kept,
    sha256: kept === 0 ? EMPTY_SHA256 : hash.digest('hex'),
    packetsCaptured: packets,
    reason,
    ...(firstInMs !== null ? { firstPacketTimeInMs: firstInMs, lastPacketTimeInMs: lastInMs ?? firstInMs } : {}),
  };
}
