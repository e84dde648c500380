/**
 * Issue 17, acknowledged metric batches, the agent's side: with a server whose welcome carried
 * `metricBatchAcks`, each batch carries an id and the clock offset and is kept until an ack
 * covers it; after a reconnect what is unacknowledged goes again first, as it was; kept and
 * unsent samples share one bound; acks for ids never sent are ignored; an older server (no
 * acks) is sent batches as before and is never sent a repeat.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseAgentToServer, type AgentToServer } from '../model/index.js';
import { AGENT_METRICS_BUFFER_MAX_SAMPLES, HostMetricSender, clockOffsetOf } from './metrics.js';

/** A sender on a fake connection (each message checked by the protocol's parse), to a server that acknowledges with `offset` unless it is null. */
function harness(offset: number | null, batchIntervalInSeconds = 1) {
  const sent: Array<Extract<AgentToServer, { type: 'metrics.batch' }>> = [];
  const singles: AgentToServer[] = [];
  const warnings: string[] = [];
  const link = { connected: true, batch: batchIntervalInSeconds as number | null, offset };
  const sender = new HostMetricSender({
    intervalInMs: 1000,
    isConnected: () => link.connected,
    batchIntervalInSeconds: () => link.batch,
    metricBatchAcks: () => (link.offset === null ? null : { clockOffsetInMs: link.offset }),
    logger: { warn: (_obj: unknown, msg?: string) => void warnings.push(String(msg)) },
    send: (msg) => {
      if (!link.connected) return false;
      const parsed = parseAgentToServer(JSON.stringify(msg));
      assert.ok(parsed.ok, `the server takes it: ${parsed.ok ? '' : parsed.reason}`);
      if (parsed.message.type === 'metrics.batch') sent.push(parsed.message);
      else singles.push(parsed.message);
      return true;
    },
  });
  return { sender, sent, singles, link, warnings };
}

const T0 = Date.parse('2026-12-02T12:00:00.000Z');
const sample = (i: number) => ({ 'TCP Segments Sent': i });
const valuesOf = (batches: Array<Extract<AgentToServer, { type: 'metrics.batch' }>>) =>
  batches.map((b) => b.samples.map((s) => s.values['TCP Segments Sent']));

test('each batch carries an id and the welcome’s clock offset, and is kept until a cumulative ack covers it', () => {
  const { sender, sent } = harness(-1234);
  for (let i = 0; i < 5; i++) sender.take(sample(i), T0 + i * 1000);
  assert.deepEqual(
    sent.map((b) => [b.id, b.clockOffsetInMs]),
    [1, 2, 3, 4, 5].map((id) => [id, -1234]),
  );
  assert.equal(sender.unacknowledged, 5, 'sent, not yet forgotten');
  assert.equal(sender.onAck(3), true);
  assert.equal(sender.unacknowledged, 2, 'batches 1 to 3 forgotten');
  assert.equal(sender.onAck(2), true, 'an ack already passed is harmless');
  assert.equal(sender.unacknowledged, 2);
  assert.equal(sender.onAck(5), true);
  assert.equal(sender.unacknowledged, 0);
  assert.equal(sender.buffered, 0);
  assert.equal(sender.dropped, 0);
});

test('after a reconnect the unacknowledged batches go again first, in order, as they were (ids, samples, offset), then new samples', () => {
  const { sender, sent, link } = harness(500);
  for (let i = 0; i < 4; i++) sender.take(sample(i), T0 + i * 1000);
  sender.onAck(1);
  // The replica dies: batches 2–4 were sent but never acknowledged; two samples are taken while cut off.
  link.connected = false;
  sender.onDisconnected();
  for (let i = 4; i < 6; i++) sender.take(sample(i), T0 + i * 1000);
  // Another replica, another clock: its offset is for new batches only.
  link.connected = true;
  link.offset = 900;
  sent.length = 0;
  sender.take(sample(6), T0 + 6000);
  assert.deepEqual(
    sent.map((b) => [b.id, b.clockOffsetInMs]),
    [
      [2, 500],
      [3, 500],
      [4, 500],
      [5, 900],
    ],
    're-sent with their own ids and first offset, then the backlog as one new batch',
  );
  assert.deepEqual(valuesOf(sent), [[1], [2], [3], [4, 5, 6]]);
  assert.equal(sender.resent, 3);
  assert.equal(sender.sent, 7, 'first sends counted once');
  sent.length = 0;
  sender.take(sample(7), T0 + 7000);
  assert.deepEqual(
    sent.map((b) => b.id),
    [6],
    'nothing re-sent twice on one connection',
  );
  sender.onAck(6);
  assert.equal(sender.unacknowledged, 0);
});

