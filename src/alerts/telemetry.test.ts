/** Issue 17: `/metrics` stays small at 10,000 hosts — per-host series only where asked. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ApiError } from '../lib/index.js';
import { perHostSelection } from '../server/routes/metrics.js';
import { createServerTelemetry, PER_HOST_SERIES_DEFAULT_LIMIT, scrapeMetrics } from './telemetry.js';

function telemetryOf(hosts: number, retired: Record<string, number> = {}) {
  const totals = new Map<string, Record<string, number>>();
  for (let i = 0; i < hosts; i++)
    totals.set(`/subscriptions/s/resourcegroups/rg/providers/microsoft.compute/virtualmachines/vm${i}`, {
      'TCP Segments Sent': 2,
    });
  return createServerTelemetry({
    agentsConnected: () => hosts,
    captureTotals: async () => [],
    hostTotals: () => totals,
    retiredHostTotals: () => retired,
  }).registry;
}
const perHostLines = (text: string) => text.split('\n').filter((l) => l.startsWith('nw_host_') && l.includes('{vm='));

test('a small fleet: every host by default; a large one: fleet totals only, per host when asked', async () => {
  const small = await scrapeMetrics(telemetryOf(PER_HOST_SERIES_DEFAULT_LIMIT), 'default');
  assert.equal(perHostLines(small).length, PER_HOST_SERIES_DEFAULT_LIMIT * 9);
  const registry = telemetryOf(10_000);
  const big = await scrapeMetrics(registry, 'default');
  assert.equal(perHostLines(big).length, 0);
  assert.match(big, /^nw_hosts_tcp_segments_sent_total 20000$/m, 'the fleet total');
  assert.match(big, /^nw_hosts_reporting 10000$/m);
  assert.ok(big.length < 64 * 1024, `small: ${big.length} bytes`);
  const two = await scrapeMetrics(
    registry,
    new Set(['/subscriptions/s/resourcegroups/rg/providers/microsoft.compute/virtualmachines/vm7', '/nothing']),
  );
  assert.equal(perHostLines(two).filter((l) => l.startsWith('nw_host_tcp_segments_sent_total')).length, 1);
  assert.equal(perHostLines(await scrapeMetrics(registry, 'all')).length, 90_000);
});

test('the scrape parameters: perHost=true, vm=ID (repeatable, comma-separated, any case); anything else is 400', () => {
  assert.equal(perHostSelection({}), 'default');
  assert.equal(perHostSelection({ perHost: 'true' }), 'all');
  assert.equal(perHostSelection({ perhost: 'false' }), 'default');
  assert.deepEqual(perHostSelection({ vm: ['/A/b', '/c,/D'] }), new Set(['/a/b', '/c', '/d']));
  for (const bad of [{ perHost: 'yes' }, { host: 'x' }]) {
    assert.throws(
      () => perHostSelection(bad),
      (e: unknown) => e instanceof ApiError && e.code === 'InvalidParameter',
    );
  }
});

test("the fleet's counters keep the sums of forgotten hosts (no reset when a host leaves the per-host series)", async () => {
  const text = await scrapeMetrics(telemetryOf(3, { 'TCP Segments Sent': 100 }), 'default');
  assert.match(text, /^nw_hosts_tcp_segments_sent_total 106$/m);
  assert.match(text, /^nw_hosts_reporting 3$/m);
});
