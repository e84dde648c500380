/**
 * The activity log: what is recorded (changes, refusals, packet reads; never GETs of status),
 * what a row holds (no body, no query string, no token), the $filter az sends, Azure's EventData
 * shape, paging, and pruning in bounded batches, on both database engines.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiError } from '../lib/index.js';
import { openTestDatabase, postgresAvailable, TEST_ENGINES } from '../store/testing/engines.js';
import {
  ActivityLogStore,
  activityActionOf,
  armPartsOf,
  eventDataOf,
  isRecorded,
  parseActivityFilter,
} from './activity-log.js';
import { startServer, type RunningServer } from './server.js';
import { apiCaller } from './testing/loopback-agent.js';
import { createTestContext } from '../cli/testing/canned-arm-server.js';
import { activityLogList } from '../cli/commands/monitor-activity-log.js';

const SUB = '00000000-0000-0000-0000-000000000000';
const PC = `/subscriptions/${SUB}/resourceGroups/rg1/providers/Microsoft.Network/networkWatchers/nw1/packetCaptures/pc1`;

describe('activity log: what is recorded and how it is named', () => {
  test('changes, refusals and packet reads are recorded; status reads and the portal page are not', () => {
    assert.equal(isRecorded('PUT', PC, 201), true);
    assert.equal(isRecorded('DELETE', PC, 404), true);
    assert.equal(isRecorded('POST', `${PC}/stop`, 202), true);
    assert.equal(isRecorded('GET', PC, 200), false);
    assert.equal(isRecorded('GET', PC, 401), true);
    assert.equal(isRecorded('GET', PC, 403), true);
    for (const read of ['download', 'analysis', 'packets', 'packets/pcap'])
      assert.equal(isRecorded('GET', `${PC}/${read}`, 200), true, read);
    assert.equal(isRecorded('GET', '/storage/nwlocal/network-watcher-logs/x.cap', 200), true);
    assert.equal(
      isRecorded('PUT', '/storage/nwlocal/network-watcher-logs/x.cap', 201),
      false,
      "agents' uploads to signed URLs",
    );
    assert.equal(
      isRecorded('PUT', '/storage/nwlocal/network-watcher-logs/x.cap', 403),
      true,
      'a forged upload is a refusal',
    );
    assert.equal(isRecorded('GET', '/', 200), false);
    assert.equal(isRecorded('GET', '/healthz', 200), false);
  });

  test('ARM paths give Azure-style actions, resource ids without the action, group and provider', () => {
    assert.equal(
      activityActionOf({ method: 'PUT', url: `${PC}?api-version=2022-01-01` }),
      'Microsoft.Network/networkWatchers/packetCaptures/write',
    );
    assert.equal(
      activityActionOf({ method: 'DELETE', url: PC }),
      'Microsoft.Network/networkWatchers/packetCaptures/delete',
    );
    assert.equal(
      activityActionOf({ method: 'POST', url: `${PC}/stop` }),
      'Microsoft.Network/networkWatchers/packetCaptures/stop/action',
    );
    assert.equal(
      activityActionOf({ method: 'POST', url: `${PC}/queryStatus` }),
      'Microsoft.Network/networkWatchers/packetCaptures/queryStatus/action',
    );
    assert.equal(
      activityActionOf({ method: 'GET', url: `${PC}/download` }),
      'Microsoft.Network/networkWatchers/packetCaptures/download/read',
    );
    assert.equal(
      activityActionOf({ method: 'POST', url: '/adfs/oauth2/token', routeOptions: { url: '/adfs/oauth2/token' } }),
      'POST /adfs/oauth2/token',
    );
    // A route of the operation table is named by the action authorisation checks (a data action for packets).
    const pattern =
      '/subscriptions/:subscriptionId/resourceGroups/:resourceGroupName/providers/Microsoft.Network/networkWatchers/:networkWatcherName/packetCaptures/:packetCaptureName/download';
    assert.equal(
      activityActionOf({ method: 'GET', url: `${PC}/download`, routeOptions: { url: pattern } }),
      'Microsoft.Network/networkWatchers/packetCaptures/packets/read',
    );
    assert.equal(
      activityActionOf({ method: 'POST', url: `/alert-capture/v1/${SUB}/rg1/burst?code=KEY` }),
      'Netwatcher/alertCaptures/trigger/action',
    );
    assert.equal(
      armPartsOf(`/alert-capture/v1/${SUB}/rg1/burst`).resourceId,
      `/subscriptions/${SUB}/resourceGroups/rg1/providers/Netwatcher/alertCaptures/burst`,
    );
    const parts = armPartsOf(`${PC}/stop`);
    assert.deepEqual(parts, {
      subscriptionId: SUB,
      resourceGroup: 'rg1',
      provider: 'Microsoft.Network',
      resourceType: 'Microsoft.Network/networkWatchers/packetCaptures',
      resourceId: PC,
      actionName: 'stop',
    });
  });

  test('$filter: the forms az sends; anything else is a 400 naming it', () => {
    // az 2.45 sends times unquoted and without a zone (UTC).
    const q = parseActivityFilter(
      "eventTimestamp ge 2026-12-01T10:00:00.123456 and eventTimestamp le 2026-12-01T16:00:00.123456 and resourceGroupName eq 'rg1' and caller eq 'admin'",
    );
    assert.equal(q.from?.toISOString(), '2026-12-01T10:00:00.123Z');
    assert.equal(q.to?.toISOString(), '2026-12-01T16:00:00.123Z');
    assert.equal(q.resourceGroup, 'rg1');
    assert.equal(q.caller, 'admin');
    assert.deepEqual(
      parseActivityFilter(`eventTimestamp ge '2026-12-01T10:00:00Z' and resourceId eq '${PC}'`).resourceId,
      PC,
    );
    assert.equal(parseActivityFilter("resourceProvider eq 'Microsoft.Network'").resourceProvider, 'Microsoft.Network');
    assert.equal(parseActivityFilter("correlationId eq 'o''brien'").correlationId, "o'brien");
    assert.equal(parseActivityFilter("status eq 'failed'").status, 'Failed');
    for (const bad of [
      "levels eq 'Error'",
      "resourceGroupName ne 'rg1'",
      "resourceGroupName eq 'a' or resourceGroupName eq 'b'",
      'eventTimestamp ge yesterday',
      "eventTimestamp eq '2026-12-01T00:00:00Z'",
      "status eq 'Maybe'",
    ]) {
      assert.throws(
        () => parseActivityFilter(bad),
        (e: unknown) => e instanceof ApiError && e.code === 'InvalidFilter' && e.statusCode === 400,
        bad,
      );
    }
  });
});

for (const engine of TEST_ENGINES) {
  describe(`activity log store on ${engine}`, async () => {
    const skip = engine === 'postgres' && !(await postgresAvailable());
    let opened: Awaited<ReturnType<typeof openTestDatabase>>;
    let store: ActivityLogStore;
    before(async () => {
      if (skip) return;
      opened = await openTestDatabase(engine);
      store = new ActivityLogStore(opened.db);
    });
    after(async () => {
      await opened?.drop();
    });

    const event = (at: Date, rg: string, status = 200) => ({
      at,
      subscriptionId: SUB,
      resourceGroup: rg,
      resourceId: `/subscriptions/${SUB}/resourceGroups/${rg}`,
      resourceProvider: null,
      resourceType: null,
      action: 'x/write',
      httpMethod: 'PUT',
      statusCode: status,
      errorCode: status >= 400 ? 'Forbidden' : null,
      principalId: 'p1',
      principalKind: 'admin',
      principalName: 'admin',
      clientAddress: '127.0.0.1',
      correlationId: 'c1',
      requestId: 'r1',
    });

    test(
      'queries by time, group, status and caller, newest first; prunes old rows in bounded batches only',
      { skip },
      async () => {
        const now = Date.now();
        for (let i = 0; i < 25; i++) await store.insert(event(new Date(now - 100 * 86_400_000 - i * 1000), 'old'));
        await store.insert(event(new Date(now - 1000), 'RG1'));
        await store.insert(event(new Date(now - 500), 'rg1', 403));
        const rg1 = await store.list({ resourceGroup: 'rg1', from: new Date(now - 60_000) });
        assert.deepEqual(
          rg1.map((r) => r.statusCode),
          [403, 200],
          'newest first, group compared case-insensitively',
        );
        assert.equal((await store.list({ status: 'Failed' })).length, 1);
        assert.equal((await store.list({ caller: 'ADMIN' })).length, 27);
        assert.equal((await store.list({ caller: 'p1', limit: 5 })).length, 5);
        assert.equal((await store.list({ to: new Date(now - 50 * 86_400_000) })).length, 25);
        // Two batches of 10 at most in this run: 20 of the 25 old rows go, the rest waits for the next run.
        assert.equal(await store.prune(new Date(now - 90 * 86_400_000), { batchInRows: 10, maxBatches: 2 }), 20);
        assert.equal(await store.prune(new Date(now - 90 * 86_400_000), { batchInRows: 10 }), 5);
        assert.equal((await store.list({})).length, 2, 'recent rows are kept');
      },
    );
  });
}

describe('activity log through the API', () => {
  let server: RunningServer;
  const dataDir = mkdtempSync(join(tmpdir(), 'nw-activity-'));
  const api = apiCaller(() => server, null);
  const call = (
    method: string,
    path: string,
    opts: { body?: unknown; token?: string | null; headers?: Record<string, string> } = {},
  ) => api(method, path, opts.body, opts.token, opts.headers);
  const LOG = `/subscriptions/${SUB}/providers/Microsoft.Insights/eventtypes/management/values?api-version=2015-04-01`;
  const list = async (filter: string) => call('GET', `${LOG}&$filter=${encodeURIComponent(filter)}`);
  const rg = `/subscriptions/${SUB}/resourceGroups/rg1`;

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

  test('a change, a refused attempt and a secret-bearing request are recorded without any secret; az filters work', async () => {
    const since = new Date(Date.now() - 1000).toISOString();
    const webhookSecret = 'sig=HOOKSECRET0123456789';
    const put = await call('PUT', `${rg}/providers/Microsoft.Insights/actionGroups/ag1?api-version=2023-01-01`, {
      body: {
        location: 'Global',
        properties: {
          groupShortName: 'ag1',
          enabled: true,
          webhookReceivers: [{ name: 'hook', serviceUri: `https://hooks.example/x?${webhookSecret}` }],
        },
      },
      headers: { 'x-ms-correlation-request-id': 'corr-put-1' },
    });
    assert.ok(put.status === 200 || put.status === 201, JSON.stringify(put.body));
    const wrongToken = 'nwa_WRONGTOKENSECRET0123456789';
    assert.equal(
      (
        await call('DELETE', `${rg}/providers/Microsoft.Insights/actionGroups/ag1?api-version=2023-01-01`, {
          token: wrongToken,
        })
      ).status,
      401,
    );
    const triggerKey = 'TRIGGERKEYSECRET0123456789';
    const trigger = await call('POST', `/alert-capture/v1/${SUB}/rg1/nothere?code=${triggerKey}`, {
      token: null,
      body: {},
    });
    assert.ok(trigger.status >= 400, 'a trigger with an unknown endpoint is refused');
    const storageSig = 'STORAGESIGSECRET0123456789';
    await call('GET', `/storage/nwlocal/network-watcher-logs/x.cap?se=2099-01-01T00:00:00Z&sig=${storageSig}`, {
      token: null,
    });
    // A status read is not recorded.
    assert.equal(
      (await call('GET', `${rg}/providers/Microsoft.Insights/actionGroups/ag1?api-version=2023-01-01`)).status,
      200,
    );

    const all = await list(`eventTimestamp ge '${since}'`);
    assert.equal(all.status, 200, JSON.stringify(all.body));
    const text = JSON.stringify(all.body);
    for (const secret of [
      webhookSecret,
      'HOOKSECRET',
      wrongToken,
      triggerKey,
      storageSig,
      server.adminToken,
      'code=',
      'sig=',
    ])
      assert.equal(text.includes(secret), false, `${secret} must not appear`);

    const events = all.body.value as Array<Record<string, any>>;
    const written = events.find((e) => e.operationName.value === 'Microsoft.Insights/actionGroups/write');
    assert.ok(written, text);
    assert.equal(written.caller, 'admin');
    assert.equal(written.correlationId, 'corr-put-1');
    assert.equal(written.resourceGroupName, 'rg1');
    assert.equal(written.resourceId, `${rg}/providers/Microsoft.Insights/actionGroups/ag1`);
    assert.equal(written.status.value, 'Succeeded');
    assert.equal(written.httpRequest.method, 'PUT');
    assert.equal(written.httpRequest.clientIpAddress, '127.0.0.1');
    assert.equal(written.category.value, 'Administrative');
    assert.match(written.id, /\/events\/[0-9a-f-]{36}\/ticks\/\d+$/);
    const refused = events.find((e) => e.httpRequest.method === 'DELETE');
    assert.ok(refused, 'the refused delete is recorded');
    assert.equal(refused.status.value, 'Failed');
    assert.equal(refused.subStatus.value, 'Unauthorized');
    assert.equal(refused.properties.errorCode, 'AuthenticationFailed');
    assert.equal(refused.caller, undefined, 'no principal for a wrong token');
    assert.ok(
      events.some(
        (e) =>
          e.httpRequest.method === 'GET' && String(e.resourceId).startsWith('/storage/') && e.status.value === 'Failed',
      ),
      'the refused storage read is recorded',
    );
    assert.equal(
      events.some((e) => e.httpRequest.method === 'GET' && String(e.resourceId).includes('actionGroups')),
      false,
    );

    const byGroup = await list(`eventTimestamp ge '${since}' and resourceGroupName eq 'RG1'`);
    assert.deepEqual(
      byGroup.body.value.map((e: any) => e.httpRequest.method).sort(),
      ['DELETE', 'POST', 'PUT'],
      "the trigger counts as its endpoint's group",
    );
    assert.equal((await list(`correlationId eq 'corr-put-1'`)).body.value.length, 1);
    assert.equal((await list(`eventTimestamp ge '${since}' and caller eq 'admin'`)).body.value.length, 1);
    assert.equal(
      (await list(`eventTimestamp ge '${since}' and status eq 'Failed' and resourceGroupName eq 'rg1'`)).body.value
        .length,
      2,
    );
    const selected = await call(
      'GET',
      `${LOG}&$filter=${encodeURIComponent(`correlationId eq 'corr-put-1'`)}&$select=${encodeURIComponent('caller,operationName')}`,
    );
    assert.deepEqual(Object.keys(selected.body.value[0]).sort(), ['caller', 'operationName']);
    const bad = await list(`eventTimestamp ge '${since}' and level eq 'Error'`);
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.code, 'InvalidFilter');
    assert.match(bad.body.error.message, /level/);
    assert.equal((await call('GET', LOG, { token: null })).status, 401, 'the log itself needs authentication');
  });

  test('nw monitor activity-log list reads the same log, as a table too', async () => {
    const ctx = createTestContext(server.url, {
      config: { server: server.url, token: server.adminToken, subscriptionId: SUB },
    });
    const events = await activityLogList({ resourceGroup: 'rg1', offset: '1h' }, ctx);
    assert.deepEqual(events.map((e) => (e['httpRequest'] as { method: string }).method).sort(), [
      'DELETE',
      'POST',
      'PUT',
    ]);
    const table = createTestContext(server.url, {
      config: { server: server.url, token: server.adminToken, subscriptionId: SUB },
    });
    await activityLogList({ caller: 'admin', offset: '1h', output: 'table' }, table);
    assert.match(table.stdout(), /Microsoft\.Insights\/actionGroups\/write/);
    assert.match(table.stdout(), /Succeeded \(Created\)/);
  });

  test('eventDataOf never shows a secret-shaped field: only the recorded columns', () => {
    const e = eventDataOf({
      seq: 1,
      eventId: 'e',
      at: new Date(0),
      subscriptionId: SUB,
      resourceGroup: 'rg1',
      resourceId: '/x',
      resourceProvider: null,
      resourceType: null,
      action: 'a',
      httpMethod: 'POST',
      statusCode: 202,
      errorCode: null,
      principalId: 'sp1',
      principalKind: 'servicePrincipal',
      principalName: 'ci-bot',
      clientAddress: null,
      correlationId: null,
      requestId: 'r',
    });
    assert.equal(e['caller'], 'sp1', 'a service principal is named by its id, as Azure names an app');
    assert.equal((e['status'] as { value: string }).value, 'Succeeded');
    assert.equal(e['correlationId'], 'r', 'without a correlation id, the request id');
  });
});
