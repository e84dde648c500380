import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { WebSocketServer } from 'ws';
import { startSimulatedFleet } from './agent-simulator.js';

/** A port nothing listens on (bound, then closed). */
function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

test('an agent given several addresses moves on to the next at once when one refuses, as nw agent does', async () => {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise((r) => wss.once('listening', r));
  const live = `http://127.0.0.1:${(wss.address() as { port: number }).port}`;
  const dead = `http://127.0.0.1:${await closedPort()}`;
  const fleet = await startSimulatedFleet({
    serverUrl: `${dead},${live}`,
    hosts: [{ index: 0, vmName: 'sim0', vmId: '/x/sim0', resourceGroup: 'simrg', credential: 'c' }],
    metricsIntervalInMs: 0,
    // A whole failed round waits a minute: only the move to the next address can connect in time.
    backoff: () => 60_000,
  });
  try {
    await fleet.waitConnected(1, 5_000);
    assert.equal(fleet.stats().failedAttempts, 1);
  } finally {
    await fleet.stop();
    wss.close();
  }
});
