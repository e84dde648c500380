import type { Logger } from '../lib/index.js';
import type { MetricSampleRow, Store } from '../store/index.js';
import { HOST_METRICS } from './host-metrics.js';

/** Defaults of host metric keeping. */
export const METRIC_STORE_DEFAULTS = {
  /** How long samples are kept (Azure keeps platform metrics 93 days; one host at one report a second is 86,400 rows a day). */
  retentionInSeconds: 7 * 24 * 3600,
  /** Reports are written in batches this often: short, as alert evaluation reads them from the database. */
  flushIntervalInMs: 100,
  /** How often old samples are deleted. */
  pruneIntervalInMs: 60_000,
  /** Reports closer together than this from one host are dropped (agents report every 0.1 s at most). */
  minReportIntervalInMs: 50,
} as const;

/** Options of a {@link MetricStore}. */
export interface MetricStoreOptions {
  retentionInSeconds?: number;
  flushIntervalInMs?: number;
  pruneIntervalInMs?: number;
  minReportIntervalInMs?: number;
}

const KNOWN = new Set(HOST_METRICS.map((m) => m.name));

/** The values of a report that are host metrics: known names, finite and not negative (a counter delta). */
export function sanitizeMetricValues(values: unknown): Record<string, number> {
  const out: Record<string, number> = {};
  if (values === null || typeof values !== 'object') return out;
  for (const [name, v] of Object.entries(values as Record<string, unknown>)) {
    if (KNOWN.has(name) && typeof v === 'number' && Number.isFinite(v) && v >= 0) out[name] = v;
  }
  return out;
}

/**
 * Keeps the host metrics agents report: batches them into the database (where alert evaluation
 * and queries read them, whichever server replica the agent is connected to), prunes them after
 * the retention period, and sums them per host since start for the server's Prometheus endpoint.
 * Samples are stamped with the server's clock when they arrive: evaluation windows must not
 * depend on a host's clock.
 */
export class MetricStore {
  private pending: MetricSampleRow[] = [];
  private readonly totals = new Map<string, Record<string, number>>();
  private readonly lastReportInMs = new Map<string, number>();
  private flushTimer: NodeJS.Timeout | null = null;
  private pruneTimer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> = Promise.resolve();
  private readonly opts: Required<MetricStoreOptions>;

  constructor(private readonly store: Store, private readonly logger: Logger, options: MetricStoreOptions = {}) {
    this.opts = { ...METRIC_STORE_DEFAULTS, ...options };
  }

  /** Starts the flush and prune timers. */
  start(): void {
    this.flushTimer = setInterval(() => { void this.flush(); }, this.opts.flushIntervalInMs);
    this.flushTimer.unref();
    this.pruneTimer = setInterval(() => { void this.prune(); }, this.opts.pruneIntervalInMs);
    this.pruneTimer.unref();
  }

  /** Takes one agent report. */
  record(vmKey: string, values: unknown, receivedAt: Date = new Date()): void {
    const metrics = sanitizeMetricValues(values);
    if (Object.keys(metrics).length === 0) return;
    const key = vmKey.toLowerCase();
    // A host flooding reports must not flood the database.
    const last = this.lastReportInMs.get(key);
    if (last !== undefined && receivedAt.getTime() - last < this.opts.minReportIntervalInMs) return;
    this.lastReportInMs.set(key, receivedAt.getTime());
    this.pending.push({ vmKey: key, at: receivedAt, metrics });
    const sums = this.totals.get(key) ?? {};
    for (const [name, v] of Object.entries(metrics)) sums[name] = (sums[name] ?? 0) + v;
    this.totals.set(key, sums);
  }

  /** Per host, the sum of every value reported to this process since it started. */
  totalsSinceStart(): ReadonlyMap<string, Readonly<Record<string, number>>> {
    return this.totals;
  }

  /** Writes what is pending; resolves when it is in the database. */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(async () => {
      if (this.pending.length === 0) return;
      const batch = this.pending;
      this.pending = [];
      try {
        await this.store.insertMetricSamples(batch);
      } catch (error) {
        // Metrics are a stream: a lost batch leaves a gap, it must not stop the server.
        this.logger.error({ err: error, samples: batch.length }, 'could not store host metrics; this batch is lost');
      }
    });
    return this.flushing;
  }

  /** Deletes samples older than the retention period. */
  async prune(now: Date = new Date()): Promise<number> {
    try {
      return await this.store.pruneMetricSamples(new Date(now.getTime() - this.opts.retentionInSeconds * 1000));
    } catch (error) {
      this.logger.warn({ err: error }, 'could not prune old host metrics');
      return 0;
    }
  }

  /** The oldest time queries can reach. */
  retentionStart(now: Date = new Date()): Date {
    return new Date(now.getTime() - this.opts.retentionInSeconds * 1000);
  }

  /** Stops the timers and writes what is pending. */
  async close(): Promise<void> {
    if (this.flushTimer) clearInterval(this.flushTimer);
    if (this.pruneTimer) clearInterval(this.pruneTimer);
    await this.flush();
  }
}
