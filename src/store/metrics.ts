// The storage order of host metrics in metric rows (the definitions import nothing from the store).
import { HOST_METRICS } from '../alerts/host-metrics.js';
import type { StoreCore } from './store-core.js';

/** Host metrics (metric_hosts, metric_raw, metric_minutes): the {@link Store}'s metric methods. */
export class MetricQueries {
  constructor(private readonly core: StoreCore) {}

  private readonly metricHostIdCache = new Map<string, number>();

  /**
   * Drops the ids of the hosts `keep` says no: the caller (the metric store) keeps them for the
   * hosts that report, so the cache follows those, not every host ever seen. A metric_hosts row
   * is never deleted, so an id read again later is the same.
   */
  forgetMetricHostIds(keep: (vmKey: string) => boolean): void {
    for (const key of this.metricHostIdCache.keys()) if (!keep(key)) this.metricHostIdCache.delete(key);
  }

  /** Ids remembered now. */
  metricHostIdsCached(): number {
    return this.metricHostIdCache.size;
  }

  /**
   * The small numbers that stand for hosts in metric rows (metric_hosts), made on first use and
   * kept while the metric store says so ({@link forgetMetricHostIds}): an ARM id in every
   * one-second row would be most of its size.
   */
  private async metricHostIds(keys: Iterable<string>): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    const missing: string[] = [];
    for (const key of new Set([...keys].map((k) => k.toLowerCase()))) {
      const id = this.metricHostIdCache.get(key);
      if (id === undefined) missing.push(key);
      else out.set(key, id);
    }
    if (missing.length > 0) {
      // Sorted, and inserted in that order: each new key's unique-index entry waits for any other
      // statement making the same key. Two statements making overlapping keys in different orders
      // (two replicas, or two statements in flight from one, whose reports came in different
      // orders) each waited for the other: PostgreSQL's `deadlock detected` (40P01), seen at
      // 10,000 agents on three replicas. In one order, the later statement only waits.
      missing.sort();
      const json = JSON.stringify(missing);
      await this.core.db.query(
        'INSERT INTO metric_hosts (vm_key) SELECT k FROM jsonb_array_elements_text($1::jsonb) WITH ORDINALITY AS x(k, i) ORDER BY i ON CONFLICT (vm_key) DO NOTHING',
        [json],
      );
      for (const r of await this.core.db.query(
        'SELECT id, vm_key FROM metric_hosts WHERE vm_key IN (SELECT jsonb_array_elements_text($1::jsonb))',
        [json],
      )) {
        this.metricHostIdCache.set(String(r.vm_key), Number(r.id));
        out.set(String(r.vm_key), Number(r.id));
      }
    }
    return out;
  }

  /**
   * Stores host metric reports, one row each (metric_raw: the values in HOST_METRICS order).
   * However many there are, each statement carries at most {@link METRIC_ROWS_PER_STATEMENT} rows
   * as one typed array per column ({@link RAW_INSERT}: 2 + 9 parameters whatever the rows): never
   * near PostgreSQL's 65,535-parameter limit, and never one long hold of the embedded database.
   * Throws when a statement fails; rows of earlier statements stay.
   */
  async insertMetricSamples(samples: readonly MetricSampleRow[]): Promise<void> {
    for (let i = 0; i < samples.length; i += METRIC_ROWS_PER_STATEMENT) {
      const chunk = samples.slice(i, i + METRIC_ROWS_PER_STATEMENT);
      const ids = await this.metricHostIds(chunk.map((s) => s.vmKey));
      // Column arrays, not a JSON recordset of an object per row: at 10,000 agents building the
      // JSON and jsonb_to_recordset's parse of it were the largest share of the write path.
      const hostIds: Array<number | undefined> = new Array(chunk.length);
      const atInMs: number[] = new Array(chunk.length);
      const columns = HOST_METRICS.map(() => new Array<number | undefined>(chunk.length));
      for (let r = 0; r < chunk.length; r++) {
        const s = chunk[r]!;
        hostIds[r] = ids.get(s.vmKey.toLowerCase());
        atInMs[r] = s.at.getTime();
        for (let m = 0; m < HOST_METRICS.length; m++) columns[m]![r] = s.metrics[HOST_METRICS[m]!.name];
      }
      await this.core.db.query(RAW_INSERT, [arrayLiteral(hostIds), arrayLiteral(atInMs), ...columns.map(arrayLiteral)]);
    }
  }

  /** Stores per-host, per-minute aggregates (metric_minutes), in statements of at most {@link METRIC_ROWS_PER_STATEMENT} rows (typed column arrays, as {@link insertMetricSamples}). */
  async insertMetricMinutes(minutes: readonly MetricMinuteRow[]): Promise<void> {
    for (let i = 0; i < minutes.length; i += METRIC_ROWS_PER_STATEMENT) {
      const chunk = minutes.slice(i, i + METRIC_ROWS_PER_STATEMENT);
      const ids = await this.metricHostIds(chunk.map((m) => m.vmKey));
      const hostIds: Array<number | undefined> = new Array(chunk.length);
      const minuteInMs: number[] = new Array(chunk.length);
      const n = HOST_METRICS.length;
      // count, total, minimum, maximum: one array per metric each, in that order.
      const columns = Array.from({ length: 4 * n }, () => new Array<number | undefined>(chunk.length));
      for (let r = 0; r < chunk.length; r++) {
        const m = chunk[r]!;
        hostIds[r] = ids.get(m.vmKey.toLowerCase());
        minuteInMs[r] = m.minute.getTime();
        for (let k = 0; k < n; k++) {
          columns[k]![r] = m.count[k];
          columns[n + k]![r] = m.total[k];
          columns[2 * n + k]![r] = m.minimum[k];
          columns[3 * n + k]![r] = m.maximum[k];
        }
      }
      await this.core.db.query(MINUTE_INSERT, [
        arrayLiteral(hostIds),
        arrayLiteral(minuteInMs),
        ...columns.map(arrayLiteral),
      ]);
    }
  }

  /**
   * One metric of one host aggregated per time grain over [from, to): bucket start (ms since the
   * epoch, a multiple of grainInMs), total, count, minimum and maximum. Buckets without samples are
   * absent. Where the per-report rows were pruned (before {@link advanceMetricRawSince}), the
   * per-minute rows answer, each in the grain its minute starts in.
   */
  async aggregateMetricSamples(
    vmKey: string,
    metricName: string,
    from: Date,
    to: Date,
    grainInMs: number,
  ): Promise<MetricBucketRow[]> {
    const index = metricIndex(metricName);
    if (index === 0) return [];
    const rows = await this.core.db.query(
      `WITH since AS (${RAW_SINCE}), host AS (SELECT id FROM metric_hosts WHERE vm_key = $1),
       pts AS (
         SELECT extract(epoch FROM r.at) AS e, r.v[$2] AS total, 1 AS n, r.v[$2] AS lo, r.v[$2] AS hi
         FROM metric_raw r, host, since WHERE r.host_id = host.id AND r.at >= $3 AND r.at < $4 AND r.at >= since.t AND r.v[$2] IS NOT NULL
         UNION ALL
         SELECT extract(epoch FROM m.minute), m.total[$2], m.n[$2], m.lo[$2], m.hi[$2]
         FROM metric_minutes m, host, since WHERE m.host_id = host.id AND m.minute >= $3 AND m.minute < $4 AND m.minute < since.t AND m.n[$2] > 0)
       SELECT (floor(e * 1000 / $5) * $5)::float8 AS bucket, sum(total)::float8 AS total, sum(n)::int AS n, min(lo)::float8 AS minimum, max(hi)::float8 AS maximum
       FROM pts GROUP BY 1 ORDER BY 1`,
      [vmKey.toLowerCase(), index, from, to, grainInMs],
    );
    return rows.map((r) => ({
      bucketStartInMs: Number(r.bucket),
      total: Number(r.total),
      count: Number(r.n),
      minimum: Number(r.minimum),
      maximum: Number(r.maximum),
    }));
  }

  /** One metric aggregated over (from, to] for each of several hosts; hosts without samples are absent. Pruned spans are answered by minute as in {@link aggregateMetricSamples}. */
  async aggregateMetricWindow(
    vmKeys: readonly string[],
    metricName: string,
    from: Date,
    to: Date,
  ): Promise<Map<string, Omit<MetricBucketRow, 'bucketStartInMs'>>> {
    const index = metricIndex(metricName);
    if (vmKeys.length === 0 || index === 0) return new Map();
    const rows = await this.core.db.query(
      `WITH since AS (${RAW_SINCE}), hosts AS (SELECT id, vm_key FROM metric_hosts WHERE vm_key = ANY($1::text[])),
       pts AS (
         SELECT r.host_id, r.v[$2] AS total, 1 AS n, r.v[$2] AS lo, r.v[$2] AS hi
         FROM metric_raw r JOIN hosts ON r.host_id = hosts.id, since WHERE r.at > $3 AND r.at <= $4 AND r.at >= since.t AND r.v[$2] IS NOT NULL
         UNION ALL
         SELECT m.host_id, m.total[$2], m.n[$2], m.lo[$2], m.hi[$2]
         FROM metric_minutes m JOIN hosts ON m.host_id = hosts.id, since WHERE m.minute >= $3 AND m.minute < $4 AND m.minute < since.t AND m.n[$2] > 0)
       SELECT hosts.vm_key, sum(total)::float8 AS total, sum(n)::int AS n, min(lo)::float8 AS minimum, max(hi)::float8 AS maximum
       FROM pts JOIN hosts ON hosts.id = pts.host_id GROUP BY hosts.vm_key`,
      [vmKeys.map((k) => k.toLowerCase()), index, from, to],
    );
    return new Map(
      rows.map((r) => [
        String(r.vm_key),
        { total: Number(r.total), count: Number(r.n), minimum: Number(r.minimum), maximum: Number(r.maximum) },
      ]),
    );
  }

  /**
   * From `since` (a whole minute) on, queries read per-report rows; before it, per-minute rows.
   * Moves it forward to `since` (never back), making the per-minute rows of the span it passes
   * from the per-report rows stored there: a query sees either the span's per-report rows or its
   * minutes, never neither, and every stored sample is counted in its minute exactly once (a
   * sample re-sent after a replica died is one row: the unique index). Called before per-report
   * rows are pruned. Returns the per-minute rows made.
   *
   * In pieces ({@link rollUpPiece}): one minute of {@link ROLL_UP_HOSTS_PER_PIECE} hosts per
   * statement, each its own short transaction, `pauseInMs` between them. In one statement a
   * minute of 10,000 hosts (600,000 rows) held the embedded database, and with it every hello and
   * API call, for seconds (bench/rollup). 'metric-raw-since' moves only after a minute's last
   * piece, so queries read the minute's per-report rows until all its minutes are made.
   *
   * A sample stored after its span was rolled up (older than the raw retention when it arrived)
   * is in no minute: agents send none older than AGENT_METRICS_SAMPLE_MAX_AGE_IN_SECONDS, which
   * the default raw retention covers.
   */
  async advanceMetricRawSince(since: Date, options: MetricRollUpOptions = {}): Promise<number> {
    const fixed = options.hostsPerPiece;
    if (fixed !== undefined && (!Number.isInteger(fixed) || fixed < 1))
      throw new RangeError(`hostsPerPiece must be a whole number of at least 1, not ${fixed}`);
    let hostsPerPiece = fixed ?? ROLL_UP_HOSTS_PER_PIECE;
    let made = 0;
    for (let pieces = 0; ; pieces++) {
      if (options.stopAfterPieces !== undefined && pieces >= options.stopAfterPieces) return made;
      if (pieces > 0) await new Promise((r) => setTimeout(r, options.pauseInMs ?? 0));
      const startedInMs = performance.now();
      const piece = await this.rollUpPiece(since, hostsPerPiece);
      if (piece.emptyFromInMs !== undefined) {
        await this.skipEmptySpan(piece.emptyFromInMs, since);
        continue;
      }
      made += piece.made;
      options.onPiece?.(performance.now() - startedInMs);
      if (piece.done) return made;
      // Sized to take about ROLL_UP_PIECE_TARGET_IN_MS: the cost of a host's minute depends on
      // the engine, the machine and how often the host reports, none of which is known here.
      if (fixed === undefined) {
        const tookInMs = Math.max(1, performance.now() - startedInMs);
        const scaled = Math.round((hostsPerPiece * ROLL_UP_PIECE_TARGET_IN_MS) / tookInMs);
        hostsPerPiece = Math.min(
          ROLL_UP_MAX_HOSTS_PER_PIECE,
          Math.max(ROLL_UP_MIN_HOSTS_PER_PIECE, Math.min(scaled, hostsPerPiece * 2)),
        );
      }
    }
  }

  /**
   * Moves 'metric-raw-since' from `fromInMs` (an empty minute, or -infinity before the first
   * roll-up) to the first minute with per-report rows before `since` (to `since` when there is
   * none): minute by minute, a restart after hours, or the first roll-up, would walk every empty
   * minute. The first row is looked up through the (host_id, at) index a thousand hosts per
   * statement, outside any transaction (a BRIN index has no order: min(at) would read every
   * row); the move then only if nothing moved meanwhile.
   */
  private async skipEmptySpan(fromInMs: number, since: Date): Promise<void> {
    let firstInMs = Infinity;
    const from = Number.isFinite(fromInMs) ? new Date(fromInMs) : '-infinity';
    for (let afterHostId = 0; ;) {
      const [r] = await this.core.db.query(
        `WITH hosts AS (SELECT id FROM metric_hosts WHERE id > $1 ORDER BY id LIMIT 1000)
         SELECT (SELECT max(id) FROM hosts) AS last, (SELECT (extract(epoch FROM min(f)) * 1000)::float8 FROM hosts
           CROSS JOIN LATERAL (SELECT at AS f FROM metric_raw r WHERE r.host_id = hosts.id AND r.at >= $2::timestamptz AND r.at < $3 ORDER BY at LIMIT 1) x) AS first`,
        [afterHostId, from, since],
      );
      if (r!.last === null) break;
      afterHostId = Number(r!.last);
      if (r!.first !== null) firstInMs = Math.min(firstInMs, Number(r!.first));
    }
    const toInMs = Math.min(since.getTime(), Math.floor(firstInMs / 60_000) * 60_000);
    await this.core.db.transaction(async (tx) => {
      const [row] = await tx.query(
        `SELECT (extract(epoch FROM value::timestamptz) * 1000)::float8 AS since FROM server_settings WHERE name = 'metric-raw-since' FOR UPDATE`,
      );
      // After the lock, in its own statement: a subquery of the locking one would read the snapshot from before the wait.
      const [progress] = await tx.query(`SELECT 1 FROM server_settings WHERE name = 'metric-roll-up'`);
      if (progress !== undefined || Number(row!.since) !== fromInMs || toInMs <= fromInMs) return;
      await tx.query(`UPDATE server_settings SET value = $1 WHERE name = 'metric-raw-since'`, [
        new Date(toInMs).toISOString(),
      ]);
    });
  }

  /**
   * One piece of {@link advanceMetricRawSince}, in one transaction: the minutes of the next
   * `hostsPerPiece` hosts (by id, after the last piece's) in the minute being rolled up, and the
   * progress ('metric-roll-up': that minute's end and the last host id done) in the same commit.
   * A replica that dies between pieces leaves the progress of the last piece committed, and the
   * next call goes on from there: no host's minute is made twice or missed. The settings row of
   * 'metric-raw-since' is locked for the transaction, so two replicas rolling up at once take
   * turns piece by piece, each going on from the other's progress.
   */
  private async rollUpPiece(
    target: Date,
    hostsPerPiece: number,
  ): Promise<{ made: number; done: boolean; emptyFromInMs?: number }> {
    return this.core.db.transaction(async (tx) => {
      await tx.query(
        `INSERT INTO server_settings (name, value) VALUES ('metric-raw-since', '-infinity') ON CONFLICT (name) DO NOTHING`,
      );
      const [row] = await tx.query(
        `SELECT (extract(epoch FROM value::timestamptz) * 1000)::float8 AS since FROM server_settings WHERE name = 'metric-raw-since' FOR UPDATE`,
      );
      // After the lock, in its own statement: a subquery of the locking one would read the
      // snapshot from before the wait, and so miss the progress another replica just committed.
      const [saved] = await tx.query(`SELECT value FROM server_settings WHERE name = 'metric-roll-up'`);
      const fromInMs = Number(row!.since);
      let progress = saved === undefined ? null : parseRollUpProgress(String(saved.value));
      if (progress === null) {
        if (fromInMs >= target.getTime()) return { made: 0, done: true };
        const minuteEndInMs = Math.floor(fromInMs / 60_000) * 60_000 + 60_000;
        // An empty minute (the BRIN index answers that at once): skipped to the next with rows.
        const [any] = Number.isFinite(fromInMs)
          ? await tx.query(`SELECT 1 FROM metric_raw WHERE at >= $1 AND at < $2 LIMIT 1`, [
              new Date(fromInMs),
              new Date(Math.min(target.getTime(), minuteEndInMs)),
            ])
          : [];
        if (any === undefined) return { made: 0, done: false, emptyFromInMs: fromInMs };
        // To the end of the minute `from` is in: a host's minute is made in one piece.
        progress = { toInMs: Math.min(target.getTime(), minuteEndInMs), afterHostId: 0 };
      }
      const from = new Date(fromInMs);
      const [piece] = await tx.query(ROLL_UP_PIECE, [
        from,
        new Date(progress.toInMs),
        progress.afterHostId,
        hostsPerPiece,
      ]);
      const made = Number(piece!.made);
      if (Number(piece!.hosts) < hostsPerPiece) {
        // The minute's last piece: queries read its minutes from now on.
        await tx.query(`UPDATE server_settings SET value = $1 WHERE name = 'metric-raw-since'`, [
          new Date(progress.toInMs).toISOString(),
        ]);
        await tx.query(`DELETE FROM server_settings WHERE name = 'metric-roll-up'`);
        return { made, done: progress.toInMs >= target.getTime() };
      }
      await tx.query(
        `INSERT INTO server_settings (name, value) VALUES ('metric-roll-up', $1) ON CONFLICT (name) DO UPDATE SET value = excluded.value`,
        [JSON.stringify({ toInMs: progress.toInMs, afterHostId: Number(piece!.last) })],
      );
      return { made, done: false };
    });
  }

  /** Deletes at most `limit` per-report rows older than `before`; returns how many. */
  async pruneMetricSamplesBatch(before: Date, limit: number = METRIC_PRUNE_BATCH): Promise<number> {
    return (
      await this.core.db.query(
        'DELETE FROM metric_raw WHERE ctid = ANY(ARRAY(SELECT ctid FROM metric_raw WHERE at < $1 LIMIT $2)) RETURNING 1',
        [before, limit],
      )
    ).length;
  }

  /** Deletes at most `limit` per-minute rows older than `before`; returns how many. */
  async pruneMetricMinutesBatch(before: Date, limit: number = METRIC_PRUNE_BATCH): Promise<number> {
    return (
      await this.core.db.query(
        'DELETE FROM metric_minutes WHERE ctid = ANY(ARRAY(SELECT ctid FROM metric_minutes WHERE minute < $1 LIMIT $2)) RETURNING 1',
        [before, limit],
      )
    ).length;
  }

  /**
   * Deletes per-report rows older than `before` in batches of {@link METRIC_PRUNE_BATCH}, pausing
   * `pauseInMs` between them so other work runs in between; returns how many.
   */
  async pruneMetricSamples(before: Date, pauseInMs = 0): Promise<number> {
    let total = 0;
    for (;;) {
      const n = await this.pruneMetricSamplesBatch(before);
      total += n;
      if (n < METRIC_PRUNE_BATCH) return total;
      await new Promise((r) => setTimeout(r, pauseInMs));
    }
  }

  /** Deletes per-minute rows older than `before`, in batches as {@link pruneMetricSamples}. */
  async pruneMetricMinutes(before: Date, pauseInMs = 0): Promise<number> {
    let total = 0;
    for (;;) {
      const n = await this.pruneMetricMinutesBatch(before);
      total += n;
      if (n < METRIC_PRUNE_BATCH) return total;
      await new Promise((r) => setTimeout(r, pauseInMs));
    }
  }

  /** Bytes the host metric tables take on disk (rows and indexes), for sizing. */
  async metricStorageInBytes(): Promise<{ raw: number; minutes: number; rawRows: number; minuteRows: number }> {
    const [r] = await this.core.db.query(
      `SELECT pg_total_relation_size('metric_raw')::float8 AS raw, pg_total_relation_size('metric_minutes')::float8 AS minutes,
              (SELECT count(*) FROM metric_raw)::float8 AS raw_rows, (SELECT count(*) FROM metric_minutes)::float8 AS minute_rows`,
    );
    return {
      raw: Number(r!.raw),
      minutes: Number(r!.minutes),
      rawRows: Number(r!.raw_rows),
      minuteRows: Number(r!.minute_rows),
    };
  }
}

