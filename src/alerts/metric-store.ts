import type { Logger } from '../lib/index.js';
import { AGENT_CLOCK_OFFSET_TOLERANCE_IN_MS } from '../model/index.js';
import { METRIC_ROWS_PER_STATEMENT, type MetricMinuteRow, type MetricSampleRow, type Store } from '../store/index.js';
import { HOST_METRICS } from './host-metrics.js';

/** Defaults of host metric keeping. */
export const METRIC_STORE_DEFAULTS = {
  /** How long host metrics are kept, by minute (Azure keeps platform metrics 93 days). */
  retentionInSeconds: 7 * 24 * 3600,
  /**
   * How long each report is kept as it came (one row per host per second); older spans are
   * answered from the per-minute rows. An hour covers every alert window but P1D at full precision.
   */
  rawRetentionInSeconds: 3600,
  /** Reports are written in batches this often: short, as alert evaluation reads them from the database. */
  flushIntervalInMs: 100,
  /** How often old samples are deleted. */
  pruneIntervalInMs: 60_000,
  /**
   * Each host may send one sample per this much time, single reports and batched samples alike,
   * saved up to {@link SAMPLE_ALLOWANCE_MAX_SAMPLES}; the rest are dropped (agents report every
   * 0.1 s at most, so a working agent never meets it).
   */
  minReportIntervalInMs: 50,
  /** After a failed write, the next attempt waits this long (the batch is kept, never dropped). */
  retryIntervalInMs: 1_000,
  /**
   * Reports kept in memory while the database does not take them (~200 bytes each: 200 MiB).
   * Past it the oldest per-report rows are shed; their per-minute aggregates are written instead,
   * so totals, counts, minima and maxima by minute stay whole.
   */
  maxPendingSamples: 1_000_000,
  /** Pause between prune batches, so a large prune never holds the database (and the server's thread, on PGlite) for long. */
  prunePauseInMs: 20,
  /**
   * A host that sent nothing for this long is forgotten: its since-start totals leave the
   * per-host Prometheus series (its sums stay in the fleet's), so the process's per-host state
   * follows the hosts reporting, not every host ever seen. As long as its per-report rows are kept
   * (the raw retention), so a host back within it keeps one unbroken counter.
   */
  idleHostRetentionInSeconds: 3600,
} as const;

/** Options of a {@link MetricStore}. */
export interface MetricStoreOptions {
  retentionInSeconds?: number;
  rawRetentionInSeconds?: number;
  flushIntervalInMs?: number;
  pruneIntervalInMs?: number;
  minReportIntervalInMs?: number;
  retryIntervalInMs?: number;
  maxPendingSamples?: number;
  prunePauseInMs?: number;
  idleHostRetentionInSeconds?: number;
  /** This process's clock (ms since the epoch): when a report was heard, for idleHostRetentionInSeconds. Tests move it. */
  clock?: () => number;
}

/** Metric statements (of at most METRIC_ROWS_PER_STATEMENT rows) written at once. */
const METRIC_WRITES_IN_FLIGHT = 2;

/** Samples a host may send at once (an agent's disconnect backlog, AGENT_METRICS_BUFFER_MAX_SAMPLES in src/agent, plus a batch). */
export const SAMPLE_ALLOWANCE_MAX_SAMPLES = 1_200;
const MINUTE_IN_MS = 60_000;
/** How often idle hosts are looked for (a loop over the hosts that reported, no I/O). */
const IDLE_SWEEP_INTERVAL_IN_MS = 10_000;

/**
 * What a host may still send, as of a moment: time saved up, each sample costing
 * minReportIntervalInMs of it (whole milliseconds, so no fraction of a sample drifts).
 */
interface SampleAllowance {
  savedInMs: number;
  atInMs: number;
  /**
   * When this process last heard from the host, on its own clock: what idleness is measured from
   * (atInMs is the reports' time, which a caller may give from the past: a replay, a test's data).
   */
  heardAtInMs: number;
  /**
   * The latest sample time of an acknowledged batch (one with an id) counted in the host's
   * since-start totals: a batch re-sent to this same process after a reconnect (its ack lost
   * with the connection) lands on the same times, and is stored once by the database's unique
   * (host, time); this keeps the totals from counting it twice. -Infinity: none yet.
   */
  countedThroughInMs: number;
}

/** A per-report row waiting for the database, numbered in the order it was queued (acks follow the numbers). */
interface QueuedSample extends MetricSampleRow {
  seq: number;
}

