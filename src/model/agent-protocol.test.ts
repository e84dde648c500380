import { test } from 'node:test';
import assert from 'node:assert/strict';
import { agentToServerSchema, parseAgentToServer, plainMetricsReport } from './agent-protocol.js';

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
