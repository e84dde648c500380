/**
 * Capture target selectors (issue 14): a capture on every VM of a resource group with given tags
 * is resolved when it is created and listed in its status; hosts tagged or added later are not
 * part of it. Simulated agents (bench/lib/agent-simulator.ts) speak the real protocol.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSimulatedFleet, type SimulatedFleet } from '../bench/lib/agent-simulator.js';
import { parseTargetSelector } from '../src/cli/commands/packet-capture.js';
import { startServer, type RunningServer } from '../src/server/index.js';
import { apiCaller } from '../src/server/testing/loopback-agent.js';

const SUB = '00000000-0000-0000-0000-000000000000';
const RG = 'selrg';
const rgId = `/subscriptions/${SUB}/resourceGroups/${RG}`;

describe('capture target selectors', { timeout: 90_000 }, () => {
  let server: RunningServer;
  const fleets: SimulatedFleet[] = [];
  const dataDir = mkdtempSync(join(tmpdir(), 'nw-selector-'));
  const call = apiCaller(() => server, '2024-07-01');
  const tag = async (vm: string, tags: Record<string, string>) =>
    assert.equal(
      (await call('PATCH', `${rgId}/providers/Microsoft.Compute/virtualMachines/${vm}`, { tags })).status,
      200,
    );
  const pcPath = (name: string) => `${rgId}/providers/Microsoft.Network/networkWatchers/nw1/packetCaptures/${name}`;
  const statusOf = async (name: string) =>
    (await call('POST', `${pcPath(name)}/queryStatus`)).body as {
      packetCaptureStatus: string;
      instances: Array<{ target: string; packetCaptureStatus: string }>;
    };
  const waitFor = async (check: () => Promise<boolean>, what: string) => {
    const deadline = Date.now() + 20_000;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  before(async () => {
    server = await startServer({
      listenHost: '127.0.0.1',
      listenPort: 0,
      dataDir,
      defaultLocation: 'westus',
      subscriptionId: SUB,
      logLevel: 'silent',
    });
    assert.equal(
      (await call('PUT', `${rgId}/providers/Microsoft.Network/networkWatchers/nw1`, { location: 'westcentralus' }))
        .status,
      201,
    );
    fleets.push(
      await startSimulatedFleet({
        serverUrl: server.url,
        adminToken: server.adminToken,
        count: 4,
        resourceGroup: RG,
        metricsIntervalInMs: 0,
      }),
    );
    await fleets[0]!.waitConnected(4, 30_000);
  });
  after(async () => {
    for (const f of fleets) await f.stop();
    await server?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('the CLI form parses into the API form', () => {
    assert.deepEqual(parseTargetSelector('resourceGroup=selrg,tags.role=web'), {
      resourceGroup: 'selrg',
      tags: { role: 'web' },
    });
    assert.deepEqual(parseTargetSelector('tags.role=web, tags.tier=front'), { tags: { role: 'web', tier: 'front' } });
    assert.throws(() => parseTargetSelector('role=web'), /tags\.KEY=VALUE/);
    assert.throws(() => parseTargetSelector(''), /resourceGroup=RG, tags/);
  });

  test('tags select the hosts at create; hosts tagged or added later are ignored; stop reaches the chosen ones', async () => {
    await tag('sim0', { role: 'web' });
    await tag('sim2', { Role: 'web', tier: 'front' });
    await tag('sim1', { role: 'db' });
    const created = await call('PUT', pcPath('webpc'), {
      properties: {
        target: rgId,
        targetSelector: { tags: { role: 'web' } },
        storageLocation: { filePath: '/var/captures/webpc.cap' },
      },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.deepEqual((created.body.properties as { targetSelector: unknown }).targetSelector, {
      tags: { role: 'web' },
    });
    await waitFor(
      async () =>
        (await statusOf('webpc')).packetCaptureStatus === 'Running' &&
        (await statusOf('webpc')).instances.every((i) => i.packetCaptureStatus === 'Running'),
      'the capture to run on both',
    );
    const chosen = (await statusOf('webpc')).instances.map((i) => i.target.split('/').pop());
    assert.deepEqual(chosen, ['sim0', 'sim2']);

    // Later: another host gets the tag, and a new tagged host enrols.
    await tag('sim3', { role: 'web' });
    const later = await startSimulatedFleet({
      serverUrl: server.url,
      adminToken: server.adminToken,
      count: 1,
      firstIndex: 4,
      resourceGroup: RG,
      metricsIntervalInMs: 0,
    });
    fleets.push(later);
    await later.waitConnected(1, 20_000);
    await tag('sim4', { role: 'web' });
    assert.deepEqual(
      (await statusOf('webpc')).instances.map((i) => i.target.split('/').pop()),
      ['sim0', 'sim2'],
      'resolved once, at create',
    );

    const stop = await call('POST', `${pcPath('webpc')}/stop`);
    assert.ok(stop.status === 200 || stop.status === 202);
    await waitFor(async () => (await statusOf('webpc')).packetCaptureStatus === 'Stopped', 'both to stop');
    const del = await call('DELETE', pcPath('webpc'));
    assert.ok(del.status === 202 || del.status === 204, `delete answered ${del.status}`);
    await waitFor(async () => (await call('GET', pcPath('webpc'))).status === 404, 'the capture to go');
  });

  test('a resource group without tags takes every VM there; a selector that matches nothing or is malformed is refused and creates nothing', async () => {
    const all = await call('PUT', pcPath('rgpc'), {
      properties: { target: rgId, targetSelector: {}, storageLocation: { filePath: '/var/captures/rgpc.cap' } },
    });
    assert.equal(all.status, 201, JSON.stringify(all.body));
    await waitFor(async () => (await statusOf('rgpc')).instances.length === 5, 'five hosts');
    const none = await call('PUT', pcPath('nonepc'), {
      properties: {
        target: rgId,
        targetSelector: { tags: { role: 'nosuch' } },
        storageLocation: { filePath: '/var/captures/n.cap' },
      },
    });
    assert.equal(none.status, 400);
    assert.match(none.body.error!.message, /matches no VM/);
    const badScope = await call('PUT', pcPath('badpc'), {
      properties: {
        target: `${rgId}/providers/Microsoft.Compute/virtualMachines/sim0`,
        targetSelector: { tags: {} },
        storageLocation: { filePath: '/var/captures/b.cap' },
      },
    });
    assert.equal(badScope.status, 400);
    assert.match(badScope.body.error!.message, /scope/);
    assert.equal((await call('GET', pcPath('nonepc'))).status, 404);
    assert.equal((await call('GET', pcPath('badpc'))).status, 404);
  });
});
