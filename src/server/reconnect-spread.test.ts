/**
 * Issue 17, reconnect storms: the server sizes the reconnect spread its welcome announces to the
 * agents connected to it, and tells the agents connected early a longer one once the fleet grew
 * (through the real server, embedded database, loopback agents).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type WebSocket from 'ws';
import { AGENT_RECONNECT_SPREAD_LIMITS } from '../model/index.js';
import { RECONNECT_SPREAD_CHECK_IN_MS } from './metric-batch-intervals.js';
import { AGENT_ADMISSIONS_PER_SECOND, reconnectSpreadInSeconds, spreadChanged } from './reconnect-spread.js';
import type { RunningServer } from './server.js';
import { apiCaller, connectLoopbackAgent, waitFor, startLoopbackServer } from './testing/loopback-agent.js';

const SUB = '00000000-0000-0000-0000-000000000000';
const VM_PATH = (vm: string) =>
  `/subscriptions/${SUB}/resourceGroups/rgspread/providers/Microsoft.Compute/virtualMachines/${vm}`;

describe('reconnect spread', () => {
  test('sized to the fleet at the rate a replica admits: 100 agents 1 s, 10,000 agents 10 s, bounded', () => {
    assert.equal(AGENT_ADMISSIONS_PER_SECOND, 1000);
    assert.equal(reconnectSpreadInSeconds(0), 1);
    assert.equal(reconnectSpreadInSeconds(1), 1);
    assert.equal(reconnectSpreadInSeconds(100), 1);
    assert.equal(reconnectSpreadInSeconds(1000), 1);
    assert.equal(reconnectSpreadInSeconds(1001), 2);
    assert.equal(reconnectSpreadInSeconds(10_000), 10);
    assert.equal(reconnectSpreadInSeconds(10_000, 500), 20);
    assert.equal(reconnectSpreadInSeconds(10_000_000), AGENT_RECONNECT_SPREAD_LIMITS.maxSeconds);
    assert.equal(reconnectSpreadInSeconds(Number.NaN), AGENT_RECONNECT_SPREAD_LIMITS.maxSeconds);
    assert.equal(reconnectSpreadInSeconds(-5), 1);
    assert.equal(reconnectSpreadInSeconds(10, 0), 10, 'a rate below one is taken as one');
  });

  test('re-announced only on a real change (half or one and a half times)', () => {
    assert.equal(spreadChanged(1, 1), false);
    assert.equal(spreadChanged(1, 2), true);
    assert.equal(spreadChanged(10, 14), false);
    assert.equal(spreadChanged(10, 15), true);
    assert.equal(spreadChanged(10, 6), false);
    assert.equal(spreadChanged(10, 5), true);
  });

  describe('through the server', () => {
    let server: RunningServer;
    const dataDir = mkdtempSync(join(tmpdir(), 'nw-reconnect-spread-'));
    const sockets: WebSocket[] = [];
    const call = apiCaller(() => server, '2018-03-01');

    before(async () => {
      server = await startLoopbackServer(dataDir, SUB, {
        // Two admissions a second: five agents make a fleet whose spread grows (1, 1, 2, 2, 3 s).
        agentAdmissionsPerSecond: 2,
      });
    });
    after(async () => {
      for (const ws of sockets) ws.close();
      await server.close();
      rmSync(dataDir, { recursive: true, force: true });
    });

    test('each welcome carries the spread for the agents connected then; agents told too short a one are told again', async () => {
      const spreads: number[][] = [];
      for (let i = 0; i < 5; i++) {
        const told: number[] = [];
        spreads.push(told);
        const { ws } = await connectLoopbackAgent({
          call,
          serverUrl: server.url,
          vmPath: VM_PATH(`spread${i}`),
          hostname: `spread${i}`,
          onMessage: (msg) => {
            if (msg.type === 'welcome') told.push(msg.reconnectSpreadInSeconds!);
          },
        });
        sockets.push(ws);
      }
      assert.deepEqual(
        spreads.map((s) => s[0]),
        [1, 1, 2, 2, 3],
        'the first welcome: the connected agents (itself included) over the admission rate',
      );
      // Within a check interval or two, the agents told 1 s or 2 s for a fleet that now needs 3 s
      // are told 3 s; the one told 3 s is left alone.
      await waitFor(() => spreads.every((s) => s.at(-1) === 3), 3 * RECONNECT_SPREAD_CHECK_IN_MS);
      assert.deepEqual(spreads, [[1, 3], [1, 3], [2, 3], [2, 3], [3]]);
    });

    test('a host cut without a close frame is shown connected for the spread it was told and 5 s, when that is past the 10 s grace', async () => {
      // Eight more agents: 13 connected at two a second, a spread of 7 s, so a grace of 12 s.
      const told: number[][] = [];
      for (let i = 5; i < 13; i++) {
        const mine: number[] = [];
        told.push(mine);
        const { ws } = await connectLoopbackAgent({
          call,
          serverUrl: server.url,
          vmPath: VM_PATH(`spread${i}`),
          hostname: `spread${i}`,
          onMessage: (msg) => {
            if (msg.type === 'welcome') mine.push(msg.reconnectSpreadInSeconds!);
          },
        });
        sockets.push(ws);
      }
      await waitFor(() => told[0]!.at(-1) === 7, 3 * RECONNECT_SPREAD_CHECK_IN_MS);
      const connected = async () =>
        (await call('GET', VM_PATH('spread5'))).body.properties?.netwatcher?.agentConnected as boolean;
      await waitFor(connected);
      const cutAt = Date.now();
      sockets[5]!.terminate();
      await new Promise((r) => setTimeout(r, 11_000));
      assert.equal(
        await connected(),
        true,
        'still shown connected 11 s after the cut (the 10 s grace alone has passed)',
      );
      await waitFor(async () => !(await connected()), 10_000);
      const shownGoneAfterInMs = Date.now() - cutAt;
      assert.ok(shownGoneAfterInMs >= 12_000, `recorded away after ${shownGoneAfterInMs} ms`);
    });
  });
});
