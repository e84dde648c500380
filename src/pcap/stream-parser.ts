import {
  PCAP_GLOBAL_HEADER_BYTES,
  PCAP_RECORD_HEADER_BYTES,
  PcapFormatError,
  decodePcapHeader,
  maxCapturedLengthFor,
} from './format.js';
import type { PcapHeader, PcapRecord } from './format.js';
import { PendingBytes } from './pending-bytes.js';

/** Callbacks a PcapStreamParser calls, in stream order. */
export interface PcapStreamHandlers {
  /** Called once with the global header and its exact 24 bytes. */
  onHeader(header: PcapHeader, raw: Buffer): void;
  /** Called per record with the record and its exact bytes (16-byte header + data). */
  onRecord(record: PcapRecord, raw: Buffer): void;
}

/**
 * Push-based incremental parser for a classic pcap byte stream (what `tcpdump -w -` writes).
 * Chunks may be split anywhere. Emitted buffers are views into the parser's internal buffer:
 * copy them if you keep them long after the callback and care about memory.
 * @example
 * const p = new PcapStreamParser({ onHeader: (h) => {}, onRecord: (r, raw) => out.write(raw) });
 * child.stdout.on('data', (c) => p.push(c));
 */
export class PcapStreamParser {
  private readonly handlers: PcapStreamHandlers;
  private header: PcapHeader | null = null;
  private maxCapturedLength = 0;
  private readonly pending = new PendingBytes();
  private neededBytes = PCAP_GLOBAL_HEADER_BYTES;
  private consumedBytes = 0;
  private failure: PcapFormatError | null = null;
  private cursor = 0;

  constructor(handlers: PcapStreamHandlers) {
    this.handlers = handlers;
  }

  /** The global header, once parsed. */
  get pcapHeader(): PcapHeader | null {
    return this.header;
  }

  /** Bytes of the stream fully consumed as header or records so far. */
  get consumedBytesTotal(): number {
    return this.consumedBytes;
  }

  /** Feeds the next bytes of the stream; throws PcapFormatError on malformed input (and on every push after that). */
  push(chunk: Buffer): void {
    if (this.failure !== null) throw this.failure;
    if (chunk.length === 0) return;
    const buf = this.pending.add(chunk, this.neededBytes);
    if (buf === null) return;
    this.cursor = 0;
    try {
      this.drain(buf);
    } finally {
      // Even when a callback throws, the units already handed out stay consumed.
      this.pending.keepFrom(buf, this.cursor);
    }
  }

  /** Declares the end of the stream; returns how many bytes of a trailing partial header/record were left over (0 when the stream ended cleanly). */
  end(): number {
    return this.pending.length;
  }

  // Parses as many complete units as `buf` holds, advancing this.cursor past each one.
  private drain(buf: Buffer): void {
    if (this.header === null) {
      if (buf.length < PCAP_GLOBAL_HEADER_BYTES) return;
      const raw = buf.subarray(0, PCAP_GLOBAL_HEADER_BYTES);
      const header = this.guard(() => decodePcapHeader(raw));
      this.header = header;
      this.maxCapturedLength = maxCapturedLengthFor(header);
      this.cursor = PCAP_GLOBAL_HEADER_BYTES;
      this.consumedBytes += PCAP_GLOBAL_HEADER_BYTES;
      this.neededBytes = PCAP_RECORD_HEADER_BYTES;
      this.handlers.onHeader(header, raw);
    }
    const le = this.header.littleEndian;
    const end = buf.length;
    // Hot loop (hundreds of thousands of records per second): no closures, direct reads.
    while (end - this.cursor >= PCAP_RECORD_HEADER_BYTES) {
      const offset = this.cursor;
      const capturedLength = le ? buf.readUInt32LE(offset + 8) : buf.readUInt32BE(offset + 8);
      if (capturedLength > this.maxCapturedLength) {
        this.failure = new PcapFormatError(
          `record capturedLength ${capturedLength} exceeds the limit ${this.maxCapturedLength} for snap length ${this.header.snapLength}`,
          this.consumedBytes,
        );
        throw this.failure;
      }
      const total = PCAP_RECORD_HEADER_BYTES + capturedLength;
      if (end - offset < total) {
        this.neededBytes = total;
        return;
      }
      const raw = buf.subarray(offset, offset + total);
      const record: PcapRecord = {
        timestampSeconds: le ? buf.readUInt32LE(offset) : buf.readUInt32BE(offset),
        timestampFraction: le ? buf.readUInt32LE(offset + 4) : buf.readUInt32BE(offset + 4),
        capturedLength,
        originalLength: le ? buf.readUInt32LE(offset + 12) : buf.readUInt32BE(offset + 12),
        data: raw.subarray(PCAP_RECORD_HEADER_BYTES),
      };
      this.cursor = offset + total;
      this.consumedBytes += total;
      this.neededBytes = PCAP_RECORD_HEADER_BYTES;
      this.handlers.onRecord(record, raw);
    }
    this.neededBytes = PCAP_RECORD_HEADER_BYTES;
  }

  private guard<T>(fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      if (err instanceof PcapFormatError) this.failure = err;
      throw err;
    }
  }
}
