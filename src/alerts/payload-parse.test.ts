import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { HostInfo } from './hosts.js';
import { AlertPayloadError, parseAlertPayload } from './payload-parse.js';
import { buildCommonAlertPayload, buildMetricAlertPayload, type AlertNotice } from './payloads.js';

const fixture = (name: string): Record<string, any> =>
  JSON.parse(readFileSync(new URL(`./fixtures/${name}.json`, import.meta.url), 'utf8'));
const VM1 =
  '/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg1/providers/Microsoft.Compute/virtualMachines/vm1';

test('each fixture is recognised, firing or resolved, and names its host', () => {
  const cases: Array<[string, string, boolean, string]> = [
    ['azure-common-alert-schema.fired', 'azureMonitorCommonAlertSchema', true, VM1.toLowerCase()],
    ['azure-metric-alert-v2.activated', 'AzureMonitorMetricAlert', true, VM1],
    ['azure-classic-metric-alert.activated', 'AzureClassicMetricAlert', true, VM1],
    ['alertmanager-0.25.firing', 'AlertmanagerWebhookV4', true, 'vm1:9100'],
    ['alertmanager-0.25.resolved', 'AlertmanagerWebhookV4', false, 'vm1:9100'],
  ];
  for (const [name, schema, firing, host] of cases) {
    const p = parseAlertPayload(fixture(name));
    assert.equal(p.schema, schema, name);
    assert.equal(p.alerts.length, 1, name);
    assert.equal(p.alerts[0]!.firing, firing, name);
    assert.equal(p.alerts[0]!.hostReference, host, name);
    assert.match(p.alerts[0]!.dedupeKey, /^[0-9a-f]{32}$/, name);
  }
});

test('the same firing gives the same key; resolution and the next firing do not', () => {
  const fired = fixture('alertmanager-0.25.firing');
  const key = parseAlertPayload(fired).alerts[0]!.dedupeKey;
  assert.equal(parseAlertPayload(structuredClone(fired)).alerts[0]!.dedupeKey, key);
  assert.notEqual(parseAlertPayload(fixture('alertmanager-0.25.resolved')).alerts[0]!.dedupeKey, key);
  const later = structuredClone(fired);
  later.alerts[0].startsAt = '2026-11-21T23:20:00Z';
  assert.notEqual(parseAlertPayload(later).alerts[0]!.dedupeKey, key);
  const common = fixture('azure-common-alert-schema.fired');
  const resolved = structuredClone(common);
  resolved.data.essentials.monitorCondition = 'Resolved';
  assert.notEqual(parseAlertPayload(resolved).alerts[0]!.dedupeKey, parseAlertPayload(common).alerts[0]!.dedupeKey);
  assert.equal(parseAlertPayload(resolved).alerts[0]!.firing, false);
});

test('Alertmanager: a configured label first, then vm, then instance; each alert of a group', () => {
  const p = fixture('alertmanager-0.25.firing');
  p.alerts[0].labels.vm = 'vmA';
  p.alerts[0].labels.node = 'nodeA';
  p.alerts.push({ ...p.alerts[0], labels: { alertname: 'X', instance: '10.0.0.4:9100' }, fingerprint: 'ff' });
  const byDefault = parseAlertPayload(p);
  assert.deepEqual(
    byDefault.alerts.map((a) => a.hostReference),
    ['vmA', '10.0.0.4:9100'],
  );
  assert.equal(byDefault.alerts[0]!.hostReferenceField, 'alerts[0].labels.vm');
  assert.deepEqual(
    parseAlertPayload(p, { hostLabel: 'node' }).alerts.map((a) => a.hostReference),
    ['nodeA', '10.0.0.4:9100'],
  );
  delete p.alerts[1].labels.instance;
  assert.equal(parseAlertPayload(p).alerts[1]!.hostReference, null);
});

