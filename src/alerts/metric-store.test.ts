/**
 * Issue 17: host metrics at 10,000 agents. On both engines (PGlite and a real PostgreSQL, see
 * src/store/testing): a backlog far past PostgreSQL's 65,535-parameter limit is written whole in
 * bounded statements; a failed write is retried, never dropped; per-minute rows answer once the
 * per-report rows are pruned, with the same totals; pruning goes in bounded batches.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from '../lib/index.js';
import { METRIC_PRUNE_BATCH, METRIC_ROWS_PER_STATEMENT, Store, type Db } from '../store/index.js';
import { openTestDatabase, postgresAvailable, TEST_ENGINES } from '../store/testing/engines.js';
import { HOST_METRICS } from './host-metrics.js';
import { SAMPLE_ALLOWANCE_MAX_SAMPLES, MetricStore, sanitizeMetricValues } from './metric-store.js';

const havePostgres = await postgresAvailable();
const silent = createLogger({ name: 'test', level: 'silent' });

/** The database with every statement seen (its SQL and parameters) and writes to metric tables failing on demand. */
function spied(db: Db) {
  const seen: Array<{ sql: string; params: unknown[] }> = [];
  let failures = 0;
  const spy: Db = {
    engine: db.engine,
    async query(sql, params = []) {
      seen.push({ sql, params });
      if (failures > 0 && /^INSERT INTO metric_(raw|minutes)/.test(sql)) {
        failures--;
        throw new Error('connection reset (injected)');
      }
      return db.query(sql, params);
    },
    transaction: (fn) => db.transaction(fn),
    close: () => db.close(),
  };
  return {
    spy,
    seen,
    failNext: (n: number) => {
      failures = n;
    },
  };
}

async function count(db: Db, table: string): Promise<number> {
  return Number((await db.query(`SELECT count(*)::int AS n FROM ${table}`))[0]!.n);
}

