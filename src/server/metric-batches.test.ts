/**
 * Issue 17, batched host metrics through the real server (embedded database, loopback): the server
 * answers a hello with a welcome that announces its batch interval; a batch's samples are stored
 * one row each at their own times on the server's clock (a host clock an hour off moves nothing);
 * an older agent's single reports are stored as before.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openPglite, Store } from '../store/index.js';
import { clockOffsetOf } from '../agent/metrics.js';
import type { RunningServer } from './server.js';
import { apiCaller, connectLoopbackAgent, waitFor, startLoopbackServer } from './testing/loopback-agent.js';

const SUB = '00000000-0000-0000-0000-000000000000';
const VM_PATH = (vm: string) =>
  `/subscriptions/${SUB}/resourceGroups/rg1/providers/Microsoft.Compute/virtualMachines/${vm}`;

describe('batched host metrics, server side', () => {
  let server: RunningServer;
  const dataDir = mkdtempSync(join(tmpdir(), 'nw-metric-batch-'));
  const call = apiCaller(() => server);
  /** Enrols `vm`, connects as its agent and says hello; returns the socket and what the server sent. */
  const agent = (vm: string) =>
    connectLoopbackAgent({ call, serverUrl: server.url, vmPath: VM_PATH(vm), hostname: vm });

  before(async () => {
    server = await startLoopbackServer(dataDir, SUB, {
      agentMetricsBatchIntervalInSeconds: 3,
    });
  });
  after(() => rmSync(dataDir, { recursive: true, force: true }));

  test('the welcome announces the batch interval; batches are stored at their own times, single reports as before', async () => {
    const batching = await agent('batcher');
    const welcome = batching.received.find((m) => m.type === 'welcome');
    assert.ok(welcome && welcome.type === 'welcome');
    assert.equal(welcome.metricsBatchIntervalInSeconds, 3, 'the server announces its interval');
    assert.equal(welcome.vmId.toLowerCase(), VM_PATH('batcher').toLowerCase());
    assert.equal(welcome.location, 'westcentralus');

    // The host's clock is an hour ahead: only the spacing of its samples may count.
    const hostNow = Date.now() + 3_600_000;
    const sentAt = new Date(hostNow).toISOString();
    const samples = [4, 3, 2, 1, 0].map((s) => ({
      at: new Date(hostNow - s * 1000).toISOString(),
      values: { 'TCP Segments Sent': 10 + s },
    }));
    const sentAtServer = Date.now();
    batching.ws.send(JSON.stringify({ type: 'metrics.batch', sentAt, samples }));
    // An older agent: one single report, no batch.
    const older = await agent('older');
    older.ws.send(
      JSON.stringify({ type: 'metrics', at: new Date().toISOString(), values: { 'TCP Segments Sent': 7 } }),
    );
    await new Promise((r) => setTimeout(r, 500));
    batching.ws.close();
    older.ws.close();
    await server.close();

    const db = await openPglite(join(dataDir, 'db'));
    try {
      const rows = await db.query(
        `SELECT k.vm_key, (extract(epoch FROM r.at) * 1000)::float8 AS at, r.v[1]::float8 AS sent
         FROM metric_raw r JOIN metric_hosts k ON k.id = r.host_id ORDER BY k.vm_key, r.at`,
      );
      const of = (vm: string) => rows.filter((r) => String(r.vm_key).endsWith(`/${vm}`));
      const batched = of('batcher');
      assert.deepEqual(
        batched.map((r) => Number(r.sent)),
        [14, 13, 12, 11, 10],
        'one row per sample, in order',
      );
      const times = batched.map((r) => Number(r.at));
      // One second apart, as taken; the newest at the batch's arrival on the server's clock, not the host's.
      assert.deepEqual(
        times.slice(1).map((t, i) => Math.round(t - times[i]!)),
        [1000, 1000, 1000, 1000],
      );
      assert.ok(
        Math.abs(times.at(-1)! - sentAtServer) < 2_000,
        `the newest sample is placed at arrival (${times.at(-1)! - sentAtServer} ms off)`,
      );
      assert.deepEqual(
        of('older').map((r) => Number(r.sent)),
        [7],
        "the older agent's single report is stored",
      );
      assert.equal(
        batching.received.filter((m) => m.type === 'metrics.ack').length,
        0,
        'a batch without an id (an older agent) is not acknowledged',
      );
      // Once the raw retention passes them, the per-minute rows are made from the stored rows.
      await new Store(db).advanceMetricRawSince(new Date(Date.now() + 3_600_000));
      const minutes = await db.query(
        `SELECT sum(m.n[1])::int AS n FROM metric_minutes m JOIN metric_hosts k ON k.id = m.host_id WHERE k.vm_key LIKE '%/batcher'`,
      );
      assert.equal(Number(minutes[0]!.n), 5, 'the per-minute rows count every sample');
    } finally {
      await db.close();
    }
  });

  test('a batch with an id is acknowledged once stored; re-sent on a new connection (its ack lost) it is stored once and acknowledged again', async () => {
    // The test before stopped the server: a new one on the same database.
    server = await startLoopbackServer(dataDir, SUB, { agentMetricsBatchIntervalInSeconds: 3 });
    const first = await agent('acker');
    const welcome = first.received.find((m) => m.type === 'welcome');
    assert.ok(welcome?.type === 'welcome' && welcome.metricBatchAcks, 'the welcome says this server acknowledges');
    const offset = clockOffsetOf(welcome.metricBatchAcks.serverTime);
    const takenAt = Date.now() - 3000;
    const batch = (id: number) =>
      JSON.stringify({
        type: 'metrics.batch',
        sentAt: new Date().toISOString(),
        id,
        clockOffsetInMs: offset,
        samples: [2, 1, 0].map((s) => ({
          at: new Date(takenAt - s * 1000).toISOString(),
          values: { 'TCP Segments Sent': 20 + s },
        })),
      });
    // Five batches in a row: one cumulative ack for them all, not five.
    for (let id = 1; id <= 5; id++) first.ws.send(batch(id));
    // Acks go once per liveness interval (10 s) per connection.
    await waitFor(() => first.received.some((m) => m.type === 'metrics.ack' && m.throughId === 5), 15_000);
    // One ack per connection per interval (two if the stores of the five straddled its slice), not one per batch.
    const acks = first.received.flatMap((m) => (m.type === 'metrics.ack' ? [m.throughId] : []));
    assert.ok(acks.length <= 2 && acks.at(-1) === 5, `cumulative acks, not one per batch: ${JSON.stringify(acks)}`);
    // The agent never saw that ack (the connection died first): it sends the batch again on the next.
    first.ws.close();
    const second = await agent('acker');
    second.ws.send(batch(1));
    await waitFor(() => second.received.some((m) => m.type === 'metrics.ack' && m.throughId === 1), 15_000);
    second.ws.close();
    await server.close();
    const db = await openPglite(join(dataDir, 'db'));
    try {
      const rows = await db.query(
        `SELECT r.v[1]::float8 AS sent FROM metric_raw r JOIN metric_hosts k ON k.id = r.host_id WHERE k.vm_key LIKE '%/acker' ORDER BY r.at`,
      );
      assert.deepEqual(
        rows.map((r) => Number(r.sent)),
        [22, 21, 20],
        'each sample once',
      );
    } finally {
      await db.close();
    }
  });
});
