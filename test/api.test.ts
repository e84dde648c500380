/**
 * The HTTP API without hosts: authentication, ARM error bodies and headers, watchers, VM
 * extensions (enrolment), storage accounts, and the bad-input refusals of a capture create that
 * need no agent. A real server on loopback with its embedded database.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunningServer } from '../src/server/index.js';
import { apiCaller, startLoopbackServer } from '../src/server/testing/loopback-agent.js';

const SUB = '00000000-0000-0000-0000-000000000000';

describe('API without hosts', () => {
  let server: RunningServer;
  const dataDir = mkdtempSync(join(tmpdir(), 'nw-api-'));
  const call = apiCaller(() => server);
  const rgPath = `/subscriptions/${SUB}/resourceGroups/rg1`;

  before(async () => {
    server = await startLoopbackServer(dataDir, SUB);
  });
  after(async () => {
    await server?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('every API call needs the bearer token; a wrong one gets 401 and changes nothing', async () => {
    const body = { location: 'eastus' };
    for (const token of [null, 'wrong-token']) {
      const r = await call('PUT', `${rgPath}/providers/Microsoft.Network/networkWatchers/nw1`, body, token);
      assert.equal(r.status, 401);
      assert.equal(r.body.error.code, 'AuthenticationFailed');
    }
    assert.equal((await call('GET', `${rgPath}/providers/Microsoft.Network/networkWatchers/nw1`)).status, 404);
    for (const path of [
      `/subscriptions/${SUB}/providers/Microsoft.Storage/storageAccounts`,
      `/subscriptions/${SUB}/providers/Microsoft.Network/locations/x/operations/y`,
    ]) {
      assert.equal((await call('GET', path, undefined, null)).status, 401, path);
    }
  });

  test('ARM headers and error shape', async () => {
    const r = await call('GET', `${rgPath}/providers/Microsoft.Network/networkWatchers/missing`);
    assert.equal(r.status, 404);
    assert.equal(r.body.error.code, 'NetworkWatcherNotFound');
    assert.ok(r.headers.get('x-ms-request-id'));
    assert.ok(r.headers.get('x-ms-correlation-request-id'));
    const bad = await call('PUT', `${rgPath}/providers/Microsoft.Network/networkWatchers/nw1`, '{"location": ');
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.code, 'InvalidRequestContent');
  });

  test('watchers: create (201), update (200), case-insensitive paths and properties, one per location', async () => {
    const path = `${rgPath}/providers/Microsoft.Network/networkWatchers/nw1`;
    const created = await call('PUT', path, { LOCATION: 'eastus' });
    assert.equal(created.status, 201);
    assert.equal(created.body.location, 'eastus');
    assert.match(created.body.etag, /^W\/"/);
    assert.equal(created.body.properties.provisioningState, 'Succeeded');
    const updated = await call('PUT', path.toUpperCase().replace(`/SUBSCRIPTIONS/${SUB}`, `/subscriptions/${SUB}`), {
      location: 'eastus',
      tags: { a: 'b' },
    });
    assert.equal(updated.status, 200);
    const second = await call('PUT', `${rgPath}/providers/Microsoft.Network/networkWatchers/nw2`, {
      location: 'eastus',
    });
    assert.equal(second.status, 409);
    const all = await call('GET', `/subscriptions/${SUB}/providers/Microsoft.Network/networkWatchers`);
    assert.ok(all.body.value.some((w: { name: string }) => w.name === 'nw1'));
  });

  test('extension set registers the VM and returns a one-time install command; Windows is refused', async () => {
    const path = `${rgPath}/providers/Microsoft.Compute/virtualMachines/vm1/extensions/NetworkWatcherAgentLinux`;
    const r = await call('PUT', path, {
      properties: {
        publisher: 'Microsoft.Azure.NetworkWatcher',
        type: 'NetworkWatcherAgentLinux',
        typeHandlerVersion: '1.4',
      },
    });
    assert.equal(r.status, 201);
    assert.ok(r.headers.get('azure-asyncoperation'));
    assert.match(
      r.body.properties.installCommand,
      /^nw agent --server http:\/\/127\.0\.0\.1:\d+ --token \S+ --data-dir \S+$/,
    );
    assert.equal(r.body.properties.provisioningState, 'Creating');
    const op = await fetch(r.headers.get('azure-asyncoperation')!, {
      headers: { Authorization: `Bearer ${server.adminToken}` },
    });
    assert.equal(((await op.json()) as { status: string }).status, 'Succeeded');
    const got = await call('GET', path);
    assert.equal(got.body.properties.installCommand, undefined, 'the token is shown once');
    assert.equal(got.body.properties.enrollmentToken, undefined);
    const alias = await call(
      'GET',
      `${rgPath}/providers/Microsoft.Compute/virtualMachines/vm1/extensions/AzureNetworkWatcherExtension`,
    );
    assert.equal(alias.status, 200);
    assert.equal(alias.body.name, 'NetworkWatcherAgentLinux');
    const vm = await call('GET', `${rgPath}/providers/Microsoft.Compute/virtualMachines/vm1`);
    assert.equal(vm.body.location, 'westcentralus');
    const win = await call(
      'PUT',
      `${rgPath}/providers/Microsoft.Compute/virtualMachines/vm2/extensions/NetworkWatcherAgentWindows`,
      { properties: { publisher: 'Microsoft.Azure.NetworkWatcher', type: 'NetworkWatcherAgentWindows' } },
    );
    assert.equal(win.status, 400);
    assert.equal(
      (await call('GET', `${rgPath}/providers/Microsoft.Compute/virtualMachines/vm2`)).status,
      404,
      'a refused request changes nothing',
    );

    // Enrolment: the token works once, then is refused.
    const token = /--token (\S+)/.exec(r.body.properties.installCommand)![1]!;
    const enrol = await call('POST', '/agent/v1/enroll', { token, hostname: 'h' }, null);
    assert.equal(enrol.status, 200);
    const cred = enrol.body as { credential: string; vmId: string };
    assert.match(cred.vmId, /virtualMachines\/vm1$/);
    const again = await call('POST', '/agent/v1/enroll', { token, hostname: 'h' }, null);
    assert.equal(again.status, 401);
    // An agent credential is not an admin token.
    assert.equal(
      (
        await call(
          'GET',
          `/subscriptions/${SUB}/providers/Microsoft.Network/networkWatchers`,
          undefined,
          cred.credential,
        )
      ).status,
      401,
    );
    // Enrolment created the location's watcher.
    const watchers = await call('GET', `/subscriptions/${SUB}/providers/Microsoft.Network/networkWatchers`);
    assert.ok(
      watchers.body.value.some((w: { name: string; location: string }) => w.name === 'NetworkWatcher_westcentralus'),
    );
  });

  test('a subscription id outside ASCII: the operation URL is percent-encoded and can be followed (was a 500)', async () => {
    const subscription = encodeURIComponent('sub-\u00e9-\u{1f980}');
    const path = `/subscriptions/${subscription}/resourceGroups/rg1/providers/Microsoft.Compute/virtualMachines/vm9/extensions/NetworkWatcherAgentLinux`;
    const r = await call('PUT', path, {
      properties: {
        publisher: 'Microsoft.Azure.NetworkWatcher',
        type: 'NetworkWatcherAgentLinux',
        typeHandlerVersion: '1.4',
      },
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const url = r.headers.get('azure-asyncoperation')!;
    assert.match(url, /^[\x21-\x7e]+$/, 'an ASCII header');
    assert.ok(url.includes(`/subscriptions/${subscription}/`), url);
    const op = await fetch(url, { headers: { Authorization: `Bearer ${server.adminToken}` } });
    assert.equal(op.status, 200);
    assert.equal(((await op.json()) as { status: string }).status, 'Succeeded');
  });

  test('storage accounts: the default local one is listed without secrets', async () => {
    const r = await call('GET', `/subscriptions/${SUB}/providers/Microsoft.Storage/storageAccounts`);
    assert.equal(r.status, 200);
    const local = r.body.value.find((a: { name: string }) => a.name === 'nwlocal');
    assert.ok(local);
    assert.match(local.properties.primaryEndpoints.blob, /^http:\/\/127\.0\.0\.1:\d+\/storage\/nwlocal\/$/);
    assert.equal(JSON.stringify(r.body).includes('rootDir'), false, 'server paths are not shown');
    const bad = await call('PUT', `${rgPath}/providers/Microsoft.Storage/storageAccounts/Bad_Name`, {
      location: 'westcentralus',
    });
    assert.equal(bad.status, 400);
  });

  test('capture create refuses bad input with a named field and changes nothing', async () => {
    const watcher = `/subscriptions/${SUB}/resourceGroups/NetworkWatcherRG/providers/Microsoft.Network/networkWatchers/NetworkWatcher_westcentralus`;
    const vmId = `/subscriptions/${SUB}/resourceGroups/rg1/providers/Microsoft.Compute/virtualMachines/vm1`;
    const storageId = `/subscriptions/${SUB}/resourceGroups/NetworkWatcherRG/providers/Microsoft.Storage/storageAccounts/nwlocal`;
    const put = (name: string, properties: unknown) => call('PUT', `${watcher}/packetCaptures/${name}`, { properties });
    const cases: Array<[unknown, number, string, RegExp]> = [
      [{ storageLocation: { storageId } }, 400, 'MissingRequiredProperty', /target/],
      [{ target: vmId }, 400, 'MissingRequiredProperty', /storageLocation/],
      [{ target: vmId, storageLocation: {} }, 400, 'MissingRequiredProperty', /storageId|filePath/],
      [
        { target: vmId, storageLocation: { storageId }, timeLimitInSeconds: 18001 },
        400,
        'InvalidRequestContent',
        /timeLimitInSeconds/,
      ],
      [
        { target: vmId, storageLocation: { storageId }, bytesToCapturePerPacket: -1 },
        400,
        'InvalidRequestContent',
        /bytesToCapturePerPacket/,
      ],
      [
        { target: vmId, storageLocation: { storageId }, totalBytesPerSession: 'lots' },
        400,
        'InvalidRequestContent',
        /totalBytesPerSession/,
      ],
      [
        { target: vmId, storageLocation: { storageId }, filters: [{ protocol: 'TCP' }, { localPort: '70000' }] },
        400,
        'InvalidFilter',
        /1.*localPort|localPort.*1/,
      ],
      [
        { target: vmId, storageLocation: { storageId }, filters: [{ protocol: 'ICMP' }] },
        400,
        'InvalidFilter',
        /protocol/,
      ],
      [
        {
          target: `/subscriptions/${SUB}/resourceGroups/rg1/providers/Microsoft.Compute/virtualMachines/nope`,
          storageLocation: { storageId },
        },
        404,
        'VirtualMachineNotFound',
        /nope/,
      ],
      [{ target: 'not-an-id', storageLocation: { storageId } }, 400, 'InvalidResourceId', /target/],
      [{ target: vmId, storageLocation: { storageId } }, 400, 'AgentNotConnected', /not connected/],
    ];
    for (const [properties, status, code, message] of cases) {
      const r = await put('bad', properties);
      assert.equal(r.status, status, JSON.stringify(properties) + ' ' + JSON.stringify(r.body));
      assert.equal(r.body.error.code, code, JSON.stringify(r.body));
      assert.match(r.body.error.message, message);
    }
    const list = await call('GET', `${watcher}/packetCaptures`);
    assert.deepEqual(list.body.value, []);
    assert.equal((await call('DELETE', `${watcher}/packetCaptures/missing`)).status, 204);
    assert.equal((await call('POST', `${watcher}/packetCaptures/missing/queryStatus`)).status, 404);
  });
});