/** One host metric report as stored: its values by metric name. */
export interface MetricSampleRow {
  vmKey: string;
  at: Date;
  metrics: Record<string, number>;
}

/** One host's reports of one minute, aggregated: per metric (in HOST_METRICS order) how many reports had it, their sum, least and largest value (0 where none had it). */
export interface MetricMinuteRow {
  vmKey: string;
  minute: Date;
  count: number[];
  total: number[];
  minimum: number[];
  maximum: number[];
}

/**
 * Most rows one metric statement writes. Each statement binds one JSON document whatever its
 * size, so PostgreSQL's 65,535-parameter limit is never near; the bound keeps each statement short
 * (a few ms), so the embedded database, which runs on the server's own thread, is never held long.
 */
export const METRIC_ROWS_PER_STATEMENT = 2_000;

/**
 * A PostgreSQL array literal of numbers (`{1,2.5,NULL}`; undefined, null and non-finite are NULL), for a
 * parameter cast to a typed array: both engines take it as text, so no driver's array
 * serialisation is relied on. JavaScript's shortest round-trip form of a double reads back as the
 * same double in float8 (and an integer as itself), so the rows are those the JSON form wrote.
 */
function arrayLiteral(values: ReadonlyArray<number | null | undefined>): string {
  let out = '{';
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (i > 0) out += ',';
    // Not finite (a per-minute total past the largest double): NULL, as JSON wrote it.
    out += v === undefined || v === null || !Number.isFinite(v) ? 'NULL' : String(v);
  }
  return out + '}';
}

