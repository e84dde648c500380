// Classic libpcap file format: the 24-byte global header and the 16-byte record header.
// Reference: https://www.ietf.org/archive/id/draft-ietf-opsawg-pcap-04.html (File Header, Packet Record).

/** Size of the classic pcap global (file) header in bytes. */
export const PCAP_GLOBAL_HEADER_BYTES = 24;

/** Size of the classic pcap per-record header in bytes. */
export const PCAP_RECORD_HEADER_BYTES = 16;

/** Largest capturedLength accepted in a record: libpcap's own maximum snap length (256 KiB). */
export const PCAP_MAX_CAPTURED_LENGTH_IN_BYTES = 262144;

/**
 * How far a record's capturedLength may exceed the header's snapLength before the stream is
 * treated as garbage. Some writers stamp a snap length that excludes link-layer headers they add
 * later (and libpcap itself tolerates oversized records), so a little slack avoids false alarms.
 */
export const PCAP_SNAP_LENGTH_SLACK_IN_BYTES = 4096;

/** Magic number of a microsecond-resolution pcap file, as the writer's native uint32. */
export const PCAP_MAGIC_MICROSECONDS = 0xa1b2c3d4;

/** Magic number of a nanosecond-resolution pcap file, as the writer's native uint32. */
export const PCAP_MAGIC_NANOSECONDS = 0xa1b23c4d;

/** LINKTYPE_* values found in pcap headers (https://www.tcpdump.org/linktypes.html). */
export const LinkType = {
  /** BSD loopback: 4-byte address family in the writer's byte order. */
  NULL: 0,
  /** Ethernet II (with optional 802.1Q/802.1ad tags). */
  ETHERNET: 1,
  /** Raw IPv4 or IPv6, no link header. */
  RAW: 101,
  /** OpenBSD loopback: 4-byte address family in network byte order. */
  LOOP: 108,
  /** Linux "cooked" capture v1, 16-byte header (tcpdump -i any by default). */
  LINUX_SLL: 113,
  /** Raw IPv4 only. */
  IPV4: 228,
  /** Raw IPv6 only. */
  IPV6: 229,
  /** Linux "cooked" capture v2, 20-byte header with the interface index (tcpdump -i any -y LINUX_SLL2). */
  LINUX_SLL2: 276,
} as const;

/** The parsed global header of a pcap stream. */
export interface PcapHeader {
  /** Timestamp resolution announced by the magic number. */
  magic: 'usec' | 'nsec';
  /** Byte order the writer used for every header field. */
  littleEndian: boolean;
  /** Format major version (2 for every file libpcap writes). */
  versionMajor: number;
  /** Format minor version (4 for every file libpcap writes). */
  versionMinor: number;
  /** Maximum bytes kept per packet, as announced by the writer. */
  snapLength: number;
  /** LINKTYPE_* of every record (lower 16 bits of the header field). */
  linkType: number;
}

/** One packet record of a pcap stream. */
export interface PcapRecord {
  /** Seconds since the Unix epoch. */
  timestampSeconds: number;
  /** Sub-second part: microseconds or nanoseconds, as the header's magic says. */
  timestampFraction: number;
  /** Bytes of the packet present in `data`. */
  capturedLength: number;
  /** Length of the packet on the wire (≥ capturedLength unless the writer truncated oddly). */
  originalLength: number;
  /** The captured bytes, starting at the link-layer header. */
  data: Buffer;
}

/** Thrown when bytes are not a well-formed classic pcap stream. */
export class PcapFormatError extends Error {
  override readonly name = 'PcapFormatError';
  /** Byte offset in the stream where the problem was found, when known. */
  readonly offsetInBytes: number | null;

  constructor(message: string, offsetInBytes: number | null = null) {
    super(offsetInBytes === null ? message : `${message} (at byte ${offsetInBytes})`);
    this.offsetInBytes = offsetInBytes;
  }
}

/**
 * Encodes a little-endian classic pcap global header (version 2.4).
 * @example encodePcapHeader({ snapLength: 262144, linkType: LinkType.ETHERNET })
 */
