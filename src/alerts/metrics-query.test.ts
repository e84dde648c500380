import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ApiError } from '../lib/index.js';
import { Store, migrate, openPglite, type Db } from '../store/index.js';
import type { HostInfo } from './hosts.js';
import { MetricStore, SAMPLE_ALLOWANCE_MAX_SAMPLES } from './metric-store.js';
import { createLogger } from '../lib/index.js';
import { hostMetricDefinitions, parseTimespan, queryHostMetrics } from './metrics-query.js';

const id = '/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1';
const host: HostInfo = {
  key: id.toLowerCase(),
  id,
  name: 'vm1',
  resourceGroup: 'rg',
  subscriptionId: 's',
  location: 'westus',
  vmId: 'g',
  hostname: null,
};
let db: Db;
let store: Store;
before(async () => {
  db = await openPglite(null);
  await migrate(db);
  store = new Store(db);
  // Reports arrive through the metric store, as from agents: 10 segments a second for 3 minutes from 00:00:30.
  const ms = new MetricStore(store, createLogger({ name: 't', level: 'silent' }));
  for (let i = 0; i < 180; i++)
    ms.record(
      id.toUpperCase(),
      { 'TCP Segments Sent': 10, 'Network Out Total': i, 'Not A Metric': 5, 'TCP Segments Received': -1 },
      new Date(Date.parse('2026-01-01T00:00:30Z') + i * 1000),
    );
  await ms.flush();
  assert.equal(ms.totalsSinceStart().get(host.key)?.['TCP Segments Sent'], 1800);
  assert.equal(ms.totalsSinceStart().get(host.key)?.['Not A Metric'], undefined, 'unknown names are dropped');
});
after(() => db.close());

test('Azure Monitor metrics answer: grains aligned on the epoch, totals per grain, empty grains 0', async () => {
  const r = (await queryHostMetrics(store, host, {
    metricnames: 'TCP Segments Sent',
    interval: 'PT1M',
    aggregation: 'Total,Count,Average',
    timespan: '2026-01-01T00:00:00Z/2026-01-01T00:05:00Z',
  })) as any;
  assert.equal(r.interval, 'PT1M');
  assert.equal(r.namespace, 'Microsoft.Compute/virtualMachines');
  assert.equal(r.resourceregion, 'westus');
  const v = r.value[0];
  assert.equal(v.name.value, 'TCP Segments Sent');
  assert.equal(v.unit, 'Count');
  assert.equal(v.id, `${id}/providers/Microsoft.Insights/metrics/TCP Segments Sent`);
  const data = v.timeseries[0].data;
  assert.deepEqual(
    data.map((d: any) => d.timeStamp),
    ['00:00', '01:00', '02:00', '03:00', '04:00'].map((t) => `2026-01-01T00:${t}.000Z`),
  );
  assert.deepEqual(
    data.map((d: any) => d.total),
    [300, 600, 600, 300, 0],
  );
  assert.deepEqual(
    data.map((d: any) => d.count),
    [30, 60, 60, 30, 0],
  );
  assert.equal(data[1].average, 10);
  assert.equal(data[4].average, undefined, 'no average for an empty grain');
});

test('FULL, seconds grains, several metrics, primary aggregation by default, names case-insensitive', async () => {
  const full = (await queryHostMetrics(store, host, {
    metricnames: 'tcp segments sent,Network Out Total',
    interval: 'FULL',
    aggregation: 'total,maximum',
    timespan: '2026-01-01T00:00:00Z/PT10M',
  })) as any;
  assert.equal(full.value.length, 2);
  assert.deepEqual(full.value[0].timeseries[0].data, [
    { timeStamp: '2026-01-01T00:00:00.000Z', total: 1800, maximum: 10 },
  ]);
  assert.equal(full.value[1].timeseries[0].data[0].maximum, 179);
  const secs = (await queryHostMetrics(store, host, {
    metricnames: 'TCP Segments Sent',
    interval: 'PT10S',
    timespan: '2026-01-01T00:00:25Z/2026-01-01T00:00:45Z',
  })) as any;
  assert.deepEqual(
    secs.value[0].timeseries[0].data.map((d: any) => d.total),
    [0, 100, 50],
    'default aggregation is Total; the last grain is cut at the end time',
  );
});

test('bad queries are 400 InvalidParameter naming the parameter', async () => {
  const bad = async (q: Record<string, string>, target: string) => {
    await assert.rejects(
      queryHostMetrics(store, host, q),
      (e: unknown) => e instanceof ApiError && e.code === 'InvalidParameter' && e.target === target,
    );
  };
  await bad({ metricnames: 'Percentage CPU' }, 'metricnames');
  await bad({ interval: 'PT0.5S' }, 'interval');
  await bad({ interval: '1m' }, 'interval');
  await bad({ aggregation: 'p99' }, 'aggregation');
  await bad({ timespan: '2026-01-02T00:00:00Z/2026-01-01T00:00:00Z' }, 'timespan');
  await bad({ timespan: 'yesterday' }, 'timespan');
  await bad({ interval: 'PT1S', timespan: 'P1D' }, 'interval');
  await bad({ metricnamespace: 'Microsoft.Storage/storageAccounts' }, 'metricnamespace');
});

test('timespan forms, and definitions', () => {
  const now = new Date('2026-01-01T01:00:00Z');
  assert.equal(parseTimespan(undefined, now).start.toISOString(), '2026-01-01T00:00:00.000Z');
  assert.equal(parseTimespan('PT10M', now).start.toISOString(), '2026-01-01T00:50:00.000Z');
  assert.equal(parseTimespan('PT10M/2026-01-01T00:10:00Z', now).start.toISOString(), '2026-01-01T00:00:00.000Z');
  const defs = hostMetricDefinitions(host).value;
  assert.ok(defs.some((d: any) => d.name.value === 'TCP Segments Sent' && d.primaryAggregationType === 'Total'));
  assert.equal(defs.length, 9);
});

test('a host flooding single reports is held to one per 50 ms once its saved allowance is spent', async () => {
  const ms = new MetricStore(store, createLogger({ name: 't', level: 'silent' }));
  const at = Date.parse('2026-01-02T00:00:00Z');
  const sent = () => ms.totalsSinceStart().get('flood')?.['TCP Segments Sent'];
  // 1,500 reports in the same moment: the saved allowance (as for a batch: 1,200) passes, the rest not.
  for (let i = 0; i < 1_500; i++) ms.record('flood', { 'TCP Segments Sent': 1 }, new Date(at));
  assert.equal(sent(), SAMPLE_ALLOWANCE_MAX_SAMPLES);
  // Then one per 50 ms: a report every 10 ms for a second keeps 20 of its 100.
  for (let t = 10; t <= 1_000; t += 10) ms.record('flood', { 'TCP Segments Sent': 1 }, new Date(at + t));
  assert.equal(sent(), SAMPLE_ALLOWANCE_MAX_SAMPLES + 20);
  assert.equal(ms.refusedSamples, 300 + 80);
  await ms.close();
});
