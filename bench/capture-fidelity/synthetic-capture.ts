// The synthetic capture file of the finalisation benches (finalise.ts, finalise-steps.ts): the
// pcap header and records of full-size TCP as tcpdump writes them at snap 0.
import { encodePcapHeader, encodePcapRecord } from '../../src/pcap/index.js';

/** The file's pcap global header (snap length 262144, Ethernet). */
export function syntheticCaptureHeader(): Buffer {
  return encodePcapHeader({ snapLength: 262144, linkType: 1 });
}

/**
 * Record number `index`: `data` (changed in place) with the index in its first 4 bytes, so that
 * records differ as packets do, stamped 1,000 records a second from 2023-11-14.
 * @example writeSync(fd, syntheticCaptureRecord(i, data));
 */
export function syntheticCaptureRecord(index: number, data: Buffer): Buffer {
  data.writeUInt32BE(index >>> 0, 0);
  return encodePcapRecord({
    timestampSeconds: 1_700_000_000 + Math.floor(index / 1000),
    timestampFraction: (index % 1000) * 1000,
    capturedLength: data.length,
    originalLength: data.length,
    data,
  });
}