/**
 * `$1` host ids, `$2` times (ms since the epoch), `$3`… one array per metric in HOST_METRICS order.
 * A row already stored (a batch re-sent because its ack was lost with a replica) is skipped:
 * each (host, time) is kept once. Rows go in in key order: two replicas writing the same re-sent
 * rows at once (the connection moved while the first still had them queued) would otherwise
 * each wait on the other's unique-index entries (`deadlock detected`, as metricHostIds explains).
 */
const RAW_INSERT = (() => {
  const params = ['$1::integer[]', '$2::float8[]', ...HOST_METRICS.map((_, k) => `$${k + 3}::float8[]`)];
  const values = HOST_METRICS.map((_, k) => `v${k}`);
  return `INSERT INTO metric_raw (host_id, at, v)
    SELECT h, to_timestamp(a / 1000.0), ARRAY[${values.join(', ')}]::float8[]
    FROM unnest(${params.join(', ')}) AS x(h, a, ${values.join(', ')})
    ORDER BY h, a
    ON CONFLICT (host_id, at) DO NOTHING`.replace(/\s+/g, ' ');
})();

/**
 * `$1` from, `$2` to, `$3` the last host id done, `$4` hosts per piece: for the next `$4` hosts
 * by id after `$3`, per host and minute of [from, to), the per-report rows' count, total, least
 * and largest value of each metric (0 where none had it), as metric_minutes rows. Returns the
 * hosts taken, the last one's id and the rows made. Each host's rows are read through the
 * (host_id, at) index (the lateral, kept from being flattened by OFFSET 0): joined plainly, both
 * engines' planners read the whole minute of every host through the BRIN index for each piece.
 */
