/**
 * The per-minute roll-up in pieces (src/store/metrics.ts, advanceMetricRawSince): on both
 * engines, the minutes made piece by piece are those made in one statement, a roll-up stopped
 * after some pieces (a replica that died) and finished by another store counts each sample once,
 * two replicas rolling up at once make each minute once, and empty minutes are skipped.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { HOST_METRICS } from '../alerts/host-metrics.js';
import { openTestDatabase, postgresAvailable, TEST_ENGINES } from './testing/engines.js';
import { Store, type Db, type MetricSampleRow } from './index.js';

const havePostgres = await postgresAvailable();
const T0 = Date.parse('2026-03-01T00:00:00Z');
const HOSTS = 53;

/** 53 hosts, a report every 7 s for three minutes (every other metric missing in some reports). */
function samples(): MetricSampleRow[] {
  const out: MetricSampleRow[] = [];
  for (let h = 0; h < HOSTS; h++)
    for (let s = 0; s < 180; s += 7) {
      const metrics: Record<string, number> = {};
      HOST_METRICS.forEach((m, k) => {
        if ((s + k) % 3 !== 0) metrics[m.name] = (h * 31 + s * 7 + k) / 3;
      });
      out.push({ vmKey: `vm${h}`, at: new Date(T0 + s * 1000 + h), metrics });
    }
  return out;
}

/** Every per-minute row, as text (every digit compared), in one order. */
async function minutes(db: Db): Promise<string[]> {
  const rows = await db.query(
    `SELECT k.vm_key || ' ' || m.minute::text || ' ' || m.n::text || ' ' || m.total::text || ' ' || m.lo::text || ' ' || m.hi::text AS row
     FROM metric_minutes m JOIN metric_hosts k ON k.id = m.host_id ORDER BY 1`,
  );
  return rows.map((r) => String(r.row));
}

async function counted(db: Db): Promise<number> {
  return Number((await db.query(`SELECT coalesce(sum(n[1]), 0)::int AS n FROM metric_minutes`))[0]!.n);
}

async function withFilled(engine: (typeof TEST_ENGINES)[number], fn: (db: Db) => Promise<void>): Promise<void> {
  const { db, drop } = await openTestDatabase(engine);
  try {
    await new Store(db).insertMetricSamples(samples());
    await fn(db);
  } finally {
    await drop();
  }
}

const samplesWithFirstMetric = samples().filter((s) => HOST_METRICS[0]!.name in s.metrics).length;

for (const engine of TEST_ENGINES) {
  describe(`metric roll-up in pieces on ${engine}`, { skip: engine === 'postgres' && !havePostgres }, () => {
    let oneStatement: string[] = [];

    test('in one statement per minute (the baseline)', async () => {
      await withFilled(engine, async (db) => {
        const made = await new Store(db).advanceMetricRawSince(new Date(T0 + 180_000), {
          hostsPerPiece: Number.MAX_SAFE_INTEGER,
        });
        assert.equal(made, HOSTS * 3);
        oneStatement = await minutes(db);
        assert.equal(await counted(db), samplesWithFirstMetric);
      });
    });

    test('in pieces of 7 hosts: the same minute rows, every digit', async () => {
      await withFilled(engine, async (db) => {
        const made = await new Store(db).advanceMetricRawSince(new Date(T0 + 180_000), { hostsPerPiece: 7 });
        assert.equal(made, HOSTS * 3);
        assert.deepEqual(await minutes(db), oneStatement);
      });
    });

    test('stopped after some pieces (a replica died) and finished by another store: each sample counted once', async () => {
      await withFilled(engine, async (db) => {
        const target = new Date(T0 + 180_000);
        const first = await new Store(db).advanceMetricRawSince(target, { hostsPerPiece: 7, stopAfterPieces: 12 });
        assert.ok(first > 0 && first < HOSTS * 3, `a part rolled up (${first})`);
        // Queries still read the unfinished minute's per-report rows: not yet moved past it.
        const [since] = await db.query(`SELECT value FROM server_settings WHERE name = 'metric-raw-since'`);
        assert.ok(Date.parse(String(since!.value)) < target.getTime());
        const rest = await new Store(db).advanceMetricRawSince(target, { hostsPerPiece: 11 });
        assert.equal(first + rest, HOSTS * 3);
        assert.deepEqual(await minutes(db), oneStatement);
        assert.equal(await new Store(db).advanceMetricRawSince(target), 0, 'a span is rolled up once');
      });
    });

    test('two replicas rolling up at once make each minute once', async () => {
      await withFilled(engine, async (db) => {
        const target = new Date(T0 + 180_000);
        const [a, b] = await Promise.all([
          new Store(db).advanceMetricRawSince(target, { hostsPerPiece: 5 }),
          new Store(db).advanceMetricRawSince(target, { hostsPerPiece: 3 }),
        ]);
        assert.equal(a + b, HOSTS * 3);
        assert.deepEqual(await minutes(db), oneStatement);
      });
    });

    test('a day of empty minutes after the last rows is skipped, not walked', async () => {
      await withFilled(engine, async (db) => {
        const seen: string[] = [];
        const spy: Db = {
          ...db,
          query: (sql, params) => (seen.push(sql), db.query(sql, params)),
          transaction: (fn) =>
            db.transaction((tx) => fn({ ...tx, query: (sql, params) => (seen.push(sql), tx.query(sql, params)) })),
        };
        const made = await new Store(spy).advanceMetricRawSince(new Date(T0 + 86_400_000));
        assert.equal(made, HOSTS * 3);
        assert.deepEqual(await minutes(db), oneStatement);
        assert.ok(seen.length < 100, `${seen.length} statements for a day (1,440 minutes)`);
      });
    });
  });
}
