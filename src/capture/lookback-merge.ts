// A capture that asks for the past (issue 13 §2): its file begins with the look-back buffer's
// packets from `lookbackInSeconds` before the capture was created, passed through the capture's
// own filter by libpcap itself (`tcpdump -r FILE -w OUT -- EXPR`, the same compiled expression
// the live tcpdump runs), truncated to its snap length and within its size limit, then goes on
// with the live packets. The buffer's tcpdump and the capture's see the very same packets while
// both run, with the same kernel timestamp (the kernel stamps a packet once and clones it to
// every packet socket), so the seam is the first live packet: buffered packets before it go in,
// the rest are the live file's; a buffered packet equal to a live one near the seam (timestamp,
// length and bytes) is dropped too, in case a kernel stamps the two copies apart.
import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { copyFile, open, rename, rm, stat } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { TCPDUMP_FILTER_OPTIONS } from '../filter/index.js';
// src/pcap's own files, not its index: the index also loads the dissectors (dns, tls, …) that the
// agent never uses (startup-imports.test.ts).
import { encodePcapHeader, PCAP_GLOBAL_HEADER_BYTES, PCAP_RECORD_HEADER_BYTES } from '../pcap/format.js';
import { PcapStreamParser } from '../pcap/stream-parser.js';
import type { PcapHeader, PcapRecord } from '../pcap/format.js';
import { DEFAULT_EXECUTABLE_PATH, findExecutable } from './find-executable.js';
import { firstPacketTimeInMs } from './lookback.js';
import { MAX_SNAP_LENGTH_IN_BYTES } from './tcpdump-args.js';
import { tcpdumpErrorMessage } from './tcpdump-stderr.js';

/** A record's timestamp in microseconds since the epoch (nanosecond files rounded down). */
function timeInUs(h: PcapHeader, r: PcapRecord): number {
  return (
    r.timestampSeconds * 1_000_000 + (h.magic === 'nsec' ? Math.floor(r.timestampFraction / 1000) : r.timestampFraction)
  );
}

/** Streams a pcap file's whole records (a torn last record, as in a file being written, is left out). */
async function eachRecord(
  path: string,
  onHeader: (h: PcapHeader, raw: Buffer) => void,
  onRecord: (h: PcapHeader, r: PcapRecord, raw: Buffer) => boolean | void,
): Promise<void> {
  let header: PcapHeader | null = null;
  let stopped = false;
  const parser = new PcapStreamParser({
    onHeader: (h, raw) => {
      header = h;
      onHeader(h, raw);
    },
    onRecord: (r, raw) => {
      if (!stopped && onRecord(header as PcapHeader, r, raw) === false) stopped = true;
    },
  });
  const stream = createReadStream(path, { highWaterMark: 1024 * 1024 });
  try {
    for await (const chunk of stream) {
      parser.push(chunk as Buffer);
      if (stopped) break;
    }
  } finally {
    stream.destroy();
  }
}

/** Batches writes to a file handle, in order, at explicit offsets (callers add records from synchronous callbacks). */
class BatchedWriter {
  private parts: Buffer[] = [];
  private bytes = 0;
  private offset = 0;
  private chain: Promise<unknown> = Promise.resolve();
  private error: Error | null = null;
  /** Bytes accepted so far. */
  written = 0;
  constructor(private readonly handle: FileHandle) {}
  write(buf: Buffer): void {
    this.parts.push(Buffer.from(buf));
    this.bytes += buf.length;
    this.written += buf.length;
    if (this.bytes >= 1024 * 1024) this.queue();
  }
  private queue(): void {
    if (this.bytes === 0) return;
    const all = Buffer.concat(this.parts);
    const at = this.offset;
    this.offset += all.length;
    this.parts = [];
    this.bytes = 0;
    this.chain = this.chain
      .then(async () => {
        if (this.error === null) await this.handle.write(all, 0, all.length, at);
      })
      .catch((err: unknown) => {
        this.error ??= err as Error;
      });
  }
  async flush(): Promise<void> {
    this.queue();
    await this.chain;
    if (this.error !== null) throw this.error;
  }
}

/** What extractLookback needs. */
export interface ExtractLookbackOptions {
  /** The buffer's files (held copies, see LookbackBuffer.hold), oldest first. */
  files: string[];
  /** Keep packets stamped at or after this instant (ms since the epoch). */
  fromInMs: number;
  /** The capture's compiled BPF expression ('' keeps everything). */
  bpfExpression: string;
  /** The pcap file to write. */
  outputPath: string;
  tcpdumpPath?: string;
}

/** What the buffer gave. */
export interface ExtractedLookback {
  /** Packets in outputPath (after the filter). */
  packets: number;
  /** From when the file holds every packet the buffer saw that passes the filter: max(from, the buffer's oldest packet); null when the buffer held nothing. */
  coverageStartInMs: number | null;
}

