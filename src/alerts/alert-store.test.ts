import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Store } from '../store/index.js';
import { openTestDatabase, postgresAvailable, TEST_ENGINES } from '../store/testing/engines.js';

/** The store's metric and alert statements on both engines (see src/store/testing/engines.ts). */
const havePostgres = await postgresAvailable();

for (const engine of TEST_ENGINES) {
  describe(`alert statements on ${engine}`, { skip: engine === 'postgres' && !havePostgres }, async () => {
    const { db, drop } = await openTestDatabase(engine);
    after(() => drop());
    const store = new Store(db);
    const t = new Date('2026-01-01T00:00:10Z');

    test('metric samples: grains, windows (start excluded, end included), pruning; keys case-insensitive', async () => {
      await store.insertMetricSamples([
        { vmKey: 'VM1', at: t, metrics: { 'TCP Segments Sent': 5 } },
        {
          vmKey: 'vm1',
          at: new Date(t.getTime() - 1000),
          metrics: { 'TCP Segments Sent': 7, 'Network Out Total': 100 },
        },
        { vmKey: 'vm1', at: new Date(t.getTime() - 5000), metrics: { 'TCP Segments Sent': 1000 } },
        { vmKey: 'vm2', at: t, metrics: { 'Network Out Total': 1 } },
      ]);
      assert.deepEqual(
        await store.aggregateMetricSamples(
          'vm1',
          'TCP Segments Sent',
          new Date('2026-01-01T00:00:00Z'),
          new Date('2026-01-01T00:01:00Z'),
          60_000,
        ),
        [{ bucketStartInMs: Date.parse('2026-01-01T00:00:00Z'), total: 1012, count: 3, minimum: 5, maximum: 1000 }],
      );
      const w = await store.aggregateMetricWindow(['VM1', 'vm2'], 'TCP Segments Sent', new Date(t.getTime() - 5000), t);
      assert.deepEqual(w.get('vm1'), { total: 12, count: 2, minimum: 5, maximum: 7 });
      assert.equal(w.has('vm2'), false, 'a host without the metric in the window has no entry');
      assert.equal(await store.pruneMetricSamples(new Date(t.getTime() - 2000)), 1);
    });

    test('rule schedule: one claim per period, phase kept, restart from now after a pause', async () => {
      await store.scheduleAlertRule('R1', 1000, t);
      assert.deepEqual(await store.claimDueAlertRules(t), ['r1']);
      assert.deepEqual(await store.claimDueAlertRules(new Date(t.getTime() + 999)), []);
      assert.deepEqual(await store.claimDueAlertRules(new Date(t.getTime() + 1050)), ['r1']);
      assert.deepEqual(
        await store.claimDueAlertRules(new Date(t.getTime() + 1999)),
        [],
        'the phase is kept (next at +2000)',
      );
      assert.deepEqual(await store.claimDueAlertRules(new Date(t.getTime() + 60_000)), ['r1']);
      assert.deepEqual(await store.claimDueAlertRules(new Date(t.getTime() + 60_500)), [], 'no catch-up storm');
      await store.putAlertTargetState('R1', 'VM1', { alertId: null });
      assert.deepEqual([...(await store.getAlertTargetStates('r1')).entries()], [['vm1', { alertId: null }]]);
      await store.unscheduleAlertRule('r1');
      assert.deepEqual(await store.claimDueAlertRules(new Date(t.getTime() + 120_000)), []);
      assert.equal((await store.getAlertTargetStates('r1')).size, 0);
    });

    test('alerts: notifications appended, filters, resolution keeps deliveries', async () => {
      await store.insertAlert({
        id: 'A1',
        subscriptionId: 'Sub',
        ruleKey: 'R1',
        targetKey: 'VM1',
        monitorCondition: 'Fired',
        firedAt: t,
        resolvedAt: null,
        body: { x: 1 },
      });
      // One statement each (no read-modify-write), so deliveries finishing together cannot lose one another.
      await store.appendAlertNotifications('A1', [{ n: 1 }]);
      await store.appendAlertNotifications('A1', [{ n: 2 }, { n: 3 }]);
      const [fired] = await store.listAlerts({ subscriptionId: 'sub', monitorCondition: 'fired', ruleKey: 'r1' });
      assert.equal(fired?.notifications.length, 3);
      await store.updateAlert('a1'.toUpperCase(), { monitorCondition: 'Resolved', resolvedAt: t, body: { x: 2 } });
      const got = await store.getAlert<{ x: number }>('a1');
      assert.equal(got?.monitorCondition, 'Resolved');
      assert.equal(got?.notifications.length, 3, 'updating the alert keeps its deliveries');
      assert.equal((await store.listAlerts({ subscriptionId: 'sub', monitorCondition: 'Fired' })).length, 0);
    });

    test('alert-capture runs: the de-duplication key holds once; claims by state', async () => {
      assert.equal(
        await store.insertAlertCaptureRun({
          id: 'r1',
          configKey: 'C',
          dedupeKey: 'k',
          state: 'starting',
          captureKey: null,
          detail: {},
        }),
        true,
      );
      assert.equal(
        await store.insertAlertCaptureRun({
          id: 'r2',
          configKey: 'c',
          dedupeKey: 'k',
          state: 'starting',
          captureKey: null,
          detail: {},
        }),
        false,
      );
      assert.equal(
        await store.updateAlertCaptureRun('r1', { state: 'running', captureKey: 'K', detail: { a: 1 } }, 'starting'),
        true,
      );
      assert.equal(
        await store.updateAlertCaptureRun('r1', { state: 'failed', detail: {} }, 'starting'),
        false,
        'a claim on the wrong state changes nothing',
      );
      const [run] = await store.listAlertCaptureRuns<{ a: number }>({ configKey: 'C', state: 'running' });
      assert.equal(run?.captureKey, 'k');
      assert.equal(run?.detail.a, 1);
      // Several states in one read (the run watcher's), none of the others.
      assert.deepEqual(
        (await store.listAlertCaptureRuns({ state: ['starting', 'running', 'notifying'] })).map((r) => r.id),
        ['r1'],
      );
      assert.deepEqual(await store.listAlertCaptureRuns({ state: ['starting', 'notifying'] }), []);
      assert.equal(
        await store.pruneAlertCaptureRuns(new Date(Date.now() + 60_000), ['completed']),
        0,
        'unfinished runs are never pruned',
      );
    });
  });
}
