// Results cached per file hash: a capture file never changes once stored (its SHA-256 is part of
// its status), so an answer computed once is good until evicted. Bounded by entry count; an
// entry is a report (tables of at most `top` rows), a few hundred kB at most.
import type { FullAnalysis } from './analyze.js';

/** How many entries each cache keeps by default. */
export const DEFAULT_ANALYSIS_CACHE_ENTRIES = 64;

/**
 * A small LRU map.
 * @example const c = new LruCache<string, number>(2); c.set('a', 1); c.get('a') === 1
 */
export class LruCache<K, V> {
  private readonly map = new Map<K, V>();
  constructor(private readonly maxEntries: number) {}

  /** The value of `key`, now the most recently used. */
  get(key: K): V | undefined {
    const v = this.map.get(key);
    if (v !== undefined) {
      this.map.delete(key);
      this.map.set(key, v);
    }
    return v;
  }

  /** Stores a value, evicting the least recently used beyond the limit. */
  set(key: K, value: V): void {
    this.map.delete(key);
    this.map.set(key, value);
    while (this.map.size > this.maxEntries) this.map.delete(this.map.keys().next().value as K);
  }

  /** Forgets `key`. */
  delete(key: K): void {
    this.map.delete(key);
  }

  /** Entries held. */
  get size(): number {
    return this.map.size;
  }
}

/** The analysis caches of one server: full reports and packet-list match counts, by file hash. */
export class AnalysisCache {
  /** Full analyses by `sha256|top|interval`. */
  readonly reports: LruCache<string, Promise<FullAnalysis>>;
  /** Packet and match counts by `sha256|filter`. */
  readonly matchCounts: LruCache<string, { total: number; matching: number }>;

  constructor(maxEntries = DEFAULT_ANALYSIS_CACHE_ENTRIES) {
    this.reports = new LruCache(maxEntries);
    this.matchCounts = new LruCache(maxEntries * 16);
  }

  /** The analysis of `key`, computed once even when asked for concurrently (a failure is not kept). */
  report(key: string, compute: () => Promise<FullAnalysis>): Promise<FullAnalysis> {
    const found = this.reports.get(key);
    if (found) return found;
    const pending = compute();
    this.reports.set(key, pending);
    pending.catch(() => this.reports.delete(key));
    return pending;
  }
}