/**
 * Writes the buffered packets stamped at or after `fromInMs` that pass the capture's filter to
 * `outputPath`: first a time cut over the buffer's files (whole records only), then libpcap's own
 * filter over the result.
 * @example await extractLookback({ files: lb.hold(dir), fromInMs: created - 30_000, bpfExpression: 'udp port 53', outputPath: '/…/c1.lookback.pcap' });
 */
export async function extractLookback(opts: ExtractLookbackOptions): Promise<ExtractedLookback> {
  const selected = `${opts.outputPath}.time`;
  const handle = await open(selected, 'w', 0o600);
  const out = new BatchedWriter(handle);
  let header: PcapHeader | null = null;
  let oldestInMs: number | null = null;
  let selectedPackets = 0;
  try {
    for (const file of opts.files) {
      const first = firstPacketTimeInMs(file);
      if (first !== null && oldestInMs === null) oldestInMs = first;
      let skip = false;
      await eachRecord(
        file,
        (h, raw) => {
          if (header === null) {
            header = h;
            out.write(raw);
          } else if (
            h.linkType !== header.linkType ||
            h.magic !== header.magic ||
            h.littleEndian !== header.littleEndian
          ) {
            skip = true; // a buffer restarted on another interface: not comparable
          }
        },
        (h, r, raw) => {
          if (skip) return false;
          if (timeInUs(h, r) < opts.fromInMs * 1000) return;
          selectedPackets++;
          out.write(raw);
        },
      );
    }
    await out.flush();
  } finally {
    await handle.close();
  }
  const coverageStartInMs = oldestInMs === null ? null : Math.max(opts.fromInMs, oldestInMs);
  if (header === null) {
    await rm(selected, { force: true });
    return { packets: 0, coverageStartInMs: null };
  }
  const expression = opts.bpfExpression.trim();
  if (expression === '' || selectedPackets === 0) {
    await rename(selected, opts.outputPath);
    return { packets: selectedPackets, coverageStartInMs };
  }
  try {
    const tcpdump = findExecutable(opts.tcpdumpPath ?? 'tcpdump', process.env['PATH'] ?? DEFAULT_EXECUTABLE_PATH);
    if (tcpdump === null) throw new Error(`${opts.tcpdumpPath ?? 'tcpdump'} not found`);
    // The same options and expression the live tcpdump runs (-O: see tcpdump-args.ts), so the past is filtered exactly as the present.
    const args = ['-n', ...TCPDUMP_FILTER_OPTIONS, '-r', selected, '-w', opts.outputPath, '--', expression];
    const stderr = await new Promise<string>((resolve, reject) => {
      const child = spawn(tcpdump, args, { stdio: ['ignore', 'ignore', 'pipe'] });
      let text = '';
      child.stderr.setEncoding('utf8');
      child.stderr.on('data', (t: string) => {
        if (text.length < 8192) text += t;
      });
      child.on('error', reject);
      child.on('close', (code) =>
        code === 0 ? resolve(text) : reject(new Error(`tcpdump -r exited with ${code}: ${tcpdumpErrorMessage(text)}`)),
      );
    });
    void stderr;
  } finally {
    await rm(selected, { force: true });
  }
  let packets = 0;
  await eachRecord(
    opts.outputPath,
    () => undefined,
    () => {
      packets++;
    },
  );
  return { packets, coverageStartInMs };
}

/** What mergeLookback needs. */
export interface MergeLookbackOptions {
  /** The capture's finished file (written by the live tcpdump); rewritten in place. */
  capturePath: string;
  /** Output of extractLookback. */
  lookbackPath: string;
  /** The capture's snap length (0 = whole packet): buffered packets are cut to it. */
  snapLengthInBytes: number;
  /** The capture's size limit (0 = none): the merged file never exceeds it. */
  maxBytes: number;
  /** When the live capture started (ms): the seam when the live file holds no packet. */
  liveStartInMs: number;
  /** Where the live file is copied to while the merged one is written (same folder is best). */
  scratchPath: string;
  /** How near the seam a buffered packet is compared with the live ones for duplicates. Default 50 ms. */
  seamWindowInMs?: number;
}

/** What the merge did. */
export interface MergedLookback {
  /** Buffered packets put before the live ones. */
  lookbackPackets: number;
  /** Buffered packets left out because the live file has them (at or after the seam, or equal to a live packet near it). */
  duplicatesDropped: number;
  /** Time of the first buffered packet kept, ms; null when none was. */
  firstLookbackPacketTimeInMs: number | null;
  /** Why nothing was merged, or null. */
  skippedReason: string | null;
}

function sameBytes(a: PcapRecord, b: PcapRecord): boolean {
  if (a.originalLength !== b.originalLength) return false;
  // The buffer may keep fewer bytes per packet than the capture (its own snap length): compare what both hold.
  const n = Math.min(a.data.length, b.data.length);
  return a.data.subarray(0, n).equals(b.data.subarray(0, n));
}

/**
 * Rewrites the capture file as: its pcap header, the buffered packets before the seam (cut to
 * the capture's snap length), then every live record — within maxBytes, whole records only.
 * @example await mergeLookback({ capturePath, lookbackPath, snapLengthInBytes: 0, maxBytes: 1 << 30, liveStartInMs, scratchPath });
 */
