import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ResourceRecord } from '../store/index.js';
import { MetricBatchIntervals } from './batch-intervals.js';
import type { HostInfo } from './hosts.js';
import { toleratedBatchIntervalInSeconds, type MetricAlertBody } from './metric-alerts.js';

const SUB = '00000000-0000-0000-0000-000000000000';
const host = (rg: string, name: string): HostInfo => {
  const id = `/subscriptions/${SUB}/resourceGroups/${rg}/providers/Microsoft.Compute/virtualMachines/${name}`;
  return {
    key: id.toLowerCase(),
    id,
    name,
    resourceGroup: rg,
    subscriptionId: SUB,
    location: 'westcentralus',
    vmId: name,
    hostname: null,
  };
};
/** A stored rule with the fields these functions read. */
const rule = (evaluationFrequency: string, scopes: string[], enabled = true): ResourceRecord<MetricAlertBody> =>
  ({
    body: { properties: { enabled, scopes, evaluationFrequency, windowSize: 'PT1H' } },
  }) as unknown as ResourceRecord<MetricAlertBody>;

test('a rule tolerates batches of a twelfth of its frequency, at least 1 s, at most the configured interval', () => {
  const tolerated = (f: string, max = 5) => toleratedBatchIntervalInSeconds(rule(f, []).body, max);
  for (const f of ['PT1S', 'PT5S', 'PT11S', 'PT12S', 'PT23S']) assert.equal(tolerated(f), 1, f);
  assert.equal(tolerated('PT24S'), 2);
  assert.equal(tolerated('PT59S'), 4);
  assert.equal(tolerated('PT1M'), 5);
  assert.equal(tolerated('PT5M'), 5, 'capped by the configured interval');
  assert.equal(tolerated('PT5M', 30), 25);
  assert.equal(tolerated('PT1M', 3), 3);
});

test("a host's interval is the least its enabled rules tolerate, else the configured one", () => {
  const a = host('rg1', 'a');
  const b = host('rg1', 'b');
  const c = host('rg2', 'c');
  const intervals = new MetricBatchIntervals(5);
  const of = () => [a, b, c].map((h) => intervals.intervalOf(h));
  assert.deepEqual(of(), [5, 5, 5], 'no rule: the configured interval');
  assert.equal(
    intervals.setRules([
      rule('PT24S', [`/subscriptions/${SUB}/resourceGroups/RG1`]),
      rule('PT1S', [a.id.toUpperCase()]),
      rule('PT1S', [c.id], false),
      rule('PT1M', [`/subscriptions/${SUB}`]),
    ]),
    true,
  );
  assert.deepEqual(of(), [1, 2, 5], 'VM-id scope 1 s, resource group 2 s, a disabled rule counts for nothing');
  assert.equal(
    intervals.setRules([
      rule('PT1S', [a.id.toUpperCase()]),
      rule('PT24S', [`/subscriptions/${SUB}/resourceGroups/RG1`]),
    ]),
    false,
    'the same demands in another order (and rules asking no less than the configured interval) change nothing',
  );
  assert.equal(intervals.setRules([rule('PT12S', [`/subscriptions/${SUB}`])]), true);
  assert.deepEqual(of(), [1, 1, 1], 'a subscription scope names every host in it');
  assert.equal(intervals.setRules([]), true);
  assert.deepEqual(of(), [5, 5, 5]);
});
