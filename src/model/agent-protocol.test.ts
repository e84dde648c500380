import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  AGENT_METRICS_ACK_LIMITS,
  AGENT_METRICS_SAMPLE_MAX_AGE_IN_SECONDS,
  AGENT_METRICS_SAMPLES_PER_BATCH_MAX,
  agentToServerSchema,
  parseAgentToServer,
  parseServerToAgent,
  plainMetricsBatch,
  plainMetricsReport,
} from './agent-protocol.js';

const AT = '2026-12-02T13:00:00.123Z';
const ok = { type: 'metrics', at: AT, values: { 'TCP Segments Sent': 12, 'Network In Total': 3.5 } };
const many = Object.fromEntries(Array.from({ length: 257 }, (_, i) => [`m${i}`, i]));
const exactly256 = Object.fromEntries(Array.from({ length: 256 }, (_, i) => [`m${i}`, i]));

/** Reports the plain path and the schema must judge alike. */
const CASES: Array<[string, unknown]> = [
  ['a plain report', ok],
  ['no values', { type: 'metrics', at: AT, values: {} }],
  ['an unknown top-level key (dropped)', { ...ok, extra: 1 }],
  ['256 metrics', { type: 'metrics', at: AT, values: exactly256 }],
  ['257 metrics', { type: 'metrics', at: AT, values: many }],
  ['a 128-character name', { type: 'metrics', at: AT, values: { ['n'.repeat(128)]: 1 } }],
  ['a 129-character name', { type: 'metrics', at: AT, values: { ['n'.repeat(129)]: 1 } }],
  ['a string value', { type: 'metrics', at: AT, values: { a: '1' } }],
  ['a null value', { type: 'metrics', at: AT, values: { a: null } }],
  ['a nested value', { type: 'metrics', at: AT, values: { a: { b: 1 } } }],
  ['values an array', { type: 'metrics', at: AT, values: [1, 2] }],
  ['values null', { type: 'metrics', at: AT, values: null }],
  ['no values key', { type: 'metrics', at: AT }],
  ['no time', { type: 'metrics', values: {} }],
  ['a time without zone', { type: 'metrics', at: '2026-12-02T13:00:00', values: {} }],
  ['a time with an offset', { type: 'metrics', at: '2026-12-02T13:00:00+01:00', values: {} }],
  ['not a time', { type: 'metrics', at: 'yesterday', values: {} }],
  ['a number for the time', { type: 'metrics', at: 1, values: {} }],
  ['a __proto__ metric', JSON.parse(`{"type":"metrics","at":"${AT}","values":{"__proto__":1}}`)],
  ['negative and fractional values', { type: 'metrics', at: AT, values: { a: -1, b: 0.25 } }],
];

test('the plain metrics path and the schema judge every report alike, with the same output', () => {
  for (const [name, report] of CASES) {
    const schema = agentToServerSchema.safeParse(report);
    const plain = plainMetricsReport(report);
    if (plain !== null) {
      assert.ok(schema.success, `${name}: the plain path accepted what the schema refuses`);
      assert.deepEqual(plain, schema.data, name);
    }
    const parsed = parseAgentToServer(JSON.stringify(report));
    assert.equal(parsed.ok, schema.success, name);
    if (parsed.ok && schema.success) assert.deepEqual(parsed.message, schema.data, name);
  }
});

test('plain reports take the plain path; unusual ones are left to the schema', () => {
  assert.notEqual(plainMetricsReport(ok), null);
  assert.equal(plainMetricsReport({ ...ok, type: 'hello' }), null);
  assert.equal(plainMetricsReport({ type: 'metrics', at: AT, values: many }), null);
  const refused = parseAgentToServer(JSON.stringify({ type: 'metrics', at: AT, values: many }));
  assert.equal(refused.ok, false);
  assert.match(refused.ok ? '' : refused.reason, /at most 256 metrics/);
});

