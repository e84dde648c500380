/**
 * Issue 9, point 11: alert-capture keys stay secret. An action group aimed at this server's own
 * endpoint needs no key in its URL; keys in stored webhook URLs are sealed at rest and redacted
 * on output (and survive a read-modify-write of the redacted form); an endpoint starts captures
 * only on hosts of its own subscription, optionally of some resource groups.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { ApiError, createLogger } from '../lib/index.js';
import { actionGroupPutSchema, alertCapturePutSchema, type PacketCaptureCreateRequest } from '../model/index.js';
import { SecretBox, Store, migrate, openPglite, type Db } from '../store/index.js';
import { putActionGroup, receiverServiceUri } from './action-groups.js';
import { deliverToOwnEndpoint, notificationUrisOf, putAlertCapture, triggerAlertCapture } from './alert-capture.js';
import type { AlertsContext, CaptureOperations, CaptureSummary, WatcherRef } from './context.js';
import type { HostInfo } from './hosts.js';
import { createServerTelemetry } from './telemetry.js';
import { moveWebhookUrlsToSecrets } from './webhook-secrets.js';
import type { ActionGroupBody } from './action-groups.js';

const SUB = '00000000-0000-0000-0000-000000000000';
const OTHER_SUB = '11111111-1111-1111-1111-111111111111';
const host = (name: string, rg: string, sub = SUB): HostInfo => {
  const id = `/subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.Compute/virtualMachines/${name}`;
  return {
    key: id.toLowerCase(),
    id,
    name,
    resourceGroup: rg,
    subscriptionId: sub,
    location: 'westus2',
    vmId: `g-${name}`,
    hostname: null,
  };
};

class RecordingCaptures implements CaptureOperations {
  readonly started: string[] = [];
  private readonly watcher: WatcherRef = {
    key: 'w',
    id: '/w',
    name: 'NetworkWatcher_westus2',
    resourceGroup: 'NetworkWatcherRG',
    subscriptionId: SUB,
    location: 'westus2',
  };
  async findWatcher() {
    return this.watcher;
  }
  async listCaptures() {
    return [] as CaptureSummary[];
  }
  async getCapture() {
    return null;
  }
  async createCapture(_w: WatcherRef, name: string, request: PacketCaptureCreateRequest) {
    this.started.push(request.properties.target.toLowerCase());
    return {
      key: `/w/${name}`,
      id: `/w/${name}`,
      name,
      vmKeys: [request.properties.target.toLowerCase()],
      status: 'Running' as const,
      active: true,
      settled: false,
    };
  }
  async deleteCapture() {}
  async captureStatus() {
    return null;
  }
  async resolveStorageAccountId(nameOrId: string | null) {
    return (
      nameOrId ?? '/subscriptions/s/resourceGroups/NetworkWatcherRG/providers/Microsoft.Storage/storageAccounts/nwlocal'
    );
  }
}

/** A firing Alertmanager payload naming one host by its VM id. */
const alertFor = (vmId: string) => ({
  version: '4',
  status: 'firing',
  receiver: 'nw',
  groupKey: `{}:{vm="${vmId}"}`,
  alerts: [
    {
      status: 'firing',
      labels: { alertname: 'TcpBurst', vm: vmId },
      annotations: {},
      startsAt: new Date().toISOString(),
      fingerprint: randomBytes(8).toString('hex'),
    },
  ],
});

