import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UsageError } from '../errors.js';
import { parseActionGroupActions } from './monitor-action-group.js';
import { agentMetricsConfig } from './monitor-agent-metrics.js';
import { parseMetricAlertCondition } from './monitor-condition.js';
import { parseRuleActions } from './monitor-metric-alert.js';
import { metricsTimespan } from './monitor-metrics.js';
import { parseKeyValues, toIsoDuration } from './monitor-options.js';

test("az's --condition grammar, with metric names holding spaces", () => {
  assert.deepEqual(parseMetricAlertCondition('total TCP Segments Sent > 100'), {
    timeAggregation: 'Total',
    metricName: 'TCP Segments Sent',
    operator: 'GreaterThan',
    threshold: 100,
    skipMetricValidation: false,
  });
  assert.deepEqual(parseMetricAlertCondition('avg Percentage CPU>=90.5'), {
    timeAggregation: 'Average',
    metricName: 'Percentage CPU',
    operator: 'GreaterThanOrEqual',
    threshold: 90.5,
    skipMetricValidation: false,
  });
  assert.deepEqual(
    parseMetricAlertCondition(
      'max "Microsoft.Compute/virtualMachines".Network Out Total < 3 with skipmetricvalidation',
    ),
    {
      timeAggregation: 'Maximum',
      metricName: 'Network Out Total',
      metricNamespace: 'Microsoft.Compute/virtualMachines',
      operator: 'LessThan',
      threshold: 3,
      skipMetricValidation: true,
    },
  );
  assert.equal(parseMetricAlertCondition('count TCP Segments Sent = 0').operator, 'Equals');
  for (const bad of [
    'TCP Segments Sent > 100',
    'p99 TCP Segments Sent > 1',
    'total > 100',
    'total TCP Segments Sent > lots',
    'total TCP Segments Sent != 1',
    'total TCP Segments Sent > 1 where Instance includes a',
    'dynamic TCP Segments Sent > High of 4 violations out of 4 aggregated points',
  ]) {
    assert.throws(() => parseMetricAlertCondition(bad), UsageError, bad);
  }
});

test('periods: az short forms, seconds, ISO 8601', () => {
  assert.equal(toIsoDuration('--window-size', '5m'), 'PT5M');
  assert.equal(toIsoDuration('--window-size', '5s'), 'PT5S');
  assert.equal(toIsoDuration('--window-size', '1h30m'), 'PT1H30M');
  assert.equal(toIsoDuration('--window-size', '1d'), 'P1D');
  assert.equal(toIsoDuration('--window-size', 'pt1m'), 'PT1M');
  for (const bad of ['', '0m', 'five', 'PT', '5x', '1m5h'])
    assert.throws(() => toIsoDuration('--window-size', bad), UsageError, bad);
});

test('--action words: webhooks for action groups, groups and webhook properties for rules', () => {
  assert.deepEqual(
    parseActionGroupActions([
      'webhook',
      'capture',
      'https://nw/x?code=k',
      'usecommonalertschema',
      'webhook',
      'ops',
      'http://h/o',
    ]),
    [
      { name: 'capture', serviceUri: 'https://nw/x?code=k', useCommonAlertSchema: true },
      { name: 'ops', serviceUri: 'http://h/o', useCommonAlertSchema: false },
    ],
  );
  for (const bad of [
    ['email', 'me', 'a@b.c'],
    ['webhook', 'x'],
    ['webhook', 'x', 'ftp://h'],
    ['webhook', 'x', 'http://h', 'useaadauth'],
    ['hook', 'x', 'http://h'],
  ]) {
    assert.throws(() => parseActionGroupActions(bad), UsageError, bad.join(' '));
  }
  const sub = 'S';
  assert.deepEqual(
    parseRuleActions(
      ['AG', 'team=net', 'k=a=b', '/subscriptions/S/resourceGroups/o/providers/Microsoft.Insights/actionGroups/AG2'],
      sub,
      'rg',
    ),
    [
      {
        actionGroupId: '/subscriptions/S/resourceGroups/rg/providers/Microsoft.Insights/actionGroups/AG',
        webHookProperties: { team: 'net', k: 'a=b' },
      },
      {
        actionGroupId: '/subscriptions/S/resourceGroups/o/providers/Microsoft.Insights/actionGroups/AG2',
        webHookProperties: {},
      },
    ],
  );
  assert.throws(() => parseRuleActions(['k=v'], sub, 'rg'), UsageError);
  assert.deepEqual(parseKeyValues('--tags', ['a=1', 'b=']), { a: '1', b: '' });
  assert.throws(() => parseKeyValues('--tags', ['=1']), UsageError);
});

test('metrics timespans from --start-time/--end-time/--offset', () => {
  const now = new Date('2026-01-01T01:00:00Z');
  assert.equal(metricsTimespan({}, now), undefined);
  assert.equal(metricsTimespan({ offset: '10m' }, now), '2026-01-01T00:50:00.000Z/2026-01-01T01:00:00.000Z');
  assert.equal(
    metricsTimespan({ startTime: '2026-01-01T00:00:00Z', endTime: '2026-01-01T00:30:00Z' }, now),
    '2026-01-01T00:00:00.000Z/2026-01-01T00:30:00.000Z',
  );
  assert.throws(() => metricsTimespan({ startTime: '2026-01-01T02:00:00Z' }, now), UsageError);
  assert.throws(() => metricsTimespan({ endTime: 'noon' }, now), UsageError);
});

test('nw agent --metrics-listen / --metrics-interval', () => {
  assert.deepEqual(agentMetricsConfig({}), {});
  assert.deepEqual(agentMetricsConfig({ metricsListen: '10.0.0.3:9100', metricsInterval: '2' }), {
    metricsListen: { host: '10.0.0.3', port: 9100 },
    metricsIntervalInMs: 2000,
  });
  assert.deepEqual(agentMetricsConfig({ metricsListen: '[::1]:0' }).metricsListen, { host: '::1', port: 0 });
  for (const bad of [{ metricsListen: '9100' }, { metricsInterval: '0' }, { metricsInterval: 'x' }])
    assert.throws(() => agentMetricsConfig(bad), UsageError, JSON.stringify(bad));
});
