// pcapng (https://www.ietf.org/archive/id/draft-ietf-opsawg-pcapng-02.html): sections (SHB) in
// either byte order, interfaces (IDB) each with its own link type, snap length and timestamp
// resolution, and packets as EPB, SPB or the obsolete PB. Wireshark writes it by default and
// tcpdump reads it, so a file "from anywhere" is as likely to be pcapng as classic pcap.
import { PcapFormatError } from './format.js';
import { PendingBytes } from './pending-bytes.js';

/** First four bytes of every pcapng file (the SHB block type; a palindrome, so byte order does not matter). */
export const PCAPNG_SHB_TYPE = 0x0a0d0d0a;
/** The SHB byte-order magic, read in the section's byte order. */
export const PCAPNG_BYTE_ORDER_MAGIC = 0x1a2b3c4d;
/** Block types this reader understands; others are skipped. */
export const PcapngBlockType = { IDB: 1, PB: 2, SPB: 3, ISB: 5, EPB: 6 } as const;
/** Largest block accepted: a 256 KiB packet plus generous room for options. */
export const PCAPNG_MAX_BLOCK_BYTES = 16 * 1024 * 1024;

/** One capture interface (a pcapng IDB, or the single interface of a classic pcap). */
export interface CaptureInterface {
  /** Index in the file (pcapng: across sections, in the order the IDBs appear). */
  id: number;
  /** LINKTYPE_* of its packets. */
  linkType: number;
  /** Maximum bytes kept per packet (0 = unlimited). */
  snapLength: number;
  /** if_name option, when given. */
  name: string | null;
  /** Timestamp units per second (1e6 by default, 1e9 for nanosecond files). */
  unitsPerSecond: number;
  /** if_tsoffset: seconds added to every timestamp. */
  timestampOffsetSeconds: number;
}

/** Interface statistics a pcapng ISB reports (the writer's kernel counters). */
export interface CaptureInterfaceStatistics {
  /** Interface the counters belong to. */
  interfaceId: number;
  /** isb_ifrecv: packets the interface received, when given. */
  packetsReceived: number | null;
  /** isb_ifdrop: packets dropped by the interface or kernel, when given. */
  packetsDropped: number | null;
}

/** One packet with an absolute timestamp split into whole seconds and nanoseconds (exact for every resolution). */
export interface CapturePacket {
  /** Interface index (0 for classic pcap). */
  interfaceId: number;
  /** LINKTYPE_* of the packet's interface. */
  linkType: number;
  /** Whole seconds since the Unix epoch. */
  timestampSeconds: number;
  /** Nanoseconds within the second (0-999,999,999). */
  timestampNanoseconds: number;
  /** Bytes present in `data`. */
  capturedLength: number;
  /** Length on the wire. */
  originalLength: number;
  /** Captured bytes from the link-layer header on (a view: copy to keep). */
  data: Buffer;
}

/** Callbacks of the pcapng parser, in file order. */
export interface PcapngHandlers {
  /** A new interface (IDB). */
  onInterface(iface: CaptureInterface): void;
  /** A packet (EPB, SPB or PB). */
  onPacket(packet: CapturePacket): void;
  /** Interface statistics (ISB). */
  onStatistics?(stats: CaptureInterfaceStatistics): void;
}

interface Section {
  littleEndian: boolean;
  firstInterfaceId: number;
  interfaces: CaptureInterface[];
}

/**
 * Push-based incremental pcapng parser; chunks may be split anywhere.
 * @example const p = new PcapngStreamParser({ onInterface() {}, onPacket: (pkt) => count++ }); p.push(bytes); p.end();
 */
export class PcapngStreamParser {
  private readonly handlers: PcapngHandlers;
  private readonly pending = new PendingBytes();
  private neededBytes = 12;
  private consumedBytes = 0;
  private section: Section | null = null;
  private interfaceCount = 0;
  private failure: PcapFormatError | null = null;

  constructor(handlers: PcapngHandlers) {
    this.handlers = handlers;
  }

  /** Bytes of whole blocks consumed so far. */
  get consumedBytesTotal(): number {
    return this.consumedBytes;
  }

  /** Feeds the next bytes; throws PcapFormatError on malformed input. */
  push(chunk: Buffer): void {
    if (this.failure !== null) throw this.failure;
    if (chunk.length === 0) return;
    const buf = this.pending.add(chunk, this.neededBytes);
    if (buf === null) return;
    let cursor = 0;
    try {
      cursor = this.drain(buf);
    } catch (err) {
      if (err instanceof PcapFormatError) this.failure = err;
      throw err;
    } finally {
      this.pending.keepFrom(buf, cursor);
    }
  }

  /** Declares the end of the stream; returns the bytes of a trailing partial block (0 when clean). */
  end(): number {
    return this.pending.length;
  }