// Batches (issue 17).
const SENT = '2026-12-02T13:00:05.000Z';
const at = (secondsBefore: number) => new Date(Date.parse(SENT) - secondsBefore * 1000).toISOString();
const sample = (secondsBefore: number, values: unknown = { 'TCP Segments Sent': secondsBefore }) => ({
  at: at(secondsBefore),
  values,
});
const batch = (samples: unknown[], extra: Record<string, unknown> = {}) => ({
  type: 'metrics.batch',
  sentAt: SENT,
  samples,
  ...extra,
});
const fiveSeconds = batch([4, 3, 2, 1, 0].map((s) => sample(s)));
const oversize = batch(
  Array.from({ length: AGENT_METRICS_SAMPLES_PER_BATCH_MAX + 1 }, (_, i) =>
    sample(AGENT_METRICS_SAMPLES_PER_BATCH_MAX - i),
  ),
);
const fullBatch = batch(
  Array.from({ length: AGENT_METRICS_SAMPLES_PER_BATCH_MAX }, (_, i) =>
    sample(AGENT_METRICS_SAMPLES_PER_BATCH_MAX - i),
  ),
);

/** Batches the plain path and the schema must judge alike. */
const BATCH_CASES: Array<[string, unknown]> = [
  ['five seconds of samples', fiveSeconds],
  ['one sample', batch([sample(0)])],
  ['the largest batch', fullBatch],
  ['one sample more than the largest batch', oversize],
  ['no samples', batch([])],
  ['samples out of order', batch([sample(1), sample(2)])],
  ['two samples at the same time', batch([sample(1), sample(1)])],
  ['a sample after sentAt', batch([sample(0), sample(-1)])],
  ['a sample as old as allowed', batch([sample(AGENT_METRICS_SAMPLE_MAX_AGE_IN_SECONDS)])],
  ['a sample older than allowed', batch([sample(AGENT_METRICS_SAMPLE_MAX_AGE_IN_SECONDS + 1)])],
  ['a sample with a string value', batch([sample(1, { a: '1' })])],
  ['a sample with 257 metrics', batch([sample(1, many)])],
  [
    'a sample with a __proto__ metric',
    JSON.parse(`{"type":"metrics.batch","sentAt":"${SENT}","samples":[{"at":"${at(1)}","values":{"__proto__":1}}]}`),
  ],
  ['a sample without values', batch([{ at: at(1) }])],
  ['a sample without a time', batch([{ values: {} }])],
  ['a sample time with an offset', batch([{ at: '2026-12-02T14:00:04+01:00', values: {} }])],
  [
    'a sample on 29 February of a leap year',
    batch([{ at: '2024-02-29T23:59:59.999Z', values: {} }], { sentAt: '2024-02-29T23:59:59.999Z' }),
  ],
  [
    'a sample on 29 February of another year',
    batch([{ at: '2026-02-29T00:00:00.000Z', values: {} }], { sentAt: '2026-03-01T00:00:00.000Z' }),
  ],
  [
    'a sample on 31 April',
    batch([{ at: '2026-04-31T00:00:00.000Z', values: {} }], { sentAt: '2026-05-01T00:00:00.000Z' }),
  ],
  [
    'a sample at hour 24',
    batch([{ at: '2026-04-01T24:00:00.000Z', values: {} }], { sentAt: '2026-04-02T00:00:01.000Z' }),
  ],
  [
    'a sample at a leap second',
    batch([{ at: '2026-04-01T23:59:60.000Z', values: {} }], { sentAt: '2026-04-02T00:00:01.000Z' }),
  ],
  ['a sentAt in month 13', batch([sample(1)], { sentAt: '2026-13-01T00:00:00.000Z' })],
  ['a sample that is not an object', batch([1])],
  ['samples not an array', batch({} as unknown[])],
  ['no sentAt', { type: 'metrics.batch', samples: [sample(1)] }],
  ['sentAt not a time', batch([sample(1)], { sentAt: 'now' })],
  ['an unknown key (dropped)', batch([{ ...sample(1), extra: true }], { extra: 1 })],
  // Acknowledged batches (issue 17): an id and the clock offset, both or neither, whole and in range.
  ['an id and a clock offset', batch([sample(1)], { id: 7, clockOffsetInMs: -3_600_000 })],
  [
    'the largest id and offsets',
    batch([sample(1)], { id: Number.MAX_SAFE_INTEGER, clockOffsetInMs: AGENT_METRICS_ACK_LIMITS.maxClockOffsetInMs }),
  ],
  ['an id without an offset', batch([sample(1)], { id: 7 })],
  ['an offset without an id', batch([sample(1)], { clockOffsetInMs: 0 })],
  ['an id of 0', batch([sample(1)], { id: 0, clockOffsetInMs: 0 })],
  ['a negative id', batch([sample(1)], { id: -1, clockOffsetInMs: 0 })],
  ['a fractional id', batch([sample(1)], { id: 1.5, clockOffsetInMs: 0 })],
  ['an id as a string', batch([sample(1)], { id: '1', clockOffsetInMs: 0 })],
  ['an id past 2^53', batch([sample(1)], { id: 2 ** 53, clockOffsetInMs: 0 })],
  ['an id of 1e308', batch([sample(1)], { id: 1e308, clockOffsetInMs: 0 })],
  [
    'an offset past the bound',
    batch([sample(1)], { id: 1, clockOffsetInMs: AGENT_METRICS_ACK_LIMITS.maxClockOffsetInMs + 1 }),
  ],
  ['a fractional offset', batch([sample(1)], { id: 1, clockOffsetInMs: 0.5 })],
  ['an offset as null', batch([sample(1)], { id: 1, clockOffsetInMs: null })],
];