describe('alert-capture keys and scope', () => {
  let db: Db;
  let actx: AlertsContext;
  const hosts = [host('web1', 'rg1'), host('web2', 'rg2'), host('foreign', 'rg1', OTHER_SUB)];

  before(async () => {
    db = await openPglite(null);
    await migrate(db);
    actx = {
      store: new Store(db, new SecretBox(randomBytes(32))),
      logger: createLogger({ name: 't', level: 'silent' }),
      listHosts: async () => hosts,
      baseUrl: () => 'http://nw.test',
      telemetry: createServerTelemetry({
        agentsConnected: () => 0,
        captureTotals: async () => [],
        hostTotals: () => new Map(),
        retiredHostTotals: () => ({}),
      }),
      webhook: { retryDelaysInMs: [] },
    };
  });
  after(() => db.close());

  const endpoint = async (ops: CaptureOperations, name: string, props: Record<string, unknown> = {}) => {
    const r = await putAlertCapture(
      actx,
      ops,
      SUB,
      'NetworkWatcherRG',
      name,
      alertCapturePutSchema.parse({ properties: { timeLimitInSeconds: 10, hostLabel: 'vm', ...props } }),
      'http://nw.test',
    );
    return { key: new URL(r.url!).searchParams.get('code')!, record: r.record };
  };
  const trigger = (ops: CaptureOperations, name: string, key: string, target: HostInfo) =>
    triggerAlertCapture(actx, ops, {
      subscriptionId: SUB,
      resourceGroup: 'NetworkWatcherRG',
      name,
      presentedKey: key,
      body: Buffer.from(JSON.stringify(alertFor(target.id))),
      baseUrl: 'http://nw.test',
    });

  test('an endpoint starts captures only on hosts of its own subscription', async () => {
    const ops = new RecordingCaptures();
    const { key } = await endpoint(ops, 'subonly');
    await assert.rejects(
      trigger(ops, 'subonly', key, hosts[2]!),
      (e: unknown) =>
        e instanceof ApiError && e.code === 'Forbidden' && /outside this endpoint's scope/.test(e.message),
    );
    assert.deepEqual(ops.started, [], 'nothing started on a host of another subscription');
    const ok = await trigger(ops, 'subonly', key, hosts[0]!);
    assert.equal(ok.statusCode, 202);
    assert.deepEqual(ops.started, [hosts[0]!.key]);
  });

  test('narrowed to resource groups, an endpoint refuses hosts of the others', async () => {
    const ops = new RecordingCaptures();
    const { key, record } = await endpoint(ops, 'rgonly', { resourceGroups: ['RG1'] });
    assert.deepEqual(record.body.properties.resourceGroups, ['rg1']);
    await assert.rejects(
      trigger(ops, 'rgonly', key, hosts[1]!),
      (e: unknown) => e instanceof ApiError && e.code === 'Forbidden',
    );
    assert.equal((await trigger(ops, 'rgonly', key, hosts[0]!)).statusCode, 202);
    assert.deepEqual(ops.started, [hosts[0]!.key]);
    assert.throws(() => alertCapturePutSchema.parse({ properties: { resourceGroups: ['bad/rg'] } }));
  });

  test("an action group aimed at this server's own endpoint works without a key; a foreign URL is no own endpoint", async () => {
    const ops = new RecordingCaptures();
    const { record } = await endpoint(ops, 'own');
    const keyless = record.body.properties.endpoint;
    assert.equal(new URL(keyless).search, '', 'the recorded endpoint carries no key');
    const r = await deliverToOwnEndpoint(actx, ops, keyless, alertFor(hosts[0]!.id));
    assert.equal(r?.outcome, 'Succeeded');
    assert.equal(r?.httpStatus, 202);
    assert.deepEqual(ops.started, [hosts[0]!.key]);
    // The same path on another server is delivered over HTTP (here: refused, nothing listens), never in-process.
    const foreign = keyless.replace('http://nw.test', 'http://127.0.0.1:1');
    const f = await deliverToOwnEndpoint(actx, ops, foreign, alertFor(hosts[1]!.id));
    assert.equal(f?.outcome, 'Failed');
    assert.deepEqual(ops.started, [hosts[0]!.key], 'a foreign URL started nothing here');
    assert.equal(deliverToOwnEndpoint(actx, ops, 'http://127.0.0.1:1/hook', {}), null);
    // Without the in-process path the key is still required.
    await assert.rejects(
      triggerAlertCapture(actx, ops, {
        subscriptionId: SUB,
        resourceGroup: 'NetworkWatcherRG',
        name: 'own',
        presentedKey: null,
        body: Buffer.from('{}'),
        baseUrl: 'http://nw.test',
      }),
      (e: unknown) => e instanceof ApiError && e.code === 'AuthenticationFailed',
    );
  });

  test('webhook keys are sealed at rest, redacted on output, and kept through a read-modify-write', async () => {
    const hookKey = 'hookKEY' + randomBytes(8).toString('hex');
    const put = (uri: string) =>
      putActionGroup(
        actx,
        SUB,
        'rg1',
        'ag1',
        actionGroupPutSchema.parse({
          location: 'Global',
          properties: {
            groupShortName: 'ag1',
            enabled: true,
            webhookReceivers: [{ name: 'capture', serviceUri: uri }],
          },
        }),
      );
    const { record } = await put(`http://hooks.test/x?code=${hookKey}`);
    assert.equal(JSON.stringify(record.body).includes(hookKey), false, 'the body (what the API shows) has no key');
    assert.equal(record.body.properties.webhookReceivers[0]!.serviceUri, 'http://hooks.test/x');
    assert.equal(receiverServiceUri(record, 'capture'), `http://hooks.test/x?code=${hookKey}`);
    const raw = JSON.stringify(await db.query(`SELECT * FROM resources WHERE type = 'actionGroup'`));
    assert.equal(raw.includes(hookKey), false, 'the key is not in the database row');
    // GET, then PUT back what was shown (az monitor action-group update does this).
    const again = await put(record.body.properties.webhookReceivers[0]!.serviceUri);
    assert.equal(
      receiverServiceUri(again.record, 'capture'),
      `http://hooks.test/x?code=${hookKey}`,
      'the key survives',
    );
    const changed = await put('http://hooks.test/new');
    assert.equal(receiverServiceUri(changed.record, 'capture'), 'http://hooks.test/new', 'a new URL replaces it');

    const ops = new RecordingCaptures();
    const { record: ep } = await endpoint(ops, 'notifies', {
      notificationWebhooks: [{ serviceUri: `http://hooks.test/done?sig=${hookKey}` }],
    });
    assert.equal(JSON.stringify(ep.body).includes(hookKey), false);
    assert.deepEqual(notificationUrisOf(ep), [`http://hooks.test/done?sig=${hookKey}`]);
    assert.equal(
      JSON.stringify(await db.query(`SELECT * FROM resources WHERE type = 'alertCapture'`)).includes(hookKey),
      false,
    );
  });

  test('webhook URLs an earlier version kept in the body are moved to the sealed secret at start', async () => {
    const id = `/subscriptions/${SUB}/resourceGroups/rg1/providers/Microsoft.Insights/actionGroups/legacy`;
    const body: ActionGroupBody = {
      type: 'Microsoft.Insights/ActionGroups',
      location: 'Global',
      properties: {
        groupShortName: 'legacy',
        enabled: true,
        webhookReceivers: [
          {
            name: 'h',
            serviceUri: 'http://hooks.test/l?code=legacyKEY',
            useCommonAlertSchema: true,
            useAadAuth: false,
          },
        ],
        provisioningState: 'Succeeded',
      },
    };
    await actx.store.putResource({
      key: id,
      type: 'actionGroup',
      parentKey: null,
      id,
      name: 'legacy',
      subscriptionId: SUB,
      resourceGroup: 'rg1',
      location: 'Global',
      body,
    });
    assert.ok((await moveWebhookUrlsToSecrets(actx.store)) >= 1);
    const rec = (await actx.store.getResource<ActionGroupBody>(id))!;
    assert.equal(rec.body.properties.webhookReceivers[0]!.serviceUri, 'http://hooks.test/l');
    assert.equal(receiverServiceUri(rec, 'h'), 'http://hooks.test/l?code=legacyKEY');
    assert.equal(JSON.stringify(await db.query('SELECT * FROM resources')).includes('legacyKEY'), false);
    assert.equal(await moveWebhookUrlsToSecrets(actx.store), 0, 'idempotent');
  });
});
