import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { ApiError, armIdKey, createLogger } from '../lib/index.js';
import { alertCapturePutSchema, type PacketCaptureCreateRequest } from '../model/index.js';
import { Store, migrate, openPglite, type Db } from '../store/index.js';
import {
  alertCaptureId,
  keyMatches,
  putAlertCapture,
  triggerAlertCapture,
  type AlertCaptureRunDetail,
} from './alert-capture.js';
import { AlertCaptureRunWatcher } from './alert-capture-runs.js';
import type { AlertsContext, CaptureOperations, CaptureSummary, WatcherRef } from './context.js';
import type { HostInfo } from './hosts.js';
import { createServerTelemetry } from './telemetry.js';

/**
 * The endpoint's decisions (the seed's five steps and what it forgot) against a recording
 * stand-in for the packet-capture service; test/alerts-endpoint.test.ts runs the same through
 * the real server, agent and tcpdump.
 */

const SUB = '00000000-0000-0000-0000-000000000000';
const fixture = (name: string): Record<string, any> =>
  JSON.parse(readFileSync(new URL(`./fixtures/${name}.json`, import.meta.url), 'utf8'));
const vm = (name: string, rg = 'rg1'): HostInfo => {
  const id = `/subscriptions/${SUB}/resourceGroups/${rg}/providers/Microsoft.Compute/virtualMachines/${name}`;
  return {
    key: id.toLowerCase(),
    id,
    name,
    resourceGroup: rg,
    subscriptionId: SUB,
    location: 'westus2',
    vmId: `g-${name}`,
    hostname: `${name}.lab`,
  };
};

class RecordingCaptures implements CaptureOperations {
  readonly captures = new Map<string, CaptureSummary & { request: PacketCaptureCreateRequest }>();
  readonly watcher: WatcherRef = {
    key: 'w',
    id: '/w',
    name: 'NetworkWatcher_westus2',
    resourceGroup: 'NetworkWatcherRG',
    subscriptionId: SUB,
    location: 'westus2',
  };
  readonly deleted: string[] = [];
  async findWatcher(_sub: string, location: string) {
    return location === 'westus2' ? this.watcher : null;
  }
  async listCaptures() {
    return [...this.captures.values()];
  }
  async getCapture(key: string) {
    return this.captures.get(key) ?? null;
  }
  async createCapture(_w: WatcherRef, name: string, request: PacketCaptureCreateRequest) {
    const key = `/w/packetcaptures/${name.toLowerCase()}`;
    if (this.captures.has(key)) throw new ApiError('PacketCaptureNameInUse', 'in use');
    const c = {
      key,
      id: `/w/packetCaptures/${name}`,
      name,
      vmKeys: [request.properties.target.toLowerCase()],
      status: 'Running' as const,
      active: true,
      settled: false,
      request,
    };
    this.captures.set(key, c);
    return c;
  }
  async deleteCapture(key: string) {
    this.deleted.push(key);
    this.captures.delete(key);
  }
  async captureStatus(key: string) {
    const c = this.captures.get(key);
    return c
      ? {
          packetCaptureStatus: c.status,
          stopReason: 'TimeExceeded',
          packetCaptureError: [],
          captureStartTime: '2026-01-01T00:00:00Z',
          storagePath: 'http://nw/storage/x.cap',
          packetsCaptured: 42,
        }
      : null;
  }
  async resolveStorageAccountId(nameOrId: string | null) {
    return (
      nameOrId ?? '/subscriptions/s/resourceGroups/NetworkWatcherRG/providers/Microsoft.Storage/storageAccounts/nwlocal'
    );
  }
  end(name: string) {
    const c = this.captures.get(`/w/packetcaptures/${name.toLowerCase()}`)!;
    Object.assign(c, { status: 'Stopped', active: false, settled: true });
  }
}