for (const engine of TEST_ENGINES) {
  describe(`host metrics at scale on ${engine}`, { skip: engine === 'postgres' && !havePostgres }, async () => {
    const { db, drop } = await openTestDatabase(engine);
    after(() => drop());

    test('a backlog of 70,000 reports (a statement of them all would need 210,000 parameters) is written whole, in bounded statements', async () => {
      const { spy, seen } = spied(db);
      const ms = new MetricStore(new Store(spy), silent);
      const t0 = Date.parse('2026-03-01T00:00:00Z');
      // 7,000 hosts, 10 reports each a second apart: what 10,000 agents send while the database is 7 s behind.
      for (let s = 0; s < 10; s++)
        for (let h = 0; h < 7_000; h++)
          ms.record(
            `/subscriptions/s/resourcegroups/rg/providers/microsoft.compute/virtualmachines/vm${h}`,
            { 'TCP Segments Sent': 1, 'Network In Total': h },
            new Date(t0 + s * 1000),
          );
      await ms.close();
      assert.equal(await count(db, 'metric_raw'), 70_000, 'every report stored');
      assert.equal(await count(db, 'metric_minutes'), 0, 'per-minute rows are made from stored rows, not from memory');
      const inserts = seen.filter((q) => q.sql.startsWith('INSERT INTO metric_'));
      for (const q of inserts) {
        // One typed array per column (src/store/metrics.ts): a fixed few parameters, each of at most the bound's rows.
        assert.ok(q.params.length <= 2 + 4 * HOST_METRICS.length, 'a fixed few parameters per statement');
        for (const p of q.params)
          assert.ok(
            String(p).slice(1, -1).split(',').length <= METRIC_ROWS_PER_STATEMENT,
            'bounded rows per statement',
          );
      }
      assert.ok(inserts.length >= 70_000 / METRIC_ROWS_PER_STATEMENT);
      const total = (
        await new Store(db).aggregateMetricWindow(
          ['/SUBSCRIPTIONS/s/resourcegroups/rg/providers/microsoft.compute/virtualmachines/vm5'],
          'TCP Segments Sent',
          new Date(t0 - 1),
          new Date(t0 + 60_000),
        )
      ).get('/subscriptions/s/resourcegroups/rg/providers/microsoft.compute/virtualmachines/vm5');
      assert.deepEqual(total, { total: 10, count: 10, minimum: 1, maximum: 1 });
      // Rolled past the raw retention: one row per host-minute, made from the stored rows, the same answer.
      assert.equal(await new Store(db).advanceMetricRawSince(new Date(t0 + 60_000)), 7_000);
      assert.equal(await count(db, 'metric_minutes'), 7_000, 'one row per host-minute');
      const fromMinutes = (
        await new Store(db).aggregateMetricWindow(
          ['/subscriptions/s/resourcegroups/rg/providers/microsoft.compute/virtualmachines/vm5'],
          'TCP Segments Sent',
          new Date(t0 - 1),
          new Date(t0 + 60_000),
        )
      ).get('/subscriptions/s/resourcegroups/rg/providers/microsoft.compute/virtualmachines/vm5');
      assert.deepEqual(fromMinutes, total);
      assert.equal(await new Store(db).advanceMetricRawSince(new Date(t0 + 60_000)), 0, 'a span is rolled up once');
    });

    test('one replica’s statements in flight at once, making the same new hosts in different orders, never deadlock', async () => {
      // Two seconds of reports from 2,000 hosts new to this store, the second second's in the
      // reverse order: two statements of METRIC_ROWS_PER_STATEMENT rows go at once, each making
      // the same 2,000 hosts (PostgreSQL: `deadlock detected` when each made them in its rows' order).
      assert.equal(METRIC_ROWS_PER_STATEMENT, 2_000);
      // Two connections open first, so both statements really run at once (not the second behind a connect).
      if (engine === 'postgres')
        await Promise.all([db.query('SELECT pg_sleep(0.05)'), db.query('SELECT pg_sleep(0.05)')]);
      const ms = new MetricStore(new Store(db), silent);
      const t0 = Date.parse('2026-03-01T12:00:00Z');
      const hosts = Array.from({ length: 2_000 }, (_, h) => `inflight${h}`);
      for (const [s, order] of [hosts, [...hosts].reverse()].entries())
        for (const key of order) ms.record(key, { 'TCP Segments Sent': 1 }, new Date(t0 + s * 1000));
      await ms.flush();
      assert.equal(ms.failedWrites, 0, 'no write failed');
      await ms.close();
      const rows = await db.query(
        `SELECT count(*)::int AS n FROM metric_raw r JOIN metric_hosts k ON k.id = r.host_id WHERE k.vm_key LIKE 'inflight%'`,
      );
      assert.equal(Number(rows[0]!.n), 4_000);
    });

    test('a failed write is kept and retried: nothing lost, nothing doubled', async () => {
      const { spy, failNext } = spied(db);
      const store = new Store(spy);
      const ms = new MetricStore(store, silent, { retryIntervalInMs: 10 });
      const t0 = Date.parse('2026-03-02T00:00:30Z');
      for (let i = 0; i < 5_000; i++)
        ms.record(`retry${i % 50}`, { 'TCP Segments Sent': 2 }, new Date(t0 + Math.floor(i / 50) * 100));
      failNext(2);
      await ms.flush();
      assert.ok(ms.failedWrites >= 1, 'the write failed');
      assert.ok(ms.backlog.samples > 0, 'and its rows are still queued');
      await ms.flush();
      await ms.flush();
      await ms.close();
      assert.equal(ms.backlog.samples, 0);
      const w = await store.aggregateMetricWindow(
        Array.from({ length: 50 }, (_, i) => `retry${i}`),
        'TCP Segments Sent',
        new Date(t0 - 1),
        new Date(t0 + 60_000),
      );
      let total = 0;
      for (const v of w.values()) total += v.total;
      assert.equal(total, 10_000, 'every report once');
      const rows = await db.query(
        `SELECT count(*)::int AS n FROM metric_raw r JOIN metric_hosts k ON k.id = r.host_id WHERE k.vm_key LIKE 'retry%'`,
      );
      assert.equal(Number(rows[0]!.n), 5_000);
    });

    test('a batch is stored sample by sample at its own times on the server clock, minutes split where the samples fall', async () => {
      const store = new Store(db);
      const ms = new MetricStore(store, silent);
      // Arrives at 00:01:02.500 on the server; the host's clock is 10 minutes behind.
      const received = new Date('2026-03-03T00:01:02.500Z');
      const hostNow = received.getTime() - 600_000;
      const samples = [4, 3, 2, 1, 0].map((s) => ({
        at: new Date(hostNow - s * 1000).toISOString(),
        values: { 'TCP Segments Sent': 10 - s },
      }));
      assert.equal(ms.recordBatch('batchvm', { sentAt: new Date(hostNow).toISOString(), samples }, received), 5);
      await ms.close();
      const buckets = await store.aggregateMetricSamples(
        'batchvm',
        'TCP Segments Sent',
        new Date('2026-03-03T00:00:00Z'),
        new Date('2026-03-03T00:02:00Z'),
        1000,
      );
      assert.deepEqual(
        buckets.map((b) => [new Date(b.bucketStartInMs).toISOString(), b.total]),
        [
          ['2026-03-03T00:00:58.000Z', 6],
          ['2026-03-03T00:00:59.000Z', 7],
          ['2026-03-03T00:01:00.000Z', 8],
          ['2026-03-03T00:01:01.000Z', 9],
          ['2026-03-03T00:01:02.000Z', 10],
        ],
        'one row per sample, each in its own second',
      );
      await store.advanceMetricRawSince(new Date('2026-03-03T00:02:00Z'));
      const minutes = await db.query(
        `SELECT m.minute, m.n[1]::int AS n FROM metric_minutes m JOIN metric_hosts k ON k.id = m.host_id WHERE k.vm_key = 'batchvm' ORDER BY m.minute`,
      );
      assert.deepEqual(
        minutes.map((r) => Number(r.n)),
        [2, 3],
        'two samples in the first minute, three in the next',
      );
    });

    test('a failed write of batched samples is kept and retried: nothing lost, nothing doubled', async () => {
      const { spy, failNext } = spied(db);
      const store = new Store(spy);
      const ms = new MetricStore(store, silent, { retryIntervalInMs: 10 });
      const t0 = Date.parse('2026-03-04T00:00:30Z');
      // 100 hosts, 30 batches each of 5 one-second samples (one every 5 s).
      for (let b = 0; b < 30; b++)
        for (let h = 0; h < 100; h++) {
          const sentAt = t0 + b * 5000;
          ms.recordBatch(
            `bretry${h}`,
            {
              sentAt: new Date(sentAt).toISOString(),
              samples: [4, 3, 2, 1, 0].map((s) => ({
                at: new Date(sentAt - s * 1000).toISOString(),
                values: { 'TCP Segments Sent': 3 },
              })),
            },
            new Date(sentAt),
          );
        }
      failNext(3);
      await ms.flush();
      assert.ok(ms.failedWrites >= 1, 'the write failed');
      assert.ok(ms.backlog.samples > 0, 'and its rows are still queued');
      await ms.flush();
      await ms.flush();
      await ms.close();
      assert.equal(ms.backlog.samples, 0);
      const rows = await db.query(
        `SELECT count(*)::int AS n, count(DISTINCT (r.host_id, r.at))::int AS distinct_rows, sum(r.v[1])::float8 AS total
         FROM metric_raw r JOIN metric_hosts k ON k.id = r.host_id WHERE k.vm_key LIKE 'bretry%'`,
      );
      assert.equal(Number(rows[0]!.n), 15_000, 'every sample stored');
      assert.equal(Number(rows[0]!.distinct_rows), 15_000, 'each once, at its own time');
      assert.equal(Number(rows[0]!.total), 45_000);
    });

    test('a batch re-sent to another replica (its ack lost) is one row per sample, placed as the first time, and counted once by minute', async () => {
      const store = new Store(db);
      // Two replicas of one database: A took the batch and stored it, then died before its ack left.
      const replicaA = new MetricStore(store, silent);
      const replicaB = new MetricStore(new Store(db), silent);
      const hostNow = Date.parse('2026-03-06T00:00:58.000Z');
      const batch = (sentAtInMs: number) => ({
        sentAt: new Date(sentAtInMs).toISOString(),
        id: 9,
        clockOffsetInMs: 60_000,
        samples: [4, 3, 2, 1, 0].map((s) => ({
          at: new Date(hostNow - s * 1000).toISOString(),
          values: { 'TCP Segments Sent': 10 - s },
        })),
      });
      // The host's clock is a minute behind; the batch took 7 ms to reach A.
      let ackedA = 0;
      replicaA.recordBatch('resentvm', batch(hostNow), new Date(hostNow + 60_007), () => ackedA++);
      await replicaA.flush();
      assert.equal(ackedA, 1, 'acknowledged once stored');
      // The agent re-sends it to B four seconds later, with a new sentAt: placed by the offset it carries.
      let ackedB = 0;
      assert.equal(
        replicaB.recordBatch('resentvm', batch(hostNow + 4_000), new Date(hostNow + 64_003), () => ackedB++),
        5,
      );
      await replicaB.close();
      await replicaA.close();
      assert.equal(ackedB, 1, 'the repeat is acknowledged too (its rows are in the database)');
      const rows = await db.query(
        `SELECT (extract(epoch FROM r.at) * 1000)::float8 AS at, r.v[1]::float8 AS v
         FROM metric_raw r JOIN metric_hosts k ON k.id = r.host_id WHERE k.vm_key = 'resentvm' ORDER BY r.at`,
      );
      assert.deepEqual(
        rows.map((r) => [new Date(Number(r.at)).toISOString(), Number(r.v)]),
        [4, 3, 2, 1, 0].map((s) => [new Date(hostNow + 60_000 - s * 1000).toISOString(), 10 - s]),
        'one row per sample, at the host’s time plus the offset',
      );
      await store.advanceMetricRawSince(new Date('2026-03-06T00:02:00Z'));
      const minutes = await db.query(
        `SELECT sum(m.n[1])::int AS n, sum(m.total[1])::float8 AS total FROM metric_minutes m JOIN metric_hosts k ON k.id = m.host_id WHERE k.vm_key = 'resentvm'`,
      );
      assert.deepEqual([Number(minutes[0]!.n), Number(minutes[0]!.total)], [5, 40], 'each sample once in its minute');
      const window = await store.aggregateMetricWindow(
        ['resentvm'],
        'TCP Segments Sent',
        new Date('2026-03-06T00:00:00Z'),
        new Date('2026-03-06T00:02:00Z'),
      );
      assert.deepEqual(window.get('resentvm'), { total: 40, count: 5, minimum: 6, maximum: 10 });
    });

    test('a batch is acknowledged only once its rows are in the database: a failed write holds the ack until the retry succeeds', async () => {
      const { spy, failNext } = spied(db);
      const ms = new MetricStore(new Store(spy), silent, { retryIntervalInMs: 10 });
      const t0 = Date.parse('2026-03-07T00:00:10Z');
      const acked: number[] = [];
      for (let id = 1; id <= 3; id++)
        ms.recordBatch(
          'ackvm',
          {
            sentAt: new Date(t0 + id * 1000).toISOString(),
            id,
            clockOffsetInMs: 0,
            samples: [{ at: new Date(t0 + id * 1000).toISOString(), values: { 'TCP Segments Sent': id } }],
          },
          new Date(t0 + id * 1000),
          () => acked.push(id),
        );
      failNext(1);
      await ms.flush();
      assert.equal(ms.failedWrites, 1);
      assert.equal(acked.length, 0, 'nothing acknowledged while the rows are not stored');
      await ms.flush();
      assert.deepEqual(acked, [1, 2, 3], 'all, in order, once stored');
      // A batch whose samples were all refused (nothing to store) is acknowledged at the next flush.
      ms.recordBatch(
        'ackvm',
        {
          sentAt: new Date(t0 + 5000).toISOString(),
          id: 4,
          clockOffsetInMs: 0,
          samples: [{ at: new Date(t0 + 5000).toISOString(), values: { unknown: 1 } }],
        },
        new Date(t0 + 5000),
        () => acked.push(4),
      );
      await ms.close();
      assert.deepEqual(acked, [1, 2, 3, 4]);
    });

    test('a clock offset far from the server’s own estimate (the host’s clock stepped) is not taken', async () => {
      const ms = new MetricStore(new Store(db), silent);
      const received = Date.parse('2026-03-08T00:00:30.000Z');
      ms.recordBatch(
        'steppedvm',
        {
          sentAt: new Date(received).toISOString(),
          id: 1,
          clockOffsetInMs: 3_600_000,
          samples: [{ at: new Date(received).toISOString(), values: { 'TCP Segments Sent': 1 } }],
        },
        new Date(received),
      );
      await ms.close();
      const [row] = await db.query(
        `SELECT (extract(epoch FROM r.at) * 1000)::float8 AS at FROM metric_raw r JOIN metric_hosts k ON k.id = r.host_id WHERE k.vm_key = 'steppedvm'`,
      );
      assert.equal(Number(row!.at), received, 'placed at its arrival, not an hour later');
    });

    test('pruned per-report rows are answered by minute with the same totals; pruning goes in bounded batches', async () => {
      const { spy, seen } = spied(db);
      const store = new Store(spy);
      const now = new Date();
      const start = Math.floor((now.getTime() - 3 * 3600_000) / 60_000) * 60_000;
      const ms = new MetricStore(store, silent, { rawRetentionInSeconds: 3600, prunePauseInMs: 0 });
      // Two hours of one report a second, three hours ago, from one host: 7,200 rows.
      for (let i = 0; i < 7_200; i++)
        ms.record('old-host', { 'TCP Segments Sent': i % 7, 'Packets In Total': 1 }, new Date(start + i * 1000));
      await ms.close();
      const before = await store.aggregateMetricSamples(
        'old-host',
        'TCP Segments Sent',
        new Date(start),
        new Date(start + 7_200_000),
        600_000,
      );
      const windowBefore = await store.aggregateMetricWindow(
        ['old-host'],
        'TCP Segments Sent',
        new Date(start - 1),
        new Date(start + 7_200_000),
      );
      seen.length = 0;
      const deleted = await new MetricStore(store, silent, { rawRetentionInSeconds: 3600, prunePauseInMs: 0 }).prune(
        now,
      );
      assert.ok(deleted >= 7_200, `the old per-report rows are gone (${deleted})`);
      const deletes = seen.filter((q) => q.sql.startsWith('DELETE FROM metric_raw'));
      assert.ok(deletes.length >= 2, 'in several statements');
      for (const d of deletes) assert.equal(d.params[1], METRIC_PRUNE_BATCH);
      assert.equal(
        Number(
          (
            await db.query(`SELECT count(*)::int AS n FROM metric_raw WHERE at < $1`, [
              new Date(now.getTime() - 3600_000 - 60_000),
            ])
          )[0]!.n,
        ),
        0,
      );
      const after = await store.aggregateMetricSamples(
        'old-host',
        'TCP Segments Sent',
        new Date(start),
        new Date(start + 7_200_000),
        600_000,
      );
      assert.deepEqual(after, before, 'ten-minute grains: the same from minutes as from reports');
      assert.deepEqual(
        await store.aggregateMetricWindow(
          ['old-host'],
          'TCP Segments Sent',
          new Date(start - 1),
          new Date(start + 7_200_000),
        ),
        windowBefore,
      );
    });

    test('per-host state follows the hosts reporting: a deleted host and a host idle past the retention are forgotten, their samples written, the fleet sums kept', async () => {
      const store = new Store(db);
      // This process's clock, moved by the test: idleness is measured on it, not by the reports' own times.
      let heardInMs = Date.now();
      const ms = new MetricStore(store, silent, { idleHostRetentionInSeconds: 600, clock: () => heardInMs });
      const now = Date.now();
      const tcp = 'TCP Segments Sent';
      // 50 hosts heard 20 minutes ago that went silent, 50 that report now, one deleted.
      for (let h = 0; h < 50; h++) ms.record(`memgone-${h}`, { [tcp]: 2 }, new Date(now - 1_200_000));
      heardInMs += 1_200_000;
      for (let h = 0; h < 50; h++) ms.record(`memlive-${h}`, { [tcp]: 3 }, new Date(now));
      // Reports dated in the past but heard now (a replay, a test's history) keep their host.
      ms.record('memreplayed', { [tcp]: 7 }, new Date(now - 86_400_000));
      ms.record('memdeleted', { [tcp]: 5 }, new Date(now));
      ms.forgetHost('MEMDELETED');
      assert.equal(ms.totalsSinceStart().has('memdeleted'), false, 'a deleted host leaves the per-host totals at once');
      await ms.flush();
      const entries = ms.perHostEntries();
      assert.equal(entries.allowances, 51, 'only the hosts heard within the retention keep an allowance');
      assert.equal(entries.totals, 51);
      assert.ok([...ms.totalsSinceStart().keys()].every((k) => k.startsWith('memlive-') || k === 'memreplayed'));
      assert.equal(entries.storeHostIds, 51, 'the store keeps ids of the hosts with state here (an allowance)');
      assert.equal(ms.retiredTotalsSinceStart()[tcp], 50 * 2 + 5, "the forgotten hosts' sums stay in the fleet's");
      // Nothing they sent is lost: every report is in the database.
      await ms.close();
      const [stored] = await db.query(
        `SELECT count(*)::int AS n FROM metric_raw r JOIN metric_hosts k ON k.id = r.host_id WHERE k.vm_key LIKE 'mem%'`,
      );
      assert.equal(Number(stored!.n), 102);
      const deletedMinute = await store.aggregateMetricWindow(
        ['memdeleted'],
        tcp,
        new Date(now - 3_600_000),
        new Date(now + 1),
      );
      assert.equal(deletedMinute.get('memdeleted')?.total, 5);
    });
  });
}

