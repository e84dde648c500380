// Running the analyses over a capture's bytes: the whole report, a page of the packet list, and
// the matching packets as a file — each one streaming pass over the file.
import { createHash } from 'node:crypto';
import type { AnalysisReport, AnalysisSection, AnalysisSource, PacketListPage } from '../model/index.js';
import {
  CaptureStreamParser,
  PacketDissection,
  encodePcapHeader,
  encodePcapngInterface,
  encodePcapngPacket,
  encodePcapngSectionHeader,
} from '../pcap/index.js';
import type { CaptureFormat, CaptureInterface, CaptureInterfaceStatistics, CapturePacket } from '../pcap/index.js';
import { CaptureAnalyzer } from './analyzer.js';
import type { AnalysisSections, AnalyzerOptions } from './analyzer.js';
import { compileDisplayFilter } from './display-filter.js';
import type { FilterContext, PacketPredicate } from './display-filter.js';
import { packetRow } from './packet-rows.js';

/** A capture file to analyse: how to read it and what is known about it. */
export interface CaptureSource {
  /** Opens the file's bytes from the start (called once per pass). */
  open():
    Promise<AsyncIterable<Buffer | string> | Iterable<Buffer>> | AsyncIterable<Buffer | string> | Iterable<Buffer>;
  /** File name shown in answers. */
  fileName: string;
  /** SHA-256 (hex) when already known (a stored capture); computed while reading otherwise. */
  sha256: string | null;
  /** Size when already known (a stored capture); counted while reading otherwise. */
  sizeInBytes?: number;
  /** Host of a capture, null for a local file. */
  instance: string | null;
  /** Drop counters the capture's status reported, which the file itself does not hold (classic pcap). */
  kernel?: { packetsDropped: number | null; packetsReceived: number | null };
}

/** Passes over a file's bytes, with the SHA-256 and size computed on the way. */
async function pass(
  source: CaptureSource,
  onPacket: (p: CapturePacket, raw: Buffer | null) => boolean | void,
  hooks: { onInterface?: (i: CaptureInterface) => void; onStatistics?: (s: CaptureInterfaceStatistics) => void } = {},
): Promise<{
  format: CaptureFormat;
  sizeInBytes: number;
  sha256: string;
  trailingBytes: number;
  stoppedEarly: boolean;
}> {
  let stop = false;
  const parser = new CaptureStreamParser({
    onInterface: hooks.onInterface,
    onStatistics: hooks.onStatistics,
    onPacket: (p, raw) => {
      if (!stop && onPacket(p, raw) === false) stop = true;
    },
  });
  const hash = source.sha256 === null ? createHash('sha256') : null;
  let sizeInBytes = 0;
  const stream = await source.open();
  for await (const chunk of stream) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : chunk;
    sizeInBytes += buf.length;
    hash?.update(buf);
    parser.push(buf);
    if (stop) {
      // Leave the rest unread; a web stream or file stream is closed by the loop's return.
      return { format: parser.format!, sizeInBytes, sha256: source.sha256 ?? '', trailingBytes: 0, stoppedEarly: true };
    }
  }
  const trailingBytes = parser.end();
  return {
    format: parser.format!,
    sizeInBytes,
    sha256: source.sha256 ?? hash!.digest('hex'),
    trailingBytes,
    stoppedEarly: false,
  };
}

/** The report of every section, plus the source it came from. */
export interface FullAnalysis {
  source: AnalysisSource;
  sections: AnalysisSections;
}

/**
 * Analyses a whole capture in one streaming pass.
 * @example const { source, sections } = await analyzeCapture(localFileSource('x.pcapng'));
 */
export async function analyzeCapture(source: CaptureSource, options: AnalyzerOptions = {}): Promise<FullAnalysis> {
  const analyzer = new CaptureAnalyzer(options);
  const result = await pass(
    source,
    (p) => {
      analyzer.addPacket(p);
    },
    {
      onInterface: (i) => analyzer.addInterface(i),
      onStatistics: (s) => analyzer.addStatistics(s),
    },
  );
  const sections = analyzer.finish(source.kernel);
  sections.summary.trailingBytesIgnored = result.trailingBytes;
  return {
    source: {
      fileName: source.fileName,
      sizeInBytes: result.sizeInBytes,
      sha256: result.sha256,
      format: result.format,
      instance: source.instance,
    },
    sections,
  };
}

/**
 * The report of one section (or all of them) from a full analysis.
 * @example reportOf(full, 'conversations').conversations?.tcp.rows
 */
export function reportOf(full: FullAnalysis, section?: AnalysisSection): AnalysisReport {
  if (section === undefined) return { source: full.source, ...full.sections };
  return { source: full.source, [section]: full.sections[section] };
}

/** Options of a packet-list page. */
export interface PacketPageOptions {
  offset: number;
  limit: number;
  filter?: string | undefined;
  knownMatchingPackets?: { total: number; matching: number } | undefined;
}

/**
 * One page of the decoded packet list, with the exact count of matching packets (read to the
 * end, unless `knownMatchingPackets` already says it). Throws DisplayFilterError for a bad filter.
 * @example await listPackets(source, { offset: 0, limit: 50, filter: 'tcp.port==443' })
 */
