// The time of a pcap file's first record, read from its first 32 bytes: the ring and the look-back
// buffer order and age their files by it without reading them.
import { closeSync, openSync, readSync } from 'node:fs';
import { decodePcapHeader, PCAP_GLOBAL_HEADER_BYTES } from '../pcap/format.js';

/**
 * The time of a pcap file's first record, in ms; null when it holds no whole record header (empty,
 * being created) or is not a pcap file.
 * @example firstPacketTimeInMs('/var/lib/nw/lookback/lb-1796590067.pcap') // 1796590067123.456
 */
export function firstPacketTimeInMs(path: string): number | null {
  const buf = Buffer.alloc(PCAP_GLOBAL_HEADER_BYTES + 8);
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return null;
  }
  try {
    if (readSync(fd, buf, 0, buf.length, 0) < buf.length) return null;
    const header = decodePcapHeader(buf.subarray(0, PCAP_GLOBAL_HEADER_BYTES));
    const seconds = header.littleEndian
      ? buf.readUInt32LE(PCAP_GLOBAL_HEADER_BYTES)
      : buf.readUInt32BE(PCAP_GLOBAL_HEADER_BYTES);
    const fraction = header.littleEndian
      ? buf.readUInt32LE(PCAP_GLOBAL_HEADER_BYTES + 4)
      : buf.readUInt32BE(PCAP_GLOBAL_HEADER_BYTES + 4);
    return seconds * 1000 + (header.magic === 'nsec' ? fraction / 1e6 : fraction / 1e3);
  } catch {
    return null;
  } finally {
    closeSync(fd);
  }
}