test('past its bound the backlog sheds the oldest reports in bulk, not one splice of the whole queue per report', () => {
  // No database is reached: record() only queues (the flush timer is not started).
  const ms = new MetricStore(new Store({} as Db), silent, { maxPendingSamples: 1_000 });
  const at = Date.parse('2026-03-01T00:00:00Z');
  let sheds = 0;
  let shedBefore = 0;
  for (let h = 0; h < 5_000; h++) {
    ms.record(`vm${h}`, { 'TCP Segments Sent': 1 }, new Date(at));
    if (ms.shedSamples !== shedBefore) sheds++;
    shedBefore = ms.shedSamples;
    assert.ok(ms.backlog.samples <= 1_000);
  }
  assert.equal(ms.shedSamples + ms.backlog.samples, 5_000, 'every report is either queued or counted as shed');
  // 4,000 reports over the bound, shed 100 at a time: 40 sheds (one per report before).
  assert.ok(sheds <= 45, `${sheds} sheds`);
});

test('a batch re-sent to the same process after a reconnect is counted once in the host’s totals; batches without an id are counted as they come', () => {
  // No database is reached: recordBatch() only queues (the flush timer is not started).
  const ms = new MetricStore(new Store({} as Db), silent);
  const t0 = Date.parse('2026-03-05T01:00:00Z');
  // A re-send leaves with a new sentAt (the agent's clock then), its samples at their own times.
  const batch = (id: number | undefined, firstSecond: number, sentAtSecond = firstSecond + 2) => ({
    sentAt: new Date(t0 + sentAtSecond * 1000).toISOString(),
    ...(id !== undefined ? { id, clockOffsetInMs: 0 } : {}),
    samples: [0, 1, 2].map((i) => ({
      at: new Date(t0 + (firstSecond + i) * 1000).toISOString(),
      values: { 'TCP Segments Sent': 1 },
    })),
  });
  const sent = (vm: string) => ms.totalsSinceStart().get(vm)?.['TCP Segments Sent'];
  ms.recordBatch('resentvm', batch(1, 0), new Date(t0 + 2_000));
  ms.recordBatch('resentvm', batch(2, 3), new Date(t0 + 5_000));
  // The ack was lost with the connection: the agent sends both again, then a new one.
  ms.recordBatch('resentvm', batch(1, 0, 9), new Date(t0 + 9_000));
  ms.recordBatch('resentvm', batch(2, 3, 9), new Date(t0 + 9_000));
  ms.recordBatch('resentvm', batch(3, 6, 9), new Date(t0 + 9_000));
  assert.equal(sent('resentvm'), 9, 'three batches of three samples, each counted once');
  // An older agent's batches carry no id and are never re-sent: each is counted.
  ms.recordBatch('oldvm', batch(undefined, 0), new Date(t0 + 2_000));
  ms.recordBatch('oldvm', batch(undefined, 0), new Date(t0 + 2_000));
  assert.equal(sent('oldvm'), 6);
});

