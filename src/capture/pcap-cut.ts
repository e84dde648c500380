// The one pass over a finished capture file: walk its record headers, cut it at the last record
// boundary the limits allow, and hash exactly what remains. tcpdump writes the file itself (see
// session.ts), so this is where the engine's guarantees (size limit, time limit, whole records,
// SHA-256 of the stored bytes) are made, after the capture, off the packet path.
import { createHash } from 'node:crypto';
import type { Hash } from 'node:crypto';
import { fstatSync, ftruncateSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
// The file itself, not lib's index: the idle cut's worker thread loads this module at start.
import { fileIdentityOf, fileIdentityOfFd, type FileIdentity } from '../lib/file-identity.js';
import { openWholeFileReader, type WholeFileReader } from '../lib/direct-read.js';
import {
  PCAP_GLOBAL_HEADER_BYTES,
  PCAP_RECORD_HEADER_BYTES,
  decodePcapHeader,
  maxCapturedLengthFor,
} from '../pcap/format.js';
import type { PcapHeader } from '../pcap/format.js';

/** Hex SHA-256 of no bytes. */
export const EMPTY_SHA256 = createHash('sha256').digest('hex');

// Large reads: one 4 MiB read costs about what sixteen 64 KiB ones cost in syscalls, and the
// buffer is reused, so the pass allocates nothing per record. Through O_DIRECT where the file
// system allows it (lib/direct-read.ts): nw-capture writes the file past the page cache, and a
// cold buffered read of it costs the kernel ~1.5–2.3 CPU-s per GB, O_DIRECT ~0.02.
const READ_CHUNK_BYTES = 4 * 1024 * 1024;

/** How the cut reads the file (tests and benches compare the two). */
export interface CaptureFileCutReadOptions {
  /** false: ordinary reads only, never O_DIRECT. Default true. */
  tryDirect?: boolean;
  /** Called with the reader before it is closed: whether O_DIRECT ran. */
  onRead?: (how: { direct: boolean }) => void;
}

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
  /**
   * The file's identity (fstat of the descriptor it was hashed through) right after the cut: an
   * uploader that finds the same identity later knows the hashed bytes are still the file's
   * (src/lib/file-identity.ts). Absent when the output is not a regular file.
   */
  fileIdentity?: FileIdentity;
}

/**
 * The record walk of one cut, fed the file's bytes in order: says how far the kept part reaches
 * in each chunk (to hash) and where the file ends after the cut. Shared by the asynchronous cut
 * (a FileHandle, on the event loop) and the synchronous one (a descriptor, in a worker thread at
 * idle priority: idle-cut.ts), so the two cannot disagree on a boundary.
 */
class CaptureFileCutScan {
  private readonly limit: number;
  private header: PcapHeader | null = null;
  private maxCaptured = 0;
  private next = 0; // offset of the next record header to look at
  private kept = 0; // end of the last unit (header or record) kept
  private packets = 0;
  private firstInMs: number | null = null;
  private lastInMs: number | null = null;
  private reason: CaptureFileCutReason = 'end';
  /** Every kept byte before this offset is hashed; each read starts here. */
  hashedTo = 0;
  /** Nothing more can be kept. */
  done = false;

  constructor(
    private readonly rules: CaptureFileCutRules,
    private readonly fileSize: number,
    private readonly hash: Hash,
  ) {
    this.limit = rules.maxBytes > 0 ? rules.maxBytes : Number.POSITIVE_INFINITY;
  }

  /** Takes the `bytesRead` bytes in `buf` read at file offset `start` (always `hashedTo`). */
  feed(buf: Buffer, start: number, bytesRead: number): void {
    if (bytesRead === 0) {
      this.done = true; // the file shrank under us
      return;
    }
    const end = start + bytesRead;
    if (this.header === null) {
      if (bytesRead < PCAP_GLOBAL_HEADER_BYTES) {
        this.done = true;
        return;
      }
      try {
        this.header = decodePcapHeader(buf.subarray(0, PCAP_GLOBAL_HEADER_BYTES));
      } catch {
        this.reason = 'malformed';
        this.done = true;
        return;
      }
      this.maxCaptured = maxCapturedLengthFor(this.header);
      this.next = this.kept = PCAP_GLOBAL_HEADER_BYTES;
    }
    const le = this.header.littleEndian;
    const nanoseconds = this.header.magic === 'nsec';
    const { stopAfterInMs } = this.rules;
    while (this.next + PCAP_RECORD_HEADER_BYTES <= end) {
      const o = this.next - start;
      const capturedLength = le ? buf.readUInt32LE(o + 8) : buf.readUInt32BE(o + 8);
      if (capturedLength > this.maxCaptured) {
        this.reason = 'malformed';
        this.done = true;
        break;
      }
      const recordEnd = this.next + PCAP_RECORD_HEADER_BYTES + capturedLength;
      if (recordEnd > this.fileSize) {
        this.done = true; // torn trailing record
        break;
      }
      const seconds = le ? buf.readUInt32LE(o) : buf.readUInt32BE(o);
      const fraction = le ? buf.readUInt32LE(o + 4) : buf.readUInt32BE(o + 4);
      const timeInMs = seconds * 1000 + (nanoseconds ? fraction / 1e6 : fraction / 1e3);
      if (stopAfterInMs !== null && timeInMs > stopAfterInMs) {
        this.reason = 'time';
        this.done = true;
        break;
      }
      if (recordEnd > this.limit) {
        this.reason = 'size';
        this.done = true;
        break;
      }
      this.firstInMs ??= timeInMs;
      this.lastInMs = timeInMs;
      this.packets++;
      this.kept = this.next = recordEnd;
    }
    const hashEnd = Math.min(this.kept, end);
    if (hashEnd > this.hashedTo) {
      this.hash.update(buf.subarray(this.hashedTo - start, hashEnd - start));
      this.hashedTo = hashEnd;
    }
    // A record header cut by the end of the file: nothing more can be kept.
    if (!this.done && this.hashedTo === start && this.next + PCAP_RECORD_HEADER_BYTES > this.fileSize) this.done = true;
    if (this.hashedTo >= this.fileSize) this.done = true;
  }

