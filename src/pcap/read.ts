import { readFile } from 'node:fs/promises';
import { PcapFormatError } from './format.js';
import type { PcapHeader, PcapRecord } from './format.js';
import { PcapStreamParser } from './stream-parser.js';

/** A whole pcap file in memory. */
export interface PcapContents {
  /** The global header. */
  header: PcapHeader;
  /** Every complete record, in file order. */
  records: PcapRecord[];
}

/** Options for reading a whole pcap. */
export interface ReadPcapOptions {
  /**
   * Accept a file whose last record is cut short (a writer killed mid-write) and drop that
   * record, instead of throwing PcapFormatError. Defaults to false.
   */
  allowTrailingPartialRecord?: boolean;
}

/**
 * Parses a complete classic pcap held in memory; throws PcapFormatError if it is not one.
 * @example const { header, records } = readPcapBuffer(await readFile('x.cap'));
 */
export function readPcapBuffer(buf: Buffer, opts: ReadPcapOptions = {}): PcapContents {
  let header: PcapHeader | null = null;
  const records: PcapRecord[] = [];
  const parser = new PcapStreamParser({
    onHeader: (h) => {
      header = h;
    },
    onRecord: (rec) => {
      records.push(rec);
    },
  });
  parser.push(buf);
  const leftoverBytes = parser.end();
  // A stream shorter than 24 bytes never produced a header; the narrowing below needs the local.
  const parsedHeader = header as PcapHeader | null;
  if (parsedHeader === null) {
    throw new PcapFormatError(`pcap is ${buf.length} bytes, shorter than its 24-byte header`, 0);
  }
  if (leftoverBytes > 0 && opts.allowTrailingPartialRecord !== true) {
    throw new PcapFormatError(`pcap ends with ${leftoverBytes} bytes of a partial record`, buf.length - leftoverBytes);
  }
  return { header: parsedHeader, records };
}

/**
 * Reads and parses a classic pcap file; throws PcapFormatError if it is not one.
 * @example const { records } = await readPcapFile('/var/captures/a.cap');
 */
export async function readPcapFile(path: string, opts: ReadPcapOptions = {}): Promise<PcapContents> {
  return readPcapBuffer(await readFile(path), opts);
}
