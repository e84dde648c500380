// Public surface of src/analysis: capture analysis (summary, protocol hierarchy, conversations,
// endpoints, TCP health, DNS, TLS, I/O), the decoded packet list with its display filter, and
// filtered downloads — streaming over pcap and pcapng, bounded memory, cached per file hash.
import { createReadStream } from 'node:fs';
import { basename } from 'node:path';
import type { CaptureSource } from './analyze.js';

export { analyzeCapture, filteredCapture, listPackets, reportOf } from './analyze.js';
export type { CaptureSource, FullAnalysis, PacketPageOptions } from './analyze.js';
export { CaptureAnalyzer, IoIntervalTooSmallError, DEFAULT_MAX_TRACKED_KEYS, DEFAULT_MAX_IO_BUCKETS, MAX_FIXED_IO_BUCKETS } from './analyzer.js';
export type { AnalyzerOptions, AnalysisSections } from './analyzer.js';
export { AnalysisCache, LruCache } from './cache.js';
export { DisplayFilterError, DISPLAY_FILTER_NAMES, compileDisplayFilter } from './display-filter.js';

/**
 * A capture file on this machine as an analysis source.
 * @example await analyzeCapture(localFileSource('/tmp/x.pcapng'))
 */
export function localFileSource(path: string): CaptureSource {
  return { open: () => createReadStream(path, { highWaterMark: 1024 * 1024 }), fileName: basename(path), sha256: null, instance: null };
}