  private drain(buf: Buffer): number {
    let cursor = 0;
    for (;;) {
      if (buf.length - cursor < 12) {
        this.neededBytes = 12;
        return cursor;
      }
      const typeBE = buf.readUInt32BE(cursor);
      let le: boolean;
      if (typeBE === PCAPNG_SHB_TYPE) {
        const magicLE = buf.readUInt32LE(cursor + 8);
        if (magicLE === PCAPNG_BYTE_ORDER_MAGIC) le = true;
        else if (buf.readUInt32BE(cursor + 8) === PCAPNG_BYTE_ORDER_MAGIC) le = false;
        else throw new PcapFormatError('pcapng section header has a bad byte-order magic', this.consumedBytes + 8);
      } else {
        if (this.section === null)
          throw new PcapFormatError(
            `not pcapng: the file does not start with a section header block (0x${typeBE.toString(16).padStart(8, '0')})`,
            this.consumedBytes,
          );
        le = this.section.littleEndian;
      }
      const blockType = le ? buf.readUInt32LE(cursor) : typeBE;
      const blockLength = le ? buf.readUInt32LE(cursor + 4) : buf.readUInt32BE(cursor + 4);
      if (blockLength < 12 || blockLength % 4 !== 0 || blockLength > PCAPNG_MAX_BLOCK_BYTES) {
        throw new PcapFormatError(
          `pcapng block of type ${blockType} has an invalid length ${blockLength}`,
          this.consumedBytes + 4,
        );
      }
      if (buf.length - cursor < blockLength) {
        this.neededBytes = blockLength;
        return cursor;
      }
      const trailer = le ? buf.readUInt32LE(cursor + blockLength - 4) : buf.readUInt32BE(cursor + blockLength - 4);
      if (trailer !== blockLength)
        throw new PcapFormatError(`pcapng block lengths disagree (${blockLength} and ${trailer})`, this.consumedBytes);
      const body = buf.subarray(cursor + 8, cursor + blockLength - 4);
      const blockOffset = this.consumedBytes;
      cursor += blockLength;
      this.consumedBytes += blockLength;
      this.block(blockType, body, le, blockOffset);
    }
  }

  private block(type: number, body: Buffer, le: boolean, offset: number): void {
    const u16 = (o: number): number => (le ? body.readUInt16LE(o) : body.readUInt16BE(o));
    const u32 = (o: number): number => (le ? body.readUInt32LE(o) : body.readUInt32BE(o));
    if (type === PCAPNG_SHB_TYPE) {
      const major = u16(4);
      if (major !== 1) throw new PcapFormatError(`unsupported pcapng version ${major}.${u16(6)}`, offset + 12);
      // Interface ids restart in every section; ours keep counting so they stay unique in the file.
      this.section = { littleEndian: le, firstInterfaceId: this.interfaceCount, interfaces: [] };
      return;
    }
    const section = this.section!;
    if (type === PcapngBlockType.IDB) {
      if (body.length < 8) throw new PcapFormatError('pcapng interface block is too short', offset);
      const iface: CaptureInterface = {
        id: this.interfaceCount++,
        linkType: u16(0),
        snapLength: u32(4),
        name: null,
        unitsPerSecond: 1e6,
        timestampOffsetSeconds: 0,
      };
      readOptions(body, 8, le, (code, value) => {
        if (code === 2) iface.name = value.toString('utf8').replace(/\0+$/, '');
        else if (code === 9 && value.length >= 1) {
          const v = value[0] as number;
          // High bit clear: 10^-v seconds; set: 2^-v (if_tsresol).
          iface.unitsPerSecond = (v & 0x80) === 0 ? 10 ** v : 2 ** (v & 0x7f);
        } else if (code === 14 && value.length >= 8) {
          iface.timestampOffsetSeconds = Number(le ? value.readBigInt64LE(0) : value.readBigInt64BE(0));
        }
      });
      section.interfaces.push(iface);
      this.handlers.onInterface(iface);
      return;
    }
    if (type === PcapngBlockType.EPB || type === PcapngBlockType.PB) {
      if (body.length < 20) throw new PcapFormatError('pcapng packet block is too short', offset);
      const localId = type === PcapngBlockType.EPB ? u32(0) : u16(0);
      const iface = this.interfaceOf(localId, offset);
      const capturedLength = u32(12);
      if (20 + capturedLength > body.length)
        throw new PcapFormatError(`pcapng packet of ${capturedLength} bytes does not fit its block`, offset);
      this.emit(iface, u32(4), u32(8), capturedLength, u32(16), body.subarray(20, 20 + capturedLength));
      return;
    }
    if (type === PcapngBlockType.SPB) {
      if (body.length < 4) throw new PcapFormatError('pcapng simple packet block is too short', offset);
      const iface = this.interfaceOf(0, offset);
      const originalLength = u32(0);
      // The SPB has no captured length: it is the original length cut to the snap length (and to the block).
      let capturedLength = Math.min(originalLength, body.length - 4);
      if (iface.snapLength > 0) capturedLength = Math.min(capturedLength, iface.snapLength);
      const packet: CapturePacket = {
        interfaceId: iface.id,
        linkType: iface.linkType,
        timestampSeconds: 0,
        timestampNanoseconds: 0,
        capturedLength,
        originalLength,
        data: body.subarray(4, 4 + capturedLength),
      };
      this.handlers.onPacket(packet);
      return;
    }
    if (type === PcapngBlockType.ISB && this.handlers.onStatistics) {
      if (body.length < 12) return;
      const iface = this.interfaceOf(u32(0), offset);
      const stats: CaptureInterfaceStatistics = { interfaceId: iface.id, packetsReceived: null, packetsDropped: null };
      readOptions(body, 12, le, (code, value) => {
        if (value.length < 8) return;
        const n = Number(le ? value.readBigUInt64LE(0) : value.readBigUInt64BE(0));
        if (code === 4) stats.packetsReceived = n;
        else if (code === 5) stats.packetsDropped = n;
      });
      this.handlers.onStatistics(stats);
    }
  }

