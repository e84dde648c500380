import { test } from 'node:test';
import assert from 'node:assert/strict';
import { aggregateWindow, meetsThreshold } from './condition.js';
import { hostsInScope, resolveHostReference, type HostInfo } from './hosts.js';

test('aggregations of a window; no samples is no value', () => {
  const s = { total: 120, count: 4, minimum: 0, maximum: 80 };
  assert.equal(aggregateWindow('Total', s), 120);
  assert.equal(aggregateWindow('Count', s), 4);
  assert.equal(aggregateWindow('Average', s), 30);
  assert.equal(aggregateWindow('Minimum', s), 0);
  assert.equal(aggregateWindow('Maximum', s), 80);
  assert.equal(aggregateWindow('Total', undefined), null);
  assert.equal(aggregateWindow('Count', { total: 0, count: 0, minimum: 0, maximum: 0 }), null);
});

test('operators; a missing value never meets a threshold', () => {
  assert.equal(meetsThreshold('GreaterThan', 101, 100), true);
  assert.equal(meetsThreshold('GreaterThan', 100, 100), false);
  assert.equal(meetsThreshold('GreaterThanOrEqual', 100, 100), true);
  assert.equal(meetsThreshold('LessThan', 99, 100), true);
  assert.equal(meetsThreshold('LessThanOrEqual', 100, 100), true);
  assert.equal(meetsThreshold('Equals', 100, 100), true);
  assert.equal(meetsThreshold('LessThan', null, 100), false);
});

const h = (name: string, rg: string, hostname: string | null, sub = 's1'): HostInfo => {
  const id = `/subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.Compute/virtualMachines/${name}`;
  return {
    key: id.toLowerCase(),
    id,
    name,
    resourceGroup: rg,
    subscriptionId: sub,
    location: 'l',
    vmId: 'g',
    hostname,
  };
};

test('scopes: a VM, a resource group, a subscription', () => {
  const hosts = [h('a', 'rg1', 'ha'), h('b', 'rg1', 'hb'), h('c', 'rg2', 'hc'), h('d', 'rg1', 'hd', 's2')];
  assert.deepEqual(
    hostsInScope(hosts, hosts[0]!.id.toUpperCase()).map((x) => x.name),
    ['a'],
  );
  assert.deepEqual(
    hostsInScope(hosts, '/subscriptions/S1/resourceGroups/RG1').map((x) => x.name),
    ['a', 'b'],
  );
  assert.deepEqual(
    hostsInScope(hosts, '/subscriptions/s1').map((x) => x.name),
    ['a', 'b', 'c'],
  );
});

test('host references: ids case-insensitively, names, host names, instance ports; ambiguity is never a guess', () => {
  const hosts = [
    h('web1', 'rg1', 'web1.example'),
    h('web2', 'rg1', 'shared'),
    h('web2', 'rg2', 'shared2'),
    h('db', 'rg1', 'shared'),
  ];
  assert.equal(resolveHostReference(hosts, hosts[0]!.id.toLowerCase()).kind, 'found');
  assert.equal(
    resolveHostReference(hosts, '/subscriptions/s1/resourceGroups/rg1/providers/Microsoft.Compute/virtualMachines/nope')
      .kind,
    'unknown',
  );
  const byName = resolveHostReference(hosts, 'WEB1:9100');
  assert.equal(byName.kind === 'found' && byName.host.name, 'web1');
  const byHostname = resolveHostReference(hosts, 'web1.example:9100');
  assert.equal(byHostname.kind === 'found' && byHostname.host.name, 'web1');
  assert.equal(resolveHostReference(hosts, 'web2').kind, 'ambiguous');
  assert.equal(resolveHostReference(hosts, 'shared').kind, 'ambiguous');
  assert.equal(resolveHostReference(hosts, '10.0.0.9:9100').kind, 'unknown');
});