/** One host's reports of one minute. */
interface MinuteAccumulator {
  minuteInMs: number;
  count: number[];
  total: number[];
  minimum: number[];
  maximum: number[];
}

const KNOWN_NAMES = HOST_METRICS.map((m) => m.name);

/** The values of a report that are host metrics: known names, finite and not negative (a counter delta). */
export function sanitizeMetricValues(values: unknown): Record<string, number> {
  const out: Record<string, number> = {};
  if (values === null || typeof values !== 'object') return out;
  // The few known names looked up, not every entry of the report listed (Object.entries made an
  // array per name: at 10,000 samples a second a visible share of the server's steady CPU).
  for (const name of KNOWN_NAMES) {
    if (!Object.prototype.hasOwnProperty.call(values, name)) continue;
    const v = (values as Record<string, unknown>)[name];
    if (typeof v === 'number' && Number.isFinite(v) && v >= 0) out[name] = v;
  }
  return out;
}

/**
 * Keeps the host metrics agents report: batches them into the database (where alert evaluation
 * and queries read them, whichever server replica the agent is connected to) as one row per
 * report and one row per host-minute, prunes them after their retention periods, and sums them
 * per host since start for the server's Prometheus endpoint. Samples are placed on the server's
 * clock: a single report at its arrival, a batch's samples by their spacing before its arrival
 * ({@link recordBatch}): evaluation windows must not depend on a host's clock.
 *
 * Nothing is dropped when a write fails: the batch goes back to the front of the queue and is
 * tried again after {@link METRIC_STORE_DEFAULTS.retryIntervalInMs}. Each statement holds at most
 * METRIC_ROWS_PER_STATEMENT rows (src/store), whatever the backlog.
 *
 * Acknowledged batches (issue 17): the rows are written in the order they were queued, so the
 * queue has a watermark — every row numbered up to it is in the database (or was shed, counted
 * and logged). A batch's `onCommitted` is called once the watermark passes its last row: the
 * server's `metrics.ack`, after which the agent forgets the batch. A re-sent batch's samples are
 * placed where they were the first time (the batch's clock offset) and the database keeps each
 * (host, time) once. Per-minute rows are made from the stored per-report rows when the raw
 * retention passes them ({@link prune}), never from this process's memory, so neither a repeat
 * nor a replica killed mid-minute changes them.
 */
export class MetricStore {
  private pending: QueuedSample[] = [];
  /** Per-minute rows of shed per-report rows. */
  private pendingMinutes: MetricMinuteRow[] = [];
  /** The number of the last row queued, and the watermark: every row numbered up to it is written (or shed). */
  private queuedSeq = 0;
  private committedSeq = 0;
  /** Batches waiting for the watermark to pass their last row, in queue order. */
  private awaitingCommit: Array<{ throughSeq: number; onCommitted: () => void }> = [];
  private readonly totals = new Map<string, Record<string, number>>();
  /** Sums of the hosts forgotten since start (deleted or idle): the fleet's totals never go back. */
  private readonly retiredTotals: Record<string, number> = {};
  /** Per host, what it may still send and when it last sent (the idle sweep reads it). */
  private readonly allowances = new Map<string, SampleAllowance>();
  private lastIdleSweepInMs = 0;
  private flushTimer: NodeJS.Timeout | null = null;
  private pruneTimer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> = Promise.resolve();
  private pruning: Promise<number> | null = null;
  private retryAtInMs = 0;
  /** Per-report rows shed since start because the database did not take them in time (their minutes are kept). */
  shedSamples = 0;
  /** Failed writes since start (each retried). */
  failedWrites = 0;
  /** Samples (single reports and batched ones) dropped since start because their host sent more than its allowance. */
  refusedSamples = 0;
  private readonly opts: Required<MetricStoreOptions>;

  constructor(
    private readonly store: Store,
    private readonly logger: Logger,
    options: MetricStoreOptions = {},
  ) {
    this.opts = { ...METRIC_STORE_DEFAULTS, clock: Date.now, ...options };
  }

  /** Starts the flush and prune timers. */
  start(): void {
    this.flushTimer = setInterval(() => {
      if (Date.now() >= this.retryAtInMs) void this.flush();
    }, this.opts.flushIntervalInMs);
    this.flushTimer.unref();
    this.pruneTimer = setInterval(() => {
      void this.prune();
    }, this.opts.pruneIntervalInMs);
    this.pruneTimer.unref();
  }