describe('alert-capture endpoint decisions', () => {
  let db: Db;
  let actx: AlertsContext;
  let receiver: Server;
  let hookUrl = '';
  const notified: Array<Record<string, any>> = [];
  const hosts = [vm('vm1'), vm('vm2'), vm('twin', 'rgA'), vm('twin', 'rgB')];

  before(async () => {
    db = await openPglite(null);
    await migrate(db);
    actx = {
      store: new Store(db),
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
    receiver = createServer((req, res) => {
      let b = '';
      req.on('data', (c: Buffer) => {
        b += c.toString();
      });
      req.on('end', () => {
        notified.push(JSON.parse(b));
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/done`;
  });
  after(async () => {
    receiver.closeAllConnections();
    receiver.close();
    await db.close();
  });

  const endpoint = async (ops: CaptureOperations, name: string, props: Record<string, unknown> = {}) => {
    const r = await putAlertCapture(
      actx,
      ops,
      SUB,
      'NetworkWatcherRG',
      name,
      alertCapturePutSchema.parse({ properties: { timeLimitInSeconds: 10, ...props } }),
      'http://nw.test',
    );
    const url = new URL(r.url!);
    return { key: url.searchParams.get('code')!, path: url.pathname, record: r.record };
  };
  const post = (ops: CaptureOperations, name: string, key: string | null, body: unknown) =>
    triggerAlertCapture(actx, ops, {
      subscriptionId: SUB,
      resourceGroup: 'NetworkWatcherRG',
      name,
      presentedKey: key,
      body: Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)),
      baseUrl: 'http://nw.test',
    });
  const rejectsWith = async (p: Promise<unknown>, code: string, status: number) => {
    await assert.rejects(p, (e: unknown) => e instanceof ApiError && e.code === code && e.statusCode === status);
  };

  test('the key: only the right one opens the endpoint; it is shown once and kept hashed', async () => {
    const ops = new RecordingCaptures();
    const { key, path, record } = await endpoint(ops, 'keyed');
    assert.equal(path, `/alert-capture/v1/${SUB}/NetworkWatcherRG/keyed`);
    assert.match(key, /^[A-Za-z0-9_-]{43}$/);
    assert.doesNotMatch(JSON.stringify(record.body), new RegExp(key), 'the key is not in the resource');
    assert.doesNotMatch(JSON.stringify(record.secret), new RegExp(key), 'only its hash is stored');
    for (const wrong of [null, '', `${key}x`, key.slice(0, -1), key.toUpperCase()]) {
      await rejectsWith(
        post(ops, 'keyed', wrong, fixture('azure-common-alert-schema.fired')),
        'AuthenticationFailed',
        401,
      );
    }
    await rejectsWith(post(ops, 'nosuch', key, {}), 'NotFound', 404);
    assert.equal(ops.captures.size, 0);
    assert.equal(keyMatches(key, (record.secret as { keySha256: string }).keySha256), true);
  });

  test("a firing alert starts the seed's capture; the same firing again and a burst start nothing more; Resolved starts nothing", async () => {
    const ops = new RecordingCaptures();
    const { key } = await endpoint(ops, 'seed', {
      captureName: 'PSAzureFunction',
      sessionLimit: 10,
      notificationWebhooks: [{ serviceUri: hookUrl }],
    });
    const fired = fixture('azure-common-alert-schema.fired');
    const first = await post(ops, 'seed', key, fired);
    assert.equal(first.statusCode, 202);
    assert.equal((first.body.alerts as any[])[0].outcome, 'started');
    const created = ops.captures.get('/w/packetcaptures/psazurefunction')!;
    assert.equal(created.request.properties.target, hosts[0]!.id, 'the lower-cased alertTargetIDs entry found the VM');
    assert.equal(created.request.properties.timeLimitInSeconds, 10);
    assert.match(created.request.properties.storageLocation.storageId ?? '', /nwlocal$/);

    const again = await post(ops, 'seed', key, fired);
    assert.equal(again.statusCode, 200);
    assert.equal((again.body.alerts as any[])[0].outcome, 'duplicate');
    const v2 = await post(ops, 'seed', key, fixture('azure-metric-alert-v2.activated'));
    assert.equal(
      (v2.body.alerts as any[])[0].outcome,
      'duplicate',
      'another rule firing on the same host while its capture runs',
    );
    assert.match((v2.body.alerts as any[])[0].reason, /already running on this host/);
    const resolved = fixture('alertmanager-0.25.resolved');
    const r = await post(ops, 'seed', key, resolved);
    assert.equal(r.statusCode, 200);
    assert.equal(r.body.status, 'Ignored');
    assert.equal(ops.captures.size, 1);

    // Step 5: when the capture is done, the notification carries its id, status, stop reason and storage path.
    const watcher = new AlertCaptureRunWatcher(actx, ops);
    await watcher.tick();
    assert.equal(notified.length, 0, 'nothing while it runs');
    ops.end('PSAzureFunction');
    await watcher.tick();
    await watcher.close();
    assert.equal(notified.length, 1);
    assert.equal(notified[0]!.schemaId, 'netwatcherAlertCaptureCompleted');
    assert.equal(notified[0]!.data.captureId, created.id);
    assert.equal(notified[0]!.data.packetCaptureStatus, 'Stopped');
    assert.equal(notified[0]!.data.stopReason, 'TimeExceeded');
    assert.equal(notified[0]!.data.storagePath, 'http://nw/storage/x.cap');
    assert.equal(notified[0]!.data.trigger.schema, 'azureMonitorCommonAlertSchema');
    const runs = await actx.store.listAlertCaptureRuns<AlertCaptureRunDetail>({});
    const completed = runs.find((x) => x.state === 'completed')!;
    assert.equal((completed.detail.completion as any).notifications[0].outcome, 'Succeeded');

    // The seed's clean-up: the next firing removes the ended capture of the same name and starts anew.
    const next = structuredClone(fired);
    next.data.essentials.alertId += '0';
    const third = await post(ops, 'seed', key, next);
    assert.equal(third.statusCode, 202);
    assert.deepEqual(ops.deleted, ['/w/packetcaptures/psazurefunction']);
    assert.equal(ops.captures.get('/w/packetcaptures/psazurefunction')!.status, 'Running');
  });

  test("hosts: Alertmanager labels, {vm} names, unknown and ambiguous hosts, another host's capture", async () => {
    const ops = new RecordingCaptures();
    const perHost = await endpoint(ops, 'perhost', { captureName: 'burst-{vm}' });
    const am = fixture('alertmanager-0.25.firing');
    am.alerts.push({
      ...structuredClone(am.alerts[0]),
      labels: { alertname: 'HighTcpOutSegs', instance: 'vm2.lab:9100' },
      fingerprint: 'f2',
    });
    am.alerts.push({
      ...structuredClone(am.alerts[0]),
      labels: { alertname: 'HighTcpOutSegs', instance: '10.9.9.9:9100' },
      fingerprint: 'f3',
    });
    const r = await post(ops, 'perhost', perHost.key, am);
    assert.equal(r.statusCode, 202);
    assert.deepEqual(
      (r.body.alerts as any[]).map((a) => a.outcome),
      ['started', 'started', 'refused'],
    );
    assert.deepEqual([...ops.captures.keys()].sort(), ['/w/packetcaptures/burst-vm1', '/w/packetcaptures/burst-vm2']);

    const unknown = structuredClone(fixture('alertmanager-0.25.firing'));
    unknown.alerts[0].labels.instance = 'nowhere:9100';
    await rejectsWith(post(ops, 'perhost', perHost.key, unknown), 'VirtualMachineNotFound', 404);
    const twin = structuredClone(fixture('alertmanager-0.25.firing'));
    twin.alerts[0].labels = { vm: 'twin' };
    await rejectsWith(post(ops, 'perhost', perHost.key, twin), 'InvalidParameter', 400);
    const nolabel = structuredClone(fixture('alertmanager-0.25.firing'));
    nolabel.alerts[0].labels = { alertname: 'x' };
    await rejectsWith(post(ops, 'perhost', perHost.key, nolabel), 'InvalidRequestContent', 400);

    const literal = await endpoint(ops, 'literal', { captureName: 'burst-vm1' });
    const other = structuredClone(fixture('alertmanager-0.25.firing'));
    other.alerts[0].labels = { vm: 'vm2' };
    await rejectsWith(post(ops, 'literal', literal.key, other), 'Conflict', 409);
  });

  test('the session limit, a disabled endpoint, malformed and oversized payloads start nothing', async () => {
    const ops = new RecordingCaptures();
    const limited = await endpoint(ops, 'limited', { captureName: 'c-{vm}', sessionLimit: 1 });
    assert.equal(
      (await post(ops, 'limited', limited.key, fixture('azure-classic-metric-alert.activated'))).statusCode,
      202,
    );
    const am = fixture('alertmanager-0.25.firing');
    am.alerts[0].labels = { vm: 'vm2' };
    await rejectsWith(post(ops, 'limited', limited.key, am), 'SessionLimitReached', 400);
    assert.equal(ops.captures.size, 1);
    // The refused firing is not a duplicate when sent again once a session is free.
    ops.end('c-vm1');
    assert.equal((await post(ops, 'limited', limited.key, am)).statusCode, 202);
    ops.captures.delete('/w/packetcaptures/c-vm2');
    const runs = await actx.store.listAlertCaptureRuns<AlertCaptureRunDetail>({ configKey: limited.record.key });
    assert.deepEqual(runs.map((r) => r.state).sort(), ['refused', 'running', 'running']);

    for (const [body, code, status] of [
      ['{', 'InvalidRequestContent', 400],
      ['', 'InvalidRequestContent', 400],
      ['{"x":1}', 'InvalidRequestContent', 400],
      [JSON.stringify({ pad: 'x'.repeat(300 * 1024) }), 'PayloadTooLarge', 413],
    ] as const) {
      await rejectsWith(post(ops, 'limited', limited.key, body), code, status);
    }
    const off = await endpoint(ops, 'off', { enabled: false });
    await rejectsWith(post(ops, 'off', off.key, fixture('azure-common-alert-schema.fired')), 'Forbidden', 403);
    assert.equal(ops.captures.size, 1);
  });

  test('a bad capture file path is a 400 naming the field, before anything is looked up or stored', async () => {
    const ops = new RecordingCaptures();
    let lookups = 0;
    ops.resolveStorageAccountId = async () => {
      lookups++;
      return '/s';
    };
    for (const [storageLocation, field] of [
      [{ filePath: '/var/captures/../etc/x.cap' }, 'properties.storageLocation.filePath'],
      [{ localPath: '/var/captures/./x.cap' }, 'properties.storageLocation.localPath'],
      [{ filePath: '/tmp/x.cap' }, 'properties.storageLocation.filePath'],
    ] as const) {
      await assert.rejects(
        endpoint(ops, 'badpath', { storageLocation }),
        (e: unknown) =>
          e instanceof ApiError && e.code === 'InvalidFilePath' && e.statusCode === 400 && e.target === field,
      );
    }
    assert.equal(lookups, 0, 'no storage account was resolved');
    assert.equal(
      await actx.store.getResource(armIdKey(alertCaptureId(SUB, 'NetworkWatcherRG', 'badpath'))),
      null,
      'nothing was stored',
    );
  });
});
