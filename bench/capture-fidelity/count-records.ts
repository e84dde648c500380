// Counts the records of a pcap file by streaming it (bench files can be gigabytes).
import { createReadStream } from 'node:fs';
import { PcapStreamParser } from '../../src/pcap/index.js';

/** What a capture file held. */
export interface PcapFileCount {
  /** Whole records in the file. */
  records: number;
  /** Bytes of a trailing partial record (a writer cut off mid-write); 0 for a clean file. */
  trailingBytes: number;
}

/** Streams `path` through PcapStreamParser and counts whole records; rejects on a malformed file. */
export async function countPcapRecords(path: string): Promise<PcapFileCount> {
  let records = 0;
  const parser = new PcapStreamParser({
    onHeader: () => {},
    onRecord: () => {
      records++;
    },
  });
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) parser.push(chunk as Buffer);
  return { records, trailingBytes: parser.end() };
}
