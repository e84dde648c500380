import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { UsageError, WaitTimeoutError } from '../errors.js';
import {
  createTestContext,
  installCannedWorld,
  startCannedArmServer,
  TEST_SUB,
  WORLD,
  type CannedArmServer,
} from '../testing/canned-arm-server.js';
import {
  packetCaptureCreate,
  packetCaptureDelete,
  packetCaptureList,
  parseCaptureSettings,
  planPacketCaptureCreate,
} from './packet-capture.js';
import { packetCaptureWait } from './packet-capture-wait.js';

const STORAGE_USAGE =
  'usage error: --storage-account NAME_OR_ID [--storage-path PATH] [--file-path PATH] | --file-path PATH';

describe('planPacketCaptureCreate (checks made before any request, as az)', () => {
  const base = { resourceGroup: 'rg', vm: 'vm1', name: 'pc1' };

  test('--storage-account or --file-path is required; --storage-path needs --storage-account', () => {
    assert.throws(
      () => planPacketCaptureCreate(base),
      (e: unknown) => e instanceof UsageError && e.message === STORAGE_USAGE,
    );
    assert.throws(
      () => planPacketCaptureCreate({ ...base, storagePath: 'https://x/c', filePath: '/var/captures/a.cap' }),
      (e: unknown) => e instanceof UsageError && e.message === STORAGE_USAGE,
    );
    assert.doesNotThrow(() => planPacketCaptureCreate({ ...base, filePath: '/var/captures/a.cap' }));
    assert.doesNotThrow(() => planPacketCaptureCreate({ ...base, storageAccount: 'sa', storagePath: 'https://x/c' }));
  });

  test('--file-path must end in .cap; a relative path is taken as Windows (az)', () => {
    assert.throws(
      () => planPacketCaptureCreate({ ...base, filePath: '/var/captures/a.pcap' }),
      /must end with the '\*\.cap' extension/,
    );
    const plan = planPacketCaptureCreate({ ...base, filePath: 'capture/x.cap' });
    assert.deepEqual(plan.properties['storageLocation'], { filePath: 'capture\\x.cap' });
  });

  test('numbers are checked against the API limits and sent only when given', () => {
    assert.throws(
      () => planPacketCaptureCreate({ ...base, filePath: '/var/captures/a.cap', timeLimit: '18001' }),
      /--time-limit must be between 0 and 18000/,
    );
    assert.throws(
      () => planPacketCaptureCreate({ ...base, filePath: '/var/captures/a.cap', captureSize: 'x' }),
      /--capture-size: invalid int value/,
    );
    const plan = planPacketCaptureCreate({
      ...base,
      filePath: '/var/captures/a.cap',
      timeLimit: '60',
      captureSize: 34,
      captureLimit: '1000',
    });
    assert.deepEqual(plan.properties, {
      targetType: 'AzureVM',
      bytesToCapturePerPacket: 34,
      totalBytesPerSession: 1000,
      timeLimitInSeconds: 60,
      storageLocation: { filePath: '/var/captures/a.cap' },
    });
  });

  test('targets: --vm, or --target with --target-type AzureVMSS and its scope', () => {
    assert.throws(
      () => planPacketCaptureCreate({ resourceGroup: 'rg', name: 'pc', filePath: '/var/captures/a.cap' }),
      /--vm NAME_OR_ID \| --target NAME_OR_ID --target-type AzureVMSS/,
    );
    assert.throws(
      () => planPacketCaptureCreate({ ...base, filePath: '/var/captures/a.cap', targetType: 'Container' }),
      /--target-type: invalid choice/,
    );
    assert.throws(
      () => planPacketCaptureCreate({ vm: 'vm1', name: 'pc', filePath: '/var/captures/a.cap' }),
      /--resource-group/,
    );
    assert.doesNotThrow(() =>
      planPacketCaptureCreate({
        vm: `${TEST_SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1`,
        name: 'pc',
        filePath: '/var/captures/a.cap',
      }),
    );
    const plan = planPacketCaptureCreate({
      resourceGroup: 'rg',
      name: 'pc',
      target: 'ss1',
      targetType: 'azurevmss',
      include: ['0', '1'],
      storageAccount: 'sa',
    });
    assert.equal(plan.targetType, 'AzureVMSS');
    assert.deepEqual(plan.properties['scope'], { include: ['0', '1'], exclude: [] });
  });
});