const ROLL_UP_PIECE = (() => {
  const each = (f: (k: number) => string) => HOST_METRICS.map((_, i) => f(i + 1)).join(', ');
  return `WITH hosts AS (SELECT id FROM metric_hosts WHERE id > $3 ORDER BY id LIMIT $4),
    made AS (INSERT INTO metric_minutes (host_id, minute, n, total, lo, hi)
      SELECT r.host_id, to_timestamp(floor(extract(epoch FROM r.at) / 60) * 60),
        ARRAY[${each((k) => `count(r.v[${k}])::int`)}],
        ARRAY[${each((k) => `coalesce(sum(r.v[${k}]), 0)`)}]::float8[],
        ARRAY[${each((k) => `coalesce(min(r.v[${k}]), 0)`)}]::float8[],
        ARRAY[${each((k) => `coalesce(max(r.v[${k}]), 0)`)}]::float8[]
      FROM hosts CROSS JOIN LATERAL (SELECT host_id, at, v FROM metric_raw WHERE host_id = hosts.id AND at >= $1::timestamptz AND at < $2::timestamptz OFFSET 0) r
      GROUP BY 1, 2 RETURNING 1)
    SELECT (SELECT count(*) FROM hosts)::int AS hosts, (SELECT max(id) FROM hosts) AS last, (SELECT count(*) FROM made)::int AS made`.replace(
    /\s+/g,
    ' ',
  );
})();