export async function mergeLookback(opts: MergeLookbackOptions): Promise<MergedLookback> {
  const windowUs = (opts.seamWindowInMs ?? 50) * 1000;
  const snap =
    opts.snapLengthInBytes === 0 || opts.snapLengthInBytes > MAX_SNAP_LENGTH_IN_BYTES
      ? MAX_SNAP_LENGTH_IN_BYTES
      : opts.snapLengthInBytes;
  const limit = opts.maxBytes > 0 ? opts.maxBytes : Number.POSITIVE_INFINITY;
  // The live packets near the seam, for the duplicate check.
  let liveHeader: PcapHeader | null = null;
  let liveHeaderRaw: Buffer | null = null;
  let seamUs: number | null = null;
  const nearSeam: PcapRecord[] = [];
  const liveSize = (await stat(opts.capturePath)).size;
  if (liveSize >= PCAP_GLOBAL_HEADER_BYTES) {
    await eachRecord(
      opts.capturePath,
      (h, raw) => {
        liveHeader = h;
        liveHeaderRaw = Buffer.from(raw);
      },
      (h, r) => {
        const t = timeInUs(h, r);
        seamUs ??= t;
        if (t > seamUs + windowUs || nearSeam.length >= 10_000) return false;
        nearSeam.push({ ...r, data: Buffer.from(r.data) });
      },
    );
  }
  seamUs ??= opts.liveStartInMs * 1000;
  let lbHeader: PcapHeader | null = null;
  await eachRecord(
    opts.lookbackPath,
    (h) => {
      lbHeader = h;
    },
    () => false,
  );
  const lb = lbHeader as PcapHeader | null;
  const live = liveHeader as PcapHeader | null;
  if (lb === null)
    return {
      lookbackPackets: 0,
      duplicatesDropped: 0,
      firstLookbackPacketTimeInMs: null,
      skippedReason: 'the buffer held no packet for this capture',
    };
  if (
    live !== null &&
    (live.linkType !== lb.linkType || live.magic !== lb.magic || live.littleEndian !== lb.littleEndian)
  ) {
    return {
      lookbackPackets: 0,
      duplicatesDropped: 0,
      firstLookbackPacketTimeInMs: null,
      skippedReason: `the buffer's link type ${lb.linkType} differs from the capture's ${live.linkType}`,
    };
  }
  const headerRaw =
    liveHeaderRaw ?? encodePcapHeader({ snapLength: snap, linkType: lb.linkType, nanosecond: lb.magic === 'nsec' });
  if (!lb.littleEndian && liveHeaderRaw === null) {
    return {
      lookbackPackets: 0,
      duplicatesDropped: 0,
      firstLookbackPacketTimeInMs: null,
      skippedReason: 'the buffer wrote big-endian records',
    };
  }
  await copyFile(opts.capturePath, opts.scratchPath);
  const handle = await open(opts.capturePath, 'r+');
  let lookbackPackets = 0;
  let duplicatesDropped = 0;
  let firstLookbackPacketTimeInMs: number | null = null;
  try {
    await handle.truncate(0);
    const out = new BatchedWriter(handle);
    out.write(headerRaw);
    let full = false;
    await eachRecord(
      opts.lookbackPath,
      () => undefined,
      (h, r, raw) => {
        const t = timeInUs(h, r);
        if (t >= seamUs!) {
          duplicatesDropped++;
          return;
        }
        if (t >= seamUs! - windowUs && nearSeam.some((l) => sameBytes(l, r))) {
          duplicatesDropped++;
          return;
        }
        let bytes = raw;
        if (r.capturedLength > snap) {
          bytes = Buffer.from(raw.subarray(0, PCAP_RECORD_HEADER_BYTES + snap));
          if (lb.littleEndian) bytes.writeUInt32LE(snap, 8);
          else bytes.writeUInt32BE(snap, 8);
        }
        if (out.written + bytes.length > limit) {
          full = true;
          return false;
        }
        lookbackPackets++;
        firstLookbackPacketTimeInMs ??= t / 1000;
        out.write(bytes);
      },
    );
    if (!full && liveSize > PCAP_GLOBAL_HEADER_BYTES) {
      await eachRecord(
        opts.scratchPath,
        () => undefined,
        (_h, _r, raw) => {
          if (out.written + raw.length > limit) return false;
          out.write(raw);
        },
      );
    }
    await out.flush();
    await handle.truncate(out.written);
  } catch (error) {
    // The live packets are never lost to a failed merge: the file is put back as it was.
    await handle.truncate(0).catch(() => undefined);
    await handle.close().catch(() => undefined);
    await copyFile(opts.scratchPath, opts.capturePath).catch(() => undefined);
    await rm(opts.scratchPath, { force: true });
    throw error;
  }
  await handle.close();
  await rm(opts.scratchPath, { force: true });
  return { lookbackPackets, duplicatesDropped, firstLookbackPacketTimeInMs, skippedReason: null };
}
