import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { flattenResource, shapePacketCapture, shapeQueryStatus, shapeVmExtension } from './shape.js';

// Keys of the sample outputs in Azure's "Manage packet captures … using the Azure CLI" (network-watcher-packet-capture-manage-cli).
const SEED_EXTENSION_KEYS = [
  'autoUpgradeMinorVersion',
  'forceUpdateTag',
  'id',
  'instanceView',
  'location',
  'name',
  'protectedSettings',
  'provisioningState',
  'publisher',
  'resourceGroup',
  'settings',
  'tags',
  'type',
  'typeHandlerVersion',
  'virtualMachineExtensionType',
];
const SEED_CAPTURE_KEYS = [
  'bytesToCapturePerPacket',
  'etag',
  'filters',
  'id',
  'name',
  'provisioningState',
  'resourceGroup',
  'storageLocation',
  'target',
  'timeLimitInSeconds',
  'totalBytesPerSession',
];
const SEED_STATUS_KEYS = [
  'additionalProperties',
  'captureStartTime',
  'id',
  'name',
  'packetCaptureError',
  'packetCaptureStatus',
  'stopReason',
];

const SUB = '/subscriptions/00000000-0000-0000-0000-000000000000';

describe('flattenResource', () => {
  test('lifts properties and adds resourceGroup from the id', () => {
    const out = flattenResource({
      id: `${SUB}/resourceGroups/RG1/providers/Microsoft.Network/networkWatchers/nw`,
      name: 'nw',
      properties: { provisioningState: 'Succeeded' },
    });
    assert.deepEqual(out, {
      id: `${SUB}/resourceGroups/RG1/providers/Microsoft.Network/networkWatchers/nw`,
      name: 'nw',
      provisioningState: 'Succeeded',
      resourceGroup: 'RG1',
    });
  });
});

describe('shapeVmExtension', () => {
  test('has exactly the keys of the seed sample; properties.type becomes virtualMachineExtensionType', () => {
    const out = shapeVmExtension({
      id: `${SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1/extensions/NetworkWatcherAgentLinux`,
      name: 'NetworkWatcherAgentLinux',
      type: 'Microsoft.Compute/virtualMachines/extensions',
      location: 'westcentralus',
      properties: {
        publisher: 'Microsoft.Azure.NetworkWatcher',
        type: 'NetworkWatcherAgentLinux',
        typeHandlerVersion: '1.4',
        autoUpgradeMinorVersion: true,
        provisioningState: 'Succeeded',
      },
    });
    assert.deepEqual(Object.keys(out).sort(), SEED_EXTENSION_KEYS);
    assert.equal(out['type'], 'Microsoft.Compute/virtualMachines/extensions');
    assert.equal(out['virtualMachineExtensionType'], 'NetworkWatcherAgentLinux');
    assert.equal(out['resourceGroup'], 'rg');
    assert.equal(out['forceUpdateTag'], null);
  });
});

describe('shapePacketCapture', () => {
  test('has the seed keys, az filter spelling, and unset filter fields as ""', () => {
    const out = shapePacketCapture({
      name: 'packetCaptureName',
      id: `${SUB}/resourceGroups/NetworkWatcherRG/providers/Microsoft.Network/networkWatchers/NetworkWatcher_westcentralus/packetCaptures/packetCaptureName`,
      etag: 'W/"1"',
      properties: {
        target: `${SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1`,
        bytesToCapturePerPacket: 0,
        totalBytesPerSession: 1073741824,
        timeLimitInSeconds: 18000,
        storageLocation: { storageId: 'x', storagePath: 'https://example/blob.cap' },
        filters: [
          { protocol: 'TCP', localIPAddress: '10.0.0.3', remoteIPAddress: '1.1.1.1-255.255.255', remotePort: '20' },
          { protocol: 'UDP' },
        ],
        provisioningState: 'Succeeded',
      },
    });
    for (const key of SEED_CAPTURE_KEYS) assert.ok(key in out, `missing ${key}`);
    assert.equal(out['resourceGroup'], 'NetworkWatcherRG');
    assert.deepEqual(out['filters'], [
      {
        localIpAddress: '10.0.0.3',
        localPort: '',
        protocol: 'TCP',
        remoteIpAddress: '1.1.1.1-255.255.255',
        remotePort: '20',
      },
      { localIpAddress: '', localPort: '', protocol: 'UDP', remoteIpAddress: '', remotePort: '' },
    ]);
    assert.deepEqual(out['storageLocation'], {
      filePath: null,
      storageId: 'x',
      storagePath: 'https://example/blob.cap',
    });
  });
});

describe('shapeQueryStatus', () => {
  test('has the seed keys; the operation status and extra fields go under additionalProperties', () => {
    const out = shapeQueryStatus(
      {
        name: 'pc',
        id: '/x',
        captureStartTime: '2016-12-06T17:20:01.5671279Z',
        packetCaptureStatus: 'Stopped',
        stopReason: 'TimeExceeded',
        packetCaptureError: [],
        packetsCaptured: 12,
      },
      'Succeeded',
    );
    assert.deepEqual(Object.keys(out).sort(), SEED_STATUS_KEYS);
    assert.deepEqual(out['additionalProperties'], { status: 'Succeeded', packetsCaptured: 12 });
  });

  test('a running capture has stopReason null and an empty error list', () => {
    const out = shapeQueryStatus({ name: 'pc', id: '/x', packetCaptureStatus: 'Running' }, 'Succeeded');
    assert.equal(out['stopReason'], null);
    assert.deepEqual(out['packetCaptureError'], []);
  });
});
