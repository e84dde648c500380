/**
 * Issue 17: the metric inserts bind typed column arrays (unnest) instead of one JSON recordset.
 * On both engines, the rows they write are exactly those the JSON statement wrote (the old
 * statement is run here beside them, into a copy of each table, and the tables compared as text
 * — microseconds and every float8 digit included), and each statement stays bounded.
 *
 * Also: host metric writes from several server replicas on one PostgreSQL (issue 17). Each replica's
 * store makes the small host numbers (metric_hosts) on first use: two replicas, or two statements
 * in flight from one, may make the same new hosts at once.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { HOST_METRICS } from '../alerts/host-metrics.js';
import { openTestDatabase, postgresAvailable, TEST_ENGINES } from './testing/engines.js';
import { METRIC_ROWS_PER_STATEMENT, Store, type Db, type MetricMinuteRow, type MetricSampleRow } from './index.js';

const havePostgres = await postgresAvailable();

/** The statements of the JSON form (before issue 17's steady-CPU work), for comparison. */
const OLD_RAW =
  'INSERT INTO metric_raw_old (host_id, at, v) SELECT h, to_timestamp(a / 1000.0), v FROM jsonb_to_recordset($1::jsonb) AS x(h integer, a float8, v float8[])';
const OLD_MINUTES = `INSERT INTO metric_minutes_old (host_id, minute, n, total, lo, hi)
  SELECT h, to_timestamp(a / 1000.0), n, t, lo, hi FROM jsonb_to_recordset($1::jsonb) AS x(h integer, a float8, n integer[], t float8[], lo float8[], hi float8[])`;

/** Awkward values: fractions without a short binary form, extremes, integers past 2^53, zero. */
const AWKWARD = [0, 0.1, 1 / 3, 2 / 3, 1e-7, 123456.789, 2 ** 53 + 2, 1.7976931348623157e308, 5e-324, 42, 1e21, 0.5];

function samples(hosts: number, perHost: number): MetricSampleRow[] {
  const out: MetricSampleRow[] = [];
  const t0 = Date.parse('2026-03-01T00:00:00.123Z');
  let k = 0;
  for (let s = 0; s < perHost; s++)
    for (let h = 0; h < hosts; h++) {
      const metrics: Record<string, number> = {};
      // Some metrics missing (NULL in the row), the rest awkward values.
      HOST_METRICS.forEach((m, i) => {
        if ((k + i) % 4 !== 0) metrics[m.name] = AWKWARD[(k * 7 + i) % AWKWARD.length]!;
      });
      out.push({ vmKey: `HOST-${h}`, at: new Date(t0 + s * 997 + h), metrics });
      k++;
    }
  return out;
}

function minutes(hosts: number): MetricMinuteRow[] {
  const n = HOST_METRICS.length;
  return Array.from({ length: hosts }, (_, h) => ({
    vmKey: `host-${h}`,
    minute: new Date(Date.parse('2026-03-01T00:00:00Z') + (h % 3) * 60_000),
    count: Array.from({ length: n }, (_, i) => (h + i) % 61),
    total: Array.from({ length: n }, (_, i) => AWKWARD[(h + i) % AWKWARD.length]! * 3),
    minimum: Array.from({ length: n }, (_, i) => AWKWARD[(h * 3 + i) % AWKWARD.length]!),
    maximum: Array.from({ length: n }, (_, i) => AWKWARD[(h * 5 + i) % AWKWARD.length]!),
  }));
}

async function asText(db: Db, sql: string): Promise<string[]> {
  return (await db.query(sql)).map((r) => String(r.row)).sort();
}