  /**
   * Takes one agent report (a single `metrics` message), stamped with its arrival: a batch of one
   * sample, held to the same allowance as {@link recordBatch} (one rule whichever way a host sends).
   */
  record(vmKey: string, values: unknown, receivedAt: Date = new Date()): void {
    const metrics = sanitizeMetricValues(values);
    if (Object.keys(metrics).length === 0) return;
    const key = vmKey.toLowerCase();
    const atInMs = receivedAt.getTime();
    const allowance = this.allowanceAt(key, atInMs);
    if (allowance.savedInMs < this.opts.minReportIntervalInMs) {
      this.refusedSamples++;
      return;
    }
    allowance.savedInMs -= this.opts.minReportIntervalInMs;
    this.keep(key, atInMs, metrics);
  }

  /**
   * Takes one `metrics.batch` (issue 17): every sample is kept as its own row at its own time, on
   * this server's clock — `sentAt − at` before the batch arrived, so a host's clock offset never
   * moves a sample, only the host's own spacing of them counts. Returns the samples kept.
   *
   * A host flooding batches must not flood the database: each host has an allowance of one
   * sample per {@link METRIC_STORE_DEFAULTS.minReportIntervalInMs} of time, saved up to
   * {@link SAMPLE_ALLOWANCE_MAX_SAMPLES} (the backlog an agent sends after a disconnect fits),
   * shared with its single reports ({@link record}); samples past it are dropped and counted in
   * {@link refusedSamples}.
   *
   * A batch with a `clockOffsetInMs` (one the agent will re-send until acknowledged) is placed by
   * that offset when it is within AGENT_CLOCK_OFFSET_TOLERANCE_IN_MS of this server's own
   * estimate, so a re-sent batch lands on the times its first send did, whichever replica takes
   * it. `onCommitted` is called once every sample kept is in the database (at once, at the next
   * flush, if none was kept: a refused sample would be refused again).
   */
  recordBatch(
    vmKey: string,
    batch: {
      sentAt: string;
      /** The agent's batch number: the server's ack names it (alerts-runtime.ts); not read here. */
      id?: number | undefined;
      clockOffsetInMs?: number | undefined;
      samples: ReadonlyArray<{ at: string; values: unknown }>;
    },
    receivedAt: Date = new Date(),
    onCommitted?: () => void,
  ): number {
    const key = vmKey.toLowerCase();
    const receivedInMs = receivedAt.getTime();
    let offsetInMs = receivedInMs - Date.parse(batch.sentAt);
    const claimed = batch.clockOffsetInMs;
    // Placed by its own offset: a re-send lands on the same times, so it is counted once below.
    const placedAsFirstSent =
      claimed !== undefined && Math.abs(claimed - offsetInMs) <= AGENT_CLOCK_OFFSET_TOLERANCE_IN_MS;
    if (placedAsFirstSent) offsetInMs = claimed;
    const allowance = this.allowanceAt(key, receivedInMs);
    let kept = 0;
    for (const sample of batch.samples) {
      const metrics = sanitizeMetricValues(sample.values);
      if (Object.keys(metrics).length === 0) continue;
      if (allowance.savedInMs < this.opts.minReportIntervalInMs) {
        this.refusedSamples++;
        continue;
      }
      allowance.savedInMs -= this.opts.minReportIntervalInMs;
      const atInMs = Date.parse(sample.at) + offsetInMs;
      // Samples are in time order within a batch and batches are re-sent in order, so one
      // watermark tells a repeat from a sample this process has not counted yet.
      const counted = placedAsFirstSent && atInMs <= allowance.countedThroughInMs;
      if (placedAsFirstSent && !counted) allowance.countedThroughInMs = atInMs;
      this.keep(key, atInMs, metrics, !counted);
      kept++;
    }
    if (onCommitted) this.awaitingCommit.push({ throughSeq: this.queuedSeq, onCommitted });
    return kept;
  }

