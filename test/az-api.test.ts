/**
 * The answers Azure's Python clients (az 2.45, the Python SDK) need, request by request as
 * they were measured with az 2.45 against this server: discovery and login, subscriptions, the VM's
 * instance view, status codes the Python SDK accepts, Retry-After, extension images and
 * az's double-encoded timespan. A real server on loopback with its embedded database; the
 * end-to-end run of the seeds with the real az is test/az-seeds.test.ts.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, type RunningServer } from '../src/server/index.js';
import { apiCaller } from '../src/server/testing/loopback-agent.js';

const SUB = '00000000-0000-0000-0000-000000000000';
const AZ_UA = 'AZURECLI/2.45.0 (DEB) azsdk-python-azure-mgmt-network/23.0.0b1 Python/3.11.2 (Linux)';
const JS_UA = 'azsdk-js-arm-network/36.0.0 core-rest-pipeline/1.20.0 Node/20';

describe('answers for az and the Python SDK', () => {
  let server: RunningServer;
  const dataDir = mkdtempSync(join(tmpdir(), 'nw-az-api-'));
  const api = apiCaller(() => server, null);
  const call = (
    method: string,
    path: string,
    opts: { body?: unknown; token?: string | null; userAgent?: string; form?: Record<string, string> } = {},
  ) =>
    api(method, path, opts.form ? new URLSearchParams(opts.form).toString() : opts.body, opts.token, {
      ...(opts.form ? { 'Content-Type': 'application/x-www-form-urlencoded' } : {}),
      'User-Agent': opts.userAgent ?? AZ_UA,
    });
  const rg = `/subscriptions/${SUB}/resourceGroups/azrg`;
  const vmPath = `${rg}/providers/Microsoft.Compute/virtualMachines/azvm`;

  before(async () => {
    server = await startServer({
      listenHost: '127.0.0.1',
      listenPort: 0,
      dataDir,
      defaultLocation: 'local',
      subscriptionId: SUB,
      logLevel: 'silent',
    });
  });
  after(async () => {
    await server?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('cloud metadata without a token, also at //metadata/endpoints', async () => {
    for (const path of ['/metadata/endpoints?api-version=2015-01-01', '//metadata/endpoints?api-version=2015-01-01']) {
      const r = await call('GET', path, { token: null });
      assert.equal(r.status, 200, path);
      assert.equal(r.body.authentication.loginEndpoint, `${server.url}/adfs`);
      assert.deepEqual(r.body.authentication.audiences, [`${server.url}/`]);
      assert.equal(r.body.graphEndpoint, `${server.url}/`);
      assert.equal(r.body.galleryEndpoint, `${server.url}/`);
    }
    const doc = await call('GET', '/adfs/.well-known/openid-configuration', { token: null });
    assert.equal(doc.status, 200);
    assert.equal(doc.body.token_endpoint, `${server.url}/adfs/oauth2/token`);
    assert.ok(doc.body.authorization_endpoint);
    // Only these: the rest of the API stays closed, also through duplicate slashes.
    assert.equal(
      (await call('GET', `//subscriptions/${SUB}/providers/Microsoft.Network/networkWatchers`, { token: null })).status,
      401,
    );
    assert.equal((await call('GET', '/subscriptions', { token: null })).status, 401);
  });

  test('login: the token endpoint trades the admin credential for an access token; a wrong secret is invalid_client', async () => {
    const form = {
      client_id: 'netwatcher',
      grant_type: 'client_credentials',
      client_info: '1',
      client_secret: server.adminToken,
      claims: '{"access_token":{"xms_cc":{"values":["CP1"]}}}',
      scope: `${server.url}//.default`,
    };
    const ok = await call('POST', '/adfs/oauth2/token', { token: null, form });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.equal(ok.body.token_type, 'Bearer');
    assert.equal(ok.body.expires_in, 3600);
    assert.equal(ok.headers.get('cache-control'), 'no-store');
    const access = String(ok.body.access_token);
    assert.notEqual(access, server.adminToken);

    const wrong = await call('POST', '/adfs/oauth2/token', {
      token: null,
      form: { ...form, client_secret: 'nwa_not-the-token' },
    });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.body.error, 'invalid_client');
    assert.ok(wrong.body.error_description);
    assert.equal(JSON.stringify(wrong.body).includes('nwa_not-the-token'), false, 'the secret is not echoed');

    // The access token works for every API call, as az uses it; a tampered one does not.
    const subs = await call('GET', '/subscriptions?api-version=2019-11-01', { token: access });
    assert.equal(subs.status, 200);
    assert.deepEqual(
      subs.body.value.map((s: { subscriptionId: string }) => s.subscriptionId),
      [SUB],
    );
    assert.equal(subs.body.value[0].id, `/subscriptions/${SUB}`);
    assert.equal(subs.body.value[0].state, 'Enabled');
    assert.equal(
      (await call('GET', `/subscriptions/${SUB}?api-version=2019-11-01`, { token: access })).body.subscriptionId,
      SUB,
    );
    assert.equal(
      (await call('GET', '/subscriptions/11111111-1111-1111-1111-111111111111', { token: access })).status,
      404,
    );
    assert.equal(
      (
        await call('GET', `/subscriptions/${SUB}/providers/Microsoft.Network/networkWatchers`, {
          token: `${access.slice(0, -2)}xx`,
        })
      ).status,
      401,
    );
  });

  test('the VM: instanceView on $expand, resources[] always; the install command only in the instance view while awaiting enrolment', async () => {
    assert.equal(
      (await call('PUT', vmPath, { body: { location: 'local', properties: {} } })).status,
      201,
      'registers a host (az resource create)',
    );
    const put = await call('PUT', `${vmPath}/extensions/NetworkWatcherAgentLinux`, {
      body: {
        location: 'local',
        properties: {
          publisher: 'Microsoft.Azure.NetworkWatcher',
          type: 'NetworkWatcherAgentLinux',
          typeHandlerVersion: '1.4',
          autoUpgradeMinorVersion: true,
        },
      },
    });
    assert.equal(put.status, 201);
    const plain = await call('GET', vmPath);
    assert.equal(plain.body.resources.length, 1);
    assert.equal(plain.body.resources[0].name, 'NetworkWatcherAgentLinux');
    assert.equal(plain.body.properties.instanceView, undefined);
    const expanded = await call('GET', `${vmPath}?$expand=instanceView&api-version=2022-08-01`);
    const iv = expanded.body.properties.instanceView;
    assert.deepEqual(
      iv.extensions.map((e: { name: string; type: string }) => [e.name, e.type]),
      [['NetworkWatcherAgentLinux', 'Microsoft.Azure.NetworkWatcher.NetworkWatcherAgentLinux']],
    );
    assert.equal(iv.extensions[0].statuses[0].code, 'ProvisioningState/creating');
    assert.ok(iv.statuses.some((s: { code: string }) => s.code.startsWith('PowerState/')));

    const ext = await call('GET', `${vmPath}/extensions/NetworkWatcherAgentLinux?$expand=instanceView`);
    assert.equal(
      ext.body.properties.instanceView.statuses[0].message,
      `Run on the host: ${put.body.properties.installCommand}`,
    );
    const bare = await call('GET', `${vmPath}/extensions/NetworkWatcherAgentLinux`);
    assert.equal(
      JSON.stringify(bare.body).includes(put.body.properties.enrollmentToken),
      false,
      'not without $expand=instanceView',
    );
    assert.equal(JSON.stringify(plain.body).includes(put.body.properties.enrollmentToken), false, 'nor in the VM');
    assert.equal(
      (await call('PUT', vmPath, { body: { location: 'elsewhere' } })).status,
      400,
      'a registered host keeps its location',
    );
    assert.equal((await call('PUT', vmPath, { body: { location: 'local' } })).status, 200);
  });

  test('extension images for `az vm extension set` without --version, as bare arrays', async () => {
    const base = `/subscriptions/${SUB}/providers/Microsoft.Compute/locations/local/publishers`;
    assert.deepEqual(
      (await call('GET', base)).body.map((p: { name: string }) => p.name),
      ['Microsoft.Azure.NetworkWatcher'],
    );
    assert.deepEqual(
      (await call('GET', `${base}/Microsoft.Azure.NetworkWatcher/artifacttypes/vmextension/types`)).body.map(
        (p: { name: string }) => p.name,
      ),
      ['NetworkWatcherAgentLinux'],
    );
    assert.deepEqual(
      (
        await call(
          'GET',
          `${base}/Microsoft.Azure.NetworkWatcher/artifacttypes/vmextension/types/NetworkWatcherAgentLinux/versions`,
        )
      ).body.map((p: { name: string }) => p.name),
      ['1.4.0'],
    );
    assert.equal((await call('GET', `${base}/Other.Publisher/artifacttypes/vmextension/types`)).status, 404);
  });

  test('status codes the Python SDK accepts: 204 deletes, 200 metric-alert and storage creates, a clear listKeys refusal', async () => {
    const watcher = `${rg}/providers/Microsoft.Network/networkWatchers/azwatcher`;
    assert.equal((await call('PUT', watcher, { body: { location: 'azloc' } })).status, 201);
    assert.equal((await call('DELETE', watcher)).status, 204, 'an existing watcher');
    assert.equal((await call('DELETE', watcher)).status, 204, 'a missing one');
    assert.equal((await call('DELETE', `${watcher}/packetCaptures/none`)).status, 204);

    const account = `${rg}/providers/Microsoft.Storage/storageAccounts/azacct1`;
    assert.equal((await call('PUT', account, { body: { location: 'local' } })).status, 200, 'create');
    assert.equal((await call('PUT', account, { body: { location: 'local' } })).status, 200, 'update');
    const keys = await call('POST', `${account}/listKeys?$expand=kerb`);
    assert.equal(keys.status, 409);
    assert.equal(keys.body.error.code, 'OperationNotSupported');
    assert.equal((await call('POST', `${rg}/providers/Microsoft.Storage/storageAccounts/nosuch/listKeys`)).status, 404);

    const alert = {
      location: 'global',
      properties: {
        severity: 2,
        enabled: true,
        scopes: [vmPath],
        evaluationFrequency: 'PT1M',
        windowSize: 'PT5M',
        criteria: {
          'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria',
          allOf: [
            {
              criterionType: 'StaticThresholdCriterion',
              name: 'cond0',
              metricName: 'TCP Segments Sent',
              timeAggregation: 'Total',
              dimensions: [],
              operator: 'GreaterThan',
              threshold: 100,
            },
          ],
        },
        actions: [],
      },
    };
    const created = await call('PUT', `${rg}/providers/Microsoft.Insights/metricAlerts/azalert`, { body: alert });
    assert.equal(created.status, 200, JSON.stringify(created.body));
    assert.equal((await call('GET', `${rg}/providers/Microsoft.Insights/metricAlerts/azalert`)).status, 200);
  });

  test('Retry-After (1 s) on long-running answers to az and the Python SDK, none to others (it would override updateIntervalInMs)', async () => {
    const ext = `${rg}/providers/Microsoft.Compute/virtualMachines/retryvm/extensions/NetworkWatcherAgentLinux`;
    const forAz = await call('PUT', ext, { body: {} });
    assert.equal(forAz.status, 201);
    assert.equal(forAz.headers.get('retry-after'), '1');
    const forJs = await call('PUT', ext, { body: {}, userAgent: JS_UA });
    assert.equal(forJs.status, 200);
    assert.equal(forJs.headers.get('retry-after'), null);
    assert.equal((await call('PUT', ext, { body: {}, userAgent: 'netwatcher-cli' })).headers.get('retry-after'), null);
    assert.equal(
      (await call('PUT', ext, { body: {}, userAgent: 'curl/7.88.1' })).headers.get('retry-after'),
      null,
      'scripts poll at their own pace',
    );
    assert.equal(
      (
        await call('PUT', ext, { body: {}, userAgent: 'azsdk-python-azure-mgmt-compute/29.0.0 Python/3.11.2' })
      ).headers.get('retry-after'),
      '1',
      'the Python SDK',
    );
  });

  test("metrics: az's double-encoded timespan is read", async () => {
    const end = new Date();
    const start = new Date(end.getTime() - 3600_000);
    const naive = (d: Date) =>
      d
        .toISOString()
        .replace('Z', '')
        .replace(/\.(\d{3})$/, '.$1000');
    const once = encodeURIComponent(`${naive(start)}/${naive(end)}`);
    const r = await call(
      'GET',
      `${vmPath}/providers/Microsoft.Insights/metrics?metricnames=TCP%20Segments%20Sent&timespan=${encodeURIComponent(once)}&api-version=2018-01-01`,
    );
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.value[0].name.value, 'TCP Segments Sent');
  });
});