/**
 * Hosts whose minute the first roll-up statement makes; later ones are sized to take about
 * {@link ROLL_UP_PIECE_TARGET_IN_MS}. At 60 reports a minute, 6,000 rows: ~100 ms on PGlite
 * (its WASM engine spends ~15 µs a row on the 36 aggregates), ~40 ms on PostgreSQL (bench/rollup).
 */
export const ROLL_UP_HOSTS_PER_PIECE = 100;
/** What one roll-up piece should take: short enough that a query arriving meanwhile barely waits. */
export const ROLL_UP_PIECE_TARGET_IN_MS = 50;
const ROLL_UP_MIN_HOSTS_PER_PIECE = 10;
/** Empty minutes (after a restart) cost index look-ups alone: the pieces grow to this. */
const ROLL_UP_MAX_HOSTS_PER_PIECE = 5_000;

/** How {@link MetricQueries.advanceMetricRawSince} goes. */
export interface MetricRollUpOptions {
  /** Hosts per statement, fixed (by default {@link ROLL_UP_HOSTS_PER_PIECE} first, then sized to {@link ROLL_UP_PIECE_TARGET_IN_MS}). */
  hostsPerPiece?: number;
  /** Pause between pieces, so other work runs in between. */
  pauseInMs?: number;
  /** Told how long each piece took (bench/rollup). */
  onPiece?: (tookInMs: number) => void;
  /** Stops after this many pieces, the progress committed (tests: a replica that died mid-way). */
  stopAfterPieces?: number;
}