test('an ack for an id never sent, or not a whole positive number, is ignored: nothing is forgotten', () => {
  const { sender } = harness(0);
  for (let i = 0; i < 3; i++) sender.take(sample(i), T0 + i * 1000);
  for (const bad of [4, 1e15, Number.MAX_SAFE_INTEGER, 2 ** 53, 0, -1, 1.5, Number.NaN, Infinity])
    assert.equal(sender.onAck(bad), false, `ack ${bad}`);
  assert.equal(sender.unacknowledged, 3, 'every batch still kept');
  assert.equal(sender.onAck(3), true);
  assert.equal(sender.unacknowledged, 0);
});

test('kept batches and unsent samples share the one bound: past it the oldest goes, counted and logged once a minute', () => {
  const { sender, link, warnings, sent } = harness(0);
  // Connected to a server that never acknowledges (its database is down): everything stays kept.
  const taken = AGENT_METRICS_BUFFER_MAX_SAMPLES + 50;
  for (let i = 0; i < taken; i++) sender.take(sample(i), T0 + i * 1000);
  assert.equal(sent.length, taken, 'each sent as taken');
  assert.equal(sender.buffered, AGENT_METRICS_BUFFER_MAX_SAMPLES, 'bounded');
  assert.equal(sender.unacknowledged, AGENT_METRICS_BUFFER_MAX_SAMPLES);
  assert.equal(sender.dropped, 50, 'the oldest past the bound are dropped and counted');
  assert.equal(warnings.length, 1, `one log line for 50 s of drops, not 50 (${warnings.length})`);
  assert.match(warnings[0]!, /dropped/);
  // Cut off too: unsent samples push out the oldest kept ones first.
  link.connected = false;
  sender.onDisconnected();
  for (let i = taken; i < taken + 10; i++) sender.take(sample(i), T0 + i * 1000);
  assert.equal(sender.buffered, AGENT_METRICS_BUFFER_MAX_SAMPLES);
  assert.equal(sender.dropped, 60);
  link.connected = true;
  sent.length = 0;
  sender.take(sample(taken + 10), T0 + (taken + 10) * 1000);
  const values = valuesOf(sent).flat();
  assert.deepEqual(
    values,
    Array.from(
      { length: AGENT_METRICS_BUFFER_MAX_SAMPLES },
      (_, i) => taken + 11 - AGENT_METRICS_BUFFER_MAX_SAMPLES + i,
    ),
    'the newest bound’s worth, oldest first, once each',
  );
});

test('an older server (no acks announced): batches without ids, nothing kept once sent — as before', () => {
  const { sender, sent } = harness(null, 5);
  for (let i = 0; i < 10; i++) sender.take(sample(i), T0 + i * 1000);
  assert.equal(sent.length, 2);
  assert.ok(sent.every((b) => b.id === undefined && b.clockOffsetInMs === undefined));
  assert.equal(sender.buffered, 0);
  assert.equal(sender.unacknowledged, 0);
});

test('reconnected to an older server: kept batches are not repeated to it (its database would keep both), and go to the next server that acknowledges', () => {
  const { sender, sent, link } = harness(0);
  for (let i = 0; i < 2; i++) sender.take(sample(i), T0 + i * 1000);
  link.connected = false;
  sender.onDisconnected();
  link.connected = true;
  link.offset = null;
  sent.length = 0;
  sender.take(sample(2), T0 + 2000);
  assert.deepEqual(valuesOf(sent), [[2]], 'only the new sample, as an older server takes it');
  assert.equal(sent[0]!.id, undefined);
  assert.equal(sender.unacknowledged, 2, 'still kept');
  link.connected = false;
  sender.onDisconnected();
  link.connected = true;
  link.offset = 0;
  sent.length = 0;
  sender.take(sample(3), T0 + 3000);
  assert.deepEqual(valuesOf(sent), [[0], [1], [3]]);
});

test('the clock offset is the welcome’s server time less this host’s, whole milliseconds and bounded', () => {
  assert.equal(clockOffsetOf('2026-12-02T12:00:01.500Z', T0), 1500);
  assert.equal(clockOffsetOf('2026-12-02T11:59:59.000Z', T0), -1000);
  assert.equal(clockOffsetOf('2026-12-02T12:00:00.000+01:00', T0), -3_600_000);
});