for (const engine of TEST_ENGINES) {
  describe(`metric inserts on ${engine}`, { skip: engine === 'postgres' && !havePostgres }, async () => {
    const { db, drop } = await openTestDatabase(engine);
    after(() => drop());
    const seen: Array<{ sql: string; params: unknown[] }> = [];
    const spy: Db = {
      engine: db.engine,
      query: (sql, params = []) => {
        seen.push({ sql, params });
        return db.query(sql, params);
      },
      transaction: (fn) => db.transaction(fn),
      close: () => db.close(),
    };
    const store = new Store(spy);

    test('per-report rows are exactly those of the JSON recordset statement, in statements of at most METRIC_ROWS_PER_STATEMENT rows', async () => {
      await db.query('CREATE TABLE metric_raw_old (LIKE metric_raw)');
      const rows = samples(700, 5); // 3,500 rows: two statements
      seen.length = 0;
      await store.insertMetricSamples(rows);
      const inserts = seen.filter((s) => s.sql.startsWith('INSERT INTO metric_raw '));
      assert.equal(inserts.length, Math.ceil(rows.length / METRIC_ROWS_PER_STATEMENT));
      for (const s of inserts)
        assert.ok(s.params.length <= 2 + HOST_METRICS.length, 'a fixed, small number of parameters');

      const ids = new Map(
        (await db.query('SELECT id, vm_key FROM metric_hosts')).map((r) => [String(r.vm_key), Number(r.id)]),
      );
      for (let i = 0; i < rows.length; i += METRIC_ROWS_PER_STATEMENT) {
        const json = rows.slice(i, i + METRIC_ROWS_PER_STATEMENT).map((s) => ({
          h: ids.get(s.vmKey.toLowerCase()),
          a: s.at.getTime(),
          v: HOST_METRICS.map((m) => s.metrics[m.name] ?? null),
        }));
        await db.query(OLD_RAW, [JSON.stringify(json)]);
      }
      const select = (table: string) =>
        `SELECT host_id || ' ' || (extract(epoch FROM at) * 1000000)::bigint || ' ' || v::text AS row FROM ${table}`;
      const now = await asText(db, select('metric_raw'));
      assert.equal(now.length, rows.length);
      assert.deepEqual(now, await asText(db, select('metric_raw_old')));
      // And against the values themselves: a NULL for a missing metric, every double as sent.
      const [first] = await db.query('SELECT v FROM metric_raw WHERE host_id = $1 ORDER BY at LIMIT 1', [
        ids.get('host-0'),
      ]);
      assert.deepEqual(
        (first!.v as Array<number | null>).map((x) => (x === null ? null : Number(x))),
        HOST_METRICS.map((m) => rows[0]!.metrics[m.name] ?? null),
      );
    });

    test('per-minute rows are exactly those of the JSON recordset statement', async () => {
      await db.query('CREATE TABLE metric_minutes_old (LIKE metric_minutes)');
      const rows = minutes(2_500);
      seen.length = 0;
      await store.insertMetricMinutes(rows);
      const inserts = seen.filter((s) => s.sql.startsWith('INSERT INTO metric_minutes '));
      assert.equal(inserts.length, Math.ceil(rows.length / METRIC_ROWS_PER_STATEMENT));
      for (const s of inserts) assert.ok(s.params.length <= 2 + 4 * HOST_METRICS.length);
      const ids = new Map(
        (await db.query('SELECT id, vm_key FROM metric_hosts')).map((r) => [String(r.vm_key), Number(r.id)]),
      );
      for (let i = 0; i < rows.length; i += METRIC_ROWS_PER_STATEMENT) {
        const json = rows.slice(i, i + METRIC_ROWS_PER_STATEMENT).map((m) => ({
          h: ids.get(m.vmKey.toLowerCase()),
          a: m.minute.getTime(),
          n: m.count,
          t: m.total,
          lo: m.minimum,
          hi: m.maximum,
        }));
        await db.query(OLD_MINUTES, [JSON.stringify(json)]);
      }
      const select = (table: string) =>
        `SELECT host_id || ' ' || (extract(epoch FROM minute) * 1000000)::bigint || ' ' || n::text || ' ' || total::text || ' ' || lo::text || ' ' || hi::text AS row FROM ${table}`;
      const now = await asText(db, select('metric_minutes'));
      assert.equal(now.length, rows.length);
      assert.deepEqual(now, await asText(db, select('metric_minutes_old')));
    });
  });
}

describe('host metric writes of two replicas on postgres', { skip: !havePostgres }, async () => {
  const { db, drop } = await openTestDatabase('postgres');
  after(() => drop());

  test('two replicas writing the same new hosts and samples at once, in opposite orders, never deadlock and keep each sample once', async () => {
    // Each round: 2,000 hosts new to both replicas (fresh stores, empty caches), reported to one
    // replica in one order and to the other in the reverse order (agents' reports arrive in any
    // order). Unsorted, each statement's unique-index insertions waited on the other's: PostgreSQL's
    // `deadlock detected` (40P01) in most rounds.
    const hosts = 2_000;
    const rounds = 5;
    const at = new Date('2026-03-05T00:00:00Z');
    // Two connections open first, so both statements really run at once (not the second behind a connect).
    await Promise.all([db.query('SELECT pg_sleep(0.05)'), db.query('SELECT pg_sleep(0.05)')]);
    for (let round = 0; round < rounds; round++) {
      const replicaA = new Store(db);
      const replicaB = new Store(db);
      const keys = Array.from({ length: hosts }, (_, h) => `/subscriptions/s/round${round}/vm${h}`);
      const rows = (order: string[]) => order.map((vmKey) => ({ vmKey, at, metrics: { 'TCP Segments Sent': 1 } }));
      const outcomes = await Promise.allSettled([
        replicaA.insertMetricSamples(rows(keys)),
        replicaB.insertMetricSamples(rows([...keys].reverse())),
      ]);
      const failures = outcomes.flatMap((o) =>
        o.status === 'rejected' ? [String((o.reason as { code?: unknown }).code ?? o.reason)] : [],
      );
      assert.deepEqual(failures, [], `round ${round}: both writes succeed`);
      const [stored] = await db.query(
        `SELECT count(DISTINCT k.id)::int AS hosts, count(*)::int AS n
         FROM metric_raw r JOIN metric_hosts k ON k.id = r.host_id WHERE k.vm_key LIKE $1`,
        [`/subscriptions/s/round${round}/%`],
      );
      // The same samples from both (a batch re-sent to another replica while the first still had it queued): each kept once.
      assert.deepEqual({ hosts: Number(stored!.hosts), n: Number(stored!.n) }, { hosts, n: hosts });
    }
  });
});