export async function listPackets(source: CaptureSource, options: PacketPageOptions): Promise<PacketListPage> {
  const filter = options.filter !== undefined && options.filter.trim() !== '' ? options.filter : undefined;
  const predicate: PacketPredicate | null = filter === undefined ? null : compileDisplayFilter(filter);
  const d = new PacketDissection();
  const rows: PacketListPage['packets'] = [];
  let number = 0;
  let matching = 0;
  let firstSeconds = 0;
  let firstNanoseconds = 0;
  const ctx: FilterContext = {
    d,
    data: Buffer.alloc(0),
    number: 0,
    originalLength: 0,
    capturedLength: 0,
    interfaceId: 0,
  };
  const known = options.knownMatchingPackets;
  const result = await pass(source, (p) => {
    number++;
    if (number === 1) {
      firstSeconds = p.timestampSeconds;
      firstNanoseconds = p.timestampNanoseconds;
    }
    d.dissect(p.linkType, p.data);
    ctx.data = p.data;
    ctx.number = number;
    ctx.originalLength = p.originalLength;
    ctx.capturedLength = p.capturedLength;
    ctx.interfaceId = p.interfaceId;
    if (predicate !== null && !predicate(ctx)) return true;
    if (matching >= options.offset && rows.length < options.limit) {
      const relative = p.timestampSeconds - firstSeconds + (p.timestampNanoseconds - firstNanoseconds) / 1e9;
      rows.push(packetRow(p, d, number, relative));
    }
    matching++;
    // With the totals known, nothing after the page matters.
    return !(known !== undefined && rows.length >= options.limit);
  });
  const totalPackets = known?.total ?? number;
  const matchingPackets = known?.matching ?? matching;
  return {
    source: {
      fileName: source.fileName,
      sizeInBytes: source.sizeInBytes ?? result.sizeInBytes,
      sha256: result.sha256,
      format: result.format,
      instance: source.instance,
    },
    filter: filter ?? null,
    offset: options.offset,
    limit: options.limit,
    totalPackets,
    matchingPackets,
    packets: rows,
  };
}

/**
 * The packets that match `filter`, as a file of the source's format: classic pcap stays pcap
 * (records copied byte for byte), pcapng stays pcapng (every interface, nanosecond timestamps).
 * Throws DisplayFilterError before reading anything when the filter is bad.
 * @example for await (const chunk of filteredCapture(source, 'dns')) out.write(chunk);
 */
export function filteredCapture(source: CaptureSource, filter: string | undefined): AsyncGenerator<Buffer> {
  const predicate: PacketPredicate | null =
    filter !== undefined && filter.trim() !== '' ? compileDisplayFilter(filter) : null;
  return filteredCaptureStream(source, predicate);
}

async function* filteredCaptureStream(
  source: CaptureSource,
  predicate: PacketPredicate | null,
): AsyncGenerator<Buffer> {
  const d = new PacketDissection();
  const ctx: FilterContext = {
    d,
    data: Buffer.alloc(0),
    number: 0,
    originalLength: 0,
    capturedLength: 0,
    interfaceId: 0,
  };
  let out: Buffer[] = [];
  let format: CaptureFormat | null = null;
  let number = 0;
  let pcapHeaderWritten = false;
  const parser = new CaptureStreamParser({
    onInterface: (iface) => {
      if (parser.format === 'pcap') {
        out.push(
          encodePcapHeader({
            snapLength: iface.snapLength,
            linkType: iface.linkType,
            nanosecond: iface.unitsPerSecond === 1e9,
          }),
        );
        pcapHeaderWritten = true;
      } else {
        if (format === null) out.push(encodePcapngSectionHeader(true));
        out.push(
          encodePcapngInterface({
            linkType: iface.linkType,
            snapLength: iface.snapLength,
            ...(iface.name !== null ? { name: iface.name } : {}),
            timestampResolution: 9,
          }),
        );
      }
      format = parser.format;
    },
    onPacket: (p, raw) => {
      number++;
      if (predicate !== null) {
        d.dissect(p.linkType, p.data);
        ctx.data = p.data;
        ctx.number = number;
        ctx.originalLength = p.originalLength;
        ctx.capturedLength = p.capturedLength;
        ctx.interfaceId = p.interfaceId;
        if (!predicate(ctx)) return;
      }
      if (raw !== null) {
        out.push(Buffer.from(raw));
        return;
      }
      out.push(
        encodePcapngPacket({
          interfaceId: p.interfaceId,
          timestamp: BigInt(p.timestampSeconds) * 1_000_000_000n + BigInt(p.timestampNanoseconds),
          data: Buffer.from(p.data),
          originalLength: p.originalLength,
        }),
      );
    },
  });
  const stream = await source.open();
  for await (const chunk of stream) {
    parser.push(typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : chunk);
    if (out.length > 0) {
      const ready = Buffer.concat(out);
      out = [];
      yield ready;
    }
  }
  parser.end();
  if (parser.format === 'pcap' && !pcapHeaderWritten) return;
  if (out.length > 0) yield Buffer.concat(out);
}
