/**
 * Issue 17, the batch interval follows the rules that watch the host, through the real server
 * (embedded database, loopback agents): a host in the scope of a rule evaluated every second is
 * told 1 s in its welcome, every other host the configured 5 s; creating, disabling, enabling and
 * deleting such a rule while agents are connected re-announces to exactly the hosts whose
 * interval changed.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { AGENT_CONNECT_PATH, parseServerToAgent, type ServerToAgent } from '../model/index.js';
import { startServer, type RunningServer } from './server.js';

const SUB = '00000000-0000-0000-0000-000000000000';
const RG = (rg: string) => `/subscriptions/${SUB}/resourceGroups/${rg}`;
const VM_PATH = (rg: string, vm: string) => `${RG(rg)}/providers/Microsoft.Compute/virtualMachines/${vm}`;

async function waitFor(check: () => boolean, timeoutInMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutInMs;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('metric batch intervals follow the alert rules that watch the host', () => {
  let server: RunningServer;
  const dataDir = mkdtempSync(join(tmpdir(), 'nw-batch-intervals-'));
  const sockets: WebSocket[] = [];
  const call = async (method: string, path: string, body?: unknown, token: string | null = server.adminToken) => {
    const res = await fetch(`${server.url}${path}?api-version=2018-03-01`, {
      method,
      headers: {
        ...(token ? { Authorization: `Bearer ${token}` } : {}),
        ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : null) as Record<string, any> };
  };
  /** Enrols a VM, connects as its agent, says hello; returns the intervals its welcomes announced, in order. */
  const agent = async (rg: string, vm: string) => {
    const ext = await call('PUT', `${VM_PATH(rg, vm)}/extensions/NetworkWatcherAgentLinux`, {
      properties: { publisher: 'Microsoft.Azure.NetworkWatcher', type: 'NetworkWatcherAgentLinux' },
    });
    const enrolled = await call(
      'POST',
      '/agent/v1/enroll',
      { token: ext.body.properties.enrollmentToken, hostname: vm },
      null,
    );
    assert.equal(enrolled.status, 200, JSON.stringify(enrolled.body));
    const ws = new WebSocket(`${server.url.replace('http', 'ws')}${AGENT_CONNECT_PATH}`, {
      headers: { Authorization: `Bearer ${enrolled.body.credential}` },
    });
    sockets.push(ws);
    const welcomes: number[] = [];
    ws.on('message', (d) => {
      const parsed = parseServerToAgent(d.toString());
      assert.ok(parsed.ok, 'every server message follows the protocol');
      const msg: ServerToAgent = parsed.message;
      if (msg.type === 'welcome') {
        assert.equal(msg.vmId.toLowerCase(), VM_PATH(rg, vm).toLowerCase());
        welcomes.push(msg.metricsBatchIntervalInSeconds!);
      }
    });
    await once(ws, 'open');
    ws.send(JSON.stringify({ type: 'hello', protocolVersion: 1, agentVersion: 't', hostname: vm, captures: [] }));
    await waitFor(() => welcomes.length > 0);
    return welcomes;
  };
  const rule = (name: string, scope: string, evaluationFrequency: string, enabled = true) =>
    call('PUT', `${RG('rules')}/providers/Microsoft.Insights/metricAlerts/${name}`, {
      location: 'global',
      properties: {
        severity: 3,
        enabled,
        scopes: [scope],
        evaluationFrequency,
        windowSize: evaluationFrequency === 'PT1S' ? 'PT5S' : 'PT5M',
        criteria: {
          'odata.type': 'Microsoft.Azure.Monitor.MultipleResourceMultipleMetricCriteria',
          allOf: [
            {
              criterionType: 'StaticThresholdCriterion',
              name: 'c0',
              metricName: 'TCP Segments Sent',
              timeAggregation: 'Total',
              operator: 'GreaterThan',
              threshold: 100,
            },
          ],
        },
      },
    });
  /** Lets any welcome in flight arrive (one sent after the API answered would be a defect too). */
  const settle = () => new Promise((r) => setTimeout(r, 300));

  before(async () => {
    // The default configured interval (5 s).
    server = await startServer({
      listenHost: '127.0.0.1',
      listenPort: 0,
      dataDir,
      defaultLocation: 'westcentralus',
      subscriptionId: SUB,
      logLevel: 'silent',
    });
  });
  after(async () => {
    for (const ws of sockets) ws.close();
    await server.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('a host under a PT1S rule is told 1 s, others 5 s; rule changes re-announce to exactly the hosts in scope', async () => {
    // Connected before any rule: every host is told the configured 5 s.
    const fastA = await agent('rgfast', 'fasta');
    const fastB = await agent('rgfast', 'fastb');
    const slow = await agent('rgslow', 'slowc');
    assert.deepEqual([fastA, fastB, slow], [[5], [5], [5]]);

    // A PT1M rule on rgslow tolerates 5 s (60 / 12): nothing to re-announce.
    assert.equal((await rule('every-minute', RG('rgslow'), 'PT1M')).status, 200);
    // A PT1S rule on rgfast: its two hosts are told 1 s, the other none.
    const created = await rule('every-second', RG('rgfast'), 'PT1S');
    assert.equal(created.status, 200, JSON.stringify(created.body));
    await waitFor(() => fastA.length === 2 && fastB.length === 2);
    await settle();
    assert.deepEqual([fastA, fastB, slow], [[5, 1], [5, 1], [5]], 'exactly the hosts in scope re-announced');

    // Hosts connecting now: the welcome carries each host's own interval.
    const fastNew = await agent('rgfast', 'fastnew');
    const other = await agent('rgother', 'otherd');
    assert.deepEqual([fastNew, other], [[1], [5]]);

    // Disabled: back to 5 s; enabled again: 1 s.
    assert.equal((await rule('every-second', RG('rgfast'), 'PT1S', false)).status, 200);
    await waitFor(() => fastA.length === 3 && fastB.length === 3 && fastNew.length === 2);
    assert.equal((await rule('every-second', RG('rgfast'), 'PT1S', true)).status, 200);
    await waitFor(() => fastA.length === 4 && fastB.length === 4 && fastNew.length === 3);

    // Deleted: its hosts return to 5 s.
    assert.equal(
      (await call('DELETE', `${RG('rules')}/providers/Microsoft.Insights/metricAlerts/every-second`)).status,
      200,
    );
    await waitFor(() => fastA.length === 5 && fastB.length === 5 && fastNew.length === 4);
    await settle();
    assert.deepEqual(
      [fastA, fastB, fastNew, slow, other],
      [[5, 1, 5, 1, 5], [5, 1, 5, 1, 5], [1, 5, 1, 5], [5], [5]],
      'each change told once, to the hosts it changed',
    );
  });
});
