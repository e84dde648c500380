// One reader for both capture formats: the first four bytes say which (classic pcap's magic in
// either byte order, or pcapng's section header), and every packet comes out the same shape.
import { createReadStream } from 'node:fs';
import { PCAP_GLOBAL_HEADER_BYTES, PcapFormatError } from './format.js';
import { PCAPNG_SHB_TYPE, PcapngStreamParser } from './pcapng.js';
import type { CaptureInterface, CaptureInterfaceStatistics, CapturePacket } from './pcapng.js';
import { PcapStreamParser } from './stream-parser.js';

/** Capture file formats. */
export type CaptureFormat = 'pcap' | 'pcapng';

/** Callbacks of a CaptureStreamParser. */
export interface CaptureHandlers {
  /** A capture interface (once for classic pcap, per IDB for pcapng). */
  onInterface?(iface: CaptureInterface): void;
  /** A packet, with the raw record bytes for classic pcap (null for pcapng). */
  onPacket(packet: CapturePacket, rawRecord: Buffer | null): void;
  /** Interface statistics (pcapng ISB). */
  onStatistics?(stats: CaptureInterfaceStatistics): void;
}

/**
 * Push-based parser of a pcap or pcapng byte stream, detected from its first bytes.
 * @example const p = new CaptureStreamParser({ onPacket: (pkt) => n++ }); p.push(buf); p.end();
 */
export class CaptureStreamParser {
  private readonly handlers: CaptureHandlers;
  private inner: PcapStreamParser | PcapngStreamParser | null = null;
  private head: Buffer[] = [];
  private headBytes = 0;
  /** The detected format, once 4 bytes were seen. */
  format: CaptureFormat | null = null;

  constructor(handlers: CaptureHandlers) {
    this.handlers = handlers;
  }

  /** Feeds the next bytes; throws PcapFormatError on anything that is neither format. */
  push(chunk: Buffer): void {
    if (this.inner === null) {
      this.head.push(chunk);
      this.headBytes += chunk.length;
      if (this.headBytes < 4) return;
      const first = Buffer.concat(this.head);
      this.head = [];
      this.inner = this.open(first);
      this.inner.push(first);
      return;
    }
    this.inner.push(chunk);
  }

  /** Ends the stream; returns the bytes of a trailing partial record or block (0 when clean). */
  end(): number {
    if (this.inner === null) {
      if (this.headBytes === 0) throw new PcapFormatError('the capture file is empty', 0);
      throw new PcapFormatError(`the capture file is ${this.headBytes} bytes, too short for any header`, 0);
    }
    const left = this.inner.end();
    if (this.inner instanceof PcapStreamParser && this.inner.pcapHeader === null) {
      throw new PcapFormatError(`pcap is shorter than its ${PCAP_GLOBAL_HEADER_BYTES}-byte header`, 0);
    }
    return left;
  }

  private open(first: Buffer): PcapStreamParser | PcapngStreamParser {
    if (first.readUInt32BE(0) === PCAPNG_SHB_TYPE) {
      this.format = 'pcapng';
      return new PcapngStreamParser({
        onInterface: (iface) => this.handlers.onInterface?.(iface),
        onPacket: (packet) => this.handlers.onPacket(packet, null),
        onStatistics: (stats) => this.handlers.onStatistics?.(stats),
      });
    }
    this.format = 'pcap';
    let linkType = 0;
    let nanosecond = false;
    return new PcapStreamParser({
      onHeader: (header) => {
        linkType = header.linkType;
        nanosecond = header.magic === 'nsec';
        this.handlers.onInterface?.({
          id: 0,
          linkType,
          snapLength: header.snapLength,
          name: null,
          unitsPerSecond: nanosecond ? 1e9 : 1e6,
          timestampOffsetSeconds: 0,
        });
      },
      onRecord: (record, raw) => {
        const fraction = record.timestampFraction;
        this.handlers.onPacket(
          {
            interfaceId: 0,
            linkType,
            timestampSeconds: record.timestampSeconds,
            // A fraction ≥ 1 s is malformed; it is carried as-is rather than thrown on (tcpdump does the same).
            timestampNanoseconds: nanosecond ? fraction : fraction * 1000,
            capturedLength: record.capturedLength,
            originalLength: record.originalLength,
            data: record.data,
          },
          raw,
        );
      },
    });
  }
}

/** Outcome of reading a whole capture file. */
export interface CaptureReadResult {
  format: CaptureFormat;
  /** Bytes read from the file. */
  sizeInBytes: number;
  /** Bytes of a partial last record (a writer cut off), ignored. */
  trailingBytes: number;
}

/**
 * Streams a capture (a file path or any byte stream) through a CaptureStreamParser, in bounded memory.
 * @example await readCaptureStream(createReadStream('x.pcapng'), { onPacket: (p) => n++ });
 */
export async function readCaptureStream(
  source: AsyncIterable<Buffer | string> | string,
  handlers: CaptureHandlers,
): Promise<CaptureReadResult> {
  const parser = new CaptureStreamParser(handlers);
  const stream = typeof source === 'string' ? createReadStream(source, { highWaterMark: 1024 * 1024 }) : source;
  let sizeInBytes = 0;
  for await (const chunk of stream) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : chunk;
    sizeInBytes += buf.length;
    parser.push(buf);
  }
  const trailingBytes = parser.end();
  return { format: parser.format!, sizeInBytes, trailingBytes };
}