describe('packet-capture commands against a canned ARM server', () => {
  let server: CannedArmServer;
  let status = { packetCaptureStatus: 'Running' as string };
  const watcherPath = `${TEST_SUB}/resourceGroups/${WORLD.watcherGroup}/providers/Microsoft.Network/networkWatchers/${WORLD.watcherName}`;

  before(async () => {
    server = await startCannedArmServer();
    installCannedWorld(server, () => ({ ...status, packetCaptureError: [] }));
  });
  after(() => server.close());

  test('create with --file-path and --location skips the VM lookup; --no-wait prints nothing', async () => {
    const ctx = createTestContext(server.url);
    const before = server.requests.length;
    const result = await packetCaptureCreate(
      {
        resourceGroup: WORLD.resourceGroup,
        vm: WORLD.vmName,
        name: 'local1',
        filePath: '/var/captures/local1.cap',
        location: WORLD.location,
        noWait: true,
      },
      ctx,
    );
    assert.equal(result, undefined);
    assert.equal(ctx.stdout(), '');
    assert.deepEqual(
      server.requests.slice(before).map((r) => r.method),
      ['GET', 'PUT'],
    );
    const put = server.requests[server.requests.length - 1]!;
    assert.deepEqual((put.body as { properties: { storageLocation: unknown } }).properties.storageLocation, {
      filePath: '/var/captures/local1.cap',
    });
  });

  test('--watcher with --watcher-resource-group needs no lookup at all', async () => {
    const ctx = createTestContext(server.url);
    const before = server.requests.length;
    const captures = await packetCaptureList(
      { watcher: WORLD.watcherName, watcherResourceGroup: WORLD.watcherGroup, output: 'none' },
      ctx,
    );
    assert.ok(captures.some((c) => c['name'] === 'local1'));
    assert.deepEqual(
      server.requests.slice(before).map((r) => `${r.method} ${r.path}`),
      [`GET ${watcherPath}/packetCaptures`],
    );
  });

  test('wait --created, --exists, --custom return once the condition holds', async () => {
    const ctx = createTestContext(server.url);
    assert.equal(
      (await packetCaptureWait({ name: 'local1', location: WORLD.location, created: true, interval: 0.01 }, ctx))?.[
        'provisioningState'
      ],
      'Succeeded',
    );
    assert.equal(
      (await packetCaptureWait({ name: 'local1', location: WORLD.location, exists: true, interval: 0.01 }, ctx))?.[
        'name'
      ],
      'local1',
    );
    assert.ok(
      await packetCaptureWait(
        {
          name: 'local1',
          location: WORLD.location,
          custom: "storageLocation.filePath=='/var/captures/local1.cap'",
          interval: 0.01,
        },
        ctx,
      ),
    );
    assert.equal(ctx.stdout(), '');
  });

  test('wait --stopped polls queryStatus until Stopped', async () => {
    status = { packetCaptureStatus: 'Running' };
    setTimeout(() => (status = { packetCaptureStatus: 'Stopped' }), 100);
    const ctx = createTestContext(server.url);
    const started = Date.now();
    const result = await packetCaptureWait(
      { name: 'local1', location: WORLD.location, stopped: true, interval: 0.02, timeout: 10 },
      ctx,
    );
    assert.equal(result?.['packetCaptureStatus'], 'Stopped');
    assert.ok(Date.now() - started >= 90);
  });

  test('wait gives up after --timeout; exactly one condition is required', async () => {
    const ctx = createTestContext(server.url);
    await assert.rejects(
      packetCaptureWait({ name: 'local1', location: WORLD.location, deleted: true, interval: 0.02, timeout: 0.1 }, ctx),
      WaitTimeoutError,
    );
    await assert.rejects(packetCaptureWait({ name: 'local1', location: WORLD.location, interval: 1 }, ctx), UsageError);
    await assert.rejects(
      packetCaptureWait({ name: 'local1', location: WORLD.location, created: true, deleted: true }, ctx),
      UsageError,
    );
  });

  test('delete --delete-files sends deleteFiles=true; wait --deleted then returns', async () => {
    const ctx = createTestContext(server.url);
    await packetCaptureDelete({ name: 'local1', location: WORLD.location, deleteFiles: true }, ctx);
    const del = server.requests.find((r) => r.method === 'DELETE')!;
    assert.equal(del.query.get('deleteFiles'), 'true');
    assert.equal(
      await packetCaptureWait({ name: 'local1', location: WORLD.location, deleted: true, interval: 0.01 }, ctx),
      null,
    );
  });
});

describe('create --continuous-capture (the current az flags)', () => {
  const base = { resourceGroup: 'rg', vm: 'vm1', name: 'ring1' };

  test('--capture-settings KEY=VALUE (camel or az kebab case) and --local-path make the ring request', () => {
    const plan = planPacketCaptureCreate({
      ...base,
      continuousCapture: 'true',
      captureSettings: ['fileCount=3', 'fileSizeInBytes=1048576', 'sessionTimeLimitInSeconds=600'],
      localPath: '/var/captures/ring.cap',
    });
    assert.deepEqual(plan.properties, {
      targetType: 'AzureVM',
      storageLocation: { localPath: '/var/captures/ring.cap' },
      continuousCapture: true,
      captureSettings: { fileCount: 3, fileSizeInBytes: 1048576, sessionTimeLimitInSeconds: 600 },
    });
    assert.deepEqual(
      parseCaptureSettings(['file-count=3', 'file-size-in-bytes=1048576,session-time-limit-in-seconds=60']),
      { fileCount: 3, fileSizeInBytes: 1048576, sessionTimeLimitInSeconds: 60 },
    );
    assert.deepEqual(parseCaptureSettings(['{"fileCount":4}']), { fileCount: 4 });
  });

  test('bad values are usage errors before any request', () => {
    assert.throws(() => parseCaptureSettings(['fileCount']), /not KEY=VALUE/);
    assert.throws(() => parseCaptureSettings(['files=3']), /unknown key 'files'/);
    assert.throws(() => parseCaptureSettings(['fileCount=10001']), /between 0 and 10000/);
    assert.throws(
      () => planPacketCaptureCreate({ ...base, continuousCapture: 'maybe', localPath: '/var/captures/r.cap' }),
      /--continuous-capture: invalid value/,
    );
    assert.throws(
      () => planPacketCaptureCreate({ ...base, captureSettings: ['fileCount=3'], localPath: '/var/captures/r.cap' }),
      /--capture-settings goes with --continuous-capture true/,
    );
    assert.throws(
      () => planPacketCaptureCreate({ ...base, continuousCapture: 'true', localPath: '/var/captures/r.pcap' }),
      /--local-path PATH must end/,
    );
    assert.throws(
      () =>
        planPacketCaptureCreate({
          ...base,
          continuousCapture: 'true',
          localPath: '/var/captures/r.cap',
          filePath: '/var/captures/f.cap',
        }),
      /exclude each other/,
    );
  });
});