  /** Where the file ends after the cut (0 without a whole pcap header). */
  get keptBytes(): number {
    return this.header === null ? 0 : this.kept;
  }

  /** What the file holds after the cut. */
  result(): CutCaptureFile {
    const kept = this.keptBytes;
    return {
      sizeInBytes: kept,
      sha256: kept === 0 ? EMPTY_SHA256 : this.hash.digest('hex'),
      packetsCaptured: this.packets,
      reason: this.reason,
      ...(this.firstInMs !== null
        ? { firstPacketTimeInMs: this.firstInMs, lastPacketTimeInMs: this.lastInMs ?? this.firstInMs }
        : {}),
    };
  }
}

const NOT_A_FILE: CutCaptureFile = { sizeInBytes: 0, sha256: EMPTY_SHA256, packetsCaptured: 0, reason: 'end' };

const readerOf = (fd: FileHandle | number, fileSize: number, opts: CaptureFileCutReadOptions): WholeFileReader =>
  openWholeFileReader(fd, {
    maxReadBytes: Math.min(READ_CHUNK_BYTES, Math.max(fileSize, PCAP_GLOBAL_HEADER_BYTES)),
    ...(opts.tryDirect === false ? { tryDirect: false } : {}),
  });

/**
 * Cuts the pcap file open as `handle` after its last whole record that the rules keep (a torn
 * trailing record, records past the size limit, records from after the stop instant), truncates
 * it there and returns what it now holds with its SHA-256, in one streaming pass. A file without a
 * whole pcap header is truncated to 0. Not a regular file (a device): nothing is cut, size 0.
 * @example const cut = await cutCaptureFile(handle, { maxBytes: 1 << 30, stopAfterInMs: null }); // { sizeInBytes, sha256, packetsCaptured, reason: 'end' }
 */
export async function cutCaptureFile(
  handle: FileHandle,
  rules: CaptureFileCutRules,
  opts: CaptureFileCutReadOptions = {},
): Promise<CutCaptureFile> {
  const st = await handle.stat();
  if (!st.isFile()) return NOT_A_FILE;
  const scan = new CaptureFileCutScan(rules, st.size, createHash('sha256'));
  const reader = readerOf(handle, st.size, opts);
  try {
    while (!scan.done) {
      const start = scan.hashedTo;
      const piece = await reader.read(start, Math.min(reader.maxReadBytes, st.size - start));
      scan.feed(piece, start, piece.length);
    }
    opts.onRead?.({ direct: reader.direct });
  } finally {
    reader.close();
  }
  if (st.size > scan.keptBytes) await handle.truncate(scan.keptBytes);
  // After the truncate (which moves mtime and ctime); an fsync after this changes neither.
  return { ...scan.result(), fileIdentity: await fileIdentityOf(handle) };
}

/**
 * cutCaptureFile on a descriptor, with blocking reads on the calling thread: for a worker thread
 * that runs the cut at idle priority (idle-cut.ts), where asynchronous reads would run on libuv's
 * shared thread pool at the process's normal priority.
 * @example const cut = cutCaptureFileSync(fd, { maxBytes: 0, stopAfterInMs: null });
 */
export function cutCaptureFileSync(
  fd: number,
  rules: CaptureFileCutRules,
  opts: CaptureFileCutReadOptions = {},
): CutCaptureFile {
  const st = fstatSync(fd);
  if (!st.isFile()) return NOT_A_FILE;
  const scan = new CaptureFileCutScan(rules, st.size, createHash('sha256'));
  const reader = readerOf(fd, st.size, opts);
  try {
    while (!scan.done) {
      const start = scan.hashedTo;
      const piece = reader.readSync(start, Math.min(reader.maxReadBytes, st.size - start));
      scan.feed(piece, start, piece.length);
    }
    opts.onRead?.({ direct: reader.direct });
  } finally {
    reader.close();
  }
  if (st.size > scan.keptBytes) ftruncateSync(fd, scan.keptBytes);
  return { ...scan.result(), fileIdentity: fileIdentityOfFd(fd) };
}
