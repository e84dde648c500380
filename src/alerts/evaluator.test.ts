import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLogger } from '../lib/index.js';
import { actionGroupPutSchema, metricAlertPutSchema } from '../model/index.js';
import { Store, migrate, openPglite, type Db } from '../store/index.js';
import { putActionGroup } from './action-groups.js';
import type { AlertsContext } from './context.js';
import { NotificationDispatcher } from './dispatcher.js';
import { MetricAlertEvaluator, type StoredAlertBody } from './evaluator.js';
import type { HostInfo } from './hosts.js';
import { putMetricAlert } from './metric-alerts.js';
import { createServerTelemetry } from './telemetry.js';

const SUB = '00000000-0000-0000-0000-000000000000';
const vm = (name: string): HostInfo => {
  const id = `/subscriptions/${SUB}/resourceGroups/rg1/providers/Microsoft.Compute/virtualMachines/${name}`;
  return {
    key: id.toLowerCase(),
    id,
    name,
    resourceGroup: 'rg1',
    subscriptionId: SUB,
    location: 'westcentralus',
    vmId: `guid-${name}`,
    hostname: name,
  };
};

describe('metric alert evaluation (PGlite store, real webhook receiver)', () => {
  let db: Db;
  let store: Store;
  let receiver: Server;
  let hookUrl = '';
  const received: Array<Record<string, any>> = [];
  const hosts = [vm('vma'), vm('vmb')];
  let actx: AlertsContext;

  before(async () => {
    db = await openPglite(null);
    await migrate(db);
    store = new Store(db);
    receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => {
        body += c.toString();
      });
      req.on('end', () => {
        received.push({ path: req.url, ...JSON.parse(body) });
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
    actx = {
      store,
      logger: createLogger({ name: 'test', level: 'silent' }),
      listHosts: async () => hosts,
      baseUrl: () => 'http://nw.test',
      telemetry: createServerTelemetry({
        agentsConnected: () => 0,
        captureTotals: async () => [],
        hostTotals: () => new Map(),
        retiredHostTotals: () => ({}),
      }),
      webhook: { retryDelaysInMs: [] },
    };
  });
  after(async () => {
    receiver.closeAllConnections();
    receiver.close();
    await db.close();
  });

  test("fires once over the threshold, resolves after three quiet evaluations, notifies in each receiver's schema", async () => {
    const ag = await putActionGroup(
      actx,
      SUB,
      'rg1',
      'ag',
      actionGroupPutSchema.parse({
        location: 'Global',
        properties: {
          groupShortName: 'ag',
          enabled: true,
          webhookReceivers: [
            { name: 'common', serviceUri: `${hookUrl}/common`, useCommonAlertSchema: true },
            { name: 'old', serviceUri: `${hookUrl}/old`, useCommonAlertSchema: false },
          ],
        },
      }),
    );
    const t0 = new Date('2026-01-01T00:00:10Z');
    const { record: rule } = await putMetricAlert(
      actx,
      SUB,
      'rg1',
      'TCP_Segments_Sent_Exceeded',
      metricAlertPutSchema.parse({
        location: 'global',
        properties: {
          severity: 3,
          enabled: true,
          scopes: [hosts[0]!.id],
          evaluationFrequency: 'PT1S',
          windowSize: 'PT5S',
          description: 'too many',
          criteria: {
            allOf: [
              {
                name: 'c0',
                metricName: 'TCP Segments Sent',
                operator: 'GreaterThan',
                threshold: 100,
                timeAggregation: 'Total',
              },
            ],
          },
          actions: [{ actionGroupId: ag.record.id, webHookProperties: { team: 'net' } }],
        },
      }),
      t0,
    );
    // vma sends 30 segments a second for 5 s (150 in the window); vmb, outside the scope, far more.
    const samples = [];
    for (let i = 0; i < 5; i++) {
      samples.push({
        vmKey: hosts[0]!.key,
        at: new Date(t0.getTime() - i * 1000),
        metrics: { 'TCP Segments Sent': 30 },
      });
      samples.push({
        vmKey: hosts[1]!.key,
        at: new Date(t0.getTime() - i * 1000),
        metrics: { 'TCP Segments Sent': 1000 },
      });
    }
    await store.insertMetricSamples(samples);
    const dispatcher = new NotificationDispatcher(actx);
    const evaluator = new MetricAlertEvaluator(actx, dispatcher);

    assert.deepEqual(await store.claimDueAlertRules(t0), [rule.key], 'scheduled from its creation');
    assert.deepEqual(await store.claimDueAlertRules(t0), [], 'claimed once per period');
    assert.deepEqual(await store.claimDueAlertRules(new Date(t0.getTime() + 1000)), [rule.key]);

    await evaluator.evaluateRule(rule.key, t0);
    await evaluator.evaluateRule(rule.key, new Date(t0.getTime() + 500));
    let alerts = await store.listAlerts<StoredAlertBody>({ subscriptionId: SUB });
    assert.equal(alerts.length, 1, 'fired once, for vma only');
    assert.equal(alerts[0]!.monitorCondition, 'Fired');
    assert.equal(alerts[0]!.targetKey, hosts[0]!.key);
    assert.equal(alerts[0]!.body.criteria[0]!.metricValue, 150);

    // The window empties at t0+5s; three evaluations without data resolve it.
    for (const s of [6, 7]) await evaluator.evaluateRule(rule.key, new Date(t0.getTime() + s * 1000));
    assert.equal(
      (await store.listAlerts({ subscriptionId: SUB }))[0]!.monitorCondition,
      'Fired',
      'two quiet evaluations are not enough',
    );
    await evaluator.evaluateRule(rule.key, new Date(t0.getTime() + 8000));
    await dispatcher.close();
    alerts = await store.listAlerts<StoredAlertBody>({ subscriptionId: SUB });
    assert.equal(alerts.length, 1);
    assert.equal(alerts[0]!.monitorCondition, 'Resolved');
    assert.equal(alerts[0]!.resolvedAt?.toISOString(), new Date(t0.getTime() + 8000).toISOString());

    const byPath = (p: string) => received.filter((r) => r.path === p);
    assert.equal(byPath('/common').length, 2);
    assert.equal(byPath('/old').length, 2);
    const [fired, resolved] = byPath('/common');
    assert.equal(fired!.schemaId, 'azureMonitorCommonAlertSchema');
    assert.equal(fired!.data.essentials.monitorCondition, 'Fired');
    assert.deepEqual(fired!.data.essentials.alertTargetIDs, [hosts[0]!.id.toLowerCase()]);
    assert.equal(fired!.data.alertContext.condition.allOf[0].metricValue, 150);
    assert.deepEqual(fired!.data.customProperties, { team: 'net' });
    assert.equal(resolved!.data.essentials.monitorCondition, 'Resolved');
    assert.equal(resolved!.data.essentials.alertId, fired!.data.essentials.alertId);
    const [activated, old] = byPath('/old');
    assert.equal(activated!.schemaId, 'AzureMonitorMetricAlert');
    assert.equal(activated!.data.status, 'Activated');
    assert.equal(activated!.data.context.resourceId, hosts[0]!.id);
    assert.equal(old!.data.status, 'Resolved');
    assert.equal(alerts[0]!.notifications.length, 4, 'every delivery is recorded with the alert');
    assert.ok((alerts[0]!.notifications as Array<{ outcome: string }>).every((n) => n.outcome === 'Succeeded'));
  });

  test('with agents sending in batches, each rule window ends its tolerated interval less 1 s before the evaluation: PT1M lags 4 s, PT1S none', async () => {
    const t0 = new Date('2026-01-02T00:00:10Z');
    const rule = async (name: string, evaluationFrequency: string, windowSize: string) =>
      (
        await putMetricAlert(
          actx,
          SUB,
          'rg1',
          name,
          metricAlertPutSchema.parse({
            location: 'global',
            properties: {
              severity: 3,
              enabled: true,
              scopes: [hosts[0]!.id],
              evaluationFrequency,
              windowSize,
              criteria: {
                allOf: [
                  {
                    name: 'c0',
                    metricName: 'Packets Out Total',
                    operator: 'GreaterThan',
                    threshold: 100,
                    timeAggregation: 'Total',
                  },
                ],
              },
            },
          }),
          t0,
        )
      ).record;
    const slow = await rule('lagged-pt1m', 'PT1M', 'PT1M');
    const fast = await rule('lagged-pt1s', 'PT1S', 'PT5S');
    // A burst sampled at t0 (one sample of 500 packets).
    await store.insertMetricSamples([{ vmKey: hosts[0]!.key, at: t0, metrics: { 'Packets Out Total': 500 } }]);
    // The server's configured interval is 5 s: the PT1M rule tolerates 5 s batches (lag 4 s), the PT1S rule 1 s (no lag).
    const evaluator = new MetricAlertEvaluator(actx, new NotificationDispatcher(actx), 100, 5);
    assert.equal(evaluator.windowLagInMs(slow.body), 4_000);
    assert.equal(evaluator.windowLagInMs(fast.body), 0);
    const fired = async (name: string) =>
      (await store.listAlerts<StoredAlertBody>({ subscriptionId: SUB })).filter((a) => a.body.rule.name === name);
    // Evaluated at t0: the PT1S rule's window (t0 − 5 s, t0] holds the burst and fires at once.
    await evaluator.evaluateRule(fast.key, t0);
    const quick = await fired('lagged-pt1s');
    assert.equal(quick.length, 1, 'a 1-second rule sees a sample at once (its hosts send every sample as taken)');
    assert.equal(quick[0]!.body.windowEnd, t0.toISOString(), 'no lag');
    // The PT1M rule's window at t0 is (t0 − 64 s, t0 − 4 s]: the burst not in it yet (with no lag it would be).
    await evaluator.evaluateRule(slow.key, t0);
    assert.equal((await fired('lagged-pt1m')).length, 0);
    // Four seconds later the burst is in its window.
    await evaluator.evaluateRule(slow.key, new Date(t0.getTime() + 4_000));
    const alerts = await fired('lagged-pt1m');
    assert.equal(alerts.length, 1, 'fired once the window reached the sample');
    assert.equal(alerts[0]!.body.windowEnd, t0.toISOString(), 'the window ends the lag before the evaluation');
    assert.equal(alerts[0]!.body.windowStart, new Date(t0.getTime() - 60_000).toISOString());
    // Configured 1 s (every sample as taken): no rule lags.
    assert.equal(new MetricAlertEvaluator(actx, new NotificationDispatcher(actx), 100, 1).windowLagInMs(slow.body), 0);
  });

  test('rules are checked like Azure checks them', async () => {
    const base = {
      severity: 2,
      enabled: true,
      scopes: [hosts[0]!.id],
      evaluationFrequency: 'PT1M',
      windowSize: 'PT5M',
      criteria: {
        allOf: [{ metricName: 'TCP Segments Sent', operator: 'GreaterThan', threshold: 1, timeAggregation: 'Total' }],
      },
    };
    const put = (p: Record<string, unknown>) =>
      putMetricAlert(actx, SUB, 'rg1', 'bad', metricAlertPutSchema.parse({ properties: { ...base, ...p } }));
    await assert.rejects(put({ windowSize: 'PT30S' }), /windowSize/);
    await assert.rejects(
      put({ scopes: [`/subscriptions/${SUB}/resourceGroups/rg1/providers/Microsoft.Compute/virtualMachines/ghost`] }),
      /not found/,
    );
    await assert.rejects(
      put({ scopes: ['/subscriptions/x/resourceGroups/rg1/providers/Microsoft.Network/networkWatchers/n'] }),
      /scopes\[0\]/,
    );
    await assert.rejects(
      put({
        criteria: {
          allOf: [{ metricName: 'Percentage CPU', operator: 'GreaterThan', threshold: 1, timeAggregation: 'Average' }],
        },
      }),
      /not a host metric/,
    );
    await assert.rejects(
      put({
        actions: [
          { actionGroupId: `/subscriptions/${SUB}/resourceGroups/rg1/providers/Microsoft.Insights/actionGroups/none` },
        ],
      }),
      /names no action group/,
    );
    assert.throws(() => metricAlertPutSchema.parse({ properties: { ...base, evaluationFrequency: '5m' } }));
  });
});

test('an evaluator asks the database only when a rule may be due (not 10 times a second with none), and at once after a rule is scheduled here', async () => {
  const db = await openPglite(null);
  await migrate(db);
  let claims = 0;
  const spy: Db = {
    engine: db.engine,
    query: (sql, params) => {
      if (/UPDATE alert_rule_schedule/.test(sql)) claims++;
      return db.query(sql, params);
    },
    transaction: (fn) => db.transaction(fn),
    close: () => db.close(),
  };
  try {
    const store = new Store(spy);
    const actx: AlertsContext = {
      store,
      logger: createLogger({ name: 'test', level: 'silent' }),
      listHosts: async () => [],
      baseUrl: () => 'http://nw.test',
      telemetry: createServerTelemetry({
        agentsConnected: () => 0,
        captureTotals: async () => [],
        hostTotals: () => new Map(),
        retiredHostTotals: () => ({}),
      }),
      webhook: { retryDelaysInMs: [] },
    };
    const evaluator = new MetricAlertEvaluator(actx, new NotificationDispatcher(actx));
    const t0 = Date.parse('2026-12-04T00:00:00Z');
    const tickAt = (ms: number) => evaluator.tick(new Date(t0 + ms));
    // No rule: 20 ticks (2 s at the 100 ms tick) look at the schedule twice, once a second.
    for (let ms = 0; ms < 2_000; ms += 100) await tickAt(ms);
    assert.equal(claims, 2);
    // A rule scheduled through this store, first due at +2.5 s: the next tick looks at once and
    // learns when it is due; the ticks until then ask nothing, the one at +2.5 s claims it.
    await store.scheduleAlertRule('r-idle', 60_000, new Date(t0 + 2_500));
    for (let ms = 2_000; ms < 2_500; ms += 100) await tickAt(ms);
    assert.equal(claims, 3);
    await tickAt(2_500);
    assert.equal(claims, 4);
    assert.deepEqual(await store.claimDueAlertRules(new Date(t0 + 2_500)), [], 'claimed by that tick');
  } finally {
    await db.close();
  }
});