test('a host flooding batches is held to its allowance: a disconnect backlog passes, a flood does not', () => {
  // No database is reached: recordBatch() only queues (the flush timer is not started).
  const ms = new MetricStore(new Store({} as Db), silent);
  const received = Date.parse('2026-03-05T00:00:00Z');
  const batchOf = (count: number, newestInMs: number) => ({
    sentAt: new Date(newestInMs).toISOString(),
    samples: Array.from({ length: count }, (_, i) => ({
      at: new Date(newestInMs - (count - 1 - i) * 1000).toISOString(),
      values: { 'TCP Segments Sent': 1 },
    })),
  });
  // 15 minutes of samples an agent kept while disconnected, in three batches at once: all kept.
  for (let k = 0; k < 3; k++)
    assert.equal(ms.recordBatch('flood', batchOf(300, received - (2 - k) * 300_000), new Date(received)), 300);
  // Then the same host sends batch after batch in the same moment: past the allowance, refused.
  let kept = 0;
  for (let k = 0; k < 10; k++) kept += ms.recordBatch('flood', batchOf(300, received), new Date(received));
  assert.equal(900 + kept, SAMPLE_ALLOWANCE_MAX_SAMPLES);
  assert.equal(ms.refusedSamples, 3000 - kept);
  // Another host is not held by it; and the allowance comes back with time (one sample per 50 ms).
  assert.equal(ms.recordBatch('quiet', batchOf(5, received), new Date(received)), 5);
  assert.equal(ms.recordBatch('flood', batchOf(5, received + 5000), new Date(received + 5000)), 5);
});