  private interfaceOf(localId: number, offset: number): CaptureInterface {
    const iface = this.section!.interfaces[localId];
    if (!iface)
      throw new PcapFormatError(`pcapng packet names interface ${localId}, which its section does not define`, offset);
    return iface;
  }

  private emit(
    iface: CaptureInterface,
    high: number,
    low: number,
    capturedLength: number,
    originalLength: number,
    data: Buffer,
  ): void {
    let seconds: number;
    let nanoseconds: number;
    const units = iface.unitsPerSecond;
    const total = high * 4294967296 + low;
    if (total <= Number.MAX_SAFE_INTEGER && Number.isInteger(units) && units <= 1e9) {
      // Exact in doubles for µs (and ns until 2255): the common, fast path.
      seconds = Math.floor(total / units);
      nanoseconds = Math.round(((total - seconds * units) * 1e9) / units);
    } else {
      const big = (BigInt(high) << 32n) | BigInt(low);
      const u = BigInt(Math.round(units));
      seconds = Number(big / u);
      nanoseconds = Number(((big % u) * 1_000_000_000n) / u);
    }
    if (nanoseconds >= 1e9) {
      seconds += 1;
      nanoseconds -= 1e9;
    }
    this.handlers.onPacket({
      interfaceId: iface.id,
      linkType: iface.linkType,
      timestampSeconds: seconds + iface.timestampOffsetSeconds,
      timestampNanoseconds: nanoseconds,
      capturedLength,
      originalLength,
      data,
    });
  }
}

function readOptions(body: Buffer, start: number, le: boolean, each: (code: number, value: Buffer) => void): void {
  let o = start;
  while (o + 4 <= body.length) {
    const code = le ? body.readUInt16LE(o) : body.readUInt16BE(o);
    const length = le ? body.readUInt16LE(o + 2) : body.readUInt16BE(o + 2);
    if (code === 0) return; // opt_endofopt
    if (o + 4 + length > body.length) return; // a truncated option list: keep what was read
    each(code, body.subarray(o + 4, o + 4 + length));
    o += 4 + length + ((4 - (length % 4)) % 4);
  }
}

// ---- writing (tests, and pcapng fixtures for tools) -------------------------------------------------

function block(type: number, body: Buffer, le: boolean): Buffer {
  const pad = (4 - (body.length % 4)) % 4;
  const length = 12 + body.length + pad;
  const out = Buffer.alloc(length);
  const w = (v: number, o: number): void => {
    if (le) out.writeUInt32LE(v >>> 0, o);
    else out.writeUInt32BE(v >>> 0, o);
  };
  w(type, 0);
  w(length, 4);
  body.copy(out, 8);
  w(length, length - 4);
  return out;
}

function options(list: Array<[number, Buffer]>, le: boolean): Buffer {
  if (list.length === 0) return Buffer.alloc(0);
  const parts: Buffer[] = [];
  for (const [code, value] of [...list, [0, Buffer.alloc(0)] as [number, Buffer]]) {
    const head = Buffer.alloc(4);
    if (le) {
      head.writeUInt16LE(code, 0);
      head.writeUInt16LE(value.length, 2);
    } else {
      head.writeUInt16BE(code, 0);
      head.writeUInt16BE(value.length, 2);
    }
    parts.push(head, value, Buffer.alloc((4 - (value.length % 4)) % 4));
  }
  return Buffer.concat(parts);
}