  /**
   * A host's allowance at `nowInMs`: what it had, plus the time since, at most
   * SAMPLE_ALLOWANCE_MAX_SAMPLES samples' worth (full for a host not seen before). A time before
   * the last one (a caller's own timestamps) adds nothing.
   */
  private allowanceAt(key: string, nowInMs: number): SampleAllowance {
    const mostInMs = SAMPLE_ALLOWANCE_MAX_SAMPLES * this.opts.minReportIntervalInMs;
    const heardAtInMs = this.opts.clock();
    let allowance = this.allowances.get(key);
    if (!allowance) {
      allowance = { savedInMs: mostInMs, atInMs: nowInMs, heardAtInMs, countedThroughInMs: -Infinity };
      this.allowances.set(key, allowance);
      return allowance;
    }
    allowance.heardAtInMs = heardAtInMs;
    if (nowInMs > allowance.atInMs) {
      allowance.savedInMs = Math.min(mostInMs, allowance.savedInMs + nowInMs - allowance.atInMs);
      allowance.atInMs = nowInMs;
    }
    return allowance;
  }

  private keep(key: string, atInMs: number, metrics: Record<string, number>, inTotals = true): void {
    this.pending.push({ vmKey: key, at: new Date(atInMs), metrics, seq: ++this.queuedSeq });
    if (this.pending.length > this.opts.maxPendingSamples) this.shed();
    if (!inTotals) return;
    const sums = this.totals.get(key) ?? {};
    for (const name in metrics) sums[name] = (sums[name] ?? 0) + metrics[name]!;
    this.totals.set(key, sums);
  }

  private shed(): void {
    // Down to 90 % of the bound at once: shedding row by row spliced the million-row queue on
    // every report (bench/scale, 10,000 agents on a starved database: 82 % of the server's CPU,
    // which then fell further behind).
    const excess = this.pending.length - Math.floor(this.opts.maxPendingSamples * 0.9);
    const shed = this.pending.splice(0, excess);
    this.shedSamples += excess;
    // Their minutes are written instead: none of them is stored as a per-report row, so the
    // roll-up of stored rows (prune) never counts them again.
    const byMinute = new Map<string, { key: string; acc: MinuteAccumulator }>();
    for (const row of shed) {
      const minuteInMs = Math.floor(row.at.getTime() / MINUTE_IN_MS) * MINUTE_IN_MS;
      const id = `${minuteInMs} ${row.vmKey}`;
      let entry = byMinute.get(id);
      if (!entry) byMinute.set(id, (entry = { key: row.vmKey, acc: newAccumulator(minuteInMs) }));
      accumulate(entry.acc, row.metrics);
    }
    for (const { key, acc } of byMinute.values()) this.pendingMinutes.push(toMinuteRow(key, acc));
    this.logger.error(
      { shed: excess, shedSinceStart: this.shedSamples },
      'the database has not taken host metrics for a while: the oldest per-report rows are shed (their per-minute aggregates are kept)',
    );
  }

  /**
   * Per host still remembered (it reported within idleHostRetentionInSeconds and was not
   * forgotten), the sum of every value it reported to this process since it started.
   */
  totalsSinceStart(): ReadonlyMap<string, Readonly<Record<string, number>>> {
    return this.totals;
  }

  /** The sums of the hosts forgotten since start: with {@link totalsSinceStart}, everything reported to this process. */
  retiredTotalsSinceStart(): Readonly<Record<string, number>> {
    return this.retiredTotals;
  }

  /**
   * Forgets a host that can report no more (deleted, or its agent's access revoked): its
   * allowance and per-host totals go (its sums stay in the fleet's); the store's id of it at the
   * next idle sweep (once its open minute is written).
   * Samples of it still queued, and its open minute, are written as usual: nothing it sent
   * before is lost.
   */
  forgetHost(vmKey: string): void {
    this.forget(vmKey.toLowerCase());
  }

  /** Entries this process keeps per host, by table (tests and the bench: each is bounded by the hosts reporting). */
  perHostEntries(): { allowances: number; totals: number; storeHostIds: number } {
    return {
      allowances: this.allowances.size,
      totals: this.totals.size,
      storeHostIds: this.store.metricHostIdsCached(),
    };
  }

  private forget(key: string): void {
    this.allowances.delete(key);
    const sums = this.totals.get(key);
    if (!sums) return;
    for (const name in sums) this.retiredTotals[name] = (this.retiredTotals[name] ?? 0) + sums[name]!;
    this.totals.delete(key);
  }

  /** Hosts with an allowance: the ones whose store ids are still worth keeping (a row queued for another is written with its id read again). */
  private hostsWithState(): (vmKey: string) => boolean {
    return (key) => this.allowances.has(key);
  }

