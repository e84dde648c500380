/**
 * Issue 17, the agent's side of batched host metrics: with a server that announced batches the
 * samples leave together, each with its own time; with an older server (no announcement) each
 * leaves alone as before; samples taken while disconnected wait in a bounded buffer and go after
 * the reconnect, to a server that takes batches.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AGENT_METRICS_SAMPLES_PER_BATCH_MAX, parseAgentToServer, type AgentToServer } from '../model/index.js';
import { AGENT_METRICS_BUFFER_MAX_SAMPLES, HostMetricSender } from './metrics.js';

/** A sender on a fake connection that records what goes out, each message checked by the protocol's own parse. */
function harness(batchIntervalInSeconds: number | null) {
  const sent: AgentToServer[] = [];
  const link = { connected: true, batch: batchIntervalInSeconds };
  const sender = new HostMetricSender({
    intervalInMs: 1000,
    isConnected: () => link.connected,
    batchIntervalInSeconds: () => link.batch,
    send: (msg) => {
      if (!link.connected) return false;
      const parsed = parseAgentToServer(JSON.stringify(msg));
      assert.ok(parsed.ok, `the server takes it: ${parsed.ok ? '' : parsed.reason}`);
      sent.push(parsed.message);
      return true;
    },
  });
  return { sender, sent, link };
}

const T0 = Date.parse('2026-12-02T12:00:00.000Z');
const sample = (i: number) => ({ 'TCP Segments Sent': i });

test('an older server (no batch interval announced): every sample leaves alone as it is taken', () => {
  const { sender, sent } = harness(null);
  for (let i = 0; i < 7; i++) sender.take(sample(i), T0 + i * 1000);
  assert.deepEqual(
    sent.map((m) => m.type),
    Array(7).fill('metrics'),
  );
  assert.equal(sender.sent, 7);
  assert.equal(sender.buffered, 0);
});

test('a server that announced 5 s: five samples a message, each with its own time, in order', () => {
  const { sender, sent } = harness(5);
  for (let i = 0; i < 15; i++) sender.take(sample(i), T0 + i * 1000);
  assert.equal(sent.length, 3, 'three messages for fifteen samples');
  for (const [k, msg] of sent.entries()) {
    assert.ok(msg.type === 'metrics.batch');
    assert.deepEqual(
      msg.samples.map((s) => s.at),
      [0, 1, 2, 3, 4].map((i) => new Date(T0 + (k * 5 + i) * 1000).toISOString()),
    );
    assert.deepEqual(
      msg.samples.map((s) => s.values['TCP Segments Sent']),
      [0, 1, 2, 3, 4].map((i) => k * 5 + i),
    );
    assert.equal(msg.sentAt, msg.samples.at(-1)!.at, 'sent as the fifth is taken');
  }
  assert.equal(sender.sent, 15);
});

test('samples taken while disconnected wait, bounded, and go oldest first in bounded batches after the reconnect', () => {
  const { sender, sent, link } = harness(5);
  link.connected = false;
  link.batch = null;
  const taken = AGENT_METRICS_BUFFER_MAX_SAMPLES + 100;
  for (let i = 0; i < taken; i++) sender.take(sample(i), T0 + i * 1000);
  assert.equal(sent.length, 0);
  assert.equal(sender.buffered, AGENT_METRICS_BUFFER_MAX_SAMPLES, 'the buffer is bounded');
  assert.equal(sender.dropped, 100, 'the oldest past the bound are dropped and counted');
  // Reconnected to a server that takes batches (its welcome announced 5 s): the next sample sends the backlog.
  link.connected = true;
  link.batch = 5;
  sender.take(sample(taken), T0 + taken * 1000);
  const values = sent.flatMap((m) =>
    m.type === 'metrics.batch' ? m.samples.map((s) => s.values['TCP Segments Sent']) : [],
  );
  assert.deepEqual(
    values,
    // The new sample joins the full buffer (its oldest goes), then the whole buffer leaves.
    Array.from({ length: AGENT_METRICS_BUFFER_MAX_SAMPLES }, (_, i) => 101 + i),
    'every kept sample once, oldest first',
  );
  assert.ok(sent.every((m) => m.type === 'metrics.batch' && m.samples.length <= AGENT_METRICS_SAMPLES_PER_BATCH_MAX));
  assert.equal(sender.buffered, 0);
});

test('reconnected to an older server: single reports again, the backlog is kept for a server that takes batches', () => {
  const { sender, sent, link } = harness(5);
  link.connected = false;
  for (let i = 0; i < 3; i++) sender.take(sample(i), T0 + i * 1000);
  link.connected = true;
  link.batch = null;
  sender.take(sample(3), T0 + 3000);
  assert.deepEqual(
    sent.map((m) => m.type),
    ['metrics'],
  );
  assert.equal(sender.buffered, 3, 'not sent as single reports (an older server would stamp them all now)');
});

test('a new interval in a later welcome: from 5 s to 1 s what is held leaves with the next sample, then each as taken; back to 5 s, five a message', () => {
  const { sender, sent, link } = harness(5);
  for (let i = 0; i < 3; i++) sender.take(sample(i), T0 + i * 1000);
  assert.equal(sent.length, 0, 'three samples held for a 5 s batch');
  // The server re-announced 1 s (a rule that evaluates every second now watches this host).
  link.batch = 1;
  sender.take(sample(3), T0 + 3000);
  assert.equal(sent.length, 1);
  const first = sent[0]!;
  assert.ok(first.type === 'metrics.batch');
  assert.deepEqual(
    first.samples.map((s) => s.values['TCP Segments Sent']),
    [0, 1, 2, 3],
    'what was held goes with the new sample, in order, none lost',
  );
  for (let i = 4; i < 7; i++) sender.take(sample(i), T0 + i * 1000);
  assert.deepEqual(
    sent.slice(1).map((m) => (m.type === 'metrics.batch' ? m.samples.map((s) => s.values['TCP Segments Sent']) : [])),
    [[4], [5], [6]],
    'at 1 s every sample leaves as it is taken',
  );
  // Back to 5 s (the rule deleted): five samples a message again.
  link.batch = 5;
  for (let i = 7; i < 17; i++) sender.take(sample(i), T0 + i * 1000);
  assert.deepEqual(
    sent.slice(4).map((m) => (m.type === 'metrics.batch' ? m.samples.length : 0)),
    [5, 5],
  );
  assert.equal(sender.sent, 17);
  assert.equal(sender.buffered, 0);
  assert.equal(sender.dropped, 0);
});
