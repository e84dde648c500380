/**
 * Host metric writes from several server replicas on one PostgreSQL (issue 17). Each replica's
 * store makes the small host numbers (metric_hosts) on first use: two replicas, or two statements
 * in flight from one, may make the same new hosts at once.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Store } from './store.js';
import { openTestDatabase, postgresAvailable } from './testing/engines.js';

const havePostgres = await postgresAvailable();

describe('host metric writes of two replicas on postgres', { skip: !havePostgres }, async () => {
  const { db, drop } = await openTestDatabase('postgres');
  after(() => drop());

  test('two replicas writing the same new hosts at once, in opposite orders, never deadlock', async () => {
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
      assert.deepEqual({ hosts: Number(stored!.hosts), n: Number(stored!.n) }, { hosts, n: 2 * hosts });
    }
  });
});