  /**
   * Forgets the hosts that sent nothing for idleHostRetentionInSeconds (their allowance holds
   * when they last sent): allowance and per-host totals. Such a host starts afresh if it comes
   * back — a full allowance, as it would have anyway after 60 s of silence, and its per-host
   * counter from zero (a counter reset to Prometheus; the fleet's totals go on). The store's ids
   * of hosts with nothing left here go too (a later sample reads its id again).
   */
  private sweepIdleHosts(nowInMs: number): void {
    const retainInMs = this.opts.idleHostRetentionInSeconds * 1000;
    for (const [key, allowance] of this.allowances) if (nowInMs - allowance.heardAtInMs >= retainInMs) this.forget(key);
    this.store.forgetMetricHostIds(this.hostsWithState());
  }

  /** Reports and minutes not yet in the database. */
  get backlog(): { samples: number; minutes: number } {
    return { samples: this.pending.length, minutes: this.pendingMinutes.length };
  }

  /**
   * Writes what is pending, in bounded statements; resolves when it is in the database, or when a
   * write failed (what was not written stays queued and is retried).
   */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(() => this.writePending());
    return this.flushing;
  }

  private async writePending(): Promise<void> {
    const written = await this.writeQueue('samples');
    this.releaseCommitted();
    if (!written) return;
    if (!(await this.writeQueue('minutes'))) return;
    // After the writes, which read the ids of the hosts they carry: those of hosts forgotten go in the same pass.
    const heardNow = this.opts.clock();
    if (heardNow - this.lastIdleSweepInMs >= IDLE_SWEEP_INTERVAL_IN_MS) {
      this.lastIdleSweepInMs = heardNow;
      this.sweepIdleHosts(heardNow);
    }
  }

  /** Calls `onCommitted` of the batches the watermark has passed, oldest first. */
  private releaseCommitted(): void {
    const waiting = this.awaitingCommit;
    let n = 0;
    while (n < waiting.length && waiting[n]!.throughSeq <= this.committedSeq) n++;
    if (n === 0) return;
    const done = waiting.splice(0, n);
    for (const { onCommitted } of done) {
      try {
        onCommitted();
      } catch (error) {
        // An ack that could not leave (the connection went meanwhile): the agent re-sends the batch, which is kept once.
        this.logger.warn({ err: error }, 'could not acknowledge a metric batch');
      }
    }
  }

  /** Writes one queue in chunks; on failure puts the unwritten rest back in front and returns false. */
  private async writeQueue(which: 'samples' | 'minutes'): Promise<boolean> {
    const batch: Array<QueuedSample | MetricMinuteRow> = which === 'samples' ? this.pending : this.pendingMinutes;
    if (batch.length === 0) {
      // Nothing queued: every row numbered so far is written or shed.
      if (which === 'samples') this.committedSeq = this.queuedSeq;
      return true;
    }
    if (which === 'samples') this.pending = [];
    else this.pendingMinutes = [];
    const write = (chunk: Array<MetricSampleRow | MetricMinuteRow>) =>
      which === 'samples'
        ? this.store.insertMetricSamples(chunk as MetricSampleRow[])
        : this.store.insertMetricMinutes(chunk as MetricMinuteRow[]);
    const step = METRIC_ROWS_PER_STATEMENT * METRIC_WRITES_IN_FLIGHT;
    for (let i = 0; i < batch.length; i += step) {
      // Between statements, the event loop serves sockets (the embedded database runs on this thread).
      if (i > 0) await new Promise((r) => setImmediate(r));
      // A few statements at once (PostgreSQL runs them side by side on the pool's connections;
      // the embedded database in turn): one at a time, 10,000 agents' reports on a busy database
      // fell behind by minutes. A failed one puts back itself and what follows, never one written.
      const starts = Array.from(
        { length: METRIC_WRITES_IN_FLIGHT },
        (_, k) => i + k * METRIC_ROWS_PER_STATEMENT,
      ).filter((start) => start < batch.length);
      const outcomes = await Promise.allSettled(
        starts.map((start) => write(batch.slice(start, start + METRIC_ROWS_PER_STATEMENT))),
      );
      const failedAt = outcomes.findIndex((o) => o.status === 'rejected');
      if (failedAt >= 0) {
        const error = (outcomes[failedAt] as PromiseRejectedResult).reason;
        const written = new Set(starts.filter((_, k) => outcomes[k]!.status === 'fulfilled'));
        const rest: Array<QueuedSample | MetricMinuteRow> = [];
        for (let start = starts[failedAt]!; start < batch.length; start += METRIC_ROWS_PER_STATEMENT)
          if (!written.has(start)) rest.push(...batch.slice(start, start + METRIC_ROWS_PER_STATEMENT));
        if (which === 'samples') {
          // Every row before the first one not written is in the database (a later statement
          // that succeeded is not counted: the watermark is a prefix).
          this.committedSeq = Math.max(this.committedSeq, (batch[starts[failedAt]!] as QueuedSample).seq - 1);
          this.pending = (rest as QueuedSample[]).concat(this.pending);
          if (this.pending.length > this.opts.maxPendingSamples) this.shed();
        } else {
          this.pendingMinutes = (rest as MetricMinuteRow[]).concat(this.pendingMinutes);
        }
        this.failedWrites++;
        this.retryAtInMs = Date.now() + this.opts.retryIntervalInMs;
        // Metrics are a stream the server must keep: the rows wait for the database, the server goes on.
        this.logger.warn(
          { err: error, queued: rest.length, kind: which },
          `could not store host metrics; kept, retrying in ${this.opts.retryIntervalInMs} ms`,
        );
        return false;
      }
    }
    if (which === 'samples') this.committedSeq = Math.max(this.committedSeq, (batch.at(-1) as QueuedSample).seq);
    return true;
  }

  /**
   * Deletes per-report rows older than the raw retention (queries read per-minute rows for that
   * span from now on) and per-minute rows older than the retention, in small batches with pauses
   * between them, so it never holds the database for long. One prune at a time.
   */
  prune(now: Date = new Date()): Promise<number> {
    this.pruning ??= (async () => {
      try {
        const rawFor = Math.min(this.opts.rawRetentionInSeconds, this.opts.retentionInSeconds) * 1000;
        const rawCutoff = new Date(Math.floor((now.getTime() - rawFor) / MINUTE_IN_MS) * MINUTE_IN_MS);
        // The span passed is rolled up into per-minute rows from what the database holds (once,
        // whichever replica gets there first) before its per-report rows go.
        await this.store.advanceMetricRawSince(rawCutoff, { pauseInMs: this.opts.prunePauseInMs });
        const raw = await this.store.pruneMetricSamples(rawCutoff, this.opts.prunePauseInMs);
        const minutes = await this.store.pruneMetricMinutes(this.retentionStart(now), this.opts.prunePauseInMs);
        return raw + minutes;
      } catch (error) {
        this.logger.warn({ err: error }, 'could not prune old host metrics');
        return 0;
      } finally {
        this.pruning = null;
      }
    })();
    return this.pruning;
  }

  /** The oldest time queries can reach. */
  retentionStart(now: Date = new Date()): Date {
    return new Date(now.getTime() - this.opts.retentionInSeconds * 1000);
  }

  /** Stops the timers and writes what is pending. */
  async close(): Promise<void> {
    if (this.flushTimer) clearInterval(this.flushTimer);
    if (this.pruneTimer) clearInterval(this.pruneTimer);
    this.flushing = this.flushing.then(() => this.writePending());
    await this.flushing;
    await this.pruning;
  }
}

function newAccumulator(minuteInMs: number): MinuteAccumulator {
  const n = HOST_METRICS.length;
  return {
    minuteInMs,
    count: new Array<number>(n).fill(0),
    total: new Array<number>(n).fill(0),
    minimum: new Array<number>(n).fill(0),
    maximum: new Array<number>(n).fill(0),
  };
}

function accumulate(acc: MinuteAccumulator, metrics: Record<string, number>): void {
  for (let i = 0; i < HOST_METRICS.length; i++) {
    const v = metrics[HOST_METRICS[i]!.name];
    if (v === undefined) continue;
    if (acc.count[i] === 0) {
      acc.minimum[i] = v;
      acc.maximum[i] = v;
    } else {
      if (v < acc.minimum[i]!) acc.minimum[i] = v;
      if (v > acc.maximum[i]!) acc.maximum[i] = v;
    }
    acc.count[i]!++;
    acc.total[i]! += v;
  }
}

function toMinuteRow(vmKey: string, acc: MinuteAccumulator): MetricMinuteRow {
  return {
    vmKey,
    minute: new Date(acc.minuteInMs),
    count: acc.count,
    total: acc.total,
    minimum: acc.minimum,
    maximum: acc.maximum,
  };
}
