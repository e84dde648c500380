/**
 * Azure's SDK clients over plain http, with the SDK's documented http set-up
 * (`allowInsecureConnection` and a bearer policy that allows http), against a real agent on a
 * test host; and the long-running operation documents, which live in the database, answering
 * after the server restarts.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { Lab, stopProcess, type LabHost } from './lab/lab.js';
import { runFlows, startResponder } from './lab/traffic.js';
import { SdkProcess } from './sdk/sdk-process.js';

const SUB = '00000000-0000-0000-0000-000000000000';
const LOC = 'westcentralus';
const POLL = { updateIntervalInMs: 50 };
const W = ['NetworkWatcherRG', `NetworkWatcher_${LOC}`] as const;
const WATCHER_PATH = `/subscriptions/${SUB}/resourceGroups/${W[0]}/providers/Microsoft.Network/networkWatchers/${W[1]}`;
const STORAGE_ID = `/subscriptions/${SUB}/resourceGroups/NetworkWatcherRG/providers/Microsoft.Storage/storageAccounts/nwlocal`;

// A server restart waits for a fresh start (up to 90 s on a loaded 2-core machine: lab.startServer).
describe('Azure SDK over plain http; operations after a restart', { timeout: 300_000 }, () => {
  let lab: Lab;
  let a: LabHost;
  let b: LabHost;
  let sdk: SdkProcess;
  const rg = `httprg${process.pid}`;
  const target = `/subscriptions/${SUB}/resourceGroups/${rg}/providers/Microsoft.Compute/virtualMachines/vmh`;
  const responders: ChildProcess[] = [];
  const status = (name: string) => sdk.call('network', 'packetCaptures.beginGetStatusAndWait', ...W, name, POLL);
  /** The path and query of an absolute URL the server built (it must point back at the server the client used). */
  const local = (url: string) => {
    const u = new URL(url);
    assert.equal(u.origin, lab.serverUrl);
    return `${u.pathname}${u.search}`;
  };

  before(async () => {
    lab = await Lab.create();
    a = await lab.addHost('a', ['10.0.0.3/24']);
    b = await lab.addHost('b', ['10.0.0.4/24']);
    await lab.startServer();
    responders.push(await startResponder(b, { tcp: [80], udp: [] }));
    sdk = await SdkProcess.start({ endpoint: lab.serverUrl, token: lab.adminToken, insecureHttp: true });
  });
  after(async () => {
    await sdk?.close();
    for (const r of responders) await stopProcess(r);
    await lab?.destroy();
  });

  test('without the http set-up the SDK refuses to send the token; plain http has no CA to hand out', async () => {
    const strict = await SdkProcess.start({ endpoint: lab.serverUrl, token: lab.adminToken });
    try {
      const e = await strict.callFailing('network', 'networkWatchers.listAll');
      assert.match(e.message, /Bearer token authentication is not permitted for non-TLS/);
    } finally {
      await strict.close();
    }
    const ca = await lab.api('GET', '/agent/v1/ca.pem', undefined, '');
    assert.equal(ca.status, 404);
  });

  test('lifecycle over http: watchers, extension, create, status, stop, delete', async () => {
    const { installCommand } = await lab.installAgent(a, rg, 'vmh');
    assert.doesNotMatch(installCommand, /--ca-/, 'no CA over plain http');
    const ext = await sdk.call('compute', 'virtualMachineExtensions.get', rg, 'vmh', 'AzureNetworkWatcherExtension');
    assert.equal(ext.provisioningState, 'Succeeded');
    const again = await sdk.call(
      'compute',
      'virtualMachineExtensions.beginCreateOrUpdateAndWait',
      rg,
      'vmh',
      'NetworkWatcherAgentLinux',
      {
        location: LOC,
        publisher: 'Microsoft.Azure.NetworkWatcher',
        typePropertiesType: 'NetworkWatcherAgentLinux',
        typeHandlerVersion: '1.4',
        autoUpgradeMinorVersion: true,
      },
      POLL,
    );
    assert.equal(again.provisioningState, 'Succeeded', 'an update of a connected agent');
    assert.ok(
      (await sdk.call<Array<{ name: string }>>('network', 'networkWatchers.listAll')).some((w) => w.name === W[1]),
    );
    assert.equal((await sdk.call('network', 'networkWatchers.get', ...W)).location, LOC);

    const created = await sdk.call(
      'network',
      'packetCaptures.beginCreateAndWait',
      ...W,
      'plain',
      {
        target,
        storageLocation: { storageId: STORAGE_ID },
        timeLimitInSeconds: 60,
        filters: [{ protocol: 'TCP', remotePort: '80' }],
      },
      POLL,
    );
    assert.equal(created.provisioningState, 'Succeeded');
    assert.equal((await status('plain')).packetCaptureStatus, 'Running');
    await runFlows(a, [{ proto: 'tcp', host: '10.0.0.4', port: 80 }]);
    assert.equal((await sdk.call('network', 'packetCaptures.get', ...W, 'plain')).timeLimitInSeconds, 60);
    await sdk.call('network', 'packetCaptures.beginStopAndWait', ...W, 'plain', POLL);
    const stopped = await status('plain');
    assert.deepEqual([stopped.packetCaptureStatus, stopped.stopReason], ['Stopped', 'Manual']);
    await sdk.call('network', 'packetCaptures.beginDeleteAndWait', ...W, 'plain', POLL);
    assert.deepEqual(await sdk.call('network', 'packetCaptures.list', ...W), []);
  });

  test('operation documents and results keep answering after a server restart', async () => {
    const put = await lab.api('PUT', `${WATCHER_PATH}/packetCaptures/durable?api-version=2025-05-01`, {
      properties: { target, storageLocation: { storageId: STORAGE_ID }, timeLimitInSeconds: 60 },
    });
    assert.equal(put.status, 201, JSON.stringify(put.body));
    const createOp = local(put.headers.get('azure-asyncoperation')!);
    assert.match(
      createOp,
      /\/providers\/Microsoft\.Network\/locations\/westcentralus\/operations\/[^/?]+\?api-version=2025-05-01$/,
    );
    await lab.waitFor(
      async () => ((await lab.api('GET', createOp)).body as { status: string }).status === 'Succeeded',
      20_000,
      'the capture to run',
    );

    const stop = await lab.api('POST', `${WATCHER_PATH}/packetCaptures/durable/stop?api-version=2025-05-01`);
    assert.equal(stop.status, 202);
    assert.equal(
      stop.headers.get('retry-after'),
      null,
      'no Retry-After: it would override the client polling interval',
    );
    const stopOp = local(stop.headers.get('azure-asyncoperation')!);
    const stopResult = local(stop.headers.get('location')!);
    assert.match(stopResult, /\/operationResults\//);
    await lab.waitFor(
      async () => ((await lab.api('GET', stopOp)).body as { status: string }).status === 'Succeeded',
      20_000,
      'the stop',
    );
    const before = await Promise.all([createOp, stopOp].map(async (p) => (await lab.api('GET', p)).body));

    await lab.stopServer();
    await sleep(200);
    await lab.startServer();

    const after = await Promise.all([createOp, stopOp].map(async (p) => lab.api('GET', p)));
    assert.deepEqual(
      after.map((r) => r.status),
      [200, 200],
    );
    assert.deepEqual(
      after.map((r) => r.body),
      before,
      'the same documents, start and end times included',
    );
    const result = await lab.api('GET', stopResult);
    assert.deepEqual([result.status, result.body], [200, null], "a finished stop's result is JSON null, as Azure's");
    const unknown = await lab.api(
      'GET',
      createOp.replace(/operations\/[^/?]+/, 'operations/00000000-dead-beef-0000-000000000000'),
    );
    assert.deepEqual(
      [unknown.status, (unknown.body as { error: { code: string } }).error.code],
      [404, 'OperationNotFound'],
    );

    // The SDK carries on against the restarted server once the agent is back.
    await lab.waitForAgent(rg, 'vmh');
    assert.equal((await status('durable')).packetCaptureStatus, 'Stopped');
    await sdk.call('network', 'packetCaptures.beginDeleteAndWait', ...W, 'durable', POLL);
  });
});