test('single reports and batches share one allowance: a host mixing them is held to one sample per 50 ms in all', () => {
  const ms = new MetricStore(new Store({} as Db), silent);
  const t0 = Date.parse('2026-03-06T00:00:00Z');
  const batchOf = (count: number, newestInMs: number) => ({
    sentAt: new Date(newestInMs).toISOString(),
    samples: Array.from({ length: count }, (_, i) => ({
      at: new Date(newestInMs - (count - 1 - i) * 1000).toISOString(),
      values: { 'TCP Segments Sent': 1 },
    })),
  });
  // The saved allowance spent at once (a reconnect's backlog of 1,200 samples).
  for (let k = 0; k < 4; k++)
    assert.equal(ms.recordBatch('mixed', batchOf(300, t0 - (3 - k) * 300_000), new Date(t0)), 300);
  assert.equal(SAMPLE_ALLOWANCE_MAX_SAMPLES, 1_200);
  // Then for 10 s a single report every 50 ms and a batch of 5 samples every 250 ms: each kind alone
  // at the allowed rate, together twice it.
  for (let t = 50; t <= 10_000; t += 50) {
    ms.record('mixed', { 'TCP Segments Sent': 1 }, new Date(t0 + t));
    if (t % 250 === 0) ms.recordBatch('mixed', batchOf(5, t0 + t), new Date(t0 + t));
  }
  const kept = ms.totalsSinceStart().get('mixed')!['TCP Segments Sent']! - 1_200;
  assert.equal(kept, 200, 'one sample per 50 ms over the 10 s, whichever way they came');
  assert.equal(ms.refusedSamples, 200, 'the rest refused and counted');
  // Another host is not held by it.
  ms.record('quiet', { 'TCP Segments Sent': 1 }, new Date(t0 + 10_000));
  assert.equal(ms.totalsSinceStart().get('quiet')?.['TCP Segments Sent'], 1);
});

test('a report keeps only its own host-metric values that are finite and not negative', () => {
  const [a, b, c, d] = HOST_METRICS.map((m) => m.name);
  const inherited = Object.create({ [d!]: 5 }) as Record<string, unknown>;
  inherited[a!] = 1;
  assert.deepEqual(sanitizeMetricValues(inherited), { [a!]: 1 });
  assert.deepEqual(
    sanitizeMetricValues({ [a!]: 0, [b!]: -1, [c!]: Number.POSITIVE_INFINITY, [d!]: '7', unknownMetric: 3 }),
    { [a!]: 0 },
  );
  assert.deepEqual(sanitizeMetricValues(JSON.parse(`{"__proto__":{"${a!}":1},"${b!}":2.5}`)), { [b!]: 2.5 });
  assert.deepEqual(sanitizeMetricValues(null), {});
  assert.deepEqual(sanitizeMetricValues([1, 2]), {});
});