test('the plain batch path and the schema judge every batch alike, with the same output', () => {
  for (const [name, message] of BATCH_CASES) {
    const schema = agentToServerSchema.safeParse(message);
    const plain = plainMetricsBatch(message);
    if (plain !== null) {
      assert.ok(schema.success, `${name}: the plain path accepted what the schema refuses`);
      assert.deepEqual(plain, schema.data, name);
    }
    const parsed = parseAgentToServer(JSON.stringify(message));
    assert.equal(parsed.ok, schema.success, name);
    if (parsed.ok && schema.success) assert.deepEqual(parsed.message, schema.data, name);
  }
  assert.notEqual(plainMetricsBatch(fiveSeconds), null, 'an ordinary batch takes the plain path');
  assert.notEqual(
    plainMetricsBatch({ ...fiveSeconds, id: 3, clockOffsetInMs: 250 }),
    null,
    'so does an acknowledged one',
  );
});

test('a metrics.ack is a whole batch id in range; anything else is refused before the agent acts on it', () => {
  const ack = (throughId: unknown) => parseServerToAgent(JSON.stringify({ type: 'metrics.ack', throughId }));
  const ok = ack(12);
  assert.ok(ok.ok && ok.message.type === 'metrics.ack' && ok.message.throughId === 12);
  assert.equal(ack(Number.MAX_SAFE_INTEGER).ok, true);
  for (const bad of [0, -1, 1.5, '12', null, 2 ** 53, 1e308, [1], { id: 1 }])
    assert.equal(ack(bad).ok, false, `throughId ${JSON.stringify(bad)} is refused`);
  assert.equal(parseServerToAgent('{"type":"metrics.ack"}').ok, false, 'an ack without an id');
  // An agent's message is never a server's: an agent may not send acks.
  assert.equal(parseAgentToServer(JSON.stringify({ type: 'metrics.ack', throughId: 1 })).ok, false);
});

