/**
 * Issue 17, memory per connected agent is bounded: what the server keeps in memory per host
 * (connections, welcomes told, goodbyes owed, per-host turns, agent credentials, metric
 * allowances and totals) follows the hosts connected — or, for metric totals, reporting within
 * the idle retention — never every host ever seen. Through the real server (embedded database,
 * loopback agents): agents connect and report, some of their hosts are deleted (`nw vm delete`),
 * the others disconnect, and each table goes back to what it held before they came.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type WebSocket from 'ws';
import type { RunningServer } from './server.js';
import { apiCaller, connectLoopbackAgent, waitFor, startLoopbackServer } from './testing/loopback-agent.js';

const SUB = '00000000-0000-0000-0000-000000000000';
const VM_PATH = (vm: string) =>
  `/subscriptions/${SUB}/resourceGroups/rg-mem/providers/Microsoft.Compute/virtualMachines/${vm}`;
const AGENTS = 20;

describe('per-host memory of a server follows the hosts connected', () => {
  let server: RunningServer;
  const dataDir = mkdtempSync(join(tmpdir(), 'nw-per-host-memory-'));
  const call = apiCaller(() => server);
  const entries = () => server.perHostEntries!();

  before(async () => {
    server = await startLoopbackServer(dataDir, SUB);
  });
  after(async () => {
    await server.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('deleted hosts leave every per-host table at once; disconnected hosts leave all but their metric totals', async () => {
    const baseline = entries();
    const sockets: WebSocket[] = [];
    for (let i = 0; i < AGENTS; i++) {
      const { ws } = await connectLoopbackAgent({
        call,
        serverUrl: server.url,
        vmPath: VM_PATH(`m${i}`),
        hostname: `m${i}`,
      });
      ws.send(JSON.stringify({ type: 'metrics', at: new Date().toISOString(), values: { 'TCP Segments Sent': 1 } }));
      sockets.push(ws);
    }
    await waitFor(() => entries().totals === baseline.totals + AGENTS && entries().owedGoodbyes === AGENTS);
    const loaded = entries();
    assert.equal(loaded.agentConnections, AGENTS);
    assert.equal(loaded.announcedWelcomes, AGENTS);
    assert.equal(loaded.allowances, baseline.allowances + AGENTS);
    assert.equal(loaded.agentCredentials, baseline.agentCredentials + AGENTS);

    // Half the hosts deleted while connected (their credential revoked, their connection cut).
    for (let i = 0; i < AGENTS / 2; i++) {
      const deleted = await call('DELETE', VM_PATH(`m${i}`));
      assert.equal(deleted.status, 200, JSON.stringify(deleted.body));
    }
    // The other half's agents go away (a clean close: no goodbye grace).
    for (const ws of sockets.slice(AGENTS / 2)) ws.close();
    await waitFor(() => {
      const now = entries();
      return now.agentConnections === 0 && now.owedGoodbyes === 0 && now.hostTurns === 0;
    });
    const gone = entries();
    assert.equal(gone.announcedWelcomes, baseline.announcedWelcomes, 'no welcome is remembered for a host gone');
    assert.equal(
      gone.totals,
      baseline.totals + AGENTS / 2,
      "deleted hosts' metric totals go at once; a disconnected host's stay for the idle retention",
    );
    assert.equal(gone.allowances, baseline.allowances + AGENTS / 2);
    assert.equal(
      gone.agentCredentials,
      baseline.agentCredentials + AGENTS / 2,
      'a disconnected host may come back with its credential',
    );

    // Deleting the disconnected hosts takes the rest.
    for (let i = AGENTS / 2; i < AGENTS; i++) assert.equal((await call('DELETE', VM_PATH(`m${i}`))).status, 200);
    const after = entries();
    for (const table of [
      'agentConnections',
      'announcedWelcomes',
      'owedGoodbyes',
      'hostTurns',
      'agentCredentials',
      'allowances',
      'totals',
    ] as const)
      assert.equal(after[table], baseline[table], `${table} back to what it held before the agents came`);

    // The fleet's counter still counts what every host sent.
    const scrape = await fetch(`${server.url}/metrics`, { headers: { Authorization: `Bearer ${server.adminToken}` } });
    assert.match(await scrape.text(), new RegExp(`^nw_hosts_tcp_segments_sent_total ${AGENTS}$`, 'm'));
  });
});