/** The progress of a roll-up ('metric-roll-up'): the end of the minute being rolled up, and the last host id done. */
interface RollUpProgress {
  toInMs: number;
  afterHostId: number;
}

/** Reads 'metric-roll-up' (written by rollUpPiece alone); anything else is a named error, never a guess. */
function parseRollUpProgress(text: string): RollUpProgress {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    value = undefined;
  }
  const v = value as Partial<RollUpProgress> | undefined;
  if (!v || !Number.isFinite(v.toInMs) || !Number.isInteger(v.afterHostId))
    throw new Error(`the metric roll-up progress setting ('metric-roll-up') is not valid: ${text.slice(0, 100)}`);
  return { toInMs: v.toInMs!, afterHostId: v.afterHostId! };
}

/** `$1` host ids, `$2` minute starts (ms), then per metric: counts, totals, minima, maxima (HOST_METRICS order each). */
const MINUTE_INSERT = (() => {
  const names = ['n', 't', 'lo', 'hi'].flatMap((p) => HOST_METRICS.map((_, k) => `${p}${k}`));
  const casts = names.map((name, j) => `$${j + 3}::${name.startsWith('n') ? 'integer' : 'float8'}[]`);
  const arr = (p: string, type: string) => `ARRAY[${HOST_METRICS.map((_, k) => `${p}${k}`).join(', ')}]::${type}[]`;
  return `INSERT INTO metric_minutes (host_id, minute, n, total, lo, hi)
    SELECT h, to_timestamp(a / 1000.0), ${arr('n', 'integer')}, ${arr('t', 'float8')}, ${arr('lo', 'float8')}, ${arr('hi', 'float8')}
    FROM unnest($1::integer[], $2::float8[], ${casts.join(', ')}) AS x(h, a, ${names.join(', ')})`.replace(/\s+/g, ' ');
})();

/** Most rows one prune statement deletes (a few ms on either engine). */
export const METRIC_PRUNE_BATCH = 5_000;

/** The time from which per-report rows answer queries (per-minute rows before it). */
const RAW_SINCE = `SELECT coalesce((SELECT value::timestamptz FROM server_settings WHERE name = 'metric-raw-since'), '-infinity'::timestamptz) AS t`;

/** 1-based position of a metric in metric rows (HOST_METRICS order), 0 when it is not a host metric. */
function metricIndex(name: string): number {
  const lower = name.toLowerCase();
  return HOST_METRICS.findIndex((m) => m.name.toLowerCase() === lower) + 1;
}

/** One time-grain bucket of a metric. */
export interface MetricBucketRow {
  bucketStartInMs: number;
  total: number;
  count: number;
  minimum: number;
  maximum: number;
}