test('malformed payloads are refused naming the field', () => {
  const expect = (body: unknown, field: string | undefined) => {
    assert.throws(
      () => parseAlertPayload(body),
      (e: unknown) => e instanceof AlertPayloadError && e.field === field,
      JSON.stringify(body).slice(0, 80),
    );
  };
  expect([], undefined);
  expect({ hello: 'world' }, undefined);
  expect({ schemaId: 'Microsoft.Insights/activityLogs', data: {} }, 'schemaId');
  const common = fixture('azure-common-alert-schema.fired');
  delete common.data.essentials.alertTargetIDs;
  expect(common, 'data.essentials.alertTargetIDs');
  const common2 = fixture('azure-common-alert-schema.fired');
  common2.data.essentials.monitorCondition = 'Maybe';
  expect(common2, 'data.essentials.monitorCondition');
  const v2 = fixture('azure-metric-alert-v2.activated');
  delete v2.data.context.resourceId;
  expect(v2, 'data.context.resourceId');
  const classic = fixture('azure-classic-metric-alert.activated');
  classic.status = 'Fired';
  expect(classic, 'status');
  const am = fixture('alertmanager-0.25.firing');
  am.alerts = [];
  expect(am, 'alerts');
  const am2 = fixture('alertmanager-0.25.firing');
  am2.alerts[0].status = 'pending';
  expect(am2, 'alerts[0].status');
});

const host: HostInfo = {
  key: VM1.toLowerCase(),
  id: VM1,
  name: 'vm1',
  resourceGroup: 'rg1',
  subscriptionId: '00000000-0000-0000-0000-000000000000',
  location: 'westus2',
  vmId: '3df40796-e597-4b7f-b5e5-afc2737d73a5',
  hostname: 'vm1',
};
const notice: AlertNotice = {
  alertId: 'aaaa0a0a-bb1b-cc2c-dd3d-eeeeee4e4e4e',
  subscriptionId: host.subscriptionId,
  rule: {
    id: '/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg1/providers/Microsoft.Insights/metricAlerts/vm1-network-out',
    name: 'vm1-network-out',
    resourceGroup: 'rg1',
    description: 'Outbound traffic above normal',
    severity: 3,
    windowSizeInSeconds: 300,
    scopeCount: 1,
  },
  criteria: [
    {
      name: 'cond0',
      metricName: 'Network Out Total',
      metricNamespace: 'Microsoft.Compute/virtualMachines',
      operator: 'GreaterThan',
      threshold: 3,
      timeAggregation: 'Average',
      metricValue: 123456789,
    },
  ],
  host,
  monitorCondition: 'Fired',
  firedAt: new Date('2024-05-01T02:00:24.371Z'),
  resolvedAt: null,
  windowStart: new Date('2024-05-01T01:55:03.064Z'),
  windowEnd: new Date('2024-05-01T02:00:03.064Z'),
  customProperties: { Key1: 'Value1' },
  baseUrl: 'https://nw.example',
};

// Custom properties are the user's own keys, not the schema's.
function keysDeep(v: unknown, prefix = ''): string[] {
  if (v === null || typeof v !== 'object' || /\.(customProperties|properties)$/.test(prefix)) return [];
  if (Array.isArray(v)) return v.length ? keysDeep(v[0], `${prefix}[]`) : [];
  return Object.entries(v).flatMap(([k, x]) => [`${prefix}.${k}`, ...keysDeep(x, `${prefix}.${k}`)]);
}

test('built payloads carry every field of the documented samples and parse back', () => {
  const common = buildCommonAlertPayload(notice);
  const missing = keysDeep(fixture('azure-common-alert-schema.fired')).filter((k) => !keysDeep(common).includes(k));
  assert.deepEqual(missing, []);
  assert.equal(common.data.essentials.monitorCondition, 'Fired');
  assert.equal(common.data.essentials.severity, 'Sev3');
  const v2 = buildMetricAlertPayload(notice);
  const missingV2 = keysDeep(fixture('azure-metric-alert-v2.activated')).filter((k) => !keysDeep(v2).includes(k));
  assert.deepEqual(missingV2, []);
  assert.equal(v2.data.status, 'Activated');
  for (const payload of [common, v2]) {
    const p = parseAlertPayload(JSON.parse(JSON.stringify(payload)));
    assert.equal(p.alerts[0]!.firing, true);
    assert.equal(p.alerts[0]!.hostReference?.toLowerCase(), VM1.toLowerCase());
  }
  const resolved = { ...notice, monitorCondition: 'Resolved' as const, resolvedAt: new Date('2024-05-01T02:10:00Z') };
  assert.equal(buildCommonAlertPayload(resolved).data.essentials.resolvedDateTime, '2024-05-01T02:10:00.000Z');
  assert.equal(buildMetricAlertPayload(resolved).data.status, 'Resolved');
  assert.equal(parseAlertPayload(buildMetricAlertPayload(resolved)).alerts[0]!.firing, false);
});
