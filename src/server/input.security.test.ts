/**
 * Hostile names and inputs against a real in-process server (PGlite): ARM's naming rules, encoded
 * slashes, NUL and lone surrogates in path, query and body, and deep nesting — each a 400 naming
 * the field, never a 500, and nothing stored.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, type RunningServer } from './server.js';
import { rawRequest } from './testing/loopback-agent.js';

const SUB = '00000000-0000-0000-0000-000000000000';
const RG = `/subscriptions/${SUB}/resourceGroups/rg1`;
const NW = `${RG}/providers/Microsoft.Network/networkWatchers`;

/** A raw request (fetch would normalise the URL: these tests need the bytes as written). */
async function raw(
  server: RunningServer,
  method: string,
  path: string,
  body?: string,
): Promise<{ status: number; body: any }> {
  const answer = await rawRequest(server.url, method, path, server.adminToken, body);
  return { status: answer.status, body: answer.json ?? (answer.body || null) };
}

describe('names and inputs follow ARM rules', () => {
  let server: RunningServer;
  const dataDir = mkdtempSync(join(tmpdir(), 'nw-input-'));
  const av = '?api-version=2022-01-01';
  /** Everything the API lists, to prove refused requests stored nothing. */
  const snapshot = async () => {
    const lists = [
      `/subscriptions/${SUB}/providers/Microsoft.Network/networkWatchers`,
      `/subscriptions/${SUB}/providers/Microsoft.Storage/storageAccounts`,
      `/subscriptions/${SUB}/providers/Microsoft.Compute/virtualMachines`,
      `/subscriptions/${SUB}/providers/Microsoft.Insights/actionGroups`,
      `/subscriptions/${SUB}/providers/Microsoft.Insights/metricAlerts`,
    ];
    return JSON.stringify(await Promise.all(lists.map(async (p) => (await raw(server, 'GET', p + av)).body)));
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
    assert.equal((await raw(server, 'PUT', `${NW}/nw1${av}`, '{"location":"westus"}')).status, 201);
  });
  after(async () => {
    await server?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test("an encoded slash cannot make one resource's name address another resource", async () => {
    const before = await snapshot();
    // Without the rule this watcher's key would be the key of capture pc1 of watcher nw1.
    for (const [path, target] of [
      [`${NW}/nw1%2FpacketCaptures%2Fpc1`, 'networkWatcherName'],
      [`${NW}/nw1%2fpacketCaptures%2fpc1`, 'networkWatcherName'],
      [`${RG}/providers/Microsoft.Storage/storageAccounts/a%2Fb`, 'accountName'],
      [
        `${RG}/providers/Microsoft.Compute/virtualMachines/vm1%2Fextensions%2Fx/extensions/NetworkWatcherAgentLinux`,
        'vmName',
      ],
      [
        `/subscriptions/${SUB}/resourceGroups/rg1%2Fproviders/providers/Microsoft.Network/networkWatchers/nw2`,
        'resourceGroupName',
      ],
    ] as const) {
      const r = await raw(server, 'PUT', path + av, '{"location":"westus"}');
      assert.equal(r.status, 400, `${path}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.error.code, 'InvalidResourceName', path);
      assert.equal(r.body.error.target, target, path);
    }
    const read = await raw(server, 'GET', `${NW}/nw1%2FpacketCaptures%2Fpc1${av}`);
    assert.equal(read.status, 400);
    assert.equal(await snapshot(), before, 'nothing was stored');
  });

  test('names outside ARM rules are refused on create, naming the field; the seeds names work', async () => {
    const before = await snapshot();
    const cases: Array<[string, string, string]> = [
      [`${NW}/-bad`, '{"location":"westus"}', 'networkWatcherName'],
      [`${NW}/${'a'.repeat(81)}`, '{"location":"westus"}', 'networkWatcherName'],
      [`${NW}/has%20space`, '{"location":"westus"}', 'networkWatcherName'],
      [
        `/subscriptions/${SUB}/resourceGroups/rg./providers/Microsoft.Network/networkWatchers/nw3`,
        '{"location":"westus"}',
        'resourceGroupName',
      ],
      [`${RG}/providers/Microsoft.Storage/storageAccounts/UPPER`, '{}', 'accountName'],
      [`${RG}/providers/Microsoft.Storage/storageAccounts/ab`, '{}', 'accountName'],
      [`${RG}/providers/Microsoft.Insights/actionGroups/ag%3A1`, '{}', 'actionGroupName'],
      [`${RG}/providers/Microsoft.Insights/metricAlerts/rule*`, '{}', 'ruleName'],
      [`${NW}/nw1/packetCaptures/pc%3Bx`, '{}', 'packetCaptureName'],
    ];
    for (const [path, body, target] of cases) {
      const r = await raw(server, 'PUT', path + av, body);
      assert.equal(r.status, 400, `${path}: ${JSON.stringify(r.body)}`);
      assert.deepEqual([r.body.error.code, r.body.error.target], ['InvalidResourceName', target], path);
      assert.match(r.body.error.message, /invalid/);
    }
    assert.equal(await snapshot(), before);
    // Seed names: NetworkWatcher_japaneast in NetworkWatcherRG, myRG, TCP_Segments_Sent_Exceeded, PSAzureFunction.
    assert.equal(
      (
        await raw(
          server,
          'PUT',
          `/subscriptions/${SUB}/resourceGroups/NetworkWatcherRG/providers/Microsoft.Network/networkWatchers/NetworkWatcher_japaneast${av}`,
          '{"location":"japaneast"}',
        )
      ).status,
      201,
    );
    assert.equal(
      (
        await raw(
          server,
          'PUT',
          `/subscriptions/${SUB}/resourceGroups/myRG/providers/Microsoft.Network/networkWatchers/nw_myrg${av}`,
          '{"location":"eastus"}',
        )
      ).status,
      201,
    );
    const ag = await raw(
      server,
      'PUT',
      `/subscriptions/${SUB}/resourceGroups/myRG/providers/Microsoft.Insights/actionGroups/PSAzureFunction${av}`,
      '{"location":"global","properties":{"groupShortName":"ps","enabled":true,"webhookReceivers":[]}}',
    );
    assert.ok(ag.status === 201 || ag.status === 200, JSON.stringify(ag.body));
    const rule = await raw(
      server,
      'PUT',
      `/subscriptions/${SUB}/resourceGroups/myRG/providers/Microsoft.Insights/metricAlerts/TCP_Segments_Sent_Exceeded${av}`,
      '{}',
    );
    assert.notEqual(rule.body?.error?.code, 'InvalidResourceName', 'the seed rule name is valid');
    // A capture named like the seed's passes the name rule (it fails later: no such VM).
    const pc = await raw(
      server,
      'PUT',
      `${NW}/nw1/packetCaptures/packetCaptureName${av}`,
      JSON.stringify({
        properties: {
          target: `${RG}/providers/Microsoft.Compute/virtualMachines/nope`,
          storageLocation: { filePath: '/var/captures/x.cap' },
        },
      }),
    );
    assert.equal(pc.body.error.code, 'VirtualMachineNotFound');
  });

  test('NUL, control characters, lone surrogates and bad encodings in path or query are 400, never 500', async () => {
    const before = await snapshot();
    for (const path of [
      `${NW}/nw%00x${av}`,
      `${NW}/nw%0Ax${av}`,
      `${NW}/nw%ED%A0%80${av}`,
      `${NW}/nw%E0%A4%A${av}`,
      `${NW}/nw%${av}`,
      `${NW}/nw1?api-version=2022-01-01%00`,
      `${NW}/nw1?api-version=%ED%B0%80`,
      `${NW}/nw1?a%00b=1&api-version=1`,
      `/subscriptions/${SUB}%00/providers/Microsoft.Network/networkWatchers${av}`,
      `/subscriptions/${SUB}/providers/Microsoft.Network/locations/westus/operations/%00${av}`,
    ]) {
      for (const method of ['GET', 'PUT', 'DELETE']) {
        const r = await raw(server, method, path, method === 'PUT' ? '{"location":"westus"}' : undefined);
        assert.equal(r.status, 400, `${method} ${path}: ${JSON.stringify(r.body)}`);
        assert.match(r.body.error.code, /^Invalid/, `${method} ${path}`);
      }
    }
    assert.equal(await snapshot(), before);
  });

  test('NUL and lone surrogates anywhere in a body, and JSON nested too deep, are 400 naming the field', async () => {
    const before = await snapshot();
    const bodies: Array<[string, string | undefined]> = [
      ['{"location":"west\\u0000us"}', 'location'],
      ['{"location":"west\\ud800us"}', 'location'],
      ['{"location":"westus","tags":{"a\\u0000":"b"}}', 'tags.a\u0000'],
      ['{"location":"westus","tags":{"k":"\\udfff"}}', 'tags.k'],
      [`{"location":"westus","tags":${'['.repeat(65)}${']'.repeat(65)}}`, undefined],
      [`${'['.repeat(100_000)}${']'.repeat(100_000)}`, undefined],
      [`{"a":${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}}`, undefined],
    ];
    for (const [body, target] of bodies) {
      const r = await raw(server, 'PUT', `${NW}/nw9${av}`, body.replace('"westus"', '"northeurope"'));
      assert.equal(r.status, 400, `${body.slice(0, 60)}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.error.code, 'InvalidRequestContent');
      assert.equal(r.body.error.target, target);
    }
    // Within the limit a deep body is judged by its schema: a 400 too, but never a 500.
    const deep = await raw(
      server,
      'PUT',
      `${NW}/nw9${av}`,
      `{"location":"northeurope","tags":${'['.repeat(60)}${']'.repeat(60)}}`,
    );
    assert.equal(deep.status, 400);
    // Newlines and emoji are text, not control input.
    const ok = await raw(
      server,
      'PUT',
      `${NW}/nw9${av}`,
      '{"location":"northeurope","tags":{"note":"line1\\nline2 \\ud83d\\ude00"}}',
    );
    assert.equal(ok.status, 201, JSON.stringify(ok.body));
    // A watcher delete with nothing left to do answers 204, as ARM does (the Python SDK refuses 200).
    assert.equal((await raw(server, 'DELETE', `${NW}/nw9${av}`)).status, 204);
    assert.equal(await snapshot(), before);
  });

  test('the alert-capture trigger (its own body parser): NUL, lone surrogates and deep nesting in a payload are 400, and no run is stored', async () => {
    const put = await raw(server, 'PUT', `${RG}/providers/Netwatcher/alertCaptures/ac1${av}`, '{"properties":{}}');
    assert.equal(put.status, 201, JSON.stringify(put.body));
    const url = new URL((put.body as { properties: { url: string } }).properties.url);
    const runsPath = `${RG}/providers/Netwatcher/alertCaptures/ac1/runs${av}`;
    const runsBefore = JSON.stringify((await raw(server, 'GET', runsPath)).body);
    const payload = (rule: string) =>
      JSON.stringify({
        schemaId: 'azureMonitorCommonAlertSchema',
        data: {
          essentials: {
            alertId: 'a1',
            alertRule: rule,
            monitorCondition: 'Fired',
            alertTargetIDs: [`${RG}/providers/Microsoft.Compute/virtualMachines/vm1`],
            firedDateTime: '2024-05-01T02:00:24Z',
          },
        },
      });
    for (const body of [
      payload('rule\u0000x'),
      payload('rule\ud800'),
      `{"data":${'['.repeat(10_000)}${']'.repeat(10_000)}}`,
    ]) {
      const r = await raw(server, 'POST', `${url.pathname}${url.search}`, body);
      assert.equal(r.status, 400, `${body.slice(0, 80)}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.error.code, 'InvalidRequestContent');
    }
    assert.equal(JSON.stringify((await raw(server, 'GET', runsPath)).body), runsBefore, 'no run was stored');
  });

  test('resource ids in bodies: bad percent-encoding or an encoded slash is a 400 naming the field, never a 500', async () => {
    for (const vm of ['%E0%A4%A', 'vm1%2Fextensions%2Fx', '%ED%A0%80']) {
      const body = JSON.stringify({
        properties: {
          target: `${RG}/providers/Microsoft.Compute/virtualMachines/${vm}`,
          storageLocation: { filePath: '/var/captures/x.cap' },
        },
      });
      const r = await raw(server, 'PUT', `${NW}/nw1/packetCaptures/pcid${av}`, body);
      assert.equal(r.status, 400, `${vm}: ${JSON.stringify(r.body)}`);
      assert.deepEqual([r.body.error.code, r.body.error.target], ['InvalidResourceId', 'properties.target'], vm);
    }
  });
});