/**
 * A pcapng section header block (version 1.0, section length unknown).
 * @example encodePcapngSectionHeader(true)
 */
export function encodePcapngSectionHeader(littleEndian = true): Buffer {
  const body = Buffer.alloc(16);
  if (littleEndian) {
    body.writeUInt32LE(PCAPNG_BYTE_ORDER_MAGIC, 0);
    body.writeUInt16LE(1, 4);
    body.writeUInt16LE(0, 6);
  } else {
    body.writeUInt32BE(PCAPNG_BYTE_ORDER_MAGIC, 0);
    body.writeUInt16BE(1, 4);
    body.writeUInt16BE(0, 6);
  }
  body.writeBigInt64LE(-1n, 8); // -1 in either order
  return block(PCAPNG_SHB_TYPE, body, littleEndian);
}

/**
 * A pcapng interface description block; `timestampResolution` is if_tsresol's byte (6 = µs, 9 = ns).
 * @example encodePcapngInterface({ linkType: 1, snapLength: 262144, timestampResolution: 9 })
 */
export function encodePcapngInterface(opts: {
  linkType: number;
  snapLength: number;
  name?: string;
  timestampResolution?: number;
  littleEndian?: boolean;
}): Buffer {
  const le = opts.littleEndian ?? true;
  const head = Buffer.alloc(8);
  if (le) {
    head.writeUInt16LE(opts.linkType, 0);
    head.writeUInt32LE(opts.snapLength >>> 0, 4);
  } else {
    head.writeUInt16BE(opts.linkType, 0);
    head.writeUInt32BE(opts.snapLength >>> 0, 4);
  }
  const list: Array<[number, Buffer]> = [];
  if (opts.name !== undefined) list.push([2, Buffer.from(opts.name, 'utf8')]);
  if (opts.timestampResolution !== undefined) list.push([9, Buffer.from([opts.timestampResolution])]);
  return block(PcapngBlockType.IDB, Buffer.concat([head, options(list, le)]), le);
}

/**
 * A pcapng enhanced packet block; `timestamp` is in the interface's units.
 * @example encodePcapngPacket({ interfaceId: 0, timestamp: 1_700_000_000_000_000n, data: frame })
 */
export function encodePcapngPacket(opts: {
  interfaceId: number;
  timestamp: bigint;
  data: Buffer;
  originalLength?: number;
  littleEndian?: boolean;
}): Buffer {
  const le = opts.littleEndian ?? true;
  const head = Buffer.alloc(20);
  const w = (v: number, o: number): void => {
    if (le) head.writeUInt32LE(v >>> 0, o);
    else head.writeUInt32BE(v >>> 0, o);
  };
  w(opts.interfaceId, 0);
  w(Number(opts.timestamp >> 32n), 4);
  w(Number(opts.timestamp & 0xffffffffn), 8);
  w(opts.data.length, 12);
  w(opts.originalLength ?? opts.data.length, 16);
  return block(PcapngBlockType.EPB, Buffer.concat([head, opts.data]), le);
}

/**
 * A pcapng simple packet block (interface 0, no timestamp).
 * @example encodePcapngSimplePacket({ data: frame })
 */
export function encodePcapngSimplePacket(opts: {
  data: Buffer;
  originalLength?: number;
  littleEndian?: boolean;
}): Buffer {
  const le = opts.littleEndian ?? true;
  const head = Buffer.alloc(4);
  if (le) head.writeUInt32LE(opts.originalLength ?? opts.data.length, 0);
  else head.writeUInt32BE(opts.originalLength ?? opts.data.length, 0);
  return block(PcapngBlockType.SPB, Buffer.concat([head, opts.data]), le);
}

/**
 * A pcapng interface statistics block with isb_ifrecv and isb_ifdrop.
 * @example encodePcapngStatistics({ interfaceId: 0, packetsReceived: 10, packetsDropped: 2 })
 */
export function encodePcapngStatistics(opts: {
  interfaceId: number;
  packetsReceived: number;
  packetsDropped: number;
  littleEndian?: boolean;
}): Buffer {
  const le = opts.littleEndian ?? true;
  const head = Buffer.alloc(12);
  if (le) head.writeUInt32LE(opts.interfaceId, 0);
  else head.writeUInt32BE(opts.interfaceId, 0);
  const n = (v: number): Buffer => {
    const b = Buffer.alloc(8);
    if (le) b.writeBigUInt64LE(BigInt(v));
    else b.writeBigUInt64BE(BigInt(v));
    return b;
  };
  return block(
    PcapngBlockType.ISB,
    Buffer.concat([
      head,
      options(
        [
          [4, n(opts.packetsReceived)],
          [5, n(opts.packetsDropped)],
        ],
        le,
      ),
    ]),
    le,
  );
}
