// The rules of a ring's files, in one home for the engine and the API (issue 13): how files are
// named, the smallest fileSizeInBytes, and the -C value of tcpdump's own rotation (the opt-in writer).
import type { ChildProcess } from 'node:child_process';
import { basename } from 'node:path';
import { MAX_SNAP_LENGTH_IN_BYTES } from './tcpdump-args.js';
import { parseTcpdumpStats } from './tcpdump-stderr.js';
import { PCAP_GLOBAL_HEADER_BYTES, PCAP_RECORD_HEADER_BYTES } from '../pcap/format.js';

// tcpdump's -C counts in millions of bytes, and only whole ones (4.99 refuses "2k").
const TCPDUMP_FILE_SIZE_UNIT_BYTES = 1_000_000;

/** The name of file `sequence` of a ring written to outputPath: ring.cap → ring-000007.cap. */
export function ringFileName(outputPath: string, sequence: number): string {
  const base = basename(outputPath).replace(/\.cap$/i, '');
  return `${base}-${String(sequence).padStart(6, '0')}.cap`;
}

/** The snap length tcpdump really uses: 0 and anything above 262,144 mean 262,144. */
export function effectiveSnapLength(snapLengthInBytes: number): number {
  return snapLengthInBytes === 0 || snapLengthInBytes > MAX_SNAP_LENGTH_IN_BYTES
    ? MAX_SNAP_LENGTH_IN_BYTES
    : snapLengthInBytes;
}

/**
 * The smallest fileSizeInBytes a ring can honour: the 24-byte pcap header plus one whole record
 * of the snap length (16 + snap), so that any packet fits in a file of its own; a smaller file
 * would have to lose the packets that do not fit.
 * @example minRingFileSizeInBytes(0) // 262184; minRingFileSizeInBytes(2000) // 2040
 */
export function minRingFileSizeInBytes(snapLengthInBytes: number): number {
  return PCAP_GLOBAL_HEADER_BYTES + PCAP_RECORD_HEADER_BYTES + effectiveSnapLength(snapLengthInBytes);
}

/**
 * The -C value (millions of bytes) that keeps every file within fileSizeInBytes: tcpdump checks
 * the size before writing a packet, so a file may pass -C by one whole record (16 + snap length).
 * Throws RangeError when no whole million fits (fileSizeInBytes below 1,000,000 + one record).
 * @example ringTcpdumpFileSizeInMillions(104857600, 0) // 104
 */
export function ringTcpdumpFileSizeInMillions(fileSizeInBytes: number, snapLengthInBytes: number): number {
  const snap = effectiveSnapLength(snapLengthInBytes);
  const millions = Math.floor((fileSizeInBytes - PCAP_RECORD_HEADER_BYTES - snap) / TCPDUMP_FILE_SIZE_UNIT_BYTES);
  if (!Number.isSafeInteger(millions) || millions < 1) {
    throw new RangeError(
      `fileSizeInBytes must be at least ${TCPDUMP_FILE_SIZE_UNIT_BYTES + PCAP_RECORD_HEADER_BYTES + snap} for snap length ${snap} (one million bytes plus one whole record), got ${fileSizeInBytes}`,
    );
  }
  return millions;
}

/**
 * Refuses (RangeError naming captureSettings.fileSizeInBytes) a file size below
 * minRingFileSizeInBytes for the snap length; every size from there up is exact.
 * @example assertRingFileSize(1048576, 0) // ok; assertRingFileSize(100000, 0) // throws
 */
export function assertRingFileSize(fileSizeInBytes: number, snapLengthInBytes: number): void {
  const min = minRingFileSizeInBytes(snapLengthInBytes);
  if (!Number.isSafeInteger(fileSizeInBytes) || fileSizeInBytes < min) {
    throw new RangeError(
      `captureSettings.fileSizeInBytes must be at least ${min} (the 24-byte pcap header and one whole record of ${PCAP_RECORD_HEADER_BYTES} + ${effectiveSnapLength(snapLengthInBytes)} bytes at this snap length), got ${fileSizeInBytes}`,
    );
  }
}

/** The kernel's counts from tcpdump's exit statistics, as a ring's outcome reports them. */
export function ringKernelStats(stderrText: string): {
  kernelPacketsReceived: number | null;
  kernelPacketsDropped: number | null;
} {
  const stats = parseTcpdumpStats(stderrText);
  return { kernelPacketsReceived: stats.packetsReceivedByFilter, kernelPacketsDropped: stats.packetsDroppedByKernel };
}

/**
 * Ends a ring's tcpdump: SIGTERM, on which tcpdump flushes its output and prints its statistics,
 * then SIGKILL if it is still there 5 s later. Both writers call it at a stop once tcpdump has
 * handed over what the kernel held (TcpdumpCounters.whenHandedOver), or at once when it never started.
 */
export function endRingTcpdump(child: ChildProcess): void {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  setTimeout(() => child.kill('SIGKILL'), 5000).unref();
}
