/**
 * Issue 17: every lookup by resource, host or capture uses an index. On PostgreSQL (the engine of
 * a replica set), the planner is asked (EXPLAIN, sequential scans discouraged so tiny test tables
 * do not hide a missing index) how it runs the store's own statements.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Store, type Db } from './index.js';
import { openPglite } from './db.js';
import { migrate } from './migrations.js';
import { openTestDatabase, postgresAvailable } from './testing/engines.js';

const havePostgres = await postgresAvailable();

describe('indexed lookups on postgres', { skip: !havePostgres }, async () => {
  const { db, drop } = await openTestDatabase('postgres');
  after(() => drop());
  const seen: Array<{ sql: string; params: unknown[] }> = [];
  const spy: Db = {
    engine: db.engine,
    query: async (sql, params = []) => {
      seen.push({ sql, params });
      return db.query(sql, params);
    },
    transaction: (fn) => db.transaction(fn),
    close: () => db.close(),
  };
  const store = new Store(spy);
  // Enough captures that an index is worth it: 5,000 on 5,000 hosts.
  await db.query(`INSERT INTO resources (key, type, parent_key, id, name, subscription_id, resource_group, location, body, etag)
    SELECT 'pc' || i, 'packetCapture', 'w', 'pc' || i, 'pc' || i, 's', 'rg', 'l',
      jsonb_build_object('_internal', jsonb_build_object('uid', 'uid-' || i, 'active', i % 2 = 0, 'targets', jsonb_build_array(jsonb_build_object('vmKey', 'vm-' || i)))), 'e'
    FROM generate_series(1, 5000) AS i`);
  await db.query('ANALYZE resources');

  const plan = async (run: () => Promise<unknown>): Promise<string> => {
    seen.length = 0;
    await run();
    const { sql, params } = seen.find(
      (q) => !/^(INSERT INTO metric_hosts|SELECT id, vm_key FROM metric_hosts)/.test(q.sql),
    )!;
    return db.transaction(async (tx) => {
      await tx.query('SET LOCAL enable_seqscan = off');
      return (await tx.query(`EXPLAIN ${sql}`, params)).map((r) => String(r['QUERY PLAN'])).join('\n');
    });
  };

  const cases: Array<[string, () => Promise<unknown>, RegExp]> = [
    ['a capture by its uid', () => store.findCaptureByUid('uid-1'), /resources_capture_by_uid/],
    [
      'the active captures of a location (the session limit)',
      () => store.countActiveCaptures('s', 'l'),
      /resources_active_captures/,
    ],
    ['the active captures of a host', () => store.listActiveCapturesForVm('vm-1'), /resources_capture_targets/],
    ['the latest operation of a resource', () => store.latestOperation('res-1', 'create'), /operations_by_resource/],
    [
      'the pending operations of a resource',
      () => store.pendingOperations('res-1', 'create'),
      /operations_by_resource/,
    ],
    ['the tokens of a host', () => store.revokeTokens('agent', 'vm-1'), /api_tokens_by_vm/],
    [
      "a VM's agent extension (every hello)",
      () => store.listResources('extension', { parentKey: 'vm-1' }),
      /resources_by_parent_type/,
    ],
    ['the instances of a capture', () => store.listCaptureInstances('uid-1'), /capture_instances_pkey/],
    [
      'a host metric window',
      () => store.aggregateMetricWindow(['vm-1'], 'TCP Segments Sent', new Date(0), new Date()),
      /metric_raw_by_host_time/,
    ],
  ];
  for (const [name, run, index] of cases) {
    test(name, async () => {
      const text = await plan(run);
      assert.match(text, index, text);
      assert.doesNotMatch(text, /Seq Scan on (resources|operations|api_tokens|capture_instances|metric_raw)\b/, text);
    });
  }
});

// The embedded database never gathers statistics (PGlite has no autovacuum; nothing runs ANALYZE),
// so its planner guesses: with resources_by_parent alone it ANDed that index with
// resources_by_type's bitmap of every extension, ~20 ms a batched look-up at 10,000 hosts.
test("PGlite without statistics finds a VM's agent extension through one index on parent and type", async () => {
  const db = await openPglite(null);
  try {
    await migrate(db);
    await db.query(`INSERT INTO resources (key, type, parent_key, id, name, subscription_id, resource_group, location, body, etag)
      SELECT k, t, CASE WHEN t = 'vm' THEN NULL ELSE 'vm-' || i END, k, k, 's', 'rg', 'l', '{"properties": {}}', 'e'
      FROM generate_series(1, 3000) AS i, LATERAL (VALUES ('vm', 'vm-' || i), ('extension', 'vm-' || i || '/extensions/x')) AS v(t, k)`);
    const seen: Array<{ sql: string; params: unknown[] }> = [];
    const spy: Db = {
      engine: db.engine,
      query: async (sql, params = []) => {
        seen.push({ sql, params });
        return db.query(sql, params);
      },
      transaction: (fn) => db.transaction(fn),
      close: () => db.close(),
    };
    const store = new Store(spy);
    const found = await Promise.all(
      ['vm-1', 'vm-2', 'vm-3'].map((parentKey) => store.listResources('extension', { parentKey })),
    );
    assert.deepEqual(
      found.map((list) => list.map((r) => r.key)),
      [['vm-1/extensions/x'], ['vm-2/extensions/x'], ['vm-3/extensions/x']],
    );
    assert.equal(seen.length, 1, 'one statement for the three look-ups');
    const text = (await db.query(`EXPLAIN ${seen[0]!.sql}`, seen[0]!.params))
      .map((r) => String(r['QUERY PLAN']))
      .join('\n');
    assert.match(text, /resources_by_parent_type/, text);
    assert.doesNotMatch(text, /resources_by_type|BitmapAnd|Seq Scan on resources/, text);
  } finally {
    await db.close();
  }
});
