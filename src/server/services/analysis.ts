// Analysis of a stored capture's file (issue 15 §1): the file is read through the download path
// (every storage kind, or fetched from the host), analysed by src/analysis, and the result kept
// per file SHA-256 — a stored file never changes, so a second look costs nothing.
import { Readable } from 'node:stream';
import type { z } from 'zod';
import { ApiError } from '../../lib/index.js';
import { ANALYSIS_DEFAULT_TOP, analysisQuerySchema, packetListQuerySchema } from '../../model/index.js';
import type { AnalysisReport, PacketListPage } from '../../model/index.js';
import {
  DisplayFilterError,
  IoIntervalTooSmallError,
  analyzeCapture,
  filteredCapture,
  listPackets,
  reportOf,
} from '../../analysis/index.js';
import type { CaptureSource } from '../../analysis/index.js';
import { PcapFormatError } from '../../pcap/index.js';
import type { ResourceRecord } from '../../store/index.js';
import type { CaptureBody } from './capture-types.js';
import type { ServerContext } from './context.js';
import { openCaptureFile } from './download.js';

/** Validates query parameters, turning the first problem into InvalidParameter naming it. */
function parseQuery<S extends z.ZodType>(schema: S, query: unknown): z.output<S> {
  const result = schema.safeParse(query ?? {});
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const name = issue.path.map(String).join('.') || '(query)';
  throw new ApiError('InvalidParameter', `Query parameter '${name}' is invalid: ${issue.message}.`, { target: name });
}

/** The capture's file as an analysis source: the first pass reuses the stream already opened. */
async function captureSource(
  ctx: ServerContext,
  rec: ResourceRecord<CaptureBody>,
  instance: string | undefined,
  baseUrl: string,
): Promise<{ source: CaptureSource; close: () => void }> {
  const first = await openCaptureFile(ctx, rec, instance, baseUrl);
  let pending: NodeJS.ReadableStream | null = first.stream;
  const source: CaptureSource = {
    fileName: first.fileName,
    sha256: first.sha256,
    sizeInBytes: first.sizeInBytes,
    instance: first.instance,
    kernel: { packetsDropped: first.kernelPacketsDropped, packetsReceived: first.kernelPacketsReceived },
    open: async () => {
      const stream = pending ?? (await openCaptureFile(ctx, rec, instance, baseUrl)).stream;
      pending = null;
      return stream as AsyncIterable<Buffer>;
    },
  };
  return {
    source,
    close: () => {
      if (pending) (pending as Readable).destroy?.();
      pending = null;
    },
  };
}

/** Maps analysis failures to API errors. */
function apiErrorOf(rec: ResourceRecord<CaptureBody>, error: unknown): unknown {
  if (error instanceof DisplayFilterError)
    return new ApiError(
      'InvalidFilter',
      `The display filter is invalid at column ${error.position}: ${error.reason}.`,
      { target: 'filter' },
    );
  if (error instanceof IoIntervalTooSmallError)
    return new ApiError('InvalidParameter', `${error.message}.`, { target: 'interval' });
  if (error instanceof PcapFormatError)
    return new ApiError(
      'FileNotAvailable',
      `The file of capture '${rec.name}' is not a readable pcap or pcapng file: ${error.message}.`,
    );
  return error;
}

/**
 * GET …/packetCaptures/{name}/analysis: one section or every section of the capture's file.
 * @example await captureAnalysis(ctx, rec, { section: 'conversations' }, baseUrl)
 */
export async function captureAnalysis(
  ctx: ServerContext,
  rec: ResourceRecord<CaptureBody>,
  rawQuery: unknown,
  baseUrl: string,
): Promise<AnalysisReport> {
  const query = parseQuery(analysisQuerySchema, rawQuery);
  const { source, close } = await captureSource(ctx, rec, query.instance, baseUrl);
  const top = query.top ?? ANALYSIS_DEFAULT_TOP;
  const key = `${source.sha256}|${top}|${query.interval ?? 'auto'}|${source.kernel?.packetsDropped ?? ''}`;
  try {
    const full = await ctx.memory.analysisCache.report(key, () =>
      analyzeCapture(source, { top, ...(query.interval !== undefined ? { ioIntervalInSeconds: query.interval } : {}) }),
    );
    return reportOf({ ...full, source: { ...full.source, instance: source.instance } }, query.section);
  } catch (error) {
    throw apiErrorOf(rec, error);
  } finally {
    close();
  }
}

/**
 * GET …/packetCaptures/{name}/packets: a page of decoded packets matching a display filter.
 * The match count of a (file, filter) pair is cached, so later pages stop reading after the page.
 * @example await capturePackets(ctx, rec, { offset: '100', limit: '50', filter: 'dns' }, baseUrl)
 */
export async function capturePackets(
  ctx: ServerContext,
  rec: ResourceRecord<CaptureBody>,
  rawQuery: unknown,
  baseUrl: string,
): Promise<PacketListPage> {
  const query = parseQuery(packetListQuerySchema, rawQuery);
  const { source, close } = await captureSource(ctx, rec, query.instance, baseUrl);
  const countKey = `${source.sha256}|${query.filter?.trim() ?? ''}`;
  const cache = ctx.memory.analysisCache;
  try {
    const known = cache.matchCounts.get(countKey);
    const page = await listPackets(source, {
      offset: query.offset,
      limit: query.limit,
      filter: query.filter,
      knownMatchingPackets: known,
    });
    if (!known) cache.matchCounts.set(countKey, { total: page.totalPackets, matching: page.matchingPackets });
    return page;
  } catch (error) {
    throw apiErrorOf(rec, error);
  } finally {
    close();
  }
}

/** A filtered download: the stream and how to label it. */
export interface FilteredDownload {
  stream: Readable;
  fileName: string;
  contentType: string;
}

/**
 * GET …/packetCaptures/{name}/packets/pcap: the packets matching a display filter, as a capture
 * file of the stored file's format. The filter is checked before anything is sent.
 * @example const { stream } = await captureFilteredDownload(ctx, rec, { filter: 'tcp.port==443' }, baseUrl)
 */
export async function captureFilteredDownload(
  ctx: ServerContext,
  rec: ResourceRecord<CaptureBody>,
  rawQuery: unknown,
  baseUrl: string,
): Promise<FilteredDownload> {
  const query = parseQuery(packetListQuerySchema.pick({ filter: true, instance: true }), rawQuery);
  const { source, close } = await captureSource(ctx, rec, query.instance, baseUrl);
  try {
    const chunks = filteredCapture(source, query.filter);
    // The first chunk tells the format (and surfaces a file that is not a capture as an API error).
    const first = await chunks.next();
    const head = first.done ? Buffer.alloc(0) : first.value;
    const pcapng = head.length >= 4 && head.readUInt32BE(0) === 0x0a0d0d0a;
    async function* all(): AsyncGenerator<Buffer> {
      if (head.length > 0) yield head;
      yield* chunks;
    }
    const base = source.fileName.replace(/\.(cap|pcap|pcapng)$/i, '');
    return {
      stream: Readable.from(all()),
      fileName: `${base}_filtered.${pcapng ? 'pcapng' : 'pcap'}`,
      contentType: pcapng ? 'application/x-pcapng' : 'application/vnd.tcpdump.pcap',
    };
  } catch (error) {
    close();
    throw apiErrorOf(rec, error);
  }
}