test("the welcome: metricBatchAcks carries a time; an older server's welcome without it still parses", () => {
  const welcome = { type: 'welcome', vmId: '/subscriptions/s/vm', location: 'westus' };
  assert.equal(parseServerToAgent(JSON.stringify(welcome)).ok, true, 'an older server');
  const acking = parseServerToAgent(JSON.stringify({ ...welcome, metricBatchAcks: { serverTime: SENT } }));
  assert.ok(acking.ok && acking.message.type === 'welcome' && acking.message.metricBatchAcks?.serverTime === SENT);
  for (const bad of [true, {}, { serverTime: 'now' }, { serverTime: 1 }])
    assert.equal(
      parseServerToAgent(JSON.stringify({ ...welcome, metricBatchAcks: bad })).ok,
      false,
      JSON.stringify(bad),
    );
});

test('a batch too large or with bad samples is refused with a clear reason; each sample keeps its own time', () => {
  const reason = (m: unknown) => {
    const parsed = parseAgentToServer(JSON.stringify(m));
    assert.equal(parsed.ok, false);
    return parsed.ok ? '' : parsed.reason;
  };
  assert.equal(reason(oversize), `samples: a batch holds at most ${AGENT_METRICS_SAMPLES_PER_BATCH_MAX} samples`);
  assert.equal(reason(batch([])), 'samples: a batch holds at least one sample');
  assert.equal(reason(batch([sample(1), sample(2)])), 'samples.1.at: samples are in strictly increasing time order');
  assert.equal(reason(batch([sample(-1)])), 'samples.0.at: a sample is not later than the batch sentAt');
  assert.match(
    reason(batch([sample(AGENT_METRICS_SAMPLE_MAX_AGE_IN_SECONDS + 1)])),
    /^samples\.0\.at: a sample is at most 3600 s older/,
  );
  assert.match(reason(batch([sample(1, { a: '1' })])), /^samples\.0\.values\.a: /);
  const parsed = parseAgentToServer(JSON.stringify(fiveSeconds));
  assert.ok(parsed.ok && parsed.message.type === 'metrics.batch');
  assert.deepEqual(
    parsed.message.samples.map((s) => s.at),
    [4, 3, 2, 1, 0].map(at),
  );
});

test('the welcome announces batches; one without the field (an older server) parses too, an interval out of bounds does not', () => {
  const welcome = {
    type: 'welcome',
    vmId: '/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/v',
    location: 'l',
  };
  const announced = parseServerToAgent(JSON.stringify({ ...welcome, metricsBatchIntervalInSeconds: 5 }));
  assert.ok(announced.ok && announced.message.type === 'welcome');
  assert.equal(announced.message.metricsBatchIntervalInSeconds, 5);
  const older = parseServerToAgent(JSON.stringify(welcome));
  assert.ok(older.ok && older.message.type === 'welcome');
  assert.equal(older.message.metricsBatchIntervalInSeconds, undefined);
  for (const bad of [0, 31, 2.5])
    assert.equal(parseServerToAgent(JSON.stringify({ ...welcome, metricsBatchIntervalInSeconds: bad })).ok, false);
});

test('the welcome may announce a reconnect spread of 1–60 whole seconds; without one (an older server) it parses too', () => {
  const welcome = {
    type: 'welcome',
    vmId: '/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/v',
    location: 'l',
    metricsBatchIntervalInSeconds: 5,
  };
  for (const spread of [1, 10, 60]) {
    const announced = parseServerToAgent(JSON.stringify({ ...welcome, reconnectSpreadInSeconds: spread }));
    assert.ok(announced.ok && announced.message.type === 'welcome');
    assert.equal(announced.message.reconnectSpreadInSeconds, spread);
  }
  const older = parseServerToAgent(JSON.stringify(welcome));
  assert.ok(older.ok && older.message.type === 'welcome');
  assert.equal(older.message.reconnectSpreadInSeconds, undefined);
  // A broken or hostile value must not park the agent for long or make it storm.
  for (const bad of [0, -1, 61, 3600, 2.5, '10', null])
    assert.equal(
      parseServerToAgent(JSON.stringify({ ...welcome, reconnectSpreadInSeconds: bad })).ok,
      false,
      String(bad),
    );
});
