// Public surface of src/analysis: capture analysis (summary, protocol hierarchy, conversations,
// endpoints, TCP health, DNS, TLS, I/O), the decoded packet list with its display filter, and
// filtered downloads — streaming over pcap and pcapng, bounded memory, cached per file hash.
import { createReadStream } from 'node:fs';
import { basename } from 'node:path';
import { analyzeCapture } from './analyze.js';
import type { CaptureSource, FullAnalysis } from './analyze.js';
import type { AnalyzerOptions } from './analyzer.js';
import { sha256OfFileInWorker } from './file-hash.js';

export { analyzeCapture, filteredCapture, listPackets, reportOf } from './analyze.js';
export type { CaptureSource, FullAnalysis, PacketPageOptions } from './analyze.js';
export {
  CaptureAnalyzer,
  IoIntervalTooSmallError,
  DEFAULT_MAX_TRACKED_KEYS,
  DEFAULT_MAX_IO_BUCKETS,
  MAX_FIXED_IO_BUCKETS,
} from './analyzer.js';
export type { AnalyzerOptions, AnalysisSections } from './analyzer.js';
export { AnalysisCache, LruCache } from './cache.js';
export { DisplayFilterError, DISPLAY_FILTER_NAMES, compileDisplayFilter } from './display-filter.js';

/**
 * A capture file on this machine as an analysis source.
 * @example await analyzeCapture(localFileSource('/tmp/x.pcapng'))
 */
export function localFileSource(path: string): CaptureSource {
  return {
    open: () => createReadStream(path, { highWaterMark: 1024 * 1024 }),
    fileName: basename(path),
    sha256: null,
    instance: null,
  };
}

/**
 * Analyses a local capture file, hashing it on a worker thread at the same time (the answer's
 * `source.sha256`), so the hash costs no extra wall time on a machine with a spare core.
 * @example const { sections } = await analyzeLocalFile('/tmp/x.pcapng', { top: 20 });
 */
export async function analyzeLocalFile(path: string, options: AnalyzerOptions = {}): Promise<FullAnalysis> {
  const hashing = sha256OfFileInWorker(path);
  // Keep a hashing failure from being unhandled while the analysis runs; it is awaited below.
  hashing.catch(() => undefined);
  const full = await analyzeCapture({ ...localFileSource(path), sha256: '' }, options);
  return { ...full, source: { ...full.source, sha256: await hashing } };
}