export function encodePcapHeader(opts: { snapLength: number; linkType: number; nanosecond?: boolean }): Buffer {
  const buf = Buffer.alloc(PCAP_GLOBAL_HEADER_BYTES);
  buf.writeUInt32LE(opts.nanosecond === true ? PCAP_MAGIC_NANOSECONDS : PCAP_MAGIC_MICROSECONDS, 0);
  buf.writeUInt16LE(2, 4);
  buf.writeUInt16LE(4, 6);
  buf.writeInt32LE(0, 8); // thiszone: always 0 in practice
  buf.writeUInt32LE(0, 12); // sigfigs: always 0 in practice
  buf.writeUInt32LE(opts.snapLength >>> 0, 16);
  buf.writeUInt32LE(opts.linkType >>> 0, 20);
  return buf;
}

/**
 * Encodes one record (16-byte header followed by `rec.data`).
 * `rec.capturedLength` must equal `rec.data.length`.
 * @example encodePcapRecord({ timestampSeconds: 1, timestampFraction: 0, capturedLength: 2, originalLength: 2, data: Buffer.from([1, 2]) })
 */
export function encodePcapRecord(rec: PcapRecord, littleEndian = true): Buffer {
  if (rec.capturedLength !== rec.data.length) {
    throw new RangeError(`capturedLength ${rec.capturedLength} does not match data length ${rec.data.length}`);
  }
  const buf = Buffer.alloc(PCAP_RECORD_HEADER_BYTES + rec.data.length);
  const fields = [rec.timestampSeconds, rec.timestampFraction, rec.capturedLength, rec.originalLength];
  fields.forEach((value, i) => {
    if (littleEndian) buf.writeUInt32LE(value >>> 0, i * 4);
    else buf.writeUInt32BE(value >>> 0, i * 4);
  });
  rec.data.copy(buf, PCAP_RECORD_HEADER_BYTES);
  return buf;
}

/**
 * Parses a 24-byte global header; throws PcapFormatError for an unknown magic or version.
 * @example decodePcapHeader(encodePcapHeader({ snapLength: 65535, linkType: 1 })).linkType === 1
 */
export function decodePcapHeader(buf: Buffer): PcapHeader {
  if (buf.length < PCAP_GLOBAL_HEADER_BYTES) {
    throw new PcapFormatError(`pcap header needs ${PCAP_GLOBAL_HEADER_BYTES} bytes, got ${buf.length}`, 0);
  }
  const magicLE = buf.readUInt32LE(0);
  const magicBE = buf.readUInt32BE(0);
  let littleEndian: boolean;
  let magic: 'usec' | 'nsec';
  if (magicLE === PCAP_MAGIC_MICROSECONDS || magicLE === PCAP_MAGIC_NANOSECONDS) {
    littleEndian = true;
    magic = magicLE === PCAP_MAGIC_NANOSECONDS ? 'nsec' : 'usec';
  } else if (magicBE === PCAP_MAGIC_MICROSECONDS || magicBE === PCAP_MAGIC_NANOSECONDS) {
    littleEndian = false;
    magic = magicBE === PCAP_MAGIC_NANOSECONDS ? 'nsec' : 'usec';
  } else {
    // pcapng starts with 0x0a0d0d0a; say so, since it is the most likely mistake.
    const hint = magicBE === 0x0a0d0d0a ? ' (this is pcapng, not classic pcap)' : '';
    throw new PcapFormatError(`bad pcap magic 0x${magicBE.toString(16).padStart(8, '0')}${hint}`, 0);
  }
  const u16 = (o: number): number => (littleEndian ? buf.readUInt16LE(o) : buf.readUInt16BE(o));
  const u32 = (o: number): number => (littleEndian ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
  const versionMajor = u16(4);
  const versionMinor = u16(6);
  if (versionMajor !== 2) {
    throw new PcapFormatError(`unsupported pcap version ${versionMajor}.${versionMinor}`, 4);
  }
  // The upper bits of the link-type field carry FCS information; the type is the low 16 bits.
  return { magic, littleEndian, versionMajor, versionMinor, snapLength: u32(16), linkType: u32(20) & 0xffff };
}

/** Largest capturedLength a record may have under `header` before it counts as garbage. */
export function maxCapturedLengthFor(header: PcapHeader): number {
  if (header.snapLength === 0) return PCAP_MAX_CAPTURED_LENGTH_IN_BYTES;
  return Math.min(PCAP_MAX_CAPTURED_LENGTH_IN_BYTES, header.snapLength + PCAP_SNAP_LENGTH_SLACK_IN_BYTES);
}
